"""Authentication profiles against loopback servers: static tokens in headers, query parameters
and HTTP basic; OAuth2 client credentials and refresh tokens through Authlib, cached, renewed
once on a refusal however many threads ask, and the token answer's API base."""

# ruff: noqa: E501 - the expected messages are whole lines
from __future__ import annotations

import base64
import threading
from typing import Any

import pytest
from werkzeug import Request, Response

from shared.errors import ConfigError, PermanentError, TransientError
from shared.recipes import RecipeRunner, load_recipe
from tests.unit.recipes.helpers import RECORD, make_settings

pytestmark = pytest.mark.timeout(30)

ONE_STEP = """
conversation:
  steps:
    - {name: send, method: POST, url: /x}
"""


def recipe(write, auth: str) -> Any:
    return load_recipe(write(f"version: 1\nauth: {auth}\n{ONE_STEP}"))


def api_requests(httpserver: Any) -> list[Request]:
    return [r for r, _ in httpserver.log if r.path == "/x"]


def token_requests(httpserver: Any) -> list[Request]:
    return [r for r, _ in httpserver.log if r.path == "/token"]


@pytest.fixture
def api(httpserver):
    httpserver.expect_request("/x").respond_with_json({})
    return httpserver


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        ("{type: bearer}", "Authorization", "Bearer tok-1"),
        ("{type: bearer, scheme: Token}", "Authorization", "Token tok-1"),
        ("{type: api_key, header: x-api-token}", "x-api-token", "tok-1"),
        (
            "{type: basic, username: admin}",
            "Authorization",
            "Basic " + base64.b64encode(b"admin:tok-1").decode(),
        ),
    ],
)
def test_static_tokens_in_headers(write, api, auth, header, value):
    runner = RecipeRunner(
        recipe(write, auth), make_settings(crm_base_url=api.url_for(""), crm_api_token="tok-1")
    )
    runner.deliver("conversation", RECORD)
    assert api_requests(api)[0].headers[header] == value


def test_an_api_key_in_a_query_parameter(write, api):
    runner = RecipeRunner(
        recipe(write, "{type: api_key, query: api_token}"),
        make_settings(crm_base_url=api.url_for(""), crm_api_token="tok-1"),
    )
    delivery = runner.deliver("conversation", RECORD)
    assert api_requests(api)[0].args["api_token"] == "tok-1"
    assert "tok-1" not in delivery.requests[0].url


def test_basic_takes_the_user_name_from_the_client_id_setting(write, api):
    runner = RecipeRunner(
        recipe(write, "{type: basic}"),
        make_settings(crm_base_url=api.url_for(""), crm_api_token="pw", crm_oauth_client_id="me"),
    )
    runner.deliver("conversation", RECORD)
    assert api_requests(api)[0].authorization.username == "me"


@pytest.mark.parametrize(
    ("auth", "settings", "message"),
    [
        (
            "{type: bearer}",
            {},
            "CRM_API_TOKEN: required by CRM_RECIPE={path} (set CRM_API_TOKEN or CRM_API_TOKEN_SECRET)",
        ),
        (
            "{type: basic}",
            {"crm_api_token": "pw"},
            "CRM_OAUTH_CLIENT_ID: required by CRM_RECIPE={path} (the user name of HTTP basic authentication)",
        ),
        (
            '{type: oauth2_client_credentials, token_url: "https://t.example/token"}',
            {},
            "CRM_OAUTH_CLIENT_ID: required by CRM_RECIPE={path}",
        ),
        (
            "{type: oauth2_client_credentials}",
            {"crm_oauth_client_id": "id"},
            "CRM_OAUTH_TOKEN_URL: required by CRM_RECIPE={path}",
        ),
        (
            '{type: oauth2_client_credentials, token_url: "https://t.example/token"}',
            {"crm_oauth_client_id": "id"},
            "CRM_OAUTH_CLIENT_SECRET: required by CRM_RECIPE={path} (set CRM_OAUTH_CLIENT_SECRET or CRM_OAUTH_CLIENT_SECRET_SECRET)",
        ),
        (
            '{type: oauth2_refresh_token, token_url: "https://t.example/token"}',
            {"crm_oauth_client_id": "id"},
            "CRM_OAUTH_REFRESH_TOKEN: required by CRM_RECIPE={path} (set CRM_OAUTH_REFRESH_TOKEN or CRM_OAUTH_REFRESH_TOKEN_SECRET)",
        ),
    ],
)
def test_a_missing_setting_stops_the_start_with_one_line(write, auth, settings, message):
    path = write(f"version: 1\nauth: {auth}\n{ONE_STEP}")
    with pytest.raises(ConfigError) as caught:
        RecipeRunner(
            load_recipe(path), make_settings(crm_base_url="https://api.example", **settings)
        )
    assert str(caught.value) == message.format(path=path)


