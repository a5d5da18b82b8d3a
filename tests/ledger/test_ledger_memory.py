"""The per-instance ledger (LEDGER=memory) and the pieces both ledgers share: no network."""

from __future__ import annotations

import os
import threading

import pytest

from devtools.emulator import wait_until
from shared.config import WorkerSettings
from shared.errors import TransientError
from shared.ledger import (
    ClaimNotHeldError,
    DeferredError,
    LeaseLostError,
    LedgerBusyError,
    LedgerConfig,
    MemoryLedger,
    codec,
    open_ledger,
)
from shared.ledger.memory import LocalCache
from shared.ledger.models import utcnow


def _ledger(**overrides: object) -> MemoryLedger:
    return MemoryLedger(LedgerConfig(backend="memory", **overrides))


def _claim(ledger: MemoryLedger, key: str = "evt-1"):
    return ledger.claim(key, event_type="conversation_push", org_id=1, conversation_id=42)


def test_open_ledger_reads_the_worker_settings() -> None:
    # GIVEN worker settings asking for the memory ledger with a short function timeout
    settings = WorkerSettings(
        pubsub_emulator_host="127.0.0.1:1",
        drift_access_token="token",
        crm_endpoint_url="http://127.0.0.1:9/crm",
        ledger="memory",
        function_timeout_seconds=48,
        ledger_retention_days=3,
        ledger_collection_prefix="x_",
    )
    # WHEN the ledger is opened
    ledger = open_ledger(settings)
    # THEN it is the memory ledger with the lease and retention the settings imply
    assert isinstance(ledger, MemoryLedger)
    assert ledger.config.lease_seconds == 48 + 24  # half the timeout, when under 30 s
    assert ledger.config.retention_days == 3
    assert ledger.config.events_collection == "x_events"
    assert ledger.config.deadline == 8.0


def test_a_claim_is_exclusive_until_finished() -> None:
    # GIVEN a claimed event
    ledger = _ledger()
    claim = _claim(ledger)
    assert (claim.state, claim.attempts) == ("new", 1)
    # WHEN another thread claims it THEN it is told busy (transient)
    with pytest.raises(LedgerBusyError) as refused:
        _claim(ledger)
    assert isinstance(refused.value, TransientError)
    # AND once delivered, it is a duplicate
    claim.step_started("post")
    claim.step_done("post", {}, status=200)
    claim.complete("hash", None)
    duplicate = _claim(ledger)
    assert duplicate.state == "completed"
    with pytest.raises(ClaimNotHeldError):
        duplicate.complete("hash", None)
    with pytest.raises(ClaimNotHeldError):
        claim.fail("too late")


def test_threads_racing_for_one_event_let_one_through() -> None:
    # GIVEN 16 threads with the same event
    ledger = _ledger()
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            outcomes.append(_claim(ledger, "evt-race").state)
        except LedgerBusyError:
            outcomes.append("busy")

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN exactly one proceeds
    assert sorted(outcomes) == ["busy"] * 15 + ["new"]


def test_a_failed_attempt_is_resumed_with_its_checkpoints_and_record() -> None:
    # GIVEN step 1 done, step 2 sent, then a failure
    ledger = _ledger()
    claim = _claim(ledger)
    claim.save_record({"messages": ["hi"]})
    claim.step_started("person")
    claim.step_done("person", {"id": "p-1"}, status=201)
    claim.step_started("note")
    claim.fail("the CRM answered 503")
    # WHEN the redelivery claims it
    resumed = _claim(ledger)
    # THEN it resumes after step 1, sees step 2 in flight, and reuses the record
    assert (resumed.state, resumed.attempts) == ("resumed", 2)
    assert resumed.steps["person"].saved == {"id": "p-1"}
    assert resumed.steps["note"].status == "in_flight"
    assert resumed.cached_record(900) == {"messages": ["hi"]}
    wait_until(lambda: resumed.cached_record(0.1) is None, 5, "the record to age")


