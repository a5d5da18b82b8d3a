"""``python -m operations <command>``: the operator's commands (see the README, "Operating")."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from shared import config, logger, secrets
from shared.errors import BridgeError, ConfigError


def _when(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m operations", description=__doc__)
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
    backfill.add_argument("--rate", type=float, default=1.0, help="Drift list requests/second")
    backfill.add_argument("--dry-run", action="store_true", help="list, publish nothing")

    preview = commands.add_parser("preview", help="render what the CRM would receive")
    preview.add_argument("--mapping", help="mapping file (default: CRM_MAPPING_FILE or built-in)")
    preview.add_argument("--gdpr-mapping", help="GDPR mapping file")
    preview.add_argument("--conversation-id", type=int, help="a real conversation (needs Drift)")
    preview.add_argument("--event", help="a webhook body in a JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logger.configure("WARNING", stream=sys.stderr)
    from google.api_core.exceptions import GoogleAPICallError

    try:
        return _run(args)
    except (ConfigError, BridgeError, ValueError, OSError) as error:
        print(f"error: {getattr(error, 'reason', None) or error}", file=sys.stderr)
        return 2
    except GoogleAPICallError as error:
        print(f"error: Pub/Sub: {error.message}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "preview":
        from operations.preview import preview

        requests = preview(args.mapping, args.conversation_id, args.event, args.gdpr_mapping)
        print(json.dumps(requests, indent=2, ensure_ascii=False))
        return 0
    settings = config.load(config.OperatorSettings)
    secrets.configure_client(settings.secret_manager_endpoint)
    if args.command == "replay":
        from google.api_core.exceptions import NotFound

        from operations.replay import replay

        try:
            report = replay(
                settings.project,
                settings.dead_letter_subscription,
                settings.pubsub_topic,
                args.event_type,
                args.conversation_id,
                args.dry_run,
                args.limit,
            )
        except NotFound as error:
            raise ConfigError(
                f"DEAD_LETTER_SUBSCRIPTION / PUBSUB_TOPIC: {error.message} (subscription "
                f"{settings.dead_letter_subscription}, topic {settings.pubsub_topic}, "
                f"project {settings.project})"
            ) from None
        verb = "would replay" if args.dry_run else "replayed"
        for item in report.replayed:
            print(json.dumps(item))
        kept = report.skipped
        print(f"{verb} {len(report.replayed)} events; {kept} others seen were left in dead letters")
        return 0
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
    )
    verb = "would queue" if args.dry_run else "queued"
    print(f"{verb} {len(report.published)} conversations from {report.pages} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
