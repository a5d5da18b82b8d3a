"""The Firestore ledger on the real emulator: claims, checkpoints, memory, records, TTL, trace,
reset and the operations a delivery costs."""

from __future__ import annotations

import base64
import datetime as dt
import os
import random
from collections.abc import Callable

import pytest

from devtools.emulator import wait_until
from shared.errors import TransientError
from shared.ledger import (
    ClaimNotHeldError,
    FirestoreLedger,
    LeaseLostError,
    LedgerBusyError,
    open_ledger,
    operations,
)

pytestmark = pytest.mark.emulator
Instance = Callable[..., FirestoreLedger]
ORG, CONVERSATION = 101, 3275727977


def _claim(ledger: FirestoreLedger, key: str, **meta: object):
    values: dict[str, object] = {
        "event_type": "conversation_push",
        "org_id": ORG,
        "conversation_id": CONVERSATION,
        "message_id": "m-1",
    }
    values.update(meta)
    return ledger.claim(key, **values)


def _raw(ledger: FirestoreLedger, collection: str, document: str) -> dict:
    snapshot = ledger.client.collection(collection).document(document).get()
    assert snapshot.exists, f"{collection}/{document} is missing"
    return snapshot.to_dict()


def test_a_new_event_is_claimed_and_a_second_instance_is_told_busy(instance: Instance) -> None:
    # GIVEN two instances
    first, second = instance(), instance()
    # WHEN the first claims an event
    claim = _claim(first, "evt-busy")
    # THEN it proceeds with a fresh claim
    assert (claim.state, claim.attempts, claim.steps) == ("new", 1, {})
    # AND the second is refused with a transient error while the lease is live
    with pytest.raises(LedgerBusyError) as refused:
        _claim(second, "evt-busy")
    assert isinstance(refused.value, TransientError)
    assert refused.value.lease_expires_at > dt.datetime.now(dt.UTC)


def test_a_completed_event_is_a_duplicate_on_every_instance(instance: Instance) -> None:
    # GIVEN an event delivered by one instance
    first, second = instance(), instance()
    claim = _claim(first, "evt-dup")
    claim.step_started("post")
    claim.step_done("post", {}, status=200)
    claim.complete("hash-1", None)
    # WHEN it comes again to that instance and to another
    before = operations.snapshot()
    again_here = _claim(first, "evt-dup")
    here = operations.snapshot().minus(before)
    again_there = _claim(second, "evt-dup")
    there = operations.snapshot().minus(before).minus(here)
    # THEN both answer "completed" (nothing to do), and the same instance asked Firestore nothing
    assert again_here.state == again_there.state == "completed"
    assert (here.reads, here.writes) == (0, 0)
    assert (there.reads, there.writes) == (1, 0)
    # AND a duplicate's claim cannot record progress
    with pytest.raises(ClaimNotHeldError):
        again_there.step_started("post")


def test_a_failure_after_step_one_of_two_resumes_at_step_two(instance: Instance) -> None:
    # GIVEN an attempt that did step 1 (saving the CRM's person id), sent step 2, and failed
    first = instance()
    claim = _claim(first, "evt-resume")
    claim.step_started("person")
    claim.step_done("person", {"id": "p-1"}, status=201)
    claim.step_started("note")
    claim.fail("the CRM answered 503")
    # WHEN the redelivery is claimed on another instance
    resumed = _claim(instance(), "evt-resume")
    # THEN it resumes with step 1's saved values, and sees step 2's request went out unanswered
    assert (resumed.state, resumed.attempts) == ("resumed", 2)
    steps = resumed.steps
    assert steps["person"].status == "done"
    assert steps["person"].saved == {"id": "p-1"}
    assert steps["person"].http_status == 201
    assert steps["note"].status == "in_flight"
    assert resumed.document.last_error == "the CRM answered 503"


def test_a_step_done_before_a_failure_is_kept_by_the_failure_write(instance: Instance) -> None:
    # GIVEN step 1 done (buffered) and a failure before step 2 started
    claim = _claim(instance(), "evt-buffered")
    claim.step_started("person")
    claim.step_done("person", {"id": "p-9"}, status=200)
    claim.fail("Drift answered 429")
    # WHEN the event is claimed again
    resumed = _claim(instance(), "evt-buffered")
    # THEN step 1 is done with what it saved, and there is no step 2
    assert {name: step.status for name, step in resumed.steps.items()} == {"person": "done"}
    assert resumed.steps["person"].saved == {"id": "p-9"}


