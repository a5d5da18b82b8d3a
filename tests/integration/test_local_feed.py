"""``make local``'s console feed: which log lines become which console lines, colour only on a
terminal, and the tail of the functions' JSON log files (lines written in pieces, a fresh file)."""

from __future__ import annotations

import io
import json

import pytest

from devtools.emulator import wait_until
from devtools.local import ConsoleFeed, colour_wanted, feed_line

AT = "2024-05-01T12:00:00.000+00:00"
CONVERSATION = {"conversation_id": 3275727977, "event_key": "k" * 64}


@pytest.mark.parametrize(
    ("component", "entry", "kind", "shown"),
    [
        (
            "webhook",
            {"message": "webhook published", "type": "conversation_push", "message_id": "7",
             "conversationId": "3275727977"},
            "received",
            ["conversation_push", "message 7"],
        ),
        (
            "webhook",
            {"severity": "WARNING", "message": "webhook rejected", "status": 401,
             "reason": "invalid verification token"},
            "rejected",
            ["401", "invalid verification token"],
        ),
        ("worker", {"message": "conversation gathered", "participants": 2}, "gathered",
         ["participants 2"]),
        ("worker", {"message": "CRM request", "step": "note", "method": "POST", "status": 201},
         "crm", ["POST (note) -> 201"]),
        ("worker", {"message": "conversation delivered to the CRM", "crm_status": 200},
         "delivered", ["CRM status 200"]),
        ("worker", {"severity": "WARNING", "message": "event failed, Pub/Sub will redeliver it",
                    "reason": "CRM answered 503"}, "retry", ["CRM answered 503"]),
        ("worker", {"severity": "ERROR", "message": "event dead-lettered",
                    "event_type": "conversation_push", "reason": "Drift conversation: not found"},
         "dead-letter", ["Drift conversation: not found"]),
        ("worker", {"severity": "ERROR", "message": "app disconnected from Drift"}, "error",
         ["worker: app disconnected from Drift"]),
    ],
    ids=["received", "rejected", "gathered", "crm", "delivered", "retry", "dead-letter", "error"],
)  # fmt: skip
def test_each_outcome_becomes_one_line_with_the_conversation(component, entry, kind, shown):
    line = feed_line({"time": AT, **CONVERSATION, **entry}, component)
    assert line is not None and line.kind == kind
    text = line.render(colour=False)
    if entry["message"] != "webhook rejected":  # the webhook rejects before reading the body
        assert "conversation 3275727977" in text
    for part in shown:
        assert part in text


def test_routine_lines_stay_in_the_files():
    assert feed_line({"severity": "INFO", "message": "worker ready", "time": AT}, "worker") is None
    assert feed_line({"severity": "DEBUG", "message": "x", "time": AT}, "worker") is None


def test_colour_only_when_asked_or_on_a_terminal(monkeypatch):
    line = feed_line({"time": AT, **CONVERSATION, "message": "conversation gathered"}, "worker")
    assert "\x1b[" in line.render(colour=True)
    assert "\x1b[" not in line.render(colour=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert colour_wanted(io.StringIO()) is False  # not a terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert colour_wanted(io.StringIO()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert colour_wanted(io.StringIO()) is False


def test_the_feed_tails_lines_written_in_pieces_and_a_file_started_afresh(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("")
    out = io.StringIO()
    feed = ConsoleFeed({"worker": log}, stream=out, colour=False, interval=0.02).start()
    try:
        entry = json.dumps({"time": AT, **CONVERSATION, "message": "conversation gathered"})
        # GIVEN a line written in two pieces: nothing shows until it is whole
        with log.open("a") as handle:
            handle.write(entry[:20])
            handle.flush()
            feed.poll()
            assert out.getvalue() == ""
            handle.write(entry[20:] + "\n")
        wait_until(lambda: "gathered" in out.getvalue(), 10, "the feed line")
        # WHEN the file starts afresh (a new run: the old one kept as .1) THEN its lines are
        # read from the start
        log.replace(tmp_path / "worker.log.1")
        log.write_text(
            json.dumps({"time": AT, **CONVERSATION, "message": "conversation delivered to the CRM"})
            + "\n"
        )
        wait_until(lambda: "delivered" in out.getvalue(), 10, "the line of the fresh file")
    finally:
        feed.stop()
    assert out.getvalue().count("gathered") == 1
