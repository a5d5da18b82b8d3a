"""The recipe language, feature by feature, against a real HTTP server on loopback
(pytest-httpserver) and the in-memory journal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug import Response

from shared.errors import PermanentError, TransientError
from shared.mapping import MappingError
from shared.recipes import Checkpoint, MemoryJournal
from tests.unit.recipes.helpers import RECORD

pytestmark = pytest.mark.timeout(30)

HEAD = "version: 1\n"


def sent(httpserver: Any) -> list[Any]:
    return [request for request, _ in httpserver.log]


def test_one_step_renders_url_query_headers_and_json_body(runner_for, httpserver):
    # GIVEN a step with a URL template, a query, headers and a JSON body from the record
    httpserver.expect_request("/people/gregg@example.com", method="PUT").respond_with_json({})
    runner = runner_for(
        HEAD
        + """
conversation:
  steps:
    - name: person
      method: put
      url: "/people/{contact.email}"
      query:
        source: drift
        conversation: {expr: "conversation.id"}
        tags: {expr: "['a', 'b']"}
        missing: {expr: "contact.phone"}
        flag: true
      headers:
        X-Org: {expr: "event.org_id"}
        X-Nothing: {expr: "contact.phone"}
      json:
        email: {expr: "contact.email"}
        name: {expr: "join(' ', [contact.first_name, contact.last_name])"}
        id: {expr: "contact.id"}
"""
    )
    # WHEN the record is delivered
    delivery = runner.deliver("conversation", RECORD, idempotency_key="key-1")
    # THEN one request carries each part, null values left out, ids exact
    (request,) = sent(httpserver)
    assert request.method == "PUT"
    assert request.environ["REQUEST_URI"].startswith("/people/gregg%40example.com?")
    assert request.args.getlist("tags") == ["a", "b"]
    assert request.args.to_dict() == {
        "source": "drift",
        "conversation": "3275727977",
        "tags": "a",
        "flag": "true",
    }
    assert request.headers["X-Org"] == "5000883"
    assert "X-Nothing" not in request.headers
    assert request.headers["Content-Type"] == "application/json"
    assert request.get_data() == (
        b'{"email":"gregg@example.com","name":"Gregg Parker","id":11751623441268736}'
    )
    assert delivery.skipped is None
    assert [(r.step, r.method, r.status) for r in delivery.requests] == [("person", "PUT", 200)]
    # the recorded URL leaves the query out (it may hold personal data)
    assert delivery.requests[0].url == httpserver.url_for("/people/gregg%40example.com")


def test_a_form_body_is_url_encoded(runner_for, httpserver):
    httpserver.expect_request("/form", method="POST").respond_with_data("ok")
    runner = runner_for(
        HEAD
        + """
conversation:
  steps:
    - name: post
      method: POST
      url: /form
      form:
        email: {expr: "contact.email"}
        subject: "Drift & you"
        empty: {expr: "contact.phone"}
"""
    )
    runner.deliver("conversation", RECORD)
    (request,) = sent(httpserver)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form.to_dict() == {"email": "gregg@example.com", "subject": "Drift & you"}


def test_steps_run_in_order_and_later_steps_use_saved_values(runner_for, httpserver):
    # GIVEN a search, then a note that names the id the search found
    httpserver.expect_ordered_request("/search", method="POST").respond_with_json(
        {"results": [{"id": "901", "properties": {"email": "gregg@example.com"}}]}
    )
    httpserver.expect_ordered_request("/people/901/notes", method="POST").respond_with_json(
        {"id": 77}, status=201
    )
    runner = runner_for(
        HEAD
        + """
conversation:
  steps:
    - name: find
      method: POST
      url: /search
      json: {email: {expr: "contact.email"}}
      save:
        person_id: "response.body.results[0].id"
    - name: note
      method: POST
      url: "/people/{saved.person_id}/notes"
      json:
        person: {expr: "saved.person_id"}
        text: {expr: "transcript"}
      save:
        note_id: "response.body.id"
        status: "response.status"
  remember:
    note_id: "saved.note_id"
    person_id: "saved.person_id"
    nothing: "contact.phone"