def test_relative_urls_need_a_base(write):
    path = write(f"version: 1\n{ONE_STEP}")
    with pytest.raises(ConfigError) as caught:
        RecipeRunner(load_recipe(path), make_settings())
    assert str(caught.value) == (
        f"CRM_BASE_URL: required by CRM_RECIPE={path} (conversation.steps[0].url is a path)"
    )


def test_a_mapping_file_as_the_recipe_needs_the_endpoint_url(write):
    path = write('version: 1\nbody:\n  email: {expr: "contact.email"}\n')
    with pytest.raises(ConfigError) as caught:
        RecipeRunner(load_recipe(path), make_settings())
    assert str(caught.value) == (
        f"CRM_ENDPOINT_URL: required by CRM_RECIPE={path} (conversation.steps[0].url reads it)"
    )


def test_an_optional_token_that_is_not_set_sends_no_authorization(write, api):
    runner = RecipeRunner(
        recipe(write, "{type: bearer, optional: true}"), make_settings(crm_base_url=api.url_for(""))
    )
    runner.deliver("conversation", RECORD)
    assert "Authorization" not in api_requests(api)[0].headers


# -- OAuth2 ------------------------------------------------------------------------------------


class TokenServer:
    """A token endpoint on the loopback server: issues tok-1, tok-2, ... and counts them."""

    def __init__(
        self, httpserver: Any, expires_in: Any = 3600, extra: dict[str, Any] | None = None
    ) -> None:
        self.issued = 0
        self.lock = threading.Lock()
        self.expires_in = expires_in
        self.extra = extra or {}
        httpserver.expect_request("/token").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.issued += 1
            number = self.issued
        body = {"access_token": f"tok-{number}", "token_type": "Bearer", **self.extra}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        import json

        return Response(json.dumps(body), content_type="application/json")


def oauth_runner(
    write, httpserver, auth: str = "{type: oauth2_client_credentials}", **settings: Any
) -> RecipeRunner:
    values = {
        "crm_base_url": httpserver.url_for(""),
        "crm_oauth_client_id": "client-1",
        "crm_oauth_client_secret": "secret-1",
        "crm_oauth_token_url": httpserver.url_for("/token"),
        **settings,
    }
    return RecipeRunner(recipe(write, auth), make_settings(**values))


def test_client_credentials_token_is_fetched_once_and_reused(write, api, logs):
    tokens = TokenServer(api)
    runner = oauth_runner(write, api, crm_oauth_scope="api refresh")
    for _ in range(3):
        runner.deliver("conversation", RECORD)
    assert tokens.issued == 1
    (token_request,) = token_requests(api)
    assert token_request.method == "POST"
    assert token_request.form.to_dict() == {
        "grant_type": "client_credentials",
        "scope": "api refresh",
        "client_id": "client-1",
        "client_secret": "secret-1",
    }
    assert [r.headers["Authorization"] for r in api_requests(api)] == ["Bearer tok-1"] * 3
    assert "tok-1" not in logs.text and "secret-1" not in logs.text


def test_client_secret_basic_sends_the_client_in_the_authorization_header(write, api):
    TokenServer(api)
    runner = oauth_runner(
        write, api, "{type: oauth2_client_credentials, client_auth: client_secret_basic}"
    )
    runner.deliver("conversation", RECORD)
    (token_request,) = token_requests(api)
    assert token_request.authorization.username == "client-1"
    assert "client_secret" not in token_request.form


def test_query_client_auth_puts_every_token_parameter_in_the_query(write, api):
    # Marketo's identity endpoint takes client_id, client_secret and grant_type as query
    TokenServer(api)
    runner = oauth_runner(write, api, "{type: oauth2_client_credentials, client_auth: query}")
    runner.deliver("conversation", RECORD)
    (token_request,) = token_requests(api)
    assert token_request.args.to_dict() == {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": "secret-1",
    }


def test_a_token_is_renewed_once_it_expires(write, api):
    tokens = TokenServer(api, expires_in=0)  # expired as soon as issued
    runner = oauth_runner(write, api)
    runner.deliver("conversation", RECORD)
    runner.deliver("conversation", RECORD)
    assert tokens.issued == 2
    assert [r.headers["Authorization"] for r in api_requests(api)] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


def test_a_token_without_expires_in_lasts_until_refused(write, httpserver):
    # GIVEN a vendor that sends no expires_in (Salesforce) and refuses tok-1 after a while
    tokens = TokenServer(httpserver, expires_in=None)
    calls = {"n": 0}

    def api(request: Request) -> Response:
        calls["n"] += 1
        if calls["n"] == 2:
            return Response('[{"errorCode":"INVALID_SESSION_ID"}]', status=401)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/x").respond_with_handler(api)
    runner = oauth_runner(write, httpserver)
    runner.deliver("conversation", RECORD)
    runner.deliver("conversation", RECORD)
    # THEN the refusal renewed it once and the request went again with the new one
    assert tokens.issued == 2
    assert [r.headers["Authorization"] for r in api_requests(httpserver)] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