def test_a_lapsed_holder_loses_its_lease_to_the_next_claim(instance: Instance) -> None:
    # GIVEN a holder with a 1 s lease that stops writing, and another instance
    config = {"function_timeout_seconds": 1.0, "lease_grace_seconds": 0.0}
    stale = _claim(instance(**config), "evt-lapsed")
    other = instance(**config)

    def take_over():
        try:
            return _claim(other, "evt-lapsed")
        except LedgerBusyError:
            return None

    # WHEN the lease runs out and the other instance claims the event
    taken = wait_until(take_over, 30, "the lease to expire")
    # THEN the other resumes it, and the stale holder's next write is refused
    assert taken.state == "resumed"
    with pytest.raises(LeaseLostError):
        stale.step_started("person")
    taken.step_started("person")
    assert taken.steps["person"].status == "in_flight"


def test_conversation_memory_is_seen_by_a_later_event(instance: Instance) -> None:
    # GIVEN a first push of a conversation that saved the CRM's ids
    first = _claim(instance(), "evt-mem-1")
    first.step_started("person")
    first.step_done("person", {"id": "p-1"}, status=201)
    first.complete("hash-a", {"person_id": "p-1", "note_id": "n-1"})
    # WHEN a later push of the same conversation, on another instance, reads the memory
    later = instance()
    seen = later.memory(ORG, CONVERSATION)
    # THEN it sees what the first saved
    assert seen == {"person_id": "p-1", "note_id": "n-1"}
    # AND what it saves is merged with it
    second = _claim(later, "evt-mem-2", message_id="m-2")
    second.step_started("note")
    second.step_done("note", {"id": "n-2"}, status=200)
    second.complete("hash-b", {"note_id": "n-2"})
    assert instance().memory(ORG, CONVERSATION) == {"person_id": "p-1", "note_id": "n-2"}
    assert instance().memory(ORG, 1) == {}


def test_both_collections_carry_the_ttl_field(instance: Instance) -> None:
    # GIVEN a ledger keeping documents 30 days
    ledger = instance(retention_days=30)
    # WHEN an event is delivered with conversation memory
    claim = _claim(ledger, "evt-ttl")
    claim.step_started("post")
    claim.complete("hash-ttl", {"person_id": "p-1"})
    # THEN both its documents expire 30 days from now (the field the TTL policy removes by)
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    config = ledger.config
    event = _raw(ledger, config.events_collection, "evt-ttl")
    memory = _raw(ledger, config.conversations_collection, f"{ORG}:{CONVERSATION}")
    for document in (event, memory):
        assert isinstance(document["expireAt"], dt.datetime)
        assert abs(document["expireAt"] - expected) < dt.timedelta(minutes=1)
    assert event["state"] == "completed"
    assert event["deliveredHash"] == "hash-ttl"


def test_the_gathered_record_is_reused_within_the_window_only(instance: Instance) -> None:
    # GIVEN an attempt that gathered the record, then failed at the CRM
    record = {"conversation": {"id": CONVERSATION}, "messages": [{"body": "hello"}]}
    claim = _claim(instance(), "evt-record")
    assert claim.cached_record(900) is None
    claim.save_record(record)
    claim.fail("the CRM answered 503")
    # WHEN the redelivery asks for a record no older than the window
    resumed = _claim(instance(), "evt-record")
    # THEN the stored record comes back as it was
    assert resumed.cached_record(900) == record
    # AND once it is older than the window, it does not
    wait_until(lambda: resumed.cached_record(0.2) is None, 10, "the record to age")


def test_a_large_record_is_kept_compressed(instance: Instance) -> None:
    # GIVEN a 3 MB transcript (compressible, as text is): over Firestore's 1 MiB per document
    words = ["hello", "price", "demo", "thanks", "contract", "tomorrow", "meeting", "Bonjour"]
    chooser = random.Random(7)
    messages = [" ".join(chooser.choices(words, k=40)) for _ in range(12_000)]
    record = {"conversation": {"id": CONVERSATION}, "messages": messages}
    assert len(str(record)) > 3_000_000
    claim = _claim(instance(), "evt-large")
    # WHEN it is saved and the attempt fails
    claim.save_record(record)
    claim.fail("the CRM answered 503")
    # THEN the redelivery gets it back whole, stored compressed under the limit
    resumed = _claim(instance(), "evt-large")
    assert resumed.cached_record(900) == record
    document = resumed.document
    assert document.record_bytes is not None
    assert document.record_bytes < 900 * 1024
    assert document.record_skipped is None