"""
    )
    # WHEN delivered
    delivery = runner.deliver("conversation", RECORD)
    # THEN the note went to the found id, and the saved values are returned and remembered
    httpserver.check_assertions()
    assert json.loads(sent(httpserver)[1].get_data())["person"] == "901"
    assert delivery.saved == {"person_id": "901", "note_id": 77, "status": 201}
    assert delivery.memory == {"note_id": 77, "person_id": "901"}


def test_a_step_whose_condition_fails_is_skipped_and_logged_with_its_reason(
    runner_for, httpserver, logs
):
    httpserver.expect_request("/always").respond_with_json({})
    runner = runner_for(
        HEAD
        + """
conversation:
  steps:
    - name: update
      when: {expr: "memory.note_id", reason: "no note yet"}
      method: PATCH
      url: "/notes/{memory.note_id}"
    - name: always
      method: POST
      url: /always
  remember:
    note_id: "memory.note_id"
"""
    )
    delivery = runner.deliver("conversation", RECORD)
    assert [r.step for r in delivery.requests] == ["always"]
    (line,) = [entry for entry in logs.lines() if entry["message"] == "CRM step skipped"]
    assert line["severity"] == "INFO"
    assert line["step"] == "update" and line["reason"] == "no note yet"


def test_memory_from_an_earlier_delivery_selects_the_update(runner_for, httpserver):
    httpserver.expect_request("/notes/55", method="PATCH").respond_with_json({"id": 55})
    runner = runner_for(
        HEAD
        + """
conversation:
  steps:
    - name: create
      when: "!(memory.note_id)"
      method: POST
      url: /notes
    - name: update
      when: "memory.note_id"
      method: PATCH
      url: "/notes/{memory.note_id}"
      save: {note_id: "response.body.id"}
  remember:
    note_id: "saved.note_id || memory.note_id"
"""
    )
    delivery = runner.deliver("conversation", RECORD, memory={"note_id": 55})
    assert [(r.step, r.method) for r in delivery.requests] == [("update", "PATCH")]
    assert delivery.memory == {"note_id": 55}


def test_an_event_condition_sends_nothing_and_logs_the_reason(runner_for, httpserver, logs):
    runner = runner_for(
        HEAD
        + """
conversation:
  when:
    - "conversation.id"
    - {expr: "contact.email", reason: "the visitor left no email address"}
  steps:
    - {name: send, method: POST, url: /x}
"""
    )
    anonymous = {**RECORD, "contact": {**RECORD["contact"], "email": None}}
    delivery = runner.deliver("conversation", anonymous)
    assert delivery.skipped == "the visitor left no email address"
    assert delivery.requests == [] and sent(httpserver) == []
    (line,) = [e for e in logs.lines() if e["message"] == "nothing sent to the CRM"]
    assert line["severity"] == "INFO" and line["reason"] == "the visitor left no email address"
    assert "gregg" not in logs.text


def test_a_condition_without_a_reason_names_its_expression(runner_for):
    runner = runner_for(
        HEAD + 'conversation:\n  when: "contact.phone"\n  steps:\n'
        "    - {name: send, method: POST, url: /x}\n"
    )
    assert runner.deliver("conversation", RECORD).skipped == "contact.phone is not true"


def test_vars_settings_and_the_idempotency_key_are_in_the_context(runner_for, httpserver):
    httpserver.expect_request("/v61.0/x").respond_with_json({})
    runner = runner_for(
        HEAD
        + """
vars:
  api: v61.0
headers:
  Idempotency-Key: {expr: "idempotency_key"}
conversation:
  steps:
    - name: send
      method: POST
      url: "/{vars.api}/x"
      json:
        recipe: {expr: "settings.crm_recipe"}
        gdpr: {expr: "settings.gdpr_action"}
""",
        crm_recipe="mine",
    )
    runner.deliver("conversation", RECORD, idempotency_key="abc")
    (request,) = sent(httpserver)
    assert request.headers["Idempotency-Key"] == "abc"
    assert json.loads(request.get_data()) == {"recipe": "mine", "gdpr": "delete"}


def test_a_url_given_as_an_expression_is_used_whole_and_the_method_can_be_an_expression(
    runner_for, httpserver
):
    httpserver.expect_request("/hook", method="PUT").respond_with_json({})
    runner = runner_for(
        HEAD
        + """
