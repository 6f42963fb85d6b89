"""What every OAuth/OIDC provider shares: the Profile it returns, the one error it raises, the
Protocol the engine calls, and the HTTP plumbing (bounded timeouts, errors that never carry
secrets or tokens)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, Unpack, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import AuthError, Configuration
from .._optional import require

if TYPE_CHECKING:
    import httpx

__all__ = ["HTTP_TIMEOUT", "HTTPProvider", "OAuthProvider", "Profile", "ProviderError", "ProviderErrorKind"]

ProviderErrorKind = Literal["OAuthCallbackError", "InvalidCheck"]

#: Every call to a provider is bounded: connect, read, write and pool waits each take at most this (seconds).
HTTP_TIMEOUT = 10.0

_LOOPBACK_NAMES = frozenset({"localhost"})


class RequestOptions(TypedDict, total=False):
    """What a request to a provider carries besides its method and URL."""

    data: Mapping[str, str]  # form fields
    headers: Mapping[str, str]  # added to (or replacing) `Accept: application/json`


@dataclass(frozen=True)
class Profile:
    """The signed-in user as a provider describes them, before the engine maps them to an account."""

    provider: str
    account_id: str
    email: str | None
    email_verified: bool
    name: str | None
    image: str | None
    raw: Mapping[str, Any] = field(hash=False)


class ProviderError(AuthError):
    """A provider flow failed. `kind` is "OAuthCallbackError" (token endpoint, network, userinfo,
    ID token signature/iss/aud/exp) or "InvalidCheck" (nonce missing or not the one sent)."""

    status_code = 400

    def __init__(self, kind: ProviderErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@runtime_checkable
class OAuthProvider(Protocol):
    """What the engine calls. The engine owns state, cookies and routes; a provider only talks to
    the authorization server."""

    id: str
    name: str
    kind: str
    trusted_for_linking: bool
    uses_nonce: bool

    async def authorization_url(
        self, *, redirect_uri: str, state: str, code_challenge: str, nonce: str | None
    ) -> str: ...

    async def complete(self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str | None) -> Profile: ...


def callback_error(message: str) -> ProviderError:
    return ProviderError("OAuthCallbackError", message)


def require_secure_url(url: str, what: str) -> str:
    """https only, except loopback hosts (local development and tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return url
    raise Configuration(f"{what} must be an https URL (http only on loopback): {url!r}")


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def with_query(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` added to its query; a parameter already in the URL is replaced."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))


def str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class HTTPProvider:
    """Owns (or borrows) the httpx client and turns every transport or protocol failure into a
    ProviderError whose message names the step, never a secret, code or token."""

    def __init__(
        self,
        http: httpx.AsyncClient | None,
        *,
        label: str,
        id: str,
        name: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str],
        trusted_for_linking: bool,
    ) -> None:
        self._httpx = require("oauth")  # at construction, so a missing extra stops start-up
        self._http = http
        self._owns_http = http is None
        if not client_id or not client_secret:
            raise Configuration(f"{label} {id!r}: client_id and client_secret are required")
        self.client_id = client_id
        self._client_secret = client_secret
        self.id = id
        self.name = name
        self.scopes = tuple(scopes)
        self.trusted_for_linking = trusted_for_linking

    def authorization_params(self, *, redirect_uri: str, state: str, code_challenge: str) -> dict[str, str]:
        """The authorization request's parameters every provider sends: client, scopes, state, PKCE S256."""
        return {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = self._httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it (an injected one is the caller's)."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def send(self, method: str, url: str, *, what: str, **request: Unpack[RequestOptions]) -> httpx.Response:
        """One request with a bounded timeout; a transport failure becomes ProviderError."""
        headers = {"Accept": "application/json", **request.get("headers", {})}
        try:
            return await self.http.request(method, url, data=request.get("data"), headers=headers, timeout=HTTP_TIMEOUT)
        except self._httpx.HTTPError as error:
            raise callback_error(f"{what} failed: {type(error).__name__}") from None

    async def fetch_object(
        self, method: str, url: str, *, what: str, **request: Unpack[RequestOptions]
    ) -> dict[str, Any]:
        """One request; the JSON object of a 2xx answer, or ProviderError."""
        body = json_body(await self.send(method, url, what=what, **request), what)
        if not isinstance(body, dict):
            raise callback_error(f"{what} failed: the response is not a JSON object")
        return body


def json_body(response: httpx.Response, what: str) -> Any:
    """The parsed JSON body of a 2xx answer, or ProviderError naming `what`."""
    if not response.is_success:
        raise callback_error(f"{what} failed: HTTP {response.status_code}{_oauth_error(response)}")
    try:
        return response.json()
    except ValueError:
        raise callback_error(f"{what} failed: the response is not JSON") from None


def _oauth_error(response: httpx.Response) -> str:
    """` (invalid_grant: description)` from an RFC 6749 error body, if it has one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    text = _error_text(body)
    return f" ({text})" if text is not None else ""


def _error_text(body: Any) -> str | None:
    """`error: error_description` of an RFC 6749 error body, at most 200 characters; None for any other body."""
    if not isinstance(body, Mapping) or not isinstance(body.get("error"), str):
        return None
    description = body.get("error_description")
    text = body["error"] if not isinstance(description, str) else f"{body['error']}: {description}"
    return text[:200]


def access_token_from(body: Mapping[str, Any], what: str) -> str:
    """The bearer access token of a token endpoint answer (some, like GitHub's, report errors with 200)."""
    detail = _error_text(body)
    if detail is not None:
        raise callback_error(f"{what} failed ({detail})")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise callback_error(f"{what} failed: no access_token in the response")
    token_type = body.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise callback_error(f"{what} failed: unsupported token_type {str(token_type)[:40]!r}")
    return token