def test_a_record_too_big_even_compressed_is_not_kept(instance: Instance) -> None:
    # GIVEN a record that stays over the limit when compressed (random data)
    record = {"attachment": base64.b64encode(os.urandom(1_500_000)).decode()}
    claim = _claim(instance(), "evt-huge")
    # WHEN it is saved and the attempt fails
    claim.save_record(record)
    claim.fail("the CRM answered 503")
    # THEN the failure was still written, without the record: the redelivery gathers again
    resumed = _claim(instance(), "evt-huge")
    assert resumed.state == "resumed"
    assert resumed.cached_record(900) is None
    assert "over the document limit" in (resumed.document.record_skipped or "")
    assert resumed.document.last_error == "the CRM answered 503"


def test_trace_tells_delivered_retried_and_dead_lettered_journeys(instance: Instance) -> None:
    # GIVEN three events of one conversation: delivered at once, delivered after a retry,
    # dead-lettered
    ledger = instance()
    first = _claim(ledger, "evt-trace-1", message_id="m-1")
    first.save_record({"conversation": {"id": CONVERSATION}})
    first.step_started("person")
    first.step_done("person", {"id": "p-1"}, status=201)
    first.complete("a" * 64, {"person_id": "p-1"})
    retried = _claim(ledger, "evt-trace-2", message_id="m-2")
    retried.step_started("note")
    retried.fail("the CRM answered 503")
    retried = _claim(instance(), "evt-trace-2", message_id="m-2")
    retried.step_started("note")
    retried.step_done("note", {"id": "n-2"}, status=200)
    retried.complete("b" * 64, None)
    dead = _claim(ledger, "evt-trace-3", message_id="m-3")
    dead.step_started("person")
    dead.dead_letter("the CRM refused the record (422)")
    # WHEN the conversation is traced
    journeys = instance().trace(str(CONVERSATION))
    # THEN each event's journey is told in order
    assert [journey.key for journey in journeys] == ["evt-trace-1", "evt-trace-2", "evt-trace-3"]
    delivered, again, dead_lettered = ("\n".join(journey.render()) for journey in journeys)
    assert f"conversation {CONVERSATION}" in delivered
    assert "delivered after 1 attempt" in delivered
    assert "gathered the record from Drift" in delivered
    assert "step person: done, HTTP 201, saved id=p-1" in delivered
    assert "delivered by attempt 1 (content hash aaaaaaaaaaaa)" in delivered
    assert "delivered after 2 attempts" in again
    assert "attempt 1 failed, to be retried: the CRM answered 503" in again
    assert "attempt 2 resumed" in again
    assert "delivered by attempt 2" in again
    assert "dead-lettered after 1 attempt" in dead_lettered
    assert "step person: request sent, no answer recorded (in flight)" in dead_lettered
    assert "dead-lettered by attempt 1: the CRM refused the record (422)" in dead_lettered
    # AND an event key traces that event alone
    assert [journey.key for journey in ledger.trace("evt-trace-2")] == ["evt-trace-2"]
    assert ledger.trace("no-such-event") == []


def test_reset_makes_a_dead_letter_run_again(instance: Instance) -> None:
    # GIVEN a dead-lettered event, acknowledged as such by the instance that dead-lettered it
    worker = instance()
    claim = _claim(worker, "evt-replay")
    claim.step_started("person")
    claim.dead_letter("the CRM refused the record (422)")
    assert _claim(worker, "evt-replay").state == "dead_lettered"
    # WHEN an operator resets it for a replay (another process)
    assert instance().reset("evt-replay") is True
    # THEN the replayed event runs again from the start, with its history kept
    again = _claim(worker, "evt-replay")
    assert (again.state, again.attempts, again.steps) == ("new", 1, {})
    lines = "\n".join(worker.trace("evt-replay")[0].render())
    assert "reset for a replay" in lines
    assert "dead-lettered by attempt 1" in lines
    # AND resetting an unknown event says so
    assert instance().reset("evt-never-seen") is False


