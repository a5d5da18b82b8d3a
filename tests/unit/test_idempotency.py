"""Per-instance idempotency: claim, complete, duplicates, release, bound and TTL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared import idempotency
from shared.errors import TransientError
from shared.idempotency import AlreadyInProgressError, IdempotencyStore


class Clock:
    """A monotonic clock the test moves by hand (no sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(idempotency, "time", fake)
    return fake


def test_first_begin_claims_the_key() -> None:
    store = IdempotencyStore()

    assert store.begin("k1") is True


def test_a_completed_key_is_a_duplicate() -> None:
    store = IdempotencyStore()
    store.begin("k1")
    store.complete("k1")

    assert store.begin("k1") is False
    assert store.begin("k1") is False  # and stays one


def test_a_key_in_progress_is_refused_as_transient() -> None:
    store = IdempotencyStore()
    store.begin("k1")

    with pytest.raises(AlreadyInProgressError) as caught:
        store.begin("k1")

    assert isinstance(caught.value, TransientError)
    assert "k1" in caught.value.reason


def test_release_lets_a_retry_run_again() -> None:
    store = IdempotencyStore()
    store.begin("k1")
    store.release("k1")

    assert store.begin("k1") is True


def test_release_of_an_unknown_key_is_harmless() -> None:
    store = IdempotencyStore()
    store.release("never-seen")

    assert store.begin("never-seen") is True


def test_keys_are_independent() -> None:
    store = IdempotencyStore()
    store.begin("k1")
    store.complete("k1")

    assert store.begin("k2") is True
    assert store.begin("k1") is False


def test_the_table_is_bounded_oldest_first() -> None:
    # GIVEN room for three keys, all completed
    store = IdempotencyStore(max_entries=3)
    for key in ("a", "b", "c"):
        store.begin(key)
        store.complete(key)

    # WHEN a fourth arrives
    assert store.begin("d") is True

    # THEN the oldest was forgotten, the others are still duplicates
    assert len(store._entries) == 3
    assert store.begin("b") is False
    assert store.begin("c") is False
    assert store.begin("a") is True


def test_bound_holds_under_many_keys() -> None:
    store = IdempotencyStore(max_entries=50)
    for n in range(1000):
        store.begin(f"key-{n}")
        store.complete(f"key-{n}")

    assert len(store._entries) == 50
    assert store.begin("key-999") is False
    assert store.begin("key-0") is True


def test_a_completed_key_expires_after_the_ttl(clock: Clock) -> None:
    store = IdempotencyStore(ttl_seconds=60)
    store.begin("k1")
    store.complete("k1")

    clock.now += 60
    assert store.begin("k1") is False  # still within the TTL

    clock.now += 0.001
    assert store.begin("k1") is True  # expired: handled again


def test_an_abandoned_claim_expires_after_the_ttl(clock: Clock) -> None:
    store = IdempotencyStore(ttl_seconds=60)
    store.begin("k1")

    clock.now += 30
    with pytest.raises(AlreadyInProgressError):
        store.begin("k1")

    clock.now += 31
    assert store.begin("k1") is True


def test_the_ttl_counts_from_completion(clock: Clock) -> None:
    store = IdempotencyStore(ttl_seconds=60)
    store.begin("k1")
    clock.now += 50
    store.complete("k1")

    clock.now += 50  # 100 s after begin, 50 s after completion
    assert store.begin("k1") is False


def test_only_one_of_many_concurrent_claims_wins() -> None:
    store = IdempotencyStore()
    start = threading.Barrier(16, timeout=5)

    def claim() -> str:
        start.wait()
        try:
            return "won" if store.begin("same-key") else "duplicate"
        except AlreadyInProgressError:
            return "in-progress"

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: claim(), range(16)))

    assert results.count("won") == 1
    assert results.count("in-progress") == 15
