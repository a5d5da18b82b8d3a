"""Authentication profiles: how a request to the CRM proves who sends it.

* ``none``; ``bearer`` (``Authorization: <scheme> <token>``); ``api_key`` (the token in a named
  header or query parameter); ``basic`` (HTTP basic: a user name and the token as password);
* ``oauth2_client_credentials`` and ``oauth2_refresh_token``: an access token fetched from the
  token endpoint with Authlib's ``OAuth2Session``, cached per instance until shortly before its
  ``expires_in`` (or, when the vendor sends none, until the CRM refuses it), renewed once on a
  refusal however many threads saw it, and sent with a configurable scheme (``Zoho-oauthtoken``).
  When the token answer names the API's base (``instance_url``) it becomes the base of relative
  URLs, unless ``CRM_BASE_URL`` is set.

Secrets come from the settings (``X`` or Secret Manager through ``X_SECRET``). A token read from
Secret Manager is read again once when the CRM refuses it, so a rotated token takes effect
without a redeploy. Tokens are registered with the log guard and never logged.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import requests
from requests.adapters import HTTPAdapter

from shared import logger
from shared.errors import ConfigError
from shared.recipes.models import AuthSpec
from shared.recipes.outcomes import answer_text, permanent, retry_after, transient
from shared.secrets import Secret

log = logger.get_logger("recipes")


class Auth:
    """No credentials: ``apply`` adds nothing, ``renew`` cannot help."""

    def apply(self, headers: dict[str, str], query: list[tuple[str, str]]) -> str | None:
        """Add the credentials; returns what was sent (for ``renew``), or None."""
        return None

    def renew(self, stale: str | None) -> bool:
        """After a refusal of ``stale``: get fresh credentials; True when sending again helps."""
        return False

    def api_base(self) -> str | None:
        return None


class StaticAuth(Auth):
    """A token from the settings: bearer, API key, or the password of HTTP basic."""

    def __init__(
        self,
        kind: str,
        secret: Secret | None,
        scheme: str = "Bearer",
        header: str | None = None,
        query: str | None = None,
        username: str | None = None,
    ) -> None:
        self.kind, self.secret, self.scheme = kind, secret, scheme
        self.header, self.query, self.username = header, query, username

    def apply(self, headers: dict[str, str], query: list[tuple[str, str]]) -> str | None:
        if self.secret is None:
            return None
        token = self.secret.get()
        if self.kind == "bearer":
            headers["Authorization"] = f"{self.scheme} {token}"
        elif self.kind == "basic":
            encoded = requests.auth._basic_auth_str(self.username or "", token)
            headers["Authorization"] = encoded
        elif self.header is not None:
            headers[self.header] = token
        else:
            query.append((self.query or "", token))
        return token

    def renew(self, stale: str | None) -> bool:
        if stale is None or self.secret is None or not self.secret.from_secret_manager:
            return False
        self.secret.refresh(stale=stale)
        return True


@dataclass(frozen=True)
class _Token:
    access: str
    expires_at: float | None  # monotonic; None: until refused
    api_base: str | None


def _query_client_auth(client: Any, method: str, uri: str, headers: Any, body: str) -> Any:
    """Client id, secret and every token parameter in the query string (Marketo's identity)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body or ""
    params = [
        *parse_qsl(text),
        ("client_id", client.client_id),
        ("client_secret", client.client_secret),
    ]
    separator = "&" if "?" in uri else "?"
    headers["Content-Length"] = "0"  # the body was measured before it moved to the query
    return f"{uri}{separator}{urlencode(params)}", headers, ""


class OAuth2Auth(Auth):
    """An OAuth2 access token (client credentials or refresh token grant), cached and renewed."""

    def __init__(
        self,
        grant: str,
        token_url: str,
        client_id: str,
        client_secret: Secret | None,
        refresh_token: Secret | None = None,
        scope: str | None = None,
        scheme: str = "Bearer",
        client_auth: str = "client_secret_post",
        api_base_from: str | None = None,
        expiry_margin: float = 60.0,
        timeout: tuple[float, float] = (3.05, 10.0),
    ) -> None:
        self.grant, self.token_url, self.client_id = grant, token_url, client_id
        self.client_secret, self.refresh_secret = client_secret, refresh_token
        self.scope, self.scheme, self.client_auth = scope, scheme, client_auth
        self.api_base_from, self.expiry_margin, self.timeout = api_base_from, expiry_margin, timeout
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self.fetches = 0  # token requests made by this instance (tests, the benchmark)

    def apply(self, headers: dict[str, str], query: list[tuple[str, str]]) -> str | None:
        token = self._current()
        headers["Authorization"] = f"{self.scheme} {token.access}"
        return token.access

    def renew(self, stale: str | None) -> bool:
        with self._lock:
            current = self._token
            if current is not None and current.access != stale:
                return True  # another thread renewed it already
            self._token = None
            self._token = self._fetch()
        return True

    def api_base(self) -> str | None:
        return self._current().api_base

    def _current(self) -> _Token:
        token = self._token
        if token is not None and (token.expires_at is None or time.monotonic() < token.expires_at):
            return token
        with self._lock:
            token = self._token
            if token is None or (
                token.expires_at is not None and time.monotonic() >= token.expires_at
            ):
                token = self._token = self._fetch()
            return token

    def _session(self) -> Any:
        from authlib.integrations.requests_client import OAuth2Session

        secret = self.client_secret.get() if self.client_secret is not None else None
        method = _query_client_auth if self.client_auth == "query" else self.client_auth
        session = OAuth2Session(
            client_id=self.client_id,
            client_secret=secret,
            scope=self.scope,
            token_endpoint_auth_method=method,
        )
        adapter = HTTPAdapter(max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.register_compliance_hook("access_token_response", _check_token_answer)
        session.register_compliance_hook("refresh_token_response", _check_token_answer)
        return session

    def _fetch(self) -> _Token:
        from authlib.common.errors import AuthlibBaseError

        self.fetches += 1
        session = self._session()
        try:
            if self.grant == "oauth2_refresh_token":
                assert self.refresh_secret is not None
                answer = session.refresh_token(
                    self.token_url, refresh_token=self.refresh_secret.get(), timeout=self.timeout
                )
            else:
                answer = session.fetch_token(
                    self.token_url, grant_type="client_credentials", timeout=self.timeout
                )
        except requests.Timeout:
            raise transient(f"CRM token endpoint timed out after {self.timeout[1]:g}s") from None
        except requests.ConnectionError as error:
            raise transient(f"CRM token endpoint unreachable ({type(error).__name__})") from None
        except AuthlibBaseError as error:
            code = getattr(error, "error", None) or type(error).__name__
            raise permanent(
                f"CRM token endpoint refused the credentials ({code})",
                detail=answer_text(getattr(error, "description", None) or str(code))[1],
            ) from None
        except ValueError:
            raise transient("CRM token endpoint answered something that is not a token") from None
        finally:
            session.close()
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise permanent("CRM token endpoint answered without an access_token")
        logger.register_secret(access)
        expires_at = None
        expires_in = answer.get("expires_in")
        if isinstance(expires_in, int | float | str) and str(expires_in).strip():
            try:
                lifetime = float(expires_in)
            except ValueError:
                lifetime = None
            if lifetime is not None:
                margin = min(self.expiry_margin, lifetime / 10)
                expires_at = time.monotonic() + lifetime - margin
        base = answer.get(self.api_base_from) if self.api_base_from else None
        log.info("CRM access token fetched", grant=self.grant, expires_in=expires_in)
        return _Token(access, expires_at, base if isinstance(base, str) and base else None)


def _check_token_answer(response: requests.Response) -> requests.Response:
    status = response.status_code
    if status == 429 or status >= 500:
        raise transient(
            f"CRM token endpoint answered {status}",
            detail=answer_text(response.text, response.reason)[1],
            retry=retry_after(response.headers),
        )
    if status >= 400:
        try:
            code = response.json().get("error") or status
        except (ValueError, AttributeError):
            code = status
        raise permanent(
            f"CRM token endpoint refused the credentials ({code})",
            detail=answer_text(response.text, response.reason)[1],
        )
    return response


# -- building a profile from the settings ---------------------------------------------------------


def build_auth(spec: AuthSpec, settings: Any, recipe: str, timeout: tuple[float, float]) -> Auth:
    """The profile ``spec`` describes, with its secrets; ``ConfigError`` names a missing one."""
    kind = spec.type
    if kind == "none":
        return Auth()
    if kind in ("bearer", "api_key", "basic"):
        name = spec.secret or "crm_api_token"
        secret = Secret.from_settings(settings, name)
        if secret is None and not spec.optional:
            raise _missing(name, recipe)
        username = None
        if kind == "basic":
            username = spec.username or getattr(settings, "crm_oauth_client_id", None)
            if not username:
                raise ConfigError(
                    f"CRM_OAUTH_CLIENT_ID: required by CRM_RECIPE={recipe} "
                    "(the user name of HTTP basic authentication)"
                )
        return StaticAuth(kind, secret, spec.scheme or "Bearer", spec.header, spec.query, username)
    client_id = getattr(settings, "crm_oauth_client_id", None)
    if not client_id:
        raise ConfigError(f"CRM_OAUTH_CLIENT_ID: required by CRM_RECIPE={recipe}")
    token_url = getattr(settings, "crm_oauth_token_url", None) or spec.token_url
    if not token_url:
        raise ConfigError(f"CRM_OAUTH_TOKEN_URL: required by CRM_RECIPE={recipe}")
    client_secret = Secret.from_settings(settings, "crm_oauth_client_secret")
    refresh = None
    if kind == "oauth2_refresh_token":
        refresh = Secret.from_settings(settings, "crm_oauth_refresh_token")
        if refresh is None:
            raise _missing("crm_oauth_refresh_token", recipe)
    elif client_secret is None:
        raise _missing("crm_oauth_client_secret", recipe)
    return OAuth2Auth(
        grant=kind,
        token_url=str(token_url),
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh,
        scope=getattr(settings, "crm_oauth_scope", None) or spec.scope,
        scheme=spec.scheme or "Bearer",
        client_auth=spec.client_auth,
        api_base_from=spec.api_base_from,
        expiry_margin=spec.expiry_margin_seconds,
        timeout=timeout,
    )


def _missing(name: str, recipe: str) -> ConfigError:
    upper = name.upper()
    return ConfigError(f"{upper}: required by CRM_RECIPE={recipe} (set {upper} or {upper}_SECRET)")
