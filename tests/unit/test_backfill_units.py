"""The operator commands' pure parts: the backfill's rate limiter, the synthetic events that
sync and backfill publish, and the replay's attribute cleaning and selection."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest

from operations import replay, synthetic
from operations.backfill import RateLimiter, epoch_ms
from shared import deadletter
from shared.events import DriftEvent, event_key


class FakeClock:
    """A monotonic clock that moves only when told (or by ``step`` on every reading)."""

    def __init__(self, start: float = 1000.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step
        self.readings = 0

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        self.readings += 1
        return value


# -- RateLimiter ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0, -1, -0.5])
def test_rate_limiter_refuses_a_rate_that_is_not_positive(rate):
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(rate)


def test_rate_limiter_does_not_wait_when_every_slot_is_already_due():
    # GIVEN a caller that is exactly as slow as the rate allows (the clock moves one interval
    # between acquisitions): every slot is due when asked for, so nothing should ever block
    rate = 4.0
    clock = FakeClock(step=1 / rate)
    limiter = RateLimiter(rate, clock=clock)
    started = time.monotonic()
    for _ in range(200):
        limiter.acquire()
    elapsed = time.monotonic() - started
    # THEN 200 acquisitions took far less than the 50 s they would if it slept per interval
    assert clock.readings == 200
    assert elapsed < 5.0


def test_rate_limiter_does_not_bank_idle_time_into_a_burst():
    # GIVEN a limiter idle for a long time (the fake clock jumps an hour) ...
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(1000.0, clock=clock)  # 1 ms interval
    limiter.acquire()
    clock.now += 3600.0
    # ... THEN the next acquisitions are still spaced one interval apart from that moment:
    # with the clock frozen, the 2nd and 3rd acquire must wait 1 ms and 2 ms (really slept).
    started = time.monotonic()
    limiter.acquire()  # due at once (the idle time is not a debt)
    limiter.acquire()  # 1 ms later
    limiter.acquire()  # 2 ms later
    assert time.monotonic() - started >= 0.003


def test_rate_limiter_spaces_acquisitions_on_the_real_clock():
    # 11 acquisitions at 100/s span at least 10 intervals (time.sleep never returns early)
    limiter = RateLimiter(100.0)
    started = time.monotonic()
    for _ in range(11):
        limiter.acquire()
    assert time.monotonic() - started >= 0.1


def test_rate_limiter_is_shared_safely_between_threads():
    # 4 threads x 5 acquisitions through one limiter at 200/s: 20 slots, >= 19 intervals
    limiter = RateLimiter(200.0)
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [limiter.acquire() for _ in range(5)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert time.monotonic() - started >= 19 / 200


def test_epoch_ms_is_exact_and_treats_naive_times_as_utc():
    moment = dt.datetime(2021, 10, 1, 0, 0, 0, 123_000, tzinfo=dt.UTC)
    assert epoch_ms(moment) == 1_633_046_400_123
    assert epoch_ms(moment.replace(tzinfo=None)) == 1_633_046_400_123
    pacific = moment.astimezone(dt.timezone(dt.timedelta(hours=-7)))
    assert epoch_ms(pacific) == 1_633_046_400_123


# -- synthetic events ---------------------------------------------------------------------------


def test_conversation_event_is_shaped_like_drifts_manual_push():
    event = synthetic.conversation_event(3275727977, 5000883, 1632349419751, "bridge_backfill")
    assert event == {
        "type": "conversation_manual_push",
        "orgId": 5000883,
        "data": {
            "source": "bridge_backfill",
            "data": {"conversationId": 3275727977, "pushedAt": 1632349419751},
        },
    }
    # the worker reads it like any Drift event
    parsed = DriftEvent.model_validate(event)
    assert parsed.conversation_id == 3275727977
    assert parsed.org_id == 5000883


def test_conversation_event_without_pushed_at_stamps_now():
    before = int(time.time() * 1000)
    event = synthetic.conversation_event(1, None, None, "bridge_manual_sync")
    after = int(time.time() * 1000)
    assert before <= event["data"]["data"]["pushedAt"] <= after
    assert event["orgId"] is None


def test_encode_gives_compact_json_and_the_webhooks_attributes():
    big = 2**53 + 1  # must survive exactly
    event = synthetic.conversation_event(big, 5000883, 1632349419751, "bridge_backfill")
    data, attributes = synthetic.encode(event)
    assert json.loads(data) == event
    assert b" " not in data  # compact separators
    assert json.loads(data)["data"]["data"]["conversationId"] == big
    assert attributes == {
        "type": "conversation_manual_push",
        "source": "operator",
        "orgId": "5000883",
        "conversationId": str(big),
    }
    assert all(isinstance(value, str) for value in attributes.values())


def test_encode_leaves_out_an_unknown_org():
    _, attributes = synthetic.encode(synthetic.conversation_event(7, None, 1, "bridge_preview"))
    assert "orgId" not in attributes
    assert attributes["conversationId"] == "7"


def test_same_conversation_version_gives_the_same_idempotency_key():
    first = synthetic.conversation_event(42, 1, 1_700_000_000_000, "bridge_backfill")
    again = synthetic.conversation_event(42, 1, 1_700_000_000_000, "bridge_backfill")
    later = synthetic.conversation_event(42, 1, 1_700_000_000_001, "bridge_backfill")
    assert event_key(first) == event_key(again)
    assert event_key(first) != event_key(later)


# -- replay: attributes and selection ---------------------------------------------------------


def test_original_attributes_strips_every_dead_letter_annotation():
    original = {"type": "conversation_push", "orgId": "5000883", "conversationId": "3275727977"}
    annotated = {
        **original,
        deadletter.REASON: "CRM answered 422",
        deadletter.ERROR: "CrmRejectedError",
        deadletter.ORIGINAL_MESSAGE_ID: "123",
        deadletter.DEAD_LETTERED_AT: "2024-01-01T00:00:00+00:00",
        "CloudPubSubDeadLetterSourceDeliveryCount": "5",
        "CloudPubSubDeadLetterSourceSubscription": "drift-events-worker",
        "CloudPubSubDeadLetterSourceSubscriptionProject": "p",
        "CloudPubSubDeadLetterSourceTopicPublishTime": "2024-01-01T00:00:00Z",
        "googclient_schemaname": "x",
    }
    assert replay.original_attributes(annotated) == original


def test_original_attributes_keeps_everything_else_and_does_not_mutate():
    attributes = {"type": "t", "source": "operator", "deadLetteredBy": "someone-else"}
    copy = dict(attributes)
    cleaned = replay.original_attributes(attributes)
    assert attributes == copy
    assert cleaned["type"] == "t" and cleaned["source"] == "operator"


def _body(event_type: str, conversation_id: int | None = None, flat: bool = False) -> bytes:
    data: dict = {}
    if conversation_id is not None:
        data = (
            {"conversationId": conversation_id}
            if flat
            else {"data": {"conversationId": conversation_id}}
        )
    return json.dumps({"type": event_type, "orgId": 1, "data": data}).encode()


def test_matcher_without_filters_selects_everything_even_garbage():
    matches = replay.matcher(None, None)
    assert matches(b"\x00 not json", {})
    assert matches(_body("x"), {"type": "x"})


def test_matcher_by_type_uses_the_attribute_then_the_body():
    matches = replay.matcher("conversation_push", None)
    assert matches(b"\x00 not json", {"type": "conversation_push"})
    assert matches(_body("conversation_push"), {})  # no attribute: the body says so
    assert not matches(_body("gdpr_delete_requested"), {"type": "gdpr_delete_requested"})
    assert not matches(b"\x00 not json", {})
    assert not matches(b"[1, 2]", {})  # JSON, but not an object


def test_matcher_by_conversation_id_from_attribute_nested_or_flat_body():
    big = 11751623441268737  # beyond 2**53
    matches = replay.matcher(None, big)
    assert matches(b"opaque", {"conversationId": str(big)})
    assert matches(_body("conversation_push", big), {})  # data.data.conversationId
    assert matches(_body("conversation_push", big, flat=True), {})  # data.conversationId
    assert not matches(_body("conversation_push", big - 1), {"conversationId": str(big - 1)})
    assert not matches(_body("conversation_push"), {})
    assert not matches(b"\xff\xfe not json", {})


def test_matcher_by_type_and_conversation_id_needs_both():
    matches = replay.matcher("conversation_push", 7)
    assert matches(_body("conversation_push", 7), {"type": "conversation_push"})
    assert not matches(_body("conversation_inactive", 7), {"type": "conversation_inactive"})
    assert not matches(_body("conversation_push", 8), {"type": "conversation_push"})
