"""A real BottleCRM server on loopback: the proof that a recipe written for "your own CRM" works.

BottleCRM is MicroPyramid's open-source Django CRM, published on PyPI as ``django-crm``. Nobody
on this team wrote it, which is the point: the example recipe ``examples/recipes/bottlecrm.yaml``
must reach it through the bridge and BottleCRM's own REST API must then show what it holds.

``BottleCrm(workdir).start()`` gives a running server with ``url``, ``token`` (the JSON Web
Token its login answers, sent as ``Authorization: JWT <token>``) and ``get(path)`` to read its
API. What it takes, done once and cached (under ``.bottlecrm/`` at the repository root, or
``BOTTLECRM_HOME``), keyed by everything that goes into it:

* a virtualenv made with Python 3.12 (``BOTTLECRM_PYTHON``, else ``python3.12`` on the PATH,
  else pyenv's) holding ``django-crm`` and its dependencies, every one pinned (the package
  declares none; these are the versions its code was written for: Django 3.2, Django REST
  framework, djangorestframework-jwt with PyJWT 1, drf-yasg, Celery);
* a settings module that keeps django-crm's own settings (``crm.settings``) and changes only
  what a loopback test server needs: SQLite, no Amazon SES, Celery tasks run at once instead of
  through a broker, a random secret key per start, errors to stderr;
* a migrated SQLite database with one integration user (a superuser: it sees every contact,
  and BottleCRM's updates leave the teams and users assigned to a record alone for it), copied
  for each start so that every server starts empty.

The server is Django's own (``runserver``, threaded, no autoreload) in a process group of its
own, told by the kernel to stop when the process that started it dies (``PR_SET_PDEATHSIG``).
``stop()`` ends the group. ``python -m devtools.bottlecrm`` runs one until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from devtools.emulator import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = (3, 12)
DJANGO_CRM_VERSION = "0.9.0"
# django-crm 0.9.0 declares no dependencies: these are what its code imports, at the versions
# it runs with (Django < 4: it uses django.conf.urls.url and ugettext; PyJWT < 2 for
# djangorestframework-jwt), with every transitive dependency pinned too.
REQUIREMENTS = f"""\
django-crm=={DJANGO_CRM_VERSION}
Django==3.2.25
djangorestframework==3.14.0
djangorestframework-jwt==1.11.0
PyJWT==1.7.1
drf-yasg==1.21.7
django-cors-headers==3.14.0
django-phonenumber-field==5.2.0
phonenumbers==8.13.52
django-settings-export==1.2.1
celery==5.3.6
amqp==5.4.2
billiard==4.3.2
kombu==5.7.0
vine==5.1.0
click==8.5.1
click-didyoumean==0.3.1
click-plugins==1.1.1.2
click-repl==0.4.1
prompt_toolkit==3.0.53
wcwidth==0.9.4
arrow==1.3.0
python-dateutil==4.0.0
types-python-dateutil==2.9.0.20261116
python-dotenv==1.0.1
pytz==2024.2
tzdata==2026.6
six==1.16.0
asgiref==3.13.0
sqlparse==0.6.1
inflection==0.5.1
packaging==26.4
PyYAML==6.0.4
uritemplate==4.2.0
typing_extensions==4.16.0
setuptools==75.6.0
"""

SETTINGS_MODULE = "bottlecrm_settings"
SETTINGS = '''\
"""django-crm's own settings (crm.settings) for a loopback test server (devtools.bottlecrm)."""

import os

from crm.settings import *  # noqa: F403
from crm.settings import INSTALLED_APPS

SECRET_KEY = os.environ["BOTTLECRM_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["BOTTLECRM_DB"]}
}
# Amazon SES sends BottleCRM's mail in production only (crm/server_settings.py).
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "django_ses"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
'''
# Each of django-crm's task modules makes a Celery app of its own (Celery("redis://")) with no
# configuration, which would send every "email the assigned users" task to an AMQP broker on
# localhost. Celery's default loader (CELERY_LOADER=default) reads this module for them.
CELERY_CONFIG_MODULE = "bottlecrm_celeryconfig"
CELERY_CONFIG = '''\
"""Celery configuration for django-crm's task modules (devtools.bottlecrm): run tasks at once."""

