"""``make local``: the local stack in the foreground, for real use behind a tunnel.

Settings come from the environment or a ``.env`` file at the repository root. With
``DRIFT_API_BASE_URL`` unset the Drift simulator stands in; with ``CRM_ENDPOINT_URL`` unset, the
CRM sink. With ``CRM_RECIPE`` a built-in recipe (``hubspot``, ``salesforce``, ``pipedrive``) and
no vendor URL (``CRM_BASE_URL``, or Salesforce's ``CRM_OAUTH_TOKEN_URL``), the project's
stand-in of that vendor's API is started and the worker delivers to it with the stand-in's own
credentials; the banner names the page showing what it holds. With ``PUBSUB_EMULATOR_HOST``
(``FIRESTORE_EMULATOR_HOST``) set, that emulator is used; otherwise one is started.
``LEDGER=memory`` keeps the worker's ledger in its memory.

Once every component answered it prints the webhook URL, the next steps and a curl line that
sends Drift's sample event, writes the emulators' addresses to ``.local/state.json`` (for the
operator commands' ``--local``), and then shows a live feed: one line per event and outcome,
read from the functions' JSON logs (which stay complete in ``.local/logs/``, the previous run's
kept as ``*.log.1``). ``LOCAL_STACK_DIR`` moves ``.local`` elsewhere (the tests use their own).

Ctrl-C or SIGTERM stops every process it started, bounded: the stack is started in a thread
so that a signal during start-up is acted on at once; a second signal skips the grace period.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from devtools import crm_standins
from devtools.emulator import EmulatorError, check_prerequisites
from devtools.stack import (
    LOCAL_ACCESS_TOKEN,
    LOCAL_PROJECT,
    LOCAL_VERIFICATION_TOKEN,
    ROOT,
    LocalStack,
    StackConfig,
    StackError,
)
from operations import localstate
from samples import drift_seed

_PASSED_TO_WORKER = (
    "CRM_API_TOKEN",
    "CRM_API_TOKEN_SECRET",
    "CRM_SIGNING_SECRET",
    "CRM_SIGNING_SECRET_SECRET",
    "CRM_MAPPING_FILE",
    "CRM_GDPR_URL",
    "CRM_GDPR_METHOD",
    "CRM_GDPR_MAPPING_FILE",
    "CRM_TIMEOUT_SECONDS",
    "CRM_RECIPE",
    "CRM_BASE_URL",
    "CRM_OAUTH_TOKEN_URL",
    "CRM_OAUTH_CLIENT_ID",
    "CRM_OAUTH_SCOPE",
    "CRM_OAUTH_CLIENT_SECRET",
    "CRM_OAUTH_CLIENT_SECRET_SECRET",
    "CRM_OAUTH_REFRESH_TOKEN",
    "CRM_OAUTH_REFRESH_TOKEN_SECRET",
    "DRIFT_ACCESS_TOKEN_SECRET",
    "FIRESTORE_DATABASE",
    "FUNCTION_TIMEOUT_SECONDS",
    "GDPR_ACTION",
    "INCLUDE_MESSAGES",
    "LEDGER_RETENTION_DAYS",
    "MAX_EVENT_AGE_SECONDS",
    "RECORD_REUSE_SECONDS",
    "SECRET_MANAGER_ENDPOINT",
)


def _load_dotenv() -> None:
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env", override=False)


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit():
        raise StackError(f"{name} must be a port number, not {value!r}")
    return int(value)


def config_from_environment() -> StackConfig:
    env = os.environ
    drift_url = env.get("DRIFT_API_BASE_URL") or None
    access_token = env.get("DRIFT_ACCESS_TOKEN")
    if drift_url and not (access_token or env.get("DRIFT_ACCESS_TOKEN_SECRET")):
        raise StackError("DRIFT_API_BASE_URL is set: set DRIFT_ACCESS_TOKEN (your app's token) too")
    recipe = env.get("CRM_RECIPE") or None
    vendor_url = env.get("CRM_BASE_URL") or env.get("CRM_OAUTH_TOKEN_URL")
    return StackConfig(
        crm_standin=recipe if crm_standins.has_standin(recipe) and not vendor_url else None,
        project=env.get("GOOGLE_CLOUD_PROJECT", LOCAL_PROJECT),
        topic=env.get("PUBSUB_TOPIC", "drift-events"),
        dead_letter_topic=env.get("DEAD_LETTER_TOPIC", "drift-events-dead-letter"),
        webhook_port=_port("WEBHOOK_PORT", 8080),
        worker_port=_port("WORKER_PORT", 8081),
        verification_token=env.get("DRIFT_VERIFICATION_TOKEN", LOCAL_VERIFICATION_TOKEN),
        access_token=access_token or LOCAL_ACCESS_TOKEN,
        drift_api_base_url=drift_url,
        crm_endpoint_url=env.get("CRM_ENDPOINT_URL") or None,
        emulator_host=env.get("PUBSUB_EMULATOR_HOST") or None,
        worker_env={name: env[name] for name in _PASSED_TO_WORKER if env.get(name)},
        log_dir=localstate.local_dir() / "logs",
        ledger=env.get("LEDGER", "firestore") or "firestore",
        firestore_emulator_host=env.get("FIRESTORE_EMULATOR_HOST") or None,
        ledger_collection_prefix=env.get("LEDGER_COLLECTION_PREFIX") or None,
    )


# -- output ------------------------------------------------------------------------------------


def _say(text: str, stream: TextIO | None = None) -> None:
    """Print and flush; a console that went away must not stop the shutdown."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=stream or sys.stdout, flush=True)