conversation:
  steps:
    - name: send
      method: {expr: "settings.crm_gdpr_method"}
      url: {expr: "settings.crm_endpoint_url"}
""",
        crm_endpoint_url=httpserver.url_for("/hook"),
        crm_gdpr_method="put",
    )
    runner.deliver("conversation", RECORD)
    assert sent(httpserver)[0].method == "PUT"


def test_headers_of_a_step_override_the_recipe_and_content_type(runner_for, httpserver):
    httpserver.expect_request("/x").respond_with_json({})
    runner = runner_for(
        HEAD
        + """
headers:
  Accept: application/json
  X-Client: drift-bridge
conversation:
  steps:
    - name: send
      method: POST
      url: /x
      headers:
        content-type: application/vnd.api+json
        X-Client: override
      json: {a: 1}
"""
    )
    runner.deliver("conversation", RECORD)
    (request,) = sent(httpserver)
    assert request.headers["Content-Type"] == "application/vnd.api+json"
    assert request.headers["X-Client"] == "override"
    assert request.headers["Accept"] == "application/json"


def test_root_lets_a_filter_compare_with_the_record(runner_for, httpserver):
    httpserver.expect_request("/notes").respond_with_json(
        {"data": [{"id": 1, "content": "other"}, {"id": 2, "content": "x 3275727977 y"}]}
    )
    runner = runner_for(
        HEAD
        + """
conversation:
  steps:
    - name: list
      method: GET
      url: /notes
      save:
        note_id: >-
          response.body.data[?contains(content, to_string(root().conversation.id))] | [0].id
"""
    )
    assert runner.deliver("conversation", RECORD).saved == {"note_id": 2}


# -- the journal -------------------------------------------------------------------------------

TWO_STEPS = (
    HEAD
    + """
conversation:
  steps:
    - name: person
      method: POST
      url: /people
      save: {person_id: "response.body.id"}
    - name: note
      method: POST
      url: "/people/{saved.person_id}/notes"
      save: {note_id: "response.body.id"}
      recover:
        method: GET
        url: "/people/{saved.person_id}/notes"
        query: {marker: {expr: "to_string(conversation.id)"}}
        save: {note_id: "response.body.items[0].id"}
"""
)


def test_the_journal_records_each_step_and_done_steps_are_not_sent_again(runner_for, httpserver):
    # GIVEN a journal in which the person step is done (its id saved)
    httpserver.expect_request("/people/901/notes", method="POST").respond_with_json({"id": 5})
    journal = MemoryJournal({"person": Checkpoint("done", {"person_id": 901})})
    runner = runner_for(TWO_STEPS)
    # WHEN the delivery runs again
    delivery = runner.deliver("conversation", RECORD, journal=journal)
    # THEN only the note is sent, to the saved id; the journal holds both as done
    assert [r.step for r in delivery.requests] == ["note"]
    assert journal.calls == [("started", "note"), ("done", "note")]
    assert journal.steps["note"].status == "done"
    assert journal.steps["note"].saved == {"note_id": 5}
    assert delivery.saved == {"person_id": 901, "note_id": 5}


def test_a_fresh_journal_marks_each_step_in_flight_before_sending(runner_for, httpserver):
    httpserver.expect_request("/people").respond_with_json({"id": 901})
    httpserver.expect_request("/people/901/notes").respond_with_json({"id": 5})
    journal = MemoryJournal()
    runner_for(TWO_STEPS).deliver("conversation", RECORD, journal=journal)
    assert journal.calls == [
        ("started", "person"),
        ("done", "person"),
        ("started", "note"),
        ("done", "note"),
    ]
    assert journal.steps["person"].http_status == 200


def test_a_step_in_flight_runs_its_recovery_and_does_not_create_twice(runner_for, httpserver):
    # GIVEN the note's request went out but its answer was lost (in flight in the journal)
    # and the CRM did create it
    httpserver.expect_request("/people/901/notes", method="GET").respond_with_json(
        {"items": [{"id": 5}]}
    )
    journal = MemoryJournal(
        {"person": Checkpoint("done", {"person_id": 901}), "note": Checkpoint("in_flight")}
    )
    # WHEN the event is retried
    delivery = runner_for(TWO_STEPS).deliver("conversation", RECORD, journal=journal)
    # THEN the recovery found the note: nothing is created again
    assert [(r.step, r.method) for r in delivery.requests] == [("note.recover", "GET")]
    assert sent(httpserver)[0].args["marker"] == "3275727977"
    assert journal.steps["note"].status == "done"
    assert delivery.saved["note_id"] == 5


def test_a_step_in_flight_whose_recovery_finds_nothing_is_sent(runner_for, httpserver):
    httpserver.expect_request("/people/901/notes", method="GET").respond_with_json({"items": []})
    httpserver.expect_request("/people/901/notes", method="POST").respond_with_json({"id": 6})
    journal = MemoryJournal(
        {"person": Checkpoint("done", {"person_id": 901}), "note": Checkpoint("in_flight")}
    )
    delivery = runner_for(TWO_STEPS).deliver("conversation", RECORD, journal=journal)
    assert [(r.step, r.method) for r in delivery.requests] == [
        ("note.recover", "GET"),
        ("note", "POST"),
    ]
    assert delivery.saved["note_id"] == 6


def test_a_recovery_with_found_decides_by_that_condition(runner_for, httpserver):
    httpserver.expect_request("/search").respond_with_json({"total": 0, "results": []})
    httpserver.expect_request("/people", method="POST").respond_with_json({"id": 3})
    runner = runner_for(
        HEAD
        + """