def test_a_replayed_delivered_event_needs_the_cache_skipped_elsewhere(
    instance: Instance,
) -> None:
    # GIVEN a delivered event, and an operator resetting it from another process
    worker = instance()
    _claim(worker, "evt-replay-done").complete("hash", None)
    assert instance().reset("evt-replay-done")
    # WHEN the instance that delivered it gets the replay
    # THEN its cache still calls it a duplicate, unless told to skip the cache
    assert _claim(worker, "evt-replay-done").state == "completed"
    assert _claim(worker, "evt-replay-done", use_cache=False).state == "new"


def test_reset_on_the_same_instance_clears_its_cache(instance: Instance) -> None:
    # GIVEN a delivered event
    ledger = instance()
    claim = _claim(ledger, "evt-reset-here")
    claim.complete("hash", None)
    # WHEN the same ledger resets it
    assert ledger.reset("evt-reset-here")
    # THEN its next claim runs the event again
    assert _claim(ledger, "evt-reset-here").state == "new"


def test_a_one_step_delivery_costs_at_most_3_writes_and_2_reads(instance: Instance) -> None:
    # GIVEN a fresh instance (the client already connected)
    ledger = instance()
    ledger.memory("warm", "up")
    # WHEN it delivers a one-step event the worker's way
    before = operations.snapshot()
    claim = _claim(ledger, "evt-ops")
    memory = ledger.memory(ORG, CONVERSATION)
    assert claim.cached_record(900) is None
    claim.save_record({"conversation": {"id": CONVERSATION}, "messages": ["hi"]})
    claim.step_started("post")
    claim.step_done("post", {}, status=200)
    claim.complete("hash-ops", memory or None)
    used = operations.snapshot().minus(before)
    # THEN it stayed within the budget
    assert used.writes <= 3, used
    assert used.reads <= 2, used
    # AND the record and the step were stored by those writes
    stored = _raw(ledger, ledger.config.events_collection, "evt-ops")
    assert stored["steps"]["post"]["status"] == "done"
    assert stored["recordBytes"] > 0


def test_new_conversation_memory_costs_one_more_write_unchanged_memory_none(
    instance: Instance,
) -> None:
    # GIVEN a one-step delivery that saves new conversation memory
    ledger = instance()
    ledger.memory("warm", "up")
    before = operations.snapshot()
    claim = _claim(ledger, "evt-ops-mem-1")
    ledger.memory(ORG, CONVERSATION)
    claim.step_started("person")
    claim.step_done("person", {"id": "p-1"}, status=201)
    claim.complete("hash-1", {"person_id": "p-1"})
    first = operations.snapshot().minus(before)
    # WHEN a later push of the conversation, on another instance, saves the same memory
    other = instance()
    before = operations.snapshot()
    claim = _claim(other, "evt-ops-mem-2")
    memory = other.memory(ORG, CONVERSATION)
    claim.step_started("person")
    claim.step_done("person", {"id": memory["person_id"]}, status=200)
    claim.complete("hash-2", {"person_id": "p-1"})
    second = operations.snapshot().minus(before)
    # THEN the first cost the conversation's document one write more, the second none
    assert (first.writes, first.reads) == (4, 2)
    assert (second.writes, second.reads) == (3, 2)


def test_open_ledger_builds_the_ledger_the_settings_ask_for(
    ledger_config: Callable[..., object],
) -> None:
    # GIVEN configs for each backend WHEN opened THEN each is the ledger asked for
    assert type(open_ledger(ledger_config())).__name__ == "FirestoreLedger"
    assert type(open_ledger(ledger_config(backend="memory"))).__name__ == "MemoryLedger"


def test_a_thread_that_never_finished_does_not_block_its_instance(instance: Instance) -> None:
    # GIVEN a thread of an instance that claimed an event and vanished without finishing it
    ledger = instance(function_timeout_seconds=1.0, lease_grace_seconds=0.0)
    _claim(ledger, "evt-abandoned")
    with pytest.raises(LedgerBusyError):
        _claim(ledger, "evt-abandoned")

    def again():
        try:
            return _claim(ledger, "evt-abandoned")
        except LedgerBusyError:
            return None

    # WHEN the lease has expired THEN the same instance resumes it
    assert wait_until(again, 30, "the abandoned lease to expire").state == "resumed"
