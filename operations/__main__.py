"""``python -m operations <command>``: the operator's commands (see the README, "Operating").

``--local`` (anywhere on the line) talks to a running ``make local`` instead of Google Cloud:
its Pub/Sub and Firestore emulators, its topic, its ledger. Without it, and without
``GOOGLE_CLOUD_PROJECT`` or ``PUBSUB_EMULATOR_HOST`` set, a running ``make local`` is used too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any

from shared import config, logger, secrets
from shared.errors import BridgeError, ConfigError

LOCAL_FLAG = "--local"
CREDENTIALS_HELP = (
    "no Google Cloud credentials found: run `gcloud auth application-default login` (and "
    "`gcloud config set project PROJECT_ID`), or add --local to use a running `make local`"
)
_EMULATED = {"pubsub": "PUBSUB_EMULATOR_HOST", "firestore": "FIRESTORE_EMULATOR_HOST"}


class MissingCredentials(ConfigError):
    def __init__(self) -> None:
        super().__init__(CREDENTIALS_HELP)


def _when(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m operations", description=__doc__)
    parser.add_argument(
        LOCAL_FLAG, action="store_true", help="talk to a running `make local` (its emulators)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    replay = commands.add_parser("replay", help="replay dead-lettered events to the events topic")
    replay.add_argument("--type", dest="event_type", help="only events of this type")
    replay.add_argument("--conversation-id", type=int, help="only this conversation's events")
    replay.add_argument("--limit", type=int, help="at most this many events")
    replay.add_argument("--dry-run", action="store_true", help="list, publish nothing")

    sync = commands.add_parser("sync", help="deliver one conversation now, by id")
    sync.add_argument("conversation_id", type=int)
    sync.add_argument("--org-id", type=int)

    backfill = commands.add_parser("backfill", help="deliver conversations updated in a range")
    backfill.add_argument("--since", type=_when, required=True, help="ISO 8601, inclusive")
    backfill.add_argument("--until", type=_when, help="ISO 8601, exclusive (default: now)")
    backfill.add_argument("--org-id", type=int)
    backfill.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="events published per second (each costs the worker 3-4 Drift calls; default 1)",
    )
    backfill.add_argument(
        "--page-rate", type=float, default=2.0, help="Drift list requests per second (default 2)"
    )
    backfill.add_argument("--dry-run", action="store_true", help="list, publish nothing")

    trace = commands.add_parser(
        "trace", help="each matching event's journey, from the delivery ledger"
    )
    trace.add_argument("target", metavar="CONVERSATION_ID_OR_EVENT_KEY")

    preview = commands.add_parser("preview", help="render what the CRM would receive")
    preview.add_argument(
        "--recipe", help="a built-in recipe name or a recipe file (default: CRM_RECIPE or webhook)"
    )
    preview.add_argument("--mapping", help="mapping file (default: CRM_MAPPING_FILE or built-in)")
    preview.add_argument("--gdpr-mapping", help="GDPR mapping file")
    preview.add_argument("--conversation-id", type=int, help="a real conversation (needs Drift)")
    preview.add_argument("--event", help="a webhook body in a JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    local = LOCAL_FLAG in argv  # accepted after the command too
    args = _parser().parse_args([a for a in argv if a != LOCAL_FLAG])
    args.local = local
    logger.configure("WARNING", stream=sys.stderr)
    from google.api_core.exceptions import GoogleAPICallError
    from google.auth.exceptions import DefaultCredentialsError

    from operations.localstate import LocalStackNotRunning

    try:
        return _run(args)
    except (DefaultCredentialsError, MissingCredentials):
        print(f"error: {CREDENTIALS_HELP}", file=sys.stderr)
        return 2
    except (ConfigError, BridgeError, ValueError, OSError, LocalStackNotRunning) as error:
        print(f"error: {getattr(error, 'reason', None) or error}", file=sys.stderr)
        return 2
    except GoogleAPICallError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2


def _use_local_stack(args: argparse.Namespace) -> None:
    from operations.localstate import state_path, use_local_stack

    if args.local:
        use_local_stack(required=True)
        return
    pointed_elsewhere = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get(
        "PUBSUB_EMULATOR_HOST"
    )
    if not pointed_elsewhere and use_local_stack(required=False) is not None:
        print(f"(using the running `make local`: {state_path()})", file=sys.stderr)


def require_credentials(*services: str) -> None:
    """Raise ``MissingCredentials`` when a service not emulated here needs Google credentials
    and none can be found (rather than a long traceback from the first call)."""
    if all(os.environ.get(_EMULATED[service]) for service in services):
        return
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()
    except DefaultCredentialsError:
        raise MissingCredentials() from None


def operator_ledger(project: str, needed_for: str) -> Any | None:
    """The delivery ledger the worker writes (``LEDGER``, ``FIRESTORE_DATABASE``,
    ``LEDGER_COLLECTION_PREFIX`` as the worker has them); None with ``LEDGER=memory``."""
    from pydantic import ValidationError

    from shared.ledger import LedgerConfig, open_ledger

    backend = os.environ.get("LEDGER", "firestore") or "firestore"
    if backend == "memory":
        return None
    try:
        ledger_config = LedgerConfig(
            backend=backend,
            project=project,
            database=os.environ.get("FIRESTORE_DATABASE") or "(default)",
            collection_prefix=os.environ.get("LEDGER_COLLECTION_PREFIX", "ledger_"),
        )
    except ValidationError as error:
        fields = ", ".join(
            {"backend": "LEDGER", "collection_prefix": "LEDGER_COLLECTION_PREFIX"}.get(
                str(item["loc"][0]), str(item["loc"][0]).upper()
            )
            for item in error.errors()
        )
        raise ConfigError(f"{fields}: invalid for {needed_for}") from None
    require_credentials("firestore")
    return open_ledger(ledger_config)


def _run(args: argparse.Namespace) -> int:
    if args.command == "preview":
        from operations.preview import preview

        requests = preview(
            args.mapping, args.conversation_id, args.event, args.gdpr_mapping, recipe=args.recipe
        )
        print(json.dumps(requests, indent=2, ensure_ascii=False))
        return 0
    _use_local_stack(args)
    if args.command == "trace":
        return _trace(args)
    settings = config.load(config.OperatorSettings)
    secrets.configure_client(settings.secret_manager_endpoint)
    if args.command == "replay":
        return _replay(args, settings)
    require_credentials("pubsub")
    if args.command == "sync":
        from operations.backfill import sync

        message_id = sync(
            settings.project, settings.pubsub_topic, args.conversation_id, args.org_id
        )
        print(f"conversation {args.conversation_id} queued for delivery (message {message_id})")
        return 0
    from operations.backfill import backfill
    from shared.drift_client import DriftClient
    from shared.secrets import Secret

    token = Secret.from_settings(settings, "drift_access_token")
    if token is None:
        raise ConfigError("DRIFT_ACCESS_TOKEN: set DRIFT_ACCESS_TOKEN or DRIFT_ACCESS_TOKEN_SECRET")
    client = DriftClient(str(settings.drift_api_base_url), token)
    report = backfill(
        client,
        settings.project,
        settings.pubsub_topic,
        args.since,
        args.until or dt.datetime.now(dt.UTC),
        args.org_id,
        args.rate,
        dry_run=args.dry_run,
        page_rate=args.page_rate,
    )
    verb = "would queue" if args.dry_run else "queued"
    outside = report.skipped_newer + report.skipped_older
    print(
        f"{verb} {len(report.published)} conversations from {report.pages} pages "
        f"({report.listed} listed, {outside} outside the range)"
    )
    return 0


def _replay(args: argparse.Namespace, settings: config.OperatorSettings) -> int:
    from google.api_core.exceptions import NotFound

    from operations.replay import replay

    require_credentials("pubsub")
    # The ledger is reset for what is republished: a dry run republishes nothing.
    ledger = None if args.dry_run else operator_ledger(settings.project, "replay")
    try:
        report = replay(
            settings.project,
            settings.dead_letter_subscription,
            settings.pubsub_topic,
            args.event_type,
            args.conversation_id,
            args.dry_run,
            args.limit,
            ledger=ledger,
        )
    except NotFound as error:
        raise ConfigError(
            f"DEAD_LETTER_SUBSCRIPTION / PUBSUB_TOPIC: {error.message} (subscription "
            f"{settings.dead_letter_subscription}, topic {settings.pubsub_topic}, "
            f"project {settings.project})"
        ) from None
    for item in report.replayed:
        print(json.dumps(item))
    for item in report.failed:
        print(json.dumps({**item, "failed": True}))
    print(report.summary())
    return 1 if report.failed else 0


def _trace(args: argparse.Namespace) -> int:
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or (
        config.LOCAL_PROJECT if os.environ.get("FIRESTORE_EMULATOR_HOST") else None
    )
    if not project:
        raise ConfigError("GOOGLE_CLOUD_PROJECT: required (the project of the worker's ledger)")
    ledger = operator_ledger(project, "trace")
    if ledger is None:
        raise ConfigError(
            "LEDGER=memory: the ledger lives in the worker's memory, where trace cannot read "
            "it; trace reads LEDGER=firestore"
        )
    journeys = ledger.trace(args.target.strip())
    if not journeys:
        print(f"nothing in the ledger for {args.target} (project {project})", file=sys.stderr)
        return 1
    for number, journey in enumerate(journeys):
        if number:
            print()
        print("\n".join(journey.render()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