conversation:
  steps:
    - name: person
      method: POST
      url: /people
      save: {person_id: "response.body.id"}
      recover:
        method: POST
        url: /search
        save: {person_id: "response.body.results[0].id"}
        found: "response.body.total > `0`"
"""
    )
    journal = MemoryJournal({"person": Checkpoint("in_flight")})
    delivery = runner.deliver("conversation", RECORD, journal=journal)
    assert [r.step for r in delivery.requests] == ["person.recover", "person"]


def test_a_step_in_flight_without_recovery_is_sent_again(runner_for, httpserver):
    httpserver.expect_request("/people").respond_with_json({"id": 901})
    httpserver.expect_request("/people/901/notes").respond_with_json({"id": 5})
    journal = MemoryJournal({"person": Checkpoint("in_flight")})
    delivery = runner_for(TWO_STEPS).deliver("conversation", RECORD, journal=journal)
    assert [r.step for r in delivery.requests] == ["person", "note"]


def test_a_failed_step_stays_in_flight_for_the_retry(runner_for, httpserver):
    httpserver.expect_request("/people").respond_with_json({"id": 901})
    httpserver.expect_request("/people/901/notes").respond_with_data("busy", status=503)
    journal = MemoryJournal()
    with pytest.raises(TransientError) as caught:
        runner_for(TWO_STEPS).deliver("conversation", RECORD, journal=journal)
    assert caught.value.reason.startswith("CRM answered 503 at step note (answer")
    assert journal.steps["person"].status == "done"
    assert journal.steps["note"].status == "in_flight"


# -- outcomes ----------------------------------------------------------------------------------


def rules_recipe(step_rules: str = "", recipe_rules: str = "") -> str:
    return (
        HEAD
        + (f"outcomes:\n{recipe_rules}" if recipe_rules else "")
        + """
conversation:
  steps:
    - name: send
      method: POST
      url: /x
"""
        + (f"      outcomes:\n{step_rules}" if step_rules else "")
    )


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
def test_default_transient_statuses(runner_for, httpserver, status):
    httpserver.expect_request("/x").respond_with_data("busy", status=status)
    with pytest.raises(TransientError) as caught:
        runner_for(rules_recipe()).deliver("conversation", RECORD)
    # a single-step event leaves the step unnamed; the answer is only a digest in the reason
    assert caught.value.reason.startswith(f"CRM answered {status} (answer sha256:")
    assert caught.value.detail == "busy"


@pytest.mark.parametrize("status", [400, 403, 404, 422, 301])
def test_default_permanent_statuses_carry_the_answer_as_detail_only(runner_for, httpserver, status):
    httpserver.expect_request("/x").respond_with_data(
        "bad record for gregg@example.com", status=status, headers={"Location": "/elsewhere"}
    )
    with pytest.raises(PermanentError) as caught:
        runner_for(rules_recipe()).deliver("conversation", RECORD)
    assert caught.value.reason.startswith(f"CRM rejected the record with {status} (answer")
    assert "gregg" not in caught.value.reason
    assert caught.value.detail == "bad record for gregg@example.com"
    assert len(httpserver.log) == 1  # a redirect is not followed


def test_a_step_rule_reads_the_answer_body(runner_for, httpserver):
    # GIVEN a 200 whose body says the request failed (Marketo's way)
    httpserver.expect_request("/x").respond_with_json(
        {"success": False, "errors": [{"code": "606", "message": "Max rate limit exceeded"}]}
    )
    step_rules = """        - status: 200
          when: "response.body.errors[?code == '606']"
          outcome: transient
          backoff: 20
          reason: rate limited
        - {status: 200, when: "response.body.success == `false`", outcome: permanent}
