"""The two README commands driven as a user drives them (contract section 2): ``make demo``
(``python -m devtools.stack demo``) and ``make local`` (``python -m devtools.stack local``).

Each test runs the real command in its own process, on free ports, and checks what it prints and
that every process it started is gone afterwards (by walking /proc while it runs)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devtools.emulator import free_port, wait_until
from devtools.stack import LOCAL_VERIFICATION_TOKEN
from samples import drift_seed as seed_data

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parent.parent.parent
STACK = [sys.executable, "-m", "devtools.stack"]
_DROPPED_ENV = (
    "DRIFT_",
    "CRM_",
    "PUBSUB_",
    "DEAD_LETTER",
    "GOOGLE_CLOUD_PROJECT",
    "WEBHOOK_PORT",
    "WORKER_PORT",
    "SECRET_MANAGER",
    "FIRESTORE_",
    "LEDGER",
    "LOCAL_STACK_DIR",
    "NO_COLOR",
    "FORCE_COLOR",
)


def _env(**extra: str) -> dict[str, str]:
    """A user's shell: none of the bridge's settings (the test session's emulators included),
    and a ``.local`` folder of the test's own (never the checkout's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV)}
    env["LOCAL_STACK_DIR"] = tempfile.mkdtemp(prefix="drift-bridge-local-test-")
    env.update(extra)
    return env


def _two_free_ports() -> tuple[int, int]:
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


# -- /proc ------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of ``pid``, None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _descendants(root: int) -> dict[int, list[str]]:
    """Every live descendant of ``root`` with its command line."""
    children: dict[int, list[int]] = {}
    for pid in _pids():
        stat = _stat(pid)
        if stat is not None:
            children.setdefault(stat[1], []).append(pid)
    found: dict[int, list[str]] = {}
    pending = list(children.get(root, []))
    while pending:
        pid = pending.pop()
        if pid in found:
            continue
        found[pid] = _cmdline(pid)
        pending.extend(children.get(pid, []))
    return found


def _alive(pid: int, cmdline: list[str] | None = None) -> bool:
    """Running (not a zombie), and still the same program when ``cmdline`` is given."""
    stat = _stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return cmdline is None or not cmdline or _cmdline(pid) == cmdline


def _mentioning_port(port: int) -> list[int]:
    """Live processes started for ``port``: gcloud's ``--host-port=127.0.0.1:P``, the emulator's
    Java ``--port=P``, functions-framework's ``--port=P``."""
    pattern = re.compile(rf"(?:^--port=|:){port}$")
    me = os.getpid()
    return [
        pid
        for pid in _pids()
        if pid != me and _alive(pid) and any(pattern.search(arg) for arg in _cmdline(pid))
    ]


def _nothing_listens(port: int) -> bool:
    """A server could bind ``port`` again (as servers do, with SO_REUSEADDR: connections left
    in TIME_WAIT by the stopped servers do not count as taken)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


def _leave_time_wait_on(port: int) -> None:
    """What a stopped HTTP server leaves behind: a connection it closed first, in TIME_WAIT."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            connection, _ = server.accept()
            connection.close()  # the server closes first ...
            if client.recv(1) != b"":  # ... the client sees it and closes too
                raise RuntimeError("the test server did not close the connection")
    with socket.socket() as probe:  # a plain bind (no SO_REUSEADDR) now fails: TIME_WAIT
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return
    raise RuntimeError(f"could not leave a TIME_WAIT connection on port {port}")


class TreeWatcher:
    """Records every descendant of a process while it runs (pid -> command line)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, list[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def sample(self) -> dict[int, list[str]]:
        current = _descendants(self.root)
        # the latest command line wins: a child is first seen between fork and exec
        self.seen.update({pid: cmd for pid, cmd in current.items() if cmd})
        return current

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.1)

    def leftovers(self) -> dict[int, list[str]]:
        return {pid: cmd for pid, cmd in self.seen.items() if _alive(pid, cmd)}

    def kill_leftovers(self) -> None:
        """Cleanup after a failure: kill what we saw started, by id, group first."""
        own_group = os.getpgrp()
        for pid, cmdline in self.leftovers().items():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                group = os.getpgid(pid)
                if group != own_group and _alive(group, self.seen.get(group)):
                    os.killpg(group, signal.SIGKILL)
            if _alive(pid, cmdline):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def _kill_if_running(process: subprocess.Popen, watcher: TreeWatcher) -> None:
    """Failure path only: the command did not end by itself. Leftovers are the reaper's."""
    if process.poll() is None:
        watcher.sample()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture
def reaper():
    """Watchers of the commands a test ran; whatever they left running is killed at teardown,
    after the test's own assertions about leftovers (so cleanup never hides a leak)."""
    watchers: list[TreeWatcher] = []
    yield watchers
    for watcher in watchers:
        watcher.kill_leftovers()


def _no_leftovers(watcher: TreeWatcher, timeout: float = 15) -> None:
    wait_until(
        lambda: not watcher.leftovers(),
        timeout,
        "every process the command started to end",
    )


def _run_stack(
    mode: str,
    env: dict[str, str],
    timeout: float,
    reaper: list[TreeWatcher],
    args: tuple[str, ...] = (),
) -> tuple[int, str, str, TreeWatcher]:
    """Run ``python -m devtools.stack MODE [ARGS]`` to completion; returns (code, out, err,
    watcher)."""
    process = subprocess.Popen(
        [*STACK, mode, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        start_new_session=True,
    )
    watcher = TreeWatcher(process.pid)
    reaper.append(watcher)
    with watcher:
        try:
            out, err = process.communicate(timeout=timeout)
        finally:
            _kill_if_running(process, watcher)
    return process.returncode, out, err, watcher


# -- make demo --------------------------------------------------------------------------------


def test_demo_shows_what_the_crm_received_and_stops_everything(reaper):
    webhook_port, worker_port = _two_free_ports()
    env = _env(WEBHOOK_PORT=str(webhook_port), WORKER_PORT=str(worker_port))
    code, out, err, watcher = _run_stack("demo", env, 180, reaper)

    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert seed_data.SEED_EMAIL in out  # with its NO-BREAK SPACE, unmangled
    first, second = seed_data.SAMPLE_TRANSCRIPT.splitlines()[0:2]
    assert f"     {first}\n" in out
    assert f"     {second}\n" in out
    assert "signature valid" in out
    assert "signature INVALID" not in out and "unsigned" not in out
    assert f"127.0.0.1:{webhook_port}" in out and f"127.0.0.1:{worker_port}" in out
    # It ends by saying how to try a recipe.
    assert out.rstrip().endswith(
        "make demo RECIPE=hubspot        (or salesforce, pipedrive, zoho, dynamics, marketo)"
    )

    # It started an emulator (gcloud + Java) and both functions; none of them is left.
    match = re.search(r"emulator\s+127\.0\.0\.1:(\d+)", out)
    assert match, out
    emulator_port = int(match.group(1))
    commands = [" ".join(cmd) for cmd in watcher.seen.values()]
    assert any("java" in c and f"--port={emulator_port}" in c for c in commands), commands
    assert any("functions-framework" in c for c in commands), commands
    for port in (emulator_port, webhook_port, worker_port):
        wait_until(lambda p=port: not _mentioning_port(p), 30, f"processes on {port} to end")
    _no_leftovers(watcher)
    for port in (emulator_port, webhook_port, worker_port):
        assert _nothing_listens(port), f"port {port} still taken after the demo"


def test_demo_without_gcloud_exits_non_zero_naming_it(reaper):
    env = _env(PATH=os.path.dirname(sys.executable), WEBHOOK_PORT="0", WORKER_PORT="0")
    code, out, err, watcher = _run_stack("demo", env, 60, reaper)
    assert code != 0
    assert "gcloud" in err, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err
    _no_leftovers(watcher)


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs gcloud to get past it")
def test_demo_without_java_exits_non_zero_naming_it(tmp_path, reaper):
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "gcloud").symlink_to(shutil.which("gcloud"))
    env = _env(PATH=f"{tools}:{os.path.dirname(sys.executable)}")
    code, out, err, watcher = _run_stack("demo", env, 60, reaper)
    assert code != 0
    assert "Java" in err, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err
    _no_leftovers(watcher)


def test_demo_with_the_webhook_port_taken_exits_non_zero_naming_the_port(reaper):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env(WEBHOOK_PORT=str(port), WORKER_PORT=str(free_port()))
        code, out, err, watcher = _run_stack("demo", env, 120, reaper)
    assert code != 0
    assert str(port) in err and "WEBHOOK_PORT" in err, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err
    _no_leftovers(watcher)
    # it gave up before starting anything
    assert not [c for c in watcher.seen.values() if "java" in " ".join(c)]


