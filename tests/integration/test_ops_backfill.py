"""Backfill over a Drift list in no particular order, and its pacing per published event, against
the Drift simulator and the real Pub/Sub emulator."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from devtools.drift_simulator import DriftSimulator
from operations.backfill import backfill
from shared.drift_client import DriftClient
from shared.secrets import Secret

pytestmark = pytest.mark.emulator


def _at(ms: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)


@pytest.fixture(scope="module")
def shuffled():
    with DriftSimulator(conversations_list_order="shuffled") as sim:
        sim.generate_conversations(120, messages_per_conversation=1)
        yield sim


@pytest.fixture
def drift(shuffled):
    shuffled.reset_counts()
    client = DriftClient(shuffled.url, Secret("drift_access_token", value=shuffled.access_token))
    yield client
    client.close()


def _updated(sim: DriftSimulator) -> dict[int, int]:
    return {cid: sim.get_conversation(cid)["updatedAt"] for cid in sim.conversation_ids()}


def _window(sim: DriftSimulator, first: int, last: int) -> tuple[dt.datetime, dt.datetime, list]:
    """The range from the ``first``-th to before the ``last``-th oldest conversation."""
    updated = _updated(sim)
    ordered = sorted(updated.values())
    low, high = ordered[first], ordered[last]
    return _at(low), _at(high), sorted(c for c, at in updated.items() if low <= at < high)


def test_the_list_really_is_unordered(shuffled, drift):
    # GIVEN the simulator's shuffled list: an older conversation comes before newer ones early on
    first_page, _ = drift.list_conversations(limit=50)
    stamps = [c["updatedAt"] for c in first_page]
    assert stamps != sorted(stamps, reverse=True) and stamps != sorted(stamps)


def test_backfill_over_an_unordered_list_publishes_exactly_the_range(
    emulator, topic, shuffled, drift
):
    # GIVEN a range in the middle of the conversations' history, listed in no order
    start, end, expected = _window(shuffled, 11, 111)
    assert len(expected) == 100

    # WHEN the operator backfills it
    report = backfill(drift, emulator.project, topic.name, start, end, rate=100, page_rate=100)

    # THEN every conversation of the range is published once, whatever page it sat on
    ids = [json.loads(m.data)["data"]["data"]["conversationId"] for m in topic.drain()]
    assert sorted(ids) == expected
    assert sorted(report.published) == expected
    # AND the walk read every page to the end (no stop at the first older conversation)
    total = len(shuffled.conversation_ids())
    assert report.listed == total
    assert report.pages == shuffled.call_counts()["conversations_list"] == 3
    assert report.skipped_older == 11 and report.skipped_newer == total - 111


def test_backfill_paces_published_events_not_list_pages(emulator, topic, shuffled, drift):
    # GIVEN 30 conversations to backfill, most of them on the first page
    start, end, expected = _window(shuffled, 40, 70)
    rate = 12.0
    published_at: list[float] = []

    # WHEN it runs at 12 events per second with list pages allowed much faster
    started = time.monotonic()
    report = backfill(
        drift,
        emulator.project,
        topic.name,
        start,
        end,
        rate=rate,
        page_rate=1000,
        on_publish=lambda _: published_at.append(time.monotonic()),
    )

    # THEN the events went out spaced: never more than the rate allows in any one second
    assert sorted(report.published) == expected
    assert published_at[-1] - started >= (len(expected) - 1) / rate
    for index, moment in enumerate(published_at):
        within_a_second = [t for t in published_at[index:] if t - moment < 1.0]
        assert len(within_a_second) <= rate + 1
    assert len(topic.drain()) == len(expected)


def test_a_dry_run_backfill_is_not_held_back_by_the_event_rate(emulator, topic, shuffled, drift):
    # GIVEN 100 conversations in range and a rate of one event per second
    start, end, expected = _window(shuffled, 11, 111)
    started = time.monotonic()
    # WHEN it is only a dry run THEN it lists at the page rate, without waiting per event
    report = backfill(
        drift, emulator.project, topic.name, start, end, rate=1, page_rate=100, dry_run=True
    )
    assert sorted(report.published) == expected
    assert time.monotonic() - started < 30
    assert topic.drain() == []
