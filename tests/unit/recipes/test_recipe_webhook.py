"""CRM_RECIPE=webhook sends what shared.crm.CrmClient sends: the same method, URL, headers, body
bytes and signature, and reads every answer the same way (family, reason, detail), including the
one re-read of a Secret Manager token after a 401 or 403. Both run against the same loopback
server, for the conversation body and the GDPR deletion request."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from devtools.secret_manager_server import SecretManagerServer
from shared import secrets
from shared.config import WorkerSettings
from shared.errors import BridgeError, TransientError
from shared.mapping import load_mapping
from shared.recipes import RecipeRunner, load_recipe
from shared.secrets import Secret, SecretVersions
from tests.reference_crm_client import CrmClient
from tests.unit.test_example_mappings import sample_record

pytestmark = pytest.mark.timeout(60)

API_TOKEN = "crm-api-token-webhook-3c9e51"
SIGNING = "crm-signing-secret-webhook-77a0d2"
PROJECT = "drift-bridge-test"
KEY = "e" * 64
GDPR_DOCUMENT = {
    "event": {"type": "gdpr_delete_requested", "org_id": 5000883, "key": KEY},
    "contact": {"email": "gregg@example.com", "id": 11751623441268736},
}


def settings(httpserver: HTTPServer, **values: Any) -> WorkerSettings:
    base = {
        "google_cloud_project": PROJECT,
        "drift_access_token": "drift-token",
        "crm_endpoint_url": httpserver.url_for("/records"),
        "crm_timeout_seconds": 5.0,
    }
    return WorkerSettings(**{**base, **values})


def verify(header: str, body: bytes, secret: str) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(
        secret.encode("utf-8"), f"{parts['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return abs(time.time() - int(parts["t"])) < 300 and hmac.compare_digest(expected, parts["v1"])


def encoded(value: Any) -> bytes:
    # shared.handler's encoding of a mapping's body, written out here as the reference
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@pytest.fixture
def clean_env(function_env: Callable[..., None]) -> None:
    function_env()  # no CRM_* or DRIFT_* from the outer environment


@pytest.fixture
def pair(httpserver: HTTPServer, clean_env: None) -> Iterator[Callable[..., Any]]:
    """(today's client, the webhook recipe's runner) for the same settings."""
    made: list[Any] = []

    def make(**values: Any) -> tuple[CrmClient, RecipeRunner, WorkerSettings]:
        current = settings(httpserver, **values)
        signing = Secret.from_settings(current, "crm_signing_secret")
        client = CrmClient(
            timeout=current.crm_timeout_seconds,
            api_token=Secret.from_settings(current, "crm_api_token"),
            signing_secret=SecretVersions(signing) if signing else None,
        )
        runner = RecipeRunner(load_recipe("webhook"), current)
        made.extend([client, runner])
        return client, runner, current

    yield make
    for item in made:
        item.close()


def outcome(call: Callable[[], Any]) -> tuple[str, str | None, str | None]:
    try:
        call()
    except BridgeError as error:
        family = "transient" if isinstance(error, TransientError) else "permanent"
        return family, error.reason, getattr(error, "detail", None)
    return "success", None, None


def both(httpserver: HTTPServer, client: CrmClient, runner: RecipeRunner, record: Any) -> Any:
    body = encoded(load_mapping(None, "conversation", "CRM_MAPPING_FILE").render(record))
    today = outcome(lambda: client.send(httpserver.url_for("/records"), body, KEY))
    first = list(httpserver.log)
    httpserver.clear_log()
    recipe = outcome(lambda: runner.deliver("conversation", record, idempotency_key=KEY))
    return today, recipe, first, list(httpserver.log), body


def comparable(request: Any) -> dict[str, Any]:
    headers = {k: v for k, v in request.headers.items() if k != "X-Signature"}
    return {
        "method": request.method,
        "uri": request.environ["REQUEST_URI"],
        "headers": headers,
        "body": request.get_data(),
    }


def test_the_conversation_request_is_the_same_to_the_byte(httpserver, pair):
    # GIVEN a bearer token and a signing secret
    client, runner, _ = pair(crm_api_token=API_TOKEN, crm_signing_secret=SIGNING)
    httpserver.expect_request("/records", method="POST").respond_with_json({"ok": True})
    record = sample_record()
    # WHEN both deliver the sample record
    today, recipe, old, new, body = both(httpserver, client, runner, record)
    # THEN the requests are identical (the signature's timestamp aside) and both verify
    assert today == recipe == ("success", None, None)
    ((old_request, _),), ((new_request, _),) = old, new
    assert comparable(old_request) == comparable(new_request)
    assert new_request.get_data() == body
    assert new_request.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert new_request.headers["Idempotency-Key"] == KEY
    assert verify(new_request.headers["X-Signature"], body, SIGNING)
    assert verify(old_request.headers["X-Signature"], body, SIGNING)


def test_without_token_or_signing_secret_neither_header_is_sent(httpserver, pair):
    client, runner, _ = pair()
    httpserver.expect_request("/records").respond_with_json({})
    _, _, old, new, _ = both(httpserver, client, runner, sample_record())
    ((old_request, _),), ((new_request, _),) = old, new
    assert comparable(old_request) == comparable(new_request)
    assert "Authorization" not in new_request.headers
    assert "X-Signature" not in new_request.headers


def test_a_mapping_file_with_a_method_is_honoured_by_both(httpserver, pair, tmp_path):
    mapping_file = tmp_path / "m.yaml"
    mapping_file.write_text('version: 1\nmethod: PUT\nbody:\n  email: {expr: "contact.email"}\n')
    current = settings(httpserver, crm_mapping_file=str(mapping_file))
    runner = RecipeRunner(load_recipe("webhook", mapping_file=current.crm_mapping_file), current)
    httpserver.expect_request("/records", method="PUT").respond_with_json({})
    runner.deliver("conversation", sample_record(), idempotency_key=KEY)
    runner.close()
    ((request, _),) = httpserver.log
    assert request.method == "PUT"
    assert json.loads(request.get_data()) == {"email": sample_record()["contact"]["email"]}


@pytest.mark.parametrize(
    "status",
    [200, 201, 202, 204, 301, 302, 400, 401, 403, 404, 408, 409, 410, 422, 429, 500, 502, 503],
)
def test_every_answer_is_read_the_same_way(httpserver, pair, status):
    # GIVEN an environment token (401/403 cannot be helped by re-reading it)
    client, runner, _ = pair(crm_api_token=API_TOKEN)
    answer = json.dumps({"errorCode": "BAD_THING", "message": "for gregg@example.com"})
    httpserver.expect_request("/records").respond_with_data(
        answer, status=status, headers={"Location": "/elsewhere"}
    )
    today, recipe, old, new, _ = both(httpserver, client, runner, sample_record())
    assert today == recipe
    assert len(old) == len(new) == 1


def test_timeouts_and_connection_errors_read_the_same(httpserver, clean_env):
    current = settings(httpserver, crm_endpoint_url="http://127.0.0.1:9/records")
    client = CrmClient(timeout=5.0)
    runner = RecipeRunner(load_recipe("webhook"), current)
    today = outcome(lambda: client.send("http://127.0.0.1:9/records", b"{}", KEY))
    recipe = outcome(lambda: runner.deliver("conversation", sample_record(), idempotency_key=KEY))
    assert today == recipe == ("transient", "CRM unreachable (ConnectionError)", None)
    client.close()
    runner.close()


def test_the_gdpr_request_follows_the_gdpr_settings(httpserver, pair):
    # GIVEN a separate GDPR URL and method
    client, runner, current = pair(
        crm_api_token=API_TOKEN,
        crm_gdpr_url=httpserver.url_for("/gdpr"),
        crm_gdpr_method="DELETE",
    )
    httpserver.expect_request("/gdpr", method="DELETE").respond_with_data("", status=204)
    body = encoded(load_mapping(None, "gdpr", "CRM_GDPR_MAPPING_FILE").render(GDPR_DOCUMENT))
    # WHEN both send the deletion request (today: the handler's URL and method choice)
    client.send(str(current.crm_gdpr_url), body, KEY, current.crm_gdpr_method)
    runner.deliver("gdpr", GDPR_DOCUMENT, idempotency_key=KEY)
    # THEN the two requests are the same
    (old, _), (new, _) = httpserver.log
    assert comparable(old) == comparable(new)
    assert new.get_data() == body


def test_the_gdpr_request_defaults_to_the_endpoint_url(httpserver, pair):
    _, runner, _ = pair()
    httpserver.expect_request("/records", method="POST").respond_with_json({})
    runner.deliver("gdpr", GDPR_DOCUMENT, idempotency_key=KEY)
    ((request, _),) = httpserver.log
    assert json.loads(request.get_data())["action"] == "delete_contact"


@pytest.mark.parametrize("refusal", [401, 403])
def test_a_secret_manager_token_is_reread_once_after_a_refusal_by_both(
    httpserver, clean_env, secret_manager: SecretManagerServer, refusal
):
    # GIVEN a token in Secret Manager that the CRM refuses until version 2 is read
    secrets.configure_client(secret_manager.endpoint)
    secret_id = f"crm-token-{uuid.uuid4().hex[:10]}"

    def attempts(send: Callable[[Secret], Any]) -> list[tuple[int, str]]:
        name = secret_manager.add_version(PROJECT, secret_id, f"old-{uuid.uuid4().hex[:6]}")
        token = Secret("crm_api_token", resource=f"{name}/versions/latest")
        token.get()
        secret_manager.add_version(PROJECT, secret_id, API_TOKEN)
        httpserver.clear_log()
        send(token)
        return [
            (response.status_code, request.headers["Authorization"].split(" ")[1][:4])
            for request, response in httpserver.log
        ]

    def accepts(request: Any) -> Any:
        from werkzeug import Response

        ok = request.headers.get("Authorization") == f"Bearer {API_TOKEN}"
        return Response("{}" if ok else "refused", status=200 if ok else refusal)

    httpserver.expect_request("/records").respond_with_handler(accepts)
    body = encoded(load_mapping(None, "conversation", "CRM_MAPPING_FILE").render(sample_record()))

    def by_client(token: Secret) -> None:
        CrmClient(timeout=5.0, api_token=token).send(httpserver.url_for("/records"), body, KEY)

    def by_recipe(token: Secret) -> None:
        runner = RecipeRunner(load_recipe("webhook"), settings(httpserver))
        runner.auth.secret = token  # the same Secret Manager reference as the client's
        runner.deliver("conversation", sample_record(), idempotency_key=KEY)

    # THEN both: one refusal, one re-read, one accepted retry
    assert attempts(by_client) == attempts(by_recipe) == [(refusal, "old-"), (200, API_TOKEN[:4])]