"""
    with pytest.raises(TransientError) as caught:
        runner_for(rules_recipe(step_rules)).deliver("conversation", RECORD)
    assert caught.value.reason.startswith("CRM answered 200: rate limited (error 606, answer")
    assert caught.value.backoff == 20 and caught.value.retry_after is None


def test_retry_after_wins_over_the_backoff_hint(runner_for, httpserver):
    httpserver.expect_request("/x").respond_with_data("", status=429, headers={"Retry-After": "7"})
    recipe_rules = "  - {status: 429, outcome: transient, backoff: 60}\n"
    with pytest.raises(TransientError) as caught:
        runner_for(rules_recipe(recipe_rules=recipe_rules)).deliver("conversation", RECORD)
    assert caught.value.retry_after == 7.0


def test_retry_after_as_an_http_date(runner_for, httpserver):
    httpserver.expect_request("/x").respond_with_data(
        "", status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    with pytest.raises(TransientError) as caught:
        runner_for(rules_recipe()).deliver("conversation", RECORD)
    assert caught.value.retry_after == 0.0  # a date in the past: retry now


def test_step_rules_come_before_recipe_rules_and_defaults(runner_for, httpserver):
    # GIVEN a 207 (HubSpot's partial batch) the step calls a failure, and a 404 the recipe
    # calls a success
    httpserver.expect_request("/x").respond_with_json({"status": "COMPLETE"}, status=207)
    recipe = rules_recipe(
        '        - {status: "2xx", when: "response.status == `207`", outcome: permanent}\n',
        "  - {status: [404, 207], outcome: success}\n",
    )
    with pytest.raises(PermanentError):
        runner_for(recipe).deliver("conversation", RECORD)
    httpserver.clear_log()
    httpserver.clear()
    httpserver.expect_request("/x").respond_with_data("", status=404)
    runner_for(recipe).deliver("conversation", RECORD)  # no error


def test_a_status_range_rule(runner_for, httpserver):
    httpserver.expect_request("/x").respond_with_data("", status=502)
    recipe = rules_recipe('        - {status: "500-502", outcome: permanent, reason: broken}\n')
    with pytest.raises(PermanentError) as caught:
        runner_for(recipe).deliver("conversation", RECORD)
    assert caught.value.reason.startswith("CRM rejected the record with 502: broken (")


def test_a_connection_error_is_transient(runner_for):
    runner = runner_for(rules_recipe(), crm_base_url="http://127.0.0.1:9")
    with pytest.raises(TransientError) as caught:
        runner.deliver("conversation", RECORD)
    assert caught.value.reason == "CRM unreachable (ConnectionError)"


def test_a_slow_crm_is_a_transient_timeout(runner_for, httpserver):
    import threading

    from devtools.emulator import wait_until

    release = threading.Event()
    answered = threading.Event()

    def slow(request: Any) -> Response:
        release.wait(5)
        answered.set()
        return Response("late")

    httpserver.expect_request("/x").respond_with_handler(slow)
    runner = runner_for(rules_recipe(), crm_timeout_seconds=0.2)
    try:
        with pytest.raises(TransientError) as caught:
            runner.deliver("conversation", RECORD)
    finally:
        release.set()
        # the late answer is the server's last act for this test
        wait_until(lambda: answered.is_set() and len(httpserver.log) == 1, 5, "the late answer")
    assert caught.value.reason == "CRM timed out after 0.2s"


# -- rendering problems and other kinds -------------------------------------------------------


def test_a_null_in_a_url_placeholder_is_a_permanent_error_naming_the_field(runner_for, httpserver):
    runner = runner_for(
        HEAD
        + 'conversation:\n  steps:\n    - {name: send, method: GET, url: "/p/{contact.phone}"}\n'
    )
    with pytest.raises(MappingError) as caught:
        runner.deliver("conversation", RECORD)
    assert caught.value.reason == (
        "conversation.steps[0].url: {contact.phone} must give text or a number, got null"
    )
    assert sent(httpserver) == []


def test_a_kind_the_recipe_lacks_is_permanent(runner_for):
    runner = runner_for(HEAD + "conversation:\n  steps:\n    - {name: a, method: GET, url: /x}\n")
    with pytest.raises(PermanentError) as caught:
        runner.deliver("gdpr", {"event": {}, "contact": {"email": "a@b.c"}})
    assert "has no gdpr steps" in caught.value.reason


def test_the_delivered_hash_ignores_the_event_but_not_the_content(runner_for, httpserver):
    httpserver.expect_request("/x").respond_with_json({})
    runner = runner_for(rules_recipe())
    first = runner.deliver("conversation", RECORD).delivered_hash
    again = runner.deliver("conversation", {**RECORD, "event": {"key": "other"}}).delivered_hash
    changed = runner.deliver("conversation", {**RECORD, "transcript": "new"}).delivered_hash
    assert first == again != changed
    assert len(first) == 64


def test_a_mapping_file_is_a_one_step_recipe(write, httpserver):
    from shared.recipes import RecipeRunner, load_recipe
    from tests.unit.recipes.helpers import make_settings

    # GIVEN a mapping file given as CRM_RECIPE
    path = write('version: 1\nmethod: PUT\nbody:\n  email: {expr: "contact.email"}\n')
    httpserver.expect_request("/hook", method="PUT").respond_with_json({})
    recipe = load_recipe(path)
    runner = RecipeRunner(recipe, make_settings(crm_endpoint_url=httpserver.url_for("/hook")))
    # WHEN delivered THEN its body goes to CRM_ENDPOINT_URL with its method
    runner.deliver("conversation", RECORD, idempotency_key="k1")
    (request,) = sent(httpserver)
    assert request.get_data() == b'{"email":"gregg@example.com"}'
    assert request.headers["Idempotency-Key"] == "k1"


# -- plan --------------------------------------------------------------------------------------


def test_plan_renders_every_step_and_sends_nothing(runner_for, httpserver):
    runner = runner_for(
        HEAD
        + """
