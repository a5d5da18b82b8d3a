"""``make local``: the local stack in the foreground, for real use behind a tunnel.

Settings come from the environment or a ``.env`` file at the repository root (contract
section 3). With ``DRIFT_API_BASE_URL`` unset the Drift simulator stands in; with
``CRM_ENDPOINT_URL`` unset, the CRM sink. With ``PUBSUB_EMULATOR_HOST`` set, that emulator is
used; otherwise one is started. Once every component answered it prints the webhook URL and
the next steps; Ctrl-C or SIGTERM stops every process it started.
"""

from __future__ import annotations

import os
import signal
import threading

from devtools.emulator import check_prerequisites
from devtools.stack import (
    LOCAL_ACCESS_TOKEN,
    LOCAL_PROJECT,
    LOCAL_VERIFICATION_TOKEN,
    ROOT,
    LocalStack,
    StackConfig,
    StackError,
)

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
    "DRIFT_ACCESS_TOKEN_SECRET",
    "INCLUDE_MESSAGES",
    "MAX_EVENT_AGE_SECONDS",
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
    return StackConfig(
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
        log_dir=ROOT / ".local" / "logs",
    )


def run() -> int:
    _load_dotenv()
    check_prerequisites()
    config = config_from_environment()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("Starting the local stack...", flush=True)
    stack = LocalStack(config)
    try:
        stack.start()
        if stop.is_set():
            return 0
        _print_ready(stack)
        stop.wait()
        print("\nStopping every process...", flush=True)
    finally:
        stack.stop()
    print("Stopped.", flush=True)
    return 0


def _print_ready(stack: LocalStack) -> None:
    cfg = stack.config
    drift = f"{stack.simulator.url} (simulator)" if stack.simulator else cfg.drift_api_base_url
    crm = f"{stack.sink.url}/crm/records (sink)" if stack.sink else cfg.crm_endpoint_url
    lines = [
        "",
        f"Webhook URL: {stack.webhook_url}",
        "",
        f"  worker        {stack.worker.url}",
        f"  Pub/Sub       {stack.emulator_host} (topic {cfg.topic}, dead letters "
        f"{cfg.dead_letter_subscription})",
        f"  Drift API     {drift}",
        f"  CRM           {crm}",
        f"  logs          {stack.log_dir}",
    ]
    if stack.sink:
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
        "Ready. Ctrl-C stops everything.",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(run())
