"""The built-in Salesforce recipe against a small fake of the REST API on loopback (OAuth client
credentials with instance_url, composite requests with references and all-or-none, SOQL queries
by email and subject, sObject collections delete): the existing Contact else a Lead, one
completed Task per conversation, at most two requests per conversation, repeat safety, the
org's request limit, an expired session and the GDPR deletion."""

from __future__ import annotations

import copy
import itertools
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug import Request, Response

from shared.errors import PermanentError, TransientError
from shared.recipes import RecipeRunner, load_recipe
from tests.unit.recipes.helpers import make_settings
from tests.unit.recipes.vendors import ANY_PATH, FakeApi, Fault, Worker, record

pytestmark = pytest.mark.timeout(60)
API = "/services/data/v61.0"
SOQL = re.compile(
    r"SELECT (?P<fields>[\w, ]+) FROM (?P<object>\w+) "
    r"WHERE (?P<field>\w+) = '(?P<value>(?:[^'\\]|\\.)*)'"
    r"(?P<unconverted> AND IsConverted = false)?(?: ORDER BY CreatedDate)? LIMIT (?P<limit>\d+)$"
)


class Salesforce(FakeApi):
    def __init__(self) -> None:
        super().__init__("")
        self.tokens = itertools.count(1)
        self.token = ""
        self.records: dict[str, dict[str, dict[str, Any]]] = {"Contact": {}, "Lead": {}, "Task": {}}
        self.ids = itertools.count(1)
        self.token_requests = 0

        @self.route("POST", f"{API}/composite")
        def composite(request, body):
            return 200, {"compositeResponse": self.composite(body)}

        @self.route("GET", f"{API}/query/")
        def query(request, body):
            return self.query(request.args["q"])

        @self.route("POST", rf"{API}/sobjects/(\w+)")
        def create(request, body, sobject):
            return self.create(sobject, body)

        @self.route("PATCH", rf"{API}/sobjects/(\w+)/(\w+)")
        def update(request, body, sobject, record_id):
            return self.update(sobject, record_id, body)

        @self.route("DELETE", f"{API}/composite/sobjects")
        def delete(request, body):
            results = []
            for record_id in request.args["ids"].split(","):
                table = next((t for t in self.records.values() if record_id in t), None)
                if table is None:
                    results.append(
                        {
                            "id": record_id,
                            "success": False,
                            "errors": [{"statusCode": "ENTITY_IS_DELETED"}],
                        }
                    )
                else:
                    del table[record_id]
                    results.append({"id": record_id, "success": True, "errors": []})
            return 200, results

    # -- the API ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path == "/services/oauth2/token":
            self.token_requests += 1
            assert request.form["grant_type"] == "client_credentials"
            self.token = f"00Dxx!token{next(self.tokens)}"
            body = {
                "access_token": self.token,
                "instance_url": request.host_url.rstrip("/"),
                "token_type": "Bearer",
                "issued_at": "1",
            }
            return Response(json.dumps(body), content_type="application/json")
        return super().handle(request)

    def unauthorized(self) -> Any:
        return [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]

    def composite(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        snapshot = copy.deepcopy(self.records)
        results: dict[str, Any] = {}
        out = []
        failed = False
        for sub in body["compositeRequest"]:
            text = json.dumps(sub)
            text = re.sub(
                r"@\{(\w+)\.(\w+)\}", lambda m: str(results[m.group(1)][m.group(2)]), text
            )
            sub = json.loads(text)
            parts = urlsplit(sub["url"])
            status, answer = self.sub(
                sub["method"], parts.path, parse_qs(parts.query), sub.get("body")
            )
            results[sub["referenceId"]] = answer if isinstance(answer, dict) else {}
            out.append(
                {
                    "body": answer,
                    "httpHeaders": {},
                    "httpStatusCode": status,
                    "referenceId": sub["referenceId"],
                }
            )
            failed = failed or status >= 400
        if failed and body.get("allOrNone"):
            self.records = snapshot
            for item in out:
                if item["httpStatusCode"] < 400:
                    item["httpStatusCode"] = 400
                    item["body"] = [{"errorCode": "PROCESSING_HALTED", "message": "rolled back"}]
        return out

    def sub(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        if method == "GET" and path == f"{API}/query/":
            return self.query(query["q"][0])
        match = re.fullmatch(rf"{API}/sobjects/(\w+)(?:/(\w+))?", path)
        assert match, path
        if method == "POST":
            return self.create(match.group(1), body)
        return self.update(match.group(1), match.group(2), body)

    def query(self, soql: str) -> tuple[int, Any]:
        match = SOQL.match(soql)
        assert match, soql
        value = match["value"].replace("\\'", "'").replace("\\\\", "\\")
        rows = [
            {
                "attributes": {"type": match["object"]},
                "Id": i,
                **{f: r.get(f) for f in ("WhoId",) if f in match["fields"]},
            }
            for i, r in self.records[match["object"]].items()
            if r.get(match["field"]) == value
            and not (match["unconverted"] and r.get("IsConverted"))
        ][: int(match["limit"])]
        return 200, {"totalSize": len(rows), "done": True, "records": rows}

    def create(self, sobject: str, body: dict[str, Any]) -> tuple[int, Any]:
        if sobject == "Lead" and not (body.get("LastName") and body.get("Company")):
            return 400, [{"errorCode": "REQUIRED_FIELD_MISSING", "message": "LastName, Company"}]
        if sobject == "Task" and len(body.get("Description", "")) > 32000:
            return 400, [{"errorCode": "STRING_TOO_LONG", "message": "Description"}]
        record_id = {"Lead": "00Q", "Task": "00T", "Contact": "003"}[
            sobject
        ] + f"{next(self.ids):012d}"
        self.records[sobject][record_id] = dict(body)
        return 201, {"id": record_id, "success": True, "errors": []}

    def update(self, sobject: str, record_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        if record_id not in self.records[sobject]:
            return 404, [{"errorCode": "NOT_FOUND", "message": "not found"}]
        self.records[sobject][record_id].update(body)
        return 204, None

    def count(self, sobject: str) -> int:
        return len(self.records[sobject])


@pytest.fixture
def salesforce(httpserver) -> Salesforce:
    fake = Salesforce()
    httpserver.expect_request(ANY_PATH).respond_with_handler(fake.handle)
    return fake


@pytest.fixture
def worker(httpserver, salesforce) -> Worker:
    settings = make_settings(
        crm_oauth_client_id="consumer-key",
        crm_oauth_client_secret="consumer-secret",
        crm_oauth_token_url=httpserver.url_for("/services/oauth2/token"),
    )
    runner = RecipeRunner(load_recipe("salesforce"), settings)
    yield Worker(runner, salesforce)
    runner.close()


def test_a_new_visitor_becomes_a_lead_with_a_completed_task_in_two_requests(worker, salesforce):
    delivery, requests = worker.deliver(record(), "event-1")
    assert requests == 2 and salesforce.token_requests == 1
    ((lead_id, lead),) = salesforce.records["Lead"].items()
    assert lead == {
        "FirstName": "Gregg",
        "LastName": "Parker",
        "Company": "Camp Waziyatah",
        "Email": "gregg@example.com",
    }
    ((task_id, task),) = salesforce.records["Task"].items()
    assert task == {
        "WhoId": lead_id,
        "Subject": "Drift conversation 3275727977",
        "Status": "Completed",
        "Description": "Hello <there>\nHow can I help?",
        "ActivityDate": "2021-09-21",
    }
    assert delivery.memory == {"task_id": task_id, "who_id": lead_id}


def test_missing_last_name_and_company_get_honest_defaults(worker, salesforce):
    worker.deliver(record(last_name=None, company=None, name=None), "event-1")
    (lead,) = salesforce.records["Lead"].values()
    assert lead["LastName"] == "[not provided]" and lead["Company"] == "[not provided]"


def test_an_existing_contact_gets_the_task_and_no_lead_is_made(worker, salesforce):
    salesforce.records["Contact"]["003000000000099"] = {
        "Email": "gregg@example.com",
        "LastName": "Parker",
    }
    _, requests = worker.deliver(record(title="CEO"), "event-1")
    assert requests == 2
    assert salesforce.count("Lead") == 0
    (task,) = salesforce.records["Task"].values()
    assert task["WhoId"] == "003000000000099"
    assert salesforce.records["Contact"]["003000000000099"]["Title"] == "CEO"


def test_a_returning_visitors_second_conversation_takes_two_requests(worker, salesforce):
    worker.deliver(record(conversation=1), "event-1")
    _, requests = worker.deliver(record(conversation=2, phone="+1 555 0100"), "event-2")
    assert requests == 2
    assert salesforce.count("Lead") == 1 and salesforce.count("Task") == 2
    (lead,) = salesforce.records["Lead"].values()
    assert lead["Phone"] == "+1 555 0100"


def test_a_later_push_updates_the_task_in_one_request(worker, salesforce):
    worker.deliver(record(), "event-1")
    later = record()
    later["transcript"] = "x" * 40000
    _, requests = worker.deliver(later, "event-2")
    assert requests == 1
    (task,) = salesforce.records["Task"].values()
    assert len(task["Description"]) == 32000
    assert task["Description"].endswith("\n[transcript truncated]")


def test_without_memory_the_task_is_found_by_its_subject(worker, salesforce):
    worker.deliver(record(), "event-1")
    worker.memory.clear()
    worker.deliver(record(), "event-2")
    assert salesforce.count("Task") == 1 and salesforce.count("Lead") == 1


def test_a_lost_answer_after_the_lead_and_task_were_written_creates_nothing_twice(
    worker, salesforce
):
    # GIVEN the second composite (the create) is written but its answer is lost
    salesforce.faults.append(Fault("POST", f"{API}/composite", 503, None, after_write=True, skip=1))
    # WHEN the worker retries
    worker.deliver(record(), "event-1")
    # THEN the recovery found the Task: one Lead, one Task
    assert salesforce.count("Lead") == 1 and salesforce.count("Task") == 1
    assert worker.memory[3275727977]["task_id"] == next(iter(salesforce.records["Task"]))


def test_a_lost_answer_after_the_task_was_added_to_a_lead_creates_nothing_twice(worker, salesforce):
    salesforce.records["Lead"]["00Q000000000077"] = {"Email": "gregg@example.com", "LastName": "P"}
    salesforce.faults.append(Fault("POST", f"{API}/composite", 503, None, after_write=True, skip=1))
    worker.deliver(record(), "event-1")
    assert salesforce.count("Lead") == 1 and salesforce.count("Task") == 1
    assert ("GET", f"{API}/query/") in salesforce.seen


def test_the_request_limit_is_transient_with_a_long_backoff(worker, salesforce):
    salesforce.faults.append(
        Fault(
            "POST",
            f"{API}/composite",
            403,
            [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
        )
    )
    with pytest.raises(TransientError) as caught:
        worker.deliver(record(), "event-1", attempts=1)
    assert caught.value.backoff == 600
    assert "REQUEST_LIMIT_EXCEEDED" in caught.value.reason


def test_an_expired_session_renews_the_token_once_and_goes_on(worker, salesforce):
    worker.deliver(record(conversation=1), "event-1")
    salesforce.token = "expired-elsewhere"  # the session the bridge holds is no longer valid
    _, requests = worker.deliver(record(conversation=2), "event-2")
    assert salesforce.token_requests == 2
    assert requests == 3  # the refused lookup, the lookup again, the task
    assert salesforce.count("Task") == 2


def test_a_failed_subrequest_fails_the_event_and_rolls_back(worker, salesforce):
    salesforce.faults.append(
        Fault(
            "POST",
            f"{API}/composite",
            200,
            {
                "compositeResponse": [
                    {
                        "body": [
                            {"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "no"}
                        ],
                        "httpStatusCode": 400,
                        "referenceId": "lead",
                    }
                ]
            },
        )
    )
    with pytest.raises(PermanentError, match="a composite subrequest failed"):
        worker.deliver(record(), "event-1", attempts=1)


def test_an_anonymous_visitor_writes_nothing(worker, salesforce):
    delivery, requests = worker.deliver(record(email=None), "event-1")
    assert delivery.skipped and requests == 0 and salesforce.token_requests == 0


def test_gdpr_deletes_every_contact_and_lead_with_the_email(worker, salesforce):
    worker.deliver(record(), "event-1")
    salesforce.records["Contact"]["003000000000099"] = {"Email": "gregg@example.com"}
    delivery = worker.gdpr("gregg@example.com")
    assert [r.method for r in delivery.requests] == ["POST", "DELETE"]
    assert salesforce.count("Lead") == 0 and salesforce.count("Contact") == 0


def test_gdpr_for_an_unknown_email_deletes_nothing(worker, salesforce):
    delivery = worker.gdpr("o'brien@example.com")
    assert [r.method for r in delivery.requests] == ["POST"]
