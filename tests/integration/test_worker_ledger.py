"""The worker on the real Firestore ledger: what the ledger promises users, through ``Handler``.

Two instances (two ``Handler`` objects, each with its own per-instance cache) race for one event;
a two-step recipe that fails after its first step resumes at the second; a later push of a
conversation sees what the first saved; a redelivery after a CRM failure reuses the gathered
record instead of calling Drift again; and with Firestore away the worker answers transient.
Drift is the simulator, the CRM is pytest-httpserver (real HTTP on loopback)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devtools.crm_sink import CrmSink
from devtools.drift_simulator import DriftSimulator
from samples import drift_seed as seed_data
from shared import config
from shared.errors import TransientError
from shared.handler import Handler, Outcome
from shared.ledger import DeferredError, open_ledger
from shared.ledger import client as ledger_client
from shared.push import PushedMessage
from tests.conftest import PROJECT

pytestmark = pytest.mark.emulator

TWO_STEPS = """
version: 1
base_url: {base}
conversation:
  steps:
    - name: person
      method: POST
      url: /people
      json:
        email: {{expr: contact.email}}
      save:
        person_id: response.body.id
    - name: note
      method: POST
      url: /notes
      json:
        person: {{expr: saved.person_id}}
        note_id: {{expr: memory.note_id}}
      save:
        note_id: response.body.id
  remember:
    note_id: saved.note_id