def test_a_second_refusal_after_renewing_is_permanent_without_a_loop(write, httpserver):
    tokens = TokenServer(httpserver)
    httpserver.expect_request("/x").respond_with_data("no", status=401)
    runner = oauth_runner(write, httpserver)
    with pytest.raises(PermanentError) as caught:
        runner.deliver("conversation", RECORD)
    assert caught.value.reason.startswith("CRM rejected the record with 401")
    assert len(api_requests(httpserver)) == 2 and tokens.issued == 2


def test_many_threads_refused_together_cause_one_renewal(write, api):
    # GIVEN a runner holding tok-1
    tokens = TokenServer(api)
    runner = oauth_runner(write, api)
    runner.deliver("conversation", RECORD)
    stale = runner.auth.apply({}, [])
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def renew() -> None:
        barrier.wait(5)
        results.append(runner.auth.renew(stale))

    # WHEN eight threads that saw tok-1 refused renew at once
    threads = [threading.Thread(target=renew) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # THEN one new token was fetched, and every thread may send again
    assert results == [True] * 8
    assert tokens.issued == 2
    assert runner.auth.apply({}, []) == "tok-2"


def test_the_token_answer_names_the_api_base_unless_crm_base_url_is_set(write, httpserver):
    # GIVEN a token answer with instance_url (Salesforce) pointing at the loopback server
    TokenServer(httpserver, extra={"instance_url": httpserver.url_for("/instance")})
    httpserver.expect_request("/instance/x").respond_with_json({})
    auth = "{type: oauth2_client_credentials, api_base_from: instance_url}"
    runner = oauth_runner(write, httpserver, auth, crm_base_url=None)
    delivery = runner.deliver("conversation", RECORD)
    assert delivery.requests[0].url == httpserver.url_for("/instance/x")
    # WHEN CRM_BASE_URL is set THEN it wins
    httpserver.expect_request("/x").respond_with_json({})
    runner = oauth_runner(write, httpserver, auth)
    assert runner.deliver("conversation", RECORD).requests[0].url == httpserver.url_for("/x")


def test_a_token_answer_without_the_api_base_is_permanent(write, httpserver):
    TokenServer(httpserver)
    auth = "{type: oauth2_client_credentials, api_base_from: instance_url}"
    runner = oauth_runner(write, httpserver, auth, crm_base_url=None)
    with pytest.raises(PermanentError, match="names no API base"):
        runner.deliver("conversation", RECORD)


def test_refresh_token_grant_with_the_zoho_scheme(write, api):
    TokenServer(api)
    auth = "{type: oauth2_refresh_token, scheme: Zoho-oauthtoken}"
    runner = oauth_runner(write, api, auth, crm_oauth_refresh_token="refresh-1")
    runner.deliver("conversation", RECORD)
    (token_request,) = token_requests(api)
    assert token_request.form["grant_type"] == "refresh_token"
    assert token_request.form["refresh_token"] == "refresh-1"
    assert api_requests(api)[0].headers["Authorization"] == "Zoho-oauthtoken tok-1"


@pytest.mark.parametrize(
    ("status", "body", "family", "reason"),
    [
        (
            400,
            '{"error": "invalid_client", "error_description": "bad"}',
            PermanentError,
            "CRM token endpoint refused the credentials (invalid_client)",
        ),
        (
            200,
            '{"error": "invalid_code"}',
            PermanentError,
            "CRM token endpoint refused the credentials (invalid_code)",
        ),
        (503, "down", TransientError, "CRM token endpoint answered 503"),
        (429, "slow down", TransientError, "CRM token endpoint answered 429"),
        (
            200,
            '{"token_type": "Bearer"}',
            PermanentError,
            "CRM token endpoint answered without an access_token",
        ),
    ],
)
def test_token_endpoint_answers(write, httpserver, status, body, family, reason):
    httpserver.expect_request("/token").respond_with_data(
        body, status=status, content_type="application/json"
    )
    runner = oauth_runner(write, httpserver)
    with pytest.raises(family) as caught:
        runner.deliver("conversation", RECORD)
    assert caught.value.reason == reason
    assert api_requests(httpserver) == []


def test_an_unreachable_token_endpoint_is_transient(write, httpserver):
    runner = oauth_runner(write, httpserver, crm_oauth_token_url="http://127.0.0.1:9/token")
    with pytest.raises(TransientError, match="CRM token endpoint unreachable"):
        runner.deliver("conversation", RECORD)