def test_demo_right_after_a_previous_run_on_the_same_ports_starts(reaper):
    # GIVEN the ports a previous run's servers just released (connections in TIME_WAIT)
    webhook_port, worker_port = _two_free_ports()
    _leave_time_wait_on(webhook_port)
    _leave_time_wait_on(worker_port)
    # WHEN the user runs the demo again at once THEN it starts and succeeds
    env = _env(WEBHOOK_PORT=str(webhook_port), WORKER_PORT=str(worker_port))
    code, out, err, watcher = _run_stack("demo", env, 180, reaper)
    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "signature valid" in out
    _no_leftovers(watcher)


def test_demo_with_a_port_that_is_not_a_number_says_so(reaper):
    env = _env(WEBHOOK_PORT="eighty", WORKER_PORT=str(free_port()))
    code, out, err, watcher = _run_stack("demo", env, 60, reaper)
    assert code != 0
    assert "WEBHOOK_PORT" in err and "eighty" in err, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err
    _no_leftovers(watcher)


# -- make local -------------------------------------------------------------------------------


class LineReader:
    """Reads a pipe in a thread; ``until(text, deadline)`` without ever blocking the test."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()
        self.closed = False

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def until(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                raise AssertionError(f"no {text!r} in the output:\n{self.text}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.closed = True
            else:
                self.lines.append(line)
        return self.text

    def rest(self, timeout: float) -> str:
        """Everything up to end of file (bounded)."""
        with contextlib.suppress(AssertionError):
            self.until("\0never printed\0", timeout)
        return self.text

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _post_json(url: str, body: dict) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_local_serves_until_sigterm_then_stops_every_process(reaper):
    webhook_port, worker_port = _two_free_ports()
    env = _env(WEBHOOK_PORT=str(webhook_port), WORKER_PORT=str(worker_port))
    process = subprocess.Popen(
        [*STACK, "local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        start_new_session=True,
    )
    watcher = TreeWatcher(process.pid)
    reaper.append(watcher)
    with watcher:
        try:
            output = LineReader(process.stdout)
            # GIVEN the stack is up: it prints the webhook URL once every component is ready
            text = output.until("Ready.", timeout=120)
            webhook_url = re.search(r"^Webhook URL: (\S+)$", text, re.M).group(1)
            sink_page = re.search(r"CRM sink page (\S+)", text).group(1)
            emulator_port = int(re.search(r"Pub/Sub\s+127\.0\.0\.1:(\d+)", text).group(1))
            assert webhook_url == f"http://127.0.0.1:{webhook_port}/"
            assert "(simulator)" in text

            # WHEN Drift (here: the test) posts its sample conversation_push
            body = seed_data.sample_conversation_push(LOCAL_VERIFICATION_TOKEN)
            assert _post_json(webhook_url, body) == 200
            received_url = sink_page.rstrip("/") + "/_sink/received"

            def delivered():
                records = _get_json(received_url)
                return [
                    r
                    for r in records
                    if isinstance(r["body"], dict)
                    and (r["body"].get("contact") or {}).get("email") == seed_data.SEED_EMAIL
                ]

            (record,) = wait_until(delivered, 60, "the CRM sink to receive the sample")
            # THEN the sink has the record
            assert record["body"]["transcript"] == seed_data.SAMPLE_TRANSCRIPT
            assert record["body"]["conversation"]["id"] == seed_data.SAMPLE_CONVERSATION_ID

            # Every process it started, the emulator's Java included, before the signal
            started = watcher.sample()
            commands = [" ".join(cmd) for cmd in started.values()]
            assert any("java" in c and f"--port={emulator_port}" in c for c in commands)
            assert sum("functions-framework" in c for c in commands) >= 2, commands

            # WHEN the user stops it (SIGTERM, as a service manager or `kill` does)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, output.rest(5)
            assert "Stopped." in output.rest(10)
        finally:
            _kill_if_running(process, watcher)

    # THEN nothing it started is left, and its ports are free again
    wait_until(
        lambda: not [pid for pid, cmd in started.items() if _alive(pid, cmd)],
        30,
        "every process `make local` started to end",
    )
    _no_leftovers(watcher)
    for port in (emulator_port, webhook_port, worker_port):
        assert _nothing_listens(port), f"port {port} still taken after `make local` stopped"


# -- make local: bounded, complete shutdown ---------------------------------------------------

STOP_BOUND_SECONDS = 15  # the stack's grace period (5 s) and the reaping, with room to spare


@contextlib.contextmanager
def _local(env: dict[str, str], reaper: list[TreeWatcher]):
    """``python -m devtools.stack local`` in a session of its own (as ``make local`` runs in a
    process group of its own); yields (process, watcher, output)."""
    process = subprocess.Popen(
        [*STACK, "local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        start_new_session=True,
    )
    watcher = TreeWatcher(process.pid)
    reaper.append(watcher)
    with watcher:
        try:
            yield process, watcher, LineReader(process.stdout)
        finally:
            _kill_if_running(process, watcher)


def _ports_of(text: str) -> list[int]:
    """Every port the banner names (webhook, worker, both emulators, simulator, sink)."""
    return sorted({int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", text)})


def _wait_for_exit(process: subprocess.Popen, bound: float) -> float:
    started = time.monotonic()
    process.wait(timeout=bound)
    return time.monotonic() - started


def _gone(pids: dict[int, list[str]]) -> bool:
    return not [pid for pid, cmd in pids.items() if _alive(pid, cmd)]


def test_sigterm_to_the_group_under_load_stops_everything_within_a_bound(reaper, tmp_path):
    webhook_port, worker_port = _two_free_ports()
    env = _env(
        WEBHOOK_PORT=str(webhook_port),
        WORKER_PORT=str(worker_port),
        LOCAL_STACK_DIR=str(tmp_path),
        LEDGER="memory",
    )
    with _local(env, reaper) as (process, watcher, output):
        text = output.until("Ready.", timeout=120)
        webhook_url = re.search(r"^Webhook URL: (\S+)$", text, re.M).group(1)
        sink = re.search(r"CRM sink page (\S+)/", text).group(1)
        assert (tmp_path / "state.json").exists()
        # GIVEN a CRM that hangs on every request, and a burst of events in flight
        assert _post_json(f"{sink}/_sink/faults", {"kind": "slow", "times": None}) == 200
        statuses: list[int] = []

        def burst() -> None:
            for n in range(40):
                body = seed_data.sample_conversation_push(
                    LOCAL_VERIFICATION_TOKEN, pushed_at=seed_data.SAMPLE_PUSHED_AT + n
                )
                try:
                    statuses.append(_post_json(webhook_url, body))
                except OSError:  # the stack stopped under it: the burst ends
                    return

        sender = threading.Thread(target=burst, daemon=True)
        sender.start()
        wait_until(
            lambda: _get_json(f"{sink}/_sink/health")["in_flight"] >= 2,
            60,
            "the worker to have CRM requests in flight",
        )
        started = watcher.sample()
        assert sum("functions-framework" in " ".join(c) for c in started.values()) >= 2

        # WHEN SIGTERM reaches make local's process group (the functions sit in groups of their
        # own, so only the stack itself can stop them)
        os.killpg(process.pid, signal.SIGTERM)

        # THEN it stops within the bound, says so, and leaves nothing behind
        took = _wait_for_exit(process, STOP_BOUND_SECONDS)
        assert process.returncode == 0, output.rest(5)
        rest = output.rest(10)
        assert "Stopping every process..." in rest and "Stopped." in rest
        assert took < STOP_BOUND_SECONDS
        sender.join(timeout=60)
    wait_until(lambda: _gone(started), 15, "every process `make local` started to end")
    _no_leftovers(watcher)
    for port in _ports_of(text):
        wait_until(lambda p=port: _nothing_listens(p), 15, f"port {port} to be free")
    assert not (tmp_path / "state.json").exists()


def test_sigterm_during_start_up_stops_what_was_started(reaper, tmp_path):
    env = _env(WEBHOOK_PORT="0", WORKER_PORT="0", LOCAL_STACK_DIR=str(tmp_path))
    with _local(env, reaper) as (process, watcher, output):
        output.until("Starting the local stack...", timeout=30)
        # GIVEN an emulator on its way up (gcloud started, its Java not yet answering)
        wait_until(
            lambda: any("emulators" in " ".join(c) for c in watcher.sample().values()),
            60,
            "an emulator to be starting",
        )
        # WHEN SIGTERM arrives during start-up
        os.killpg(process.pid, signal.SIGTERM)
        # THEN it stops at once, without waiting for the start to finish, and says so
        _wait_for_exit(process, STOP_BOUND_SECONDS)
        rest = output.rest(10)
        assert process.returncode == 0, rest
        assert "Stopping every process..." in rest and "Stopped." in rest
        assert "Ready." not in rest
    _no_leftovers(watcher)


def test_sigkill_of_the_stack_leaves_no_process_and_frees_every_port(reaper, tmp_path):
    webhook_port, worker_port = _two_free_ports()
    env = _env(
        WEBHOOK_PORT=str(webhook_port), WORKER_PORT=str(worker_port), LOCAL_STACK_DIR=str(tmp_path)
    )
    with _local(env, reaper) as (process, watcher, output):
        text = output.until("Ready.", timeout=120)
        started = watcher.sample()
        commands = [" ".join(c) for c in started.values()]
        assert sum("functions-framework" in c for c in commands) >= 2, commands
        assert sum(c.startswith("java") for c in commands) >= 2, commands  # both emulators
        ports = _ports_of(text)
        assert webhook_port in ports and worker_port in ports and len(ports) >= 6

        # WHEN the stack's own process is killed outright (no chance to clean up)
        process.kill()
        process.wait(timeout=10)

    # THEN every function and emulator process dies with it, and every port is free again
    wait_until(lambda: _gone(started), 30, "every process the killed stack started to end")
    for port in ports:
        wait_until(lambda p=port: _nothing_listens(p), 30, f"port {port} to be free")
    _no_leftovers(watcher)


# -- make local: the live console feed ---------------------------------------------------------


def _feed_line(output: LineReader, *parts: str, timeout: float = 60) -> str:
    """The first output line holding every one of ``parts`` (waits for it, bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        for line in output.lines:
            if all(part in line for part in parts):
                return line
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no line with {parts} in the output:\n{output.text}")
        with contextlib.suppress(AssertionError):
            output.until("\0never printed\0", min(remaining, 0.5))


def test_local_shows_each_event_and_its_fate_on_the_console(reaper, tmp_path):
    webhook_port, worker_port = _two_free_ports()
    env = _env(
        WEBHOOK_PORT=str(webhook_port),
        WORKER_PORT=str(worker_port),
        LOCAL_STACK_DIR=str(tmp_path),
        LEDGER="memory",
    )
    with _local(env, reaper) as (process, _watcher, output):
        text = output.until("Ready.", timeout=120)
        webhook_url = re.search(r"^Webhook URL: (\S+)$", text, re.M).group(1)
        conversation = str(seed_data.SAMPLE_CONVERSATION_ID)

        # GIVEN the banner's ready-to-paste curl line
        curl = output.until("curl -sS", timeout=10)
        (command,) = [line.strip() for line in curl.splitlines() if "curl -sS" in line]
        assert webhook_url in command and LOCAL_VERIFICATION_TOKEN in command
        # WHEN it is run as a person would paste it (or its body posted, without curl)
        if shutil.which("curl"):
            pasted = subprocess.run(
                ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False
            )
            assert '"published"' in pasted.stdout, pasted.stdout + pasted.stderr
        else:
            body = json.loads(shlex.split(command)[-1])
            assert _post_json(webhook_url, body) == 200
        # THEN the console shows the event arriving, gathered and delivered, each line naming
        # the conversation
        assert "conversation_push" in _feed_line(output, "received", conversation)
        _feed_line(output, "gathered", conversation)
        _feed_line(output, "delivered", conversation)

        # WHEN a request comes with a wrong token THEN the 401 is on the console
        wrong = seed_data.sample_conversation_push("not-the-token")
        assert _post_json(webhook_url, wrong) == 401
        assert "401" in _feed_line(output, "rejected")

        # WHEN Drift does not know the conversation THEN its dead letter and reason show
        unknown = seed_data.sample_conversation_push(
            LOCAL_VERIFICATION_TOKEN, conversation_id=987654321
        )
        assert _post_json(webhook_url, unknown) == 200
        dead = _feed_line(output, "dead-letter", "987654321")
        assert "404" in dead or "not found" in dead.lower(), dead

        # AND the console is plain text when it is not a terminal
        assert "\x1b[" not in output.text
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_BOUND_SECONDS)
    # AND the full JSON logs are in the files
    worker_log = (tmp_path / "logs" / "worker.log").read_text()
    assert '"conversation delivered to the CRM"' in worker_log