def colour_wanted(stream: TextIO) -> bool:
    """Colour on a terminal (``NO_COLOR`` turns it off, ``FORCE_COLOR`` on)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


_COLOURS = {
    "received": "36",  # cyan
    "rejected": "31;1",  # bold red
    "gathered": "34",  # blue
    "reused": "34",
    "crm": "35",  # magenta
    "delivered": "32;1",  # bold green
    "skipped": "2",  # dim
    "duplicate": "2",
    "retry": "33",  # yellow
    "dead-letter": "31;1",
    "warning": "33",
    "error": "31",
}


@dataclass(frozen=True)
class FeedLine:
    """One line of the console feed."""

    at: str  # HH:MM:SS
    kind: str
    conversation: str
    detail: str

    def render(self, colour: bool) -> str:
        kind = f"{self.kind:<11}"
        if colour:
            kind = f"\033[{_COLOURS.get(self.kind, '0')}m{kind}\033[0m"
        return f"{self.at}  {kind} conversation {self.conversation:<12} {self.detail}".rstrip()


def _clock(entry: dict[str, Any]) -> str:
    try:
        moment = dt.datetime.fromisoformat(str(entry.get("time")))
        return moment.astimezone().strftime("%H:%M:%S")
    except (TypeError, ValueError):
        return time.strftime("%H:%M:%S")


def _conversation(entry: dict[str, Any]) -> str:
    for name in ("conversation_id", "conversationId"):
        value = entry.get(name)
        if value not in (None, ""):
            return str(value)
    return "-"


def _with(label: str, value: Any) -> str:
    return f", {label} {value}" if value not in (None, "") else ""


def feed_line(entry: dict[str, Any], component: str) -> FeedLine | None:
    """The console line for one JSON log entry of ``component``, or None (not an event line).

    Known lines become their own kind; any other WARNING or worse is shown too, so nothing
    that went wrong stays in the files only."""
    message = str(entry.get("message", ""))
    severity = str(entry.get("severity", ""))
    at, conversation = _clock(entry), _conversation(entry)
    event_type = entry.get("event_type") or entry.get("type")
    reason = entry.get("reason")

    def line(kind: str, detail: str) -> FeedLine:
        return FeedLine(at, kind, conversation, detail)

    if message == "webhook published":
        return line(
            "received",
            f"{event_type or 'event'} published" + _with("message", entry.get("message_id")),
        )
    if message == "webhook rejected":
        return line("rejected", f"{entry.get('status', '?')} {reason or ''}".strip())
    if message == "webhook not accepted":
        return line("error", f"webhook answered 503: {reason or 'Pub/Sub unavailable'}")
    if message == "conversation gathered":
        return line(
            "gathered",
            "from Drift"
            + _with("participants", entry.get("participants"))
            + _with("transcript characters", entry.get("transcript_chars")),
        )
    if message.startswith("conversation reused from the ledger"):
        return line("reused", "record from the ledger, no Drift calls")
    if message == "CRM request":
        step = entry.get("step")
        target = f" ({step})" if step else ""
        status = entry.get("status") or entry.get("crm_status") or "no answer"
        return line("crm", f"{entry.get('method', 'request')}{target} -> {status}")
    if message in (
        "conversation delivered to the CRM",
        "GDPR deletion request delivered to the CRM",
    ):
        what = "GDPR deletion request delivered" if message.startswith("GDPR") else "delivered"
        detail = what + _with("CRM status", entry.get("crm_status"))
        detail += _with("requests", entry.get("requests"))
        return line("delivered", detail)
    if message in ("conversation not delivered", "GDPR deletion request not sent"):
        return line("skipped", f"not sent: {reason or 'nothing to send'}")
    if message.startswith("duplicate event"):
        return line("duplicate", message)
    if message == "event failed, Pub/Sub will redeliver it":
        return line("retry", f"will be retried: {reason or 'transient failure'}")
    if message == "event dead-lettered":
        return line("dead-letter", f"{event_type or 'event'}: {reason or 'no reason given'}")
    if severity in ("WARNING",):
        return line("warning", f"{component}: {message}" + _with("reason", reason))
    if severity in ("ERROR", "CRITICAL", "ALERT", "EMERGENCY"):
        trace = str(entry.get("stack_trace") or "").strip().splitlines()
        cause = f": {trace[-1][:200]}" if trace else ""
        return line("error", f"{component}: {message}{cause}" + _with("reason", reason))
    return None


class ConsoleFeed:
    """Tails the functions' JSON log files and prints a feed line per event and outcome."""

    def __init__(
        self,
        logs: dict[str, Path],
        stream: TextIO | None = None,
        colour: bool | None = None,
        interval: float = 0.1,
    ) -> None:
        self.logs = logs
        self.stream = stream or sys.stdout
        self.colour = colour_wanted(self.stream) if colour is None else colour
        self.interval = interval
        self._offsets = dict.fromkeys(logs, 0)
        self._partial = dict.fromkeys(logs, b"")
        self._inodes: dict[str, int] = {}
        self._lock = threading.Lock()  # one reader at a time: offsets and partial lines
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-feed", daemon=True)

    def start(self) -> ConsoleFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)
        self.poll()

    def poll(self) -> None:
        with self._lock:
            entries: list[tuple[str, int, dict[str, Any], str]] = []
            for component, path in self.logs.items():
                for number, entry in enumerate(self._read(component, path)):
                    entries.append((str(entry.get("time", "")), number, entry, component))
            entries.sort(key=lambda item: (item[0], item[1]))
            for _, _, entry, component in entries:
                line = feed_line(entry, component)
                if line is not None:
                    _say(line.render(self.colour), self.stream)

    def _read(self, component: str, path: Path) -> list[dict[str, Any]]:
        try:
            with path.open("rb") as handle:
                status = os.fstat(handle.fileno())
                fresh = status.st_ino != self._inodes.get(component, status.st_ino)
                self._inodes[component] = status.st_ino
                if fresh or status.st_size < self._offsets[component]:  # started afresh
                    self._offsets[component], self._partial[component] = 0, b""
                handle.seek(self._offsets[component])
                chunk = handle.read()
        except OSError:
            return []
        self._offsets[component] += len(chunk)
        data = self._partial[component] + chunk
        *lines, self._partial[component] = data.split(b"\n")
        entries = []
        for raw in lines:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries


# -- the run -----------------------------------------------------------------------------------


class _Signals:
    """SIGINT/SIGTERM handler that only counts (takes no lock: it may interrupt anything)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: Any) -> None:
        self.count += 1

    @property
    def requested(self) -> bool:
        return self.count > 0

    @property
    def urgent(self) -> bool:
        return self.count > 1


def _start_in_thread(stack: LocalStack, failure: list[BaseException]) -> None:
    try:
        stack.start()
    except BaseException as error:  # handed to the main thread
        failure.append(error)


def run() -> int:
    _load_dotenv()
    check_prerequisites()
    config = config_from_environment()
    signals = _Signals()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signals)
    _say("Starting the local stack...")
    stack = LocalStack(config)
    failure: list[BaseException] = []
    starter = threading.Thread(
        target=_start_in_thread, args=(stack, failure), name="stack-start", daemon=True
    )
    feed: ConsoleFeed | None = None
    code = 0
    starter.start()
    try:
        while starter.is_alive() and not signals.requested:
            starter.join(0.1)
        if not signals.requested and failure:
            error = failure[0]
            if not isinstance(error, StackError | EmulatorError | TimeoutError):
                raise error
            _say(f"error: {error}", sys.stderr)
            code = 2
        elif not signals.requested:
            localstate.write_state(state_of(stack))
            feed = ConsoleFeed(
                {"webhook": stack.log_dir / "webhook.log", "worker": stack.log_dir / "worker.log"}
            ).start()
            _print_ready(stack)
            while not signals.requested:
                time.sleep(0.1)
    finally:
        _say("\nStopping every process...")
        if feed is not None:
            feed.stop()
        stack.stop(urgent=lambda: signals.urgent)
        localstate.remove_state()
        _say("Stopped.")
    return code


def state_of(stack: LocalStack) -> dict[str, Any]:
    """What operator commands need to talk to this stack (no secrets)."""
    cfg = stack.config
    state: dict[str, Any] = {
        "project": cfg.project,
        "pubsub_emulator_host": stack.emulator_host,
        "firestore_emulator_host": stack.firestore_host if cfg.ledger == "firestore" else None,
        "ledger": cfg.ledger,
        "ledger_collection_prefix": stack.ledger_prefix if cfg.ledger == "firestore" else None,
        "topic": cfg.topic,
        "dead_letter_topic": cfg.dead_letter_topic,
        "dead_letter_subscription": cfg.dead_letter_subscription,
        "webhook_url": stack.webhook_url,
        "worker_url": stack.worker.url if stack.worker else None,
        "drift_api_base_url": stack.simulator.url if stack.simulator else cfg.drift_api_base_url,
        "crm_sink_url": stack.sink.url if stack.sink else None,
        "crm_standin_url": stack.crm_standin.url if stack.crm_standin else None,
        "log_dir": str(stack.log_dir),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if stack.simulator is not None and cfg.access_token == LOCAL_ACCESS_TOKEN:
        state["local_drift_access_token"] = LOCAL_ACCESS_TOKEN  # the simulator's, not a secret
    return state


def curl_line(stack: LocalStack) -> str:
    """A ready-to-paste command sending Drift's sample ``conversation_push`` to the webhook.

    With the local default token the body carries it; with a token of your own it is read from
    your shell's ``DRIFT_VERIFICATION_TOKEN`` (so it is not printed)."""
    token = stack.config.verification_token
    if token == LOCAL_VERIFICATION_TOKEN:
        body = drift_seed.sample_conversation_push(token)
        header = ""
    else:
        body = drift_seed.sample_conversation_push("")
        body.pop("token")
        header = ' -H "X-Verification-Token: $DRIFT_VERIFICATION_TOKEN"'
    data = json.dumps(body, separators=(",", ":"))
    return (
        f"curl -sS -X POST {stack.webhook_url} -H 'Content-Type: application/json'{header}"
        f" -d {shlex.quote(data)}"
    )