task_always_eager = True
broker_url = "memory://"
'''
SERVE = '''\
"""Serve django-crm with Django's own server on the address given (devtools.bottlecrm)."""

import os
import sys

import django
from django.conf import settings

django.setup()
# django-crm 0.9 reads settings.Domain (for the links in its emails); crm/settings.py defines
# it, but Django keeps upper-case names only, so every create would answer 500 after saving.
settings.Domain = os.environ.get("DOMAIN_NAME") or sys.argv[1]

from django.core.management import call_command  # noqa: E402

call_command("runserver", sys.argv[1], use_reloader=False)
'''
CREATE_USER = """\
import os
from common.models import User
User.objects.create_superuser(
    username="drift-bridge",
    email=os.environ["BOTTLECRM_USER_EMAIL"],
    password=os.environ["BOTTLECRM_USER_PASSWORD"],
    role="USER",
)
"""
USER_EMAIL = "drift-bridge@example.com"
PR_SET_PDEATHSIG = 1


class BottleCrmUnavailable(RuntimeError):
    """What the server needs (Python 3.12) is not on this machine."""


class BottleCrmError(RuntimeError):
    """The server could not be installed or did not come up."""


def find_python() -> str | None:
    """A Python 3.12 interpreter: ``BOTTLECRM_PYTHON``, ``python3.12`` on the PATH, pyenv's."""
    wanted = os.environ.get("BOTTLECRM_PYTHON")
    candidates = [wanted] if wanted else []
    candidates.append(shutil.which("python3.12"))
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.12*/bin/python3.12"), reverse=True)
    for candidate in candidates:
        if candidate and _version(candidate) == PYTHON_VERSION:
            return candidate
    return None


def _version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """In the child before exec: SIGTERM when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Installation:
    """The cached virtualenv, configuration and migrated template database."""

    def __init__(self, home: Path | None = None, python: str | None = None) -> None:
        found = python or find_python()
        if found is None:
            raise BottleCrmUnavailable(
                "BottleCRM (django-crm) is started with Python 3.12, and none was found: "
                "install it (pyenv install 3.12) or set BOTTLECRM_PYTHON"
            )
        self.python = found
        self.home = Path(home or os.environ.get("BOTTLECRM_HOME") or ROOT / ".bottlecrm")
        version = repr(_version(found))
        packages = hashlib.sha256(f"{version}\0{REQUIREMENTS}".encode()).hexdigest()[:12]
        setup = "\0".join([version, REQUIREMENTS, SETTINGS, CELERY_CONFIG, SERVE, CREATE_USER])
        digest = hashlib.sha256(setup.encode()).hexdigest()[:12]
        self.venv = self.home / f"venv-{packages}"
        self.dir = self.home / f"django-crm-{DJANGO_CRM_VERSION}-{digest}"
        self.conf = self.dir / "conf"
        self.template = self.dir / "template.sqlite3"
        self.user_file = self.dir / "user.json"
        self.ready = self.dir / "ready"

    @property
    def venv_python(self) -> Path:
        return self.venv / "bin" / "python"

    def environment(self, db: Path, secret_key: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTHON", "VIRTUAL_ENV", "DJANGO", "CELERY"))
        }
        env.update(
            {
                "PYTHONPATH": str(self.conf),
                "PYTHONDONTWRITEBYTECODE": "1",
                "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
                "CELERY_LOADER": "default",
                "CELERY_CONFIG_MODULE": CELERY_CONFIG_MODULE,
                "BOTTLECRM_DB": str(db),
                "BOTTLECRM_SECRET_KEY": secret_key,
                "ENV_TYPE": "dev",
            }
        )
        return env

    def user(self) -> dict[str, str]:
        return json.loads(self.user_file.read_text())

    def ensure(self) -> Installation:
        """Build what is missing (once per machine; other processes wait for the builder)."""
        if self.ready.exists():
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not self.ready.exists():
                    self._build()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return self

    def _build(self) -> None:
        installed = self.venv / "installed"
        if not installed.exists():
            if self.venv.exists():
                shutil.rmtree(self.venv)  # an install that stopped half-way
            self._run([self.python, "-m", "venv", str(self.venv)], "creating the virtualenv")
            requirements = self.venv / "requirements.txt"
            requirements.write_text(REQUIREMENTS)
            self._run(
                [str(self.venv_python), "-m", "pip", "install", "-q", "-r", str(requirements)],
                f"installing django-crm {DJANGO_CRM_VERSION}",
                timeout=900,
            )
            installed.write_text(REQUIREMENTS)
        if self.dir.exists():
            shutil.rmtree(self.dir)  # a set-up that stopped half-way
        self.dir.mkdir(parents=True)
        self.conf.mkdir()
        (self.conf / f"{SETTINGS_MODULE}.py").write_text(SETTINGS)
        (self.conf / f"{CELERY_CONFIG_MODULE}.py").write_text(CELERY_CONFIG)
        (self.conf / "bottlecrm_serve.py").write_text(SERVE)
        user = {"email": USER_EMAIL, "password": secrets.token_urlsafe(18)}
        building = self.dir / "building.sqlite3"
        env = self.environment(building, secrets.token_urlsafe(32))
        django = [str(self.venv_python), "-m", "django"]
        self._run([*django, "migrate", "--noinput", "-v", "0"], "migrating", env=env)
        env = {
            **env,
            "BOTTLECRM_USER_EMAIL": user["email"],
            "BOTTLECRM_USER_PASSWORD": user["password"],
        }
        self._run([*django, "shell", "-c", CREATE_USER], "creating the user", env=env)
        building.rename(self.template)
        self.user_file.write_text(json.dumps(user))
        self.ready.write_text(DJANGO_CRM_VERSION + "\n")

    def _run(
        self,
        command: list[str],
        what: str,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> None:
        try:
            done = subprocess.run(
                command,
                cwd=self.home,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BottleCrmError(f"BottleCRM: {what} took more than {timeout:g}s") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
            raise BottleCrmError(f"BottleCRM: {what} failed:\n" + "\n".join(tail))


class BottleCrm:
    """One BottleCRM server with an empty database, its files in ``workdir``."""

    def __init__(
        self,
        workdir: Path | str,
        home: Path | str | None = None,
        python: str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.workdir = Path(workdir)
        self._home = Path(home) if home else None
        self._python = python
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""
        self._session = requests.Session()

    @property
    def log_file(self) -> Path:
        return self.workdir / "bottlecrm.log"

    def start(self) -> BottleCrm:
        install = Installation(self._home, self._python).ensure()
        self.workdir.mkdir(parents=True, exist_ok=True)
        db = self.workdir / "bottlecrm.sqlite3"
        shutil.copyfile(install.template, db)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = install.environment(db, secrets.token_urlsafe(32))
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(install.venv_python),
                    str(install.conf / "bottlecrm_serve.py"),
                    f"127.0.0.1:{port}",
                ],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            self.token = wait_until(
                lambda: self._login(install.user()), self.start_timeout, "BottleCRM to answer"
            )
        except BaseException:
            self.stop()
            raise
        self._session.headers["Authorization"] = f"JWT {self.token}"
        return self

    def _login(self, user: dict[str, str]) -> str | None:
        """The token of the integration user, once the server answers (None before)."""
        assert self.process is not None
        if self.process.poll() is not None:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-15:]
            raise BottleCrmError(
                f"BottleCRM exited with {self.process.returncode}:\n" + "\n".join(tail)
            )
        try:
            response = requests.post(f"{self.url}/api/auth/login/", json=user, timeout=5)
        except requests.ConnectionError:
            return None
        if response.status_code != 200:
            raise BottleCrmError(f"BottleCRM refused the login: {response.status_code}")
        return response.json()["token"]

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` of BottleCRM's API as the integration user; the parsed JSON answer."""
        response = self._session.get(f"{self.url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        process, self.process = self.process, None
        self._session.close()
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self) -> BottleCrm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(workdir: Path | str) -> Iterator[BottleCrm]:
    crm = BottleCrm(workdir).start()
    try:
        yield crm
    finally:
        crm.stop()


def main() -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bottlecrm-") as workdir:
        try:
            crm = BottleCrm(workdir).start()
        except (BottleCrmUnavailable, BottleCrmError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"BottleCRM at {crm.url}/api/ (Authorization: JWT <token>); Ctrl-C stops it")
        print(f"CRM_BASE_URL={crm.url} CRM_API_TOKEN=<the token below>\n{crm.token}")
        try:
            if crm.process is not None:
                crm.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            crm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