def test_an_expired_lease_is_taken_over_and_the_old_holder_stopped() -> None:
    # GIVEN a holder with a 0.2 s lease that went quiet
    ledger = _ledger(function_timeout_seconds=0.2, lease_grace_seconds=0)
    stale = _claim(ledger)
    stale.step_started("person")

    def take_over():
        try:
            return _claim(ledger)
        except LedgerBusyError:
            return None

    # WHEN the lease expires THEN the next claim resumes the event
    taken = wait_until(take_over, 10, "the lease to expire")
    assert taken.state == "resumed"
    assert taken.steps["person"].status == "in_flight"
    # AND the old holder can no longer write
    with pytest.raises(LeaseLostError):
        stale.complete("hash", None)


def test_dead_letter_reset_and_trace() -> None:
    # GIVEN a dead-lettered event
    ledger = _ledger()
    claim = _claim(ledger)
    claim.step_started("person")
    claim.dead_letter("the CRM refused the record (422)")
    assert _claim(ledger).state == "dead_lettered"
    lines = "\n".join(ledger.trace("42")[0].render())
    assert "dead-lettered by attempt 1: the CRM refused the record (422)" in lines
    # WHEN it is reset for a replay THEN it runs again from the start
    assert ledger.reset("evt-1") is True
    again = _claim(ledger)
    assert (again.state, again.attempts, again.steps) == ("new", 1, {})
    assert "reset for a replay" in "\n".join(ledger.trace("evt-1")[0].render())
    assert ledger.reset("evt-unknown") is False


def test_conversation_memory_merges_across_events() -> None:
    # GIVEN two deliveries of one conversation saving ids
    ledger = _ledger()
    first = _claim(ledger, "evt-a")
    first.complete("h1", {"person_id": "p-1", "note_id": "n-1"})
    second = _claim(ledger, "evt-b")
    second.complete("h2", {"note_id": "n-2"})
    # THEN the conversation's memory holds the latest of each
    assert ledger.memory(1, 42) == {"person_id": "p-1", "note_id": "n-2"}
    assert ledger.memory(1, 43) == {}


def test_an_oversized_record_is_not_kept() -> None:
    # GIVEN a tiny document limit
    ledger = _ledger(document_limit_bytes=4096)
    claim = _claim(ledger)
    # WHEN a record over it is saved
    claim.save_record({"blob": os.urandom(8192).hex()})
    # THEN it is not kept, and says why; a small one is
    assert claim.cached_record(900) is None
    assert "over the document limit" in (claim.document.record_skipped or "")
    claim.save_record({"small": "x"})
    assert claim.cached_record(900) == {"small": "x"}


def test_codec_round_trips_and_makes_safe_document_ids() -> None:
    record = {"conversation": {"id": 1}, "text": "héllo ✓"}
    assert codec.decompress(codec.compress(record)) == record
    assert codec.document_id("abc123-def") == "abc123-def"
    for key in ("a/b", "__x__", "", ".", "x" * 600):
        safe = codec.document_id(key)
        assert safe.startswith("h-") and len(safe) == 66
        assert "/" not in safe


def test_local_cache_evicts_the_oldest_and_expires() -> None:
    cache: LocalCache[int] = LocalCache(entries=2, seconds=0.1)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
    wait_until(lambda: cache.get("c") is None, 5, "the entry to expire")


def test_a_wait_the_crm_asked_for_refuses_redeliveries_until_it_passes():
    # GIVEN an attempt that failed with the CRM asking for an hour's wait (a daily quota)
    ledger = _ledger(function_timeout_seconds=10)
    claim = ledger.claim("quota-key", event_type="conversation_push")
    claim.fail("CRM answered 200 (error 607)", retry_after=3600)
    # WHEN Pub/Sub redelivers THEN it is refused at once, without running the delivery
    with pytest.raises(DeferredError) as caught:
        ledger.claim("quota-key", event_type="conversation_push")
    assert caught.value.not_before > utcnow()
    # AND a failure without a requested wait leaves the next attempt free to run
    ledger_2 = _ledger(function_timeout_seconds=10)
    first = ledger_2.claim("other-key")
    first.fail("CRM answered 503")
    assert ledger_2.claim("other-key").state == "resumed"