def _print_ready(stack: LocalStack, say: Callable[[str], None] = _say) -> None:
    cfg = stack.config
    drift = f"{stack.simulator.url} (simulator)" if stack.simulator else cfg.drift_api_base_url
    crm = f"{stack.sink.url}/crm/records (sink)" if stack.sink else cfg.crm_endpoint_url
    standin = stack.crm_standin
    if standin is not None:
        name = crm_standins.vendor_name(cfg.crm_standin or "")
        crm = f"{standin.url} ({name} stand-in, CRM_RECIPE={cfg.crm_standin})"
    elif cfg.worker_env.get("CRM_RECIPE", "webhook") != "webhook":
        recipe = cfg.worker_env["CRM_RECIPE"]
        base = cfg.worker_env.get("CRM_BASE_URL") or "the API base of the recipe or its token"
        crm = f"{base} (CRM_RECIPE={recipe})"
    if cfg.ledger == "firestore":
        ledger = f"{stack.firestore_host} (Firestore emulator, collections {stack.ledger_prefix}*)"
    else:
        ledger = "in the worker's memory (LEDGER=memory)"
    lines = [
        "",
        f"Webhook URL: {stack.webhook_url}",
        "",
        f"  worker        {stack.worker.url}",
        f"  Pub/Sub       {stack.emulator_host} (topic {cfg.topic}, dead letters "
        f"{cfg.dead_letter_subscription})",
        f"  ledger        {ledger}",
        f"  Drift API     {drift}",
        f"  CRM           {crm}",
        f"  logs          {stack.log_dir}",
        f'  state         {localstate.state_path()}  (operator commands: make ops ARGS="--local'
        ' trace 3275727977")',
    ]
    if standin is not None:
        lines.append(
            f"  CRM records   {crm_standins.records_url(standin)}  (what {name} holds; the"
            f" sample's visitor is {crm_standins.DEMO_EMAIL})"
        )
    elif stack.sink:
        lines.append(f"  CRM sink page {stack.sink.url}/  (watch records arrive)")
    lines += [
        "",
        "Next steps:",
        f"  1. Expose the webhook: ngrok http {stack.webhook.port}  (or cloudflared tunnel"
        f" --url {stack.webhook_url})",
        "  2. In dev.drift.com > your app > Webhooks, set the Request URL to the tunnel's https",
        "     URL and subscribe to conversation_push, gdpr_delete_requested, app_disconnected.",
        "  3. Put the app's verification token in DRIFT_VERIFICATION_TOKEN and its OAuth token in",
        "     DRIFT_ACCESS_TOKEN (.env), unset DRIFT_API_BASE_URL's simulator by setting it to",
        "     https://driftapi.com, and restart.",
        "  4. Close a conversation in Drift and watch it arrive in the CRM.",
        "",
        "Ready. Ctrl-C stops everything. Events appear below as they arrive.",
        "Try it now: send Drift's sample conversation_push with",
        "",
        f"  {curl_line(stack)}",
        "",
    ]
    say("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(run())