auth: {type: bearer}
conversation:
  steps:
    - name: find
      method: GET
      url: /search
      query: {email: {expr: "contact.email"}}
      save: {person_id: "response.body.id"}
    - name: create
      when: "!(saved.person_id)"
      method: POST
      url: /people
      json: {email: {expr: "contact.email"}}
      save: {person_id: "response.body.id"}
    - name: update
      when: {expr: "memory.note_id", reason: "no note yet"}
      method: PATCH
      url: "/notes/{memory.note_id}"
    - name: note
      method: POST
      url: "/people/{saved.person_id}/notes"
      recover:
        method: GET
        url: "/people/{saved.person_id}/notes"
        save: {x: "response.body.x"}
  remember:
    note_id: "memory.note_id"
""",
        crm_api_token="tok-123456",
    )
    planned = runner.plan("conversation", RECORD)
    assert sent(httpserver) == []
    assert [(p.step, p.method, p.runs) for p in planned] == [
        ("find", "GET", "yes"),
        ("create", "POST", "if !(saved.person_id)"),
        ("update", "PATCH", "no: no note yet"),
        ("note", "POST", "yes"),
    ]
    assert planned[0].query == [("email", "gregg@example.com")]
    assert planned[0].headers["Authorization"] == "Bearer ***"
    assert planned[0].saves == {"person_id": "response.body.id"}
    assert planned[2].url == "/notes/{memory.note_id}"  # not rendered: it does not run
    assert planned[3].url.endswith("/people/%3Cperson_id%20from%20find%3E/notes")
    assert planned[3].recover is not None and planned[3].recover.startswith("GET ")
    assert "tok-123456" not in repr(planned)