"""


def pushed(body: dict, message_id: str = "m-1") -> PushedMessage:
    body = {key: value for key, value in body.items() if key != "token"}
    return PushedMessage(
        json.dumps(body).encode(), {"type": body["type"]}, message_id, dt.datetime.now(dt.UTC)
    )


@pytest.fixture
def settings_for(emulator, firestore_emulator, topic_factory, ledger_prefix):
    dead = topic_factory("dead")
    made: list[DriftSimulator] = []

    def make(simulator: DriftSimulator, **overrides) -> config.WorkerSettings:
        values = {
            "google_cloud_project": PROJECT,
            "dead_letter_topic": dead.name,
            "drift_access_token": simulator.access_token,
            "drift_api_base_url": simulator.url,
            "ledger": "firestore",
            "ledger_collection_prefix": ledger_prefix,
            "firestore_emulator_host": firestore_emulator.host,
        }
        values.update(overrides)
        return config.WorkerSettings(**values)

    yield make
    for simulator in made:
        simulator.stop()


@pytest.fixture
def simulator():
    with DriftSimulator() as running:
        yield running


def test_two_instances_racing_for_one_event_deliver_it_once(settings_for, simulator):
    # GIVEN two worker instances on one ledger, and a CRM slow enough for them to overlap
    with CrmSink(slow_seconds=0.5) as sink:
        sink.add_fault("slow", times=1)
        settings = settings_for(simulator, crm_endpoint_url=f"{sink.url}/crm")
        first, second = Handler(settings), Handler(settings)
        message = pushed(seed_data.sample_conversation_push("t"))
        outcomes: list[object] = []

        def run(handler: Handler) -> None:
            try:
                outcomes.append(handler.handle(message))
            except TransientError as error:
                outcomes.append(type(error).__name__)

        threads = [threading.Thread(target=run, args=(h,)) for h in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        # THEN exactly one delivered; the other was told to come back (or saw it done)
        assert outcomes.count(Outcome.DELIVERED) == 1, outcomes
        assert set(outcomes) - {Outcome.DELIVERED} <= {"LedgerBusyError", Outcome.DUPLICATE}
        # AND Pub/Sub's redelivery of the loser is acknowledged without another CRM request
        assert second.handle(message) is Outcome.DUPLICATE
        assert first.handle(message) is Outcome.DUPLICATE
        assert len(sink.received()) == 1


def _two_step_crm(httpserver: HTTPServer, fail_notes: int) -> dict[str, list[dict]]:
    seen: dict[str, list[dict]] = {"people": [], "notes": []}
    left = {"fail": fail_notes}

    def people(request: Request) -> Response:
        seen["people"].append(json.loads(request.get_data()))
        return Response(json.dumps({"id": "p-1"}), 201, content_type="application/json")

    def notes(request: Request) -> Response:
        seen["notes"].append(json.loads(request.get_data()))
        if left["fail"] > 0:
            left["fail"] -= 1
            return Response("down", 503)
        number = len(seen["notes"])
        return Response(json.dumps({"id": f"n-{number}"}), 201, content_type="application/json")

    httpserver.expect_request("/people").respond_with_handler(people)
    httpserver.expect_request("/notes").respond_with_handler(notes)
    return seen


def _recipe(tmp_path: Path, httpserver: HTTPServer) -> str:
    path = tmp_path / "two-steps.yaml"
    path.write_text(TWO_STEPS.format(base=httpserver.url_for("").rstrip("/")), encoding="utf-8")
    return str(path)


def test_a_failure_after_step_one_resumes_at_step_two(
    settings_for, simulator, httpserver, tmp_path
):
    # GIVEN a two-step recipe whose second step fails once
    seen = _two_step_crm(httpserver, fail_notes=1)
    settings = settings_for(simulator, crm_recipe=_recipe(tmp_path, httpserver))
    handler = Handler(settings)
    message = pushed(seed_data.sample_conversation_push("t"))
    # WHEN the first attempt fails at step two
    with pytest.raises(TransientError):
        handler.handle(message)
    drift_calls = sum(simulator.call_counts().values())
    # THEN the redelivery (on a fresh instance) runs step two only, with step one's saved id
    assert Handler(settings).handle(message) is Outcome.DELIVERED
    assert len(seen["people"]) == 1
    assert [note["person"] for note in seen["notes"]] == ["p-1", "p-1"]
    # AND it reused the gathered record instead of asking Drift again
    assert sum(simulator.call_counts().values()) == drift_calls


def test_a_later_push_of_the_conversation_sees_what_the_first_saved(
    settings_for, simulator, httpserver, tmp_path
):
    seen = _two_step_crm(httpserver, fail_notes=0)
    handler = Handler(settings_for(simulator, crm_recipe=_recipe(tmp_path, httpserver)))
    first = seed_data.sample_conversation_push("t")
    assert handler.handle(pushed(first)) is Outcome.DELIVERED
    assert seen["notes"][0]["note_id"] is None
    # GIVEN a later push of the same conversation (another pushedAt: another event)
    later = json.loads(json.dumps(first))
    later["data"]["data"]["pushedAt"] += 60_000
    assert handler.handle(pushed(later, "m-2")) is Outcome.DELIVERED
    # THEN its steps see the note the first push created
    assert seen["notes"][1]["note_id"] == "n-1"
    ledger = open_ledger(handler.settings)
    memory = ledger.memory(seed_data.ORG_ID, seed_data.SAMPLE_CONVERSATION_ID)
    assert memory.get("note_id") == "n-2"


def test_the_record_is_gathered_once_across_crm_retries_within_the_reuse_window(
    settings_for, simulator
):
    with CrmSink() as sink:
        sink.add_fault("503", times=3)
        settings = settings_for(simulator, crm_endpoint_url=f"{sink.url}/crm")
        message = pushed(seed_data.sample_conversation_push("t"))
        for _ in range(3):
            with pytest.raises(TransientError):
                Handler(settings).handle(message)
        gathered = simulator.call_counts().get("conversation", 0)
        assert Handler(settings).handle(message) is Outcome.DELIVERED
        assert gathered == 1 and simulator.call_counts()["conversation"] == 1
        # AND with reuse switched off, every retry gathers again (the previous behaviour)
        simulator.reset_counts()
        sink.add_fault("503", times=2)
        again = seed_data.sample_conversation_push("t")
        again["data"]["data"]["pushedAt"] += 1
        message = pushed(again, "m-2")
        no_reuse = settings.model_copy(update={"record_reuse_seconds": 0.0})
        for _ in range(2):
            with pytest.raises(TransientError):
                Handler(no_reuse).handle(message)
        assert Handler(no_reuse).handle(message) is Outcome.DELIVERED
        assert simulator.call_counts()["conversation"] == 3


def test_with_firestore_away_the_worker_answers_transient_and_loses_nothing(
    emulator, topic_factory, simulator, ledger_prefix, monkeypatch
):
    # GIVEN a worker whose Firestore cannot be reached
    with CrmSink() as sink:
        dead = topic_factory("dead")
        ledger_client.reset()
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
        settings = config.WorkerSettings(
            google_cloud_project=PROJECT,
            dead_letter_topic=dead.name,
            drift_access_token=simulator.access_token,
            drift_api_base_url=simulator.url,
            crm_endpoint_url=f"{sink.url}/crm",
            ledger_collection_prefix=ledger_prefix,
            function_timeout_seconds=12,
            drift_retry_budget_seconds=5,
            crm_timeout_seconds=2,
        )
        # WHEN an event arrives THEN it raises transient (Pub/Sub redelivers), sends nothing
        with pytest.raises(TransientError):
            Handler(settings).handle(pushed(seed_data.sample_conversation_push("t")))
        assert sink.received() == [] and dead.drain() == []
    ledger_client.reset()


def _crm_asking_to_wait(httpserver: HTTPServer, seconds: str, times: int) -> list[int]:
    answers: list[int] = []

    def answer(request: Request) -> Response:
        if len(answers) < times:
            answers.append(429)
            return Response("slow down", 429, headers={"Retry-After": seconds})
        answers.append(200)
        return Response("{}", 200, content_type="application/json")

    httpserver.expect_request("/crm").respond_with_handler(answer)
    return answers


def test_a_short_retry_after_is_waited_for_within_the_invocation(
    settings_for, simulator, httpserver
):
    # GIVEN a CRM that asks for a one-second wait once
    answers = _crm_asking_to_wait(httpserver, "1", times=1)
    handler = Handler(settings_for(simulator, crm_endpoint_url=httpserver.url_for("/crm")))
    # WHEN the event is handled THEN the same invocation waits and delivers it
    assert handler.handle(pushed(seed_data.sample_conversation_push("t"))) is Outcome.DELIVERED
    assert answers == [429, 200]


def test_a_long_retry_after_refuses_redeliveries_without_calling_the_crm(
    settings_for, simulator, httpserver
):
    # GIVEN a CRM that asks for two minutes
    answers = _crm_asking_to_wait(httpserver, "120", times=1)
    settings = settings_for(simulator, crm_endpoint_url=httpserver.url_for("/crm"))
    message = pushed(seed_data.sample_conversation_push("t"))
    with pytest.raises(TransientError):
        Handler(settings).handle(message)
    # WHEN Pub/Sub redelivers before then (on another instance)
    with pytest.raises(DeferredError):
        Handler(settings).handle(message)
    # THEN neither the CRM nor Drift was asked again
    assert answers == [429]
    assert simulator.call_counts()["conversation"] == 1
