"""OAuth/OIDC providers against real peers: panva/oidc-provider (Node) for the whole OIDC dance,
and small local Starlette servers on loopback standing in for GitHub and for a Google-shaped
issuer whose ID tokens a test can tamper with. Nothing is mocked in-process."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeySet, OctKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

import authgate.providers
from authgate._errors import AuthError, Configuration
from authgate.providers import OIDC, GitHub, Google, OAuthProvider, Profile, ProviderError
from authgate.providers._jwt import UnknownSigningKey, verify_id_token

from . import oidc_fixture
from .oidc_fixture import OIDCServer, login

oidc_server = oidc_fixture.oidc_server  # the session fixture: oidc-provider on a free port

CALLBACK = "http://127.0.0.1/callback"


# --- helpers ------------------------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Started:
    url: str
    state: str
    verifier: str
    nonce: str


async def start(provider: OAuthProvider, redirect_uri: str = CALLBACK) -> Started:
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    url = await provider.authorization_url(
        redirect_uri=redirect_uri, state=state, code_challenge=challenge, nonce=nonce if provider.uses_nonce else None
    )
    return Started(url, state, verifier, nonce)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def code_for(browser: httpx.AsyncClient, started: Started, *, account: str | None = None) -> str:
    """Log in at the provider (following its redirects) and read the code off the callback URL."""
    callback = await login(browser, started.url, account=account)
    assert callback.startswith(CALLBACK + "?")
    params = query(callback)
    assert params["state"] == started.state
    return params["code"]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The relying party's HTTP client, injected into providers."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """The user's browser: a separate cookie jar talking to the provider."""
    async with httpx.AsyncClient() as client:
        yield client


class LocalServer:
    """An ASGI app served by uvicorn on a free 127.0.0.1 port, in a thread (its own event loop)."""

    def __init__(self, app: ASGIApp, sock: socket.socket) -> None:
        self._sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)

    @staticmethod
    def bind() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        return sock

    def __enter__(self) -> LocalServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                pytest.fail(f"local test server at {self.url} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()


def closed_port_url() -> str:
    sock = LocalServer.bind()
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


# --- the public surface -------------------------------------------------------------------------


def test_public_names_are_pinned() -> None:
    assert sorted(authgate.providers.__all__) == sorted(
        ["OIDC", "GitHub", "Google", "OAuthProvider", "Profile", "ProviderError", "ProviderErrorKind"]
    )


def test_providers_satisfy_the_protocol() -> None:
    made: list[OAuthProvider] = [
        GitHub("id", "secret"),
        Google("id", "secret"),
        OIDC("https://issuer.example", "id", "secret", id="corp", name="Corp SSO", trusted_for_linking=True),
    ]
    assert [(p.id, p.name, p.kind, p.uses_nonce, p.trusted_for_linking) for p in made] == [
        ("github", "GitHub", "oauth", False, False),
        ("google", "Google", "oidc", True, False),
        ("corp", "Corp SSO", "oidc", True, True),
    ]
    assert all(isinstance(p, OAuthProvider) for p in made)


def test_provider_error_is_an_auth_error_with_a_stable_kind() -> None:
    error = ProviderError("InvalidCheck", "nonce mismatch")
    assert isinstance(error, AuthError)
    assert (error.kind, error.message, error.status_code) == ("InvalidCheck", "nonce mismatch", 400)
    assert error.to_json() == {"error": "nonce mismatch", "kind": "InvalidCheck"}


def test_secrets_stay_out_of_repr() -> None:
    for provider in (GitHub("id", "s3cret-value"), OIDC("https://issuer.example", "id", "s3cret-value")):
        assert "s3cret-value" not in repr(provider)


@pytest.mark.parametrize(
    "issuer", ["http://issuer.example", "ftp://127.0.0.1", "https://", "http://10.0.0.1", "//issuer.example"]
)
def test_non_https_issuer_is_a_configuration_error(issuer: str) -> None:
    with pytest.raises(Configuration):
        OIDC(issuer, "id", "secret")


def test_oidc_needs_the_openid_scope_and_a_bounded_leeway() -> None:
    with pytest.raises(Configuration):
        OIDC("https://issuer.example", "id", "secret", scopes=("email",))
    with pytest.raises(Configuration):
        OIDC("https://issuer.example", "id", "secret", leeway=61)


# --- OIDC against oidc-provider -----------------------------------------------------------------


def oidc_for(server: OIDCServer, http: httpx.AsyncClient, **options: Any) -> OIDC:
    return OIDC(server.issuer, server.client_id, server.client_secret, http=http, **options)


async def test_authorization_url_carries_pkce_state_and_nonce(oidc_server: OIDCServer, http: httpx.AsyncClient) -> None:
    started = await start(oidc_for(oidc_server, http))
    assert started.url.startswith(oidc_server.issuer + "/auth?")
    assert query(started.url) == {
        "response_type": "code",
        "client_id": oidc_server.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid email profile",
        "state": started.state,
        "code_challenge": s256(started.verifier),
        "code_challenge_method": "S256",
        "nonce": started.nonce,
    }


async def test_oidc_authorization_url_requires_a_nonce(oidc_server: OIDCServer, http: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="nonce"):
        await oidc_for(oidc_server, http).authorization_url(
            redirect_uri=CALLBACK, state="s", code_challenge=pkce()[1], nonce=None
        )


async def test_oidc_sign_in_returns_the_verified_profile(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = oidc_for(oidc_server, http)
    started = await start(provider)
    code = await code_for(browser, started)
    profile = await provider.complete(
        code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=started.nonce
    )
    assert profile == Profile(
        provider="oidc",
        account_id="alice",
        email="alice@example.test",
        email_verified=True,
        name="User alice",
        image="https://images.example.test/alice.png",
        raw=profile.raw,
    )
    assert profile.raw["iss"] == oidc_server.issuer
    assert profile.raw["nonce"] == started.nonce
    assert "access_token" not in profile.raw and "id_token" not in profile.raw


async def test_oidc_unverified_email_is_reported_unverified(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = oidc_for(oidc_server, http)
    started = await start(provider)
    code = await code_for(browser, started, account="unverified-carol")
    profile = await provider.complete(
        code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=started.nonce
    )
    assert (profile.account_id, profile.email, profile.email_verified) == (
        "unverified-carol",
        "unverified-carol@example.test",
        False,
    )


async def test_oidc_reads_userinfo_when_the_id_token_has_no_email(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = oidc_for(oidc_server, http)
    started = await start(provider)
    code = await code_for(browser, started, account="userinfo-only-bob")
    profile = await provider.complete(
        code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=started.nonce
    )
    assert (profile.account_id, profile.email, profile.email_verified, profile.name) == (
        "userinfo-only-bob",
        "userinfo-only-bob@example.test",
        True,
        "User userinfo-only-bob",
    )


async def test_oidc_client_secret_post_with_es256_id_tokens(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = OIDC(
        oidc_server.issuer,
        oidc_server.post_client_id,
        oidc_server.post_client_secret,
        token_endpoint_auth_method="client_secret_post",
        http=http,
    )
    started = await start(provider)
    code = await code_for(browser, started, account="dora@example.org")
    profile = await provider.complete(
        code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=started.nonce
    )
    assert (profile.account_id, profile.email, profile.email_verified) == ("dora@example.org", "dora@example.org", True)


async def test_oidc_provider_creates_and_closes_its_own_client(
    oidc_server: OIDCServer, browser: httpx.AsyncClient
) -> None:
    provider = OIDC(oidc_server.issuer, oidc_server.client_id, oidc_server.client_secret)
    try:
        started = await start(provider)
        code = await code_for(browser, started)
        profile = await provider.complete(
            code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=started.nonce
        )
        assert profile.account_id == "alice"
    finally:
        await provider.aclose()


async def test_oidc_wrong_code_verifier_is_a_callback_error(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = oidc_for(oidc_server, http)
    started = await start(provider)
    code = await code_for(browser, started)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(code=code, redirect_uri=CALLBACK, code_verifier=pkce()[0], nonce=started.nonce)
    assert caught.value.kind == "OAuthCallbackError"
    assert "invalid_grant" in caught.value.message
    assert code not in caught.value.message and oidc_server.client_secret not in caught.value.message


async def test_oidc_wrong_nonce_is_an_invalid_check(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = oidc_for(oidc_server, http)
    started = await start(provider)
    code = await code_for(browser, started)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce="another-nonce")
    assert caught.value.kind == "InvalidCheck"


async def test_oidc_missing_nonce_is_an_invalid_check(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = oidc_for(oidc_server, http)
    started = await start(provider)
    code = await code_for(browser, started)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=None)
    assert caught.value.kind == "InvalidCheck"


async def test_oidc_code_reuse_is_a_callback_error(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = oidc_for(oidc_server, http)
    started = await start(provider)
    code = await code_for(browser, started)
    await provider.complete(code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=started.nonce)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=started.nonce)
    assert caught.value.kind == "OAuthCallbackError"


async def test_oidc_other_redirect_uri_at_the_token_endpoint_is_a_callback_error(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = oidc_for(oidc_server, http)
    started = await start(provider)
    code = await code_for(browser, started)
    other = "http://127.0.0.1/api/auth/callback/oidc"
    with pytest.raises(ProviderError) as caught:
        await provider.complete(code=code, redirect_uri=other, code_verifier=started.verifier, nonce=started.nonce)
    assert caught.value.kind == "OAuthCallbackError"


async def test_oidc_wrong_client_secret_is_a_callback_error(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    started = await start(oidc_for(oidc_server, http))
    code = await code_for(browser, started)
    provider = OIDC(oidc_server.issuer, oidc_server.client_id, "not-the-secret", http=http)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=started.nonce)
    assert caught.value.kind == "OAuthCallbackError"
    assert "invalid_client" in caught.value.message
    assert "not-the-secret" not in caught.value.message


async def test_oidc_id_token_from_another_client_is_a_callback_error(
    oidc_server: OIDCServer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    """A code minted for one client cannot be redeemed by another one."""
    started = await start(oidc_for(oidc_server, http))
    code = await code_for(browser, started)
    other = OIDC(oidc_server.issuer, oidc_server.post_client_id, oidc_server.post_client_secret, http=http)
    with pytest.raises(ProviderError) as caught:
        await other.complete(code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=started.nonce)
    assert caught.value.kind == "OAuthCallbackError"


async def test_oidc_discovery_for_another_issuer_is_refused(oidc_server: OIDCServer, http: httpx.AsyncClient) -> None:
    """Same server, different issuer string: the document's `issuer` must match exactly."""
    port = urlsplit(oidc_server.issuer).port
    for issuer in (f"http://localhost:{port}", oidc_server.issuer + "/"):
        provider = OIDC(issuer, oidc_server.client_id, oidc_server.client_secret, http=http)
        with pytest.raises(ProviderError) as caught:
            await start(provider)
        assert caught.value.kind == "OAuthCallbackError"
        assert "issuer" in caught.value.message
        with pytest.raises(ProviderError):
            await provider.complete(code="x", redirect_uri=CALLBACK, code_verifier="v" * 43, nonce="n")


async def test_unreachable_provider_is_a_callback_error(http: httpx.AsyncClient) -> None:
    provider = OIDC(closed_port_url(), "id", "secret", http=http)
    with pytest.raises(ProviderError) as caught:
        await start(provider)
    assert caught.value.kind == "OAuthCallbackError"
    assert "ConnectError" in caught.value.message


# --- a Google-shaped issuer whose ID tokens a test controls --------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps({'alg': 'none'}).encode())}.{b64(json.dumps(claims).encode())}."


@dataclass
class FakeIssuer:
    """A tiny OIDC issuer. Tests change `claims`, `sign` and `published` to misbehave."""

    url: str
    client_id: str = "google-client.apps.example"
    client_secret: str = "google-secret-0123456789"
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "k1", "use": "sig", "alg": "RS256"}))
    published: list[Key] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)  # merged into each ID token; None removes a claim
    sign: Any = None  # (claims) -> str, to replace RS256 with self.key
    userinfo: dict[str, Any] = field(default_factory=dict)
    discovery_issuer: str | None = None
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    jwks_requests: int = 0

    def __post_init__(self) -> None:
        self.published = [self.key]

    def id_token(self, pending: dict[str, str]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": self.client_id,
            "azp": self.client_id,
            "sub": "1098765432101234567890",
            "email": "grace@gmail.example",
            "email_verified": True,
            "name": "Grace Hopper",
            "picture": "https://lh3.example/grace.png",
            "iat": now,
            "exp": now + 3600,
            "nonce": pending["nonce"],
        }
        for name, value in self.claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        if self.sign is not None:
            return str(self.sign(claims))
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.discovery_issuer or self.url,
                    "authorization_endpoint": f"{self.url}/o/oauth2/v2/auth",
                    "token_endpoint": f"{self.url}/token",
                    "userinfo_endpoint": f"{self.url}/v1/userinfo",
                    "jwks_uri": f"{self.url}/oauth2/v3/certs",
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            )

        async def authorize(request: Request) -> Response:
            params = request.query_params
            assert params["client_id"] == self.client_id and params["code_challenge_method"] == "S256"
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "redirect_uri": params["redirect_uri"],
                "challenge": params["code_challenge"],
                "nonce": params["nonce"],
            }
            return RedirectResponse(f"{params['redirect_uri']}?{urlencode({'code': code, 'state': params['state']})}")

        async def token(request: Request) -> Response:
            form = await request.form()
            scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
            client_id, _, secret = (
                base64.b64decode(encoded).decode().partition(":") if scheme == "Basic" else ("", "", "")
            )
            if (unquote_plus(client_id), unquote_plus(secret)) != (self.client_id, self.client_secret):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            pending = self.codes.pop(str(form["code"]), None)
            if (
                pending is None
                or pending["redirect_uri"] != form["redirect_uri"]
                or s256(str(form["code_verifier"])) != pending["challenge"]
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(
                {"access_token": "ya29.token", "token_type": "Bearer", "id_token": self.id_token(pending)}
            )

        async def certs(request: Request) -> Response:
            self.jwks_requests += 1
            return JSONResponse({"keys": [key.as_dict(private=False) for key in self.published]})

        async def userinfo(request: Request) -> Response:
            if request.headers.get("authorization") != "Bearer ya29.token":
                return JSONResponse({"error": "invalid_token"}, status_code=401)
            return JSONResponse(self.userinfo)

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/o/oauth2/v2/auth", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/oauth2/v3/certs", certs),
                Route("/v1/userinfo", userinfo),
            ]
        )


@pytest.fixture(scope="module")
def issuer_server() -> Iterator[tuple[LocalServer, list[FakeIssuer]]]:
    """One server for the module; `fake_issuer` swaps in a fresh FakeIssuer per test."""
    sock = LocalServer.bind()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    current = [FakeIssuer(url)]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await current[0].app()(scope, receive, send)

    with LocalServer(app, sock) as server:
        yield server, current


@pytest.fixture
def fake_issuer(issuer_server: tuple[LocalServer, list[FakeIssuer]]) -> FakeIssuer:
    server, current = issuer_server
    current[0] = FakeIssuer(server.url)
    return current[0]


def google_for(issuer: FakeIssuer, http: httpx.AsyncClient) -> Google:
    return Google(issuer.client_id, issuer.client_secret, issuer=issuer.url, http=http)


async def google_sign_in(provider: OIDC, browser: httpx.AsyncClient, *, nonce: str | None = None) -> Profile:
    started = await start(provider)
    response = await browser.get(started.url)
    assert response.status_code == 307
    code = query(response.headers["location"])["code"]
    return await provider.complete(
        code=code, redirect_uri=CALLBACK, code_verifier=started.verifier, nonce=nonce or started.nonce
    )


async def test_google_maps_id_token_claims(
    fake_issuer: FakeIssuer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    profile = await google_sign_in(google_for(fake_issuer, http), browser)
    assert (profile.provider, profile.account_id, profile.email, profile.email_verified) == (
        "google",
        "1098765432101234567890",
        "grace@gmail.example",
        True,
    )
    assert (profile.name, profile.image) == ("Grace Hopper", "https://lh3.example/grace.png")


@pytest.mark.parametrize("email_verified", [False, "true", 1, None])
async def test_google_email_is_verified_only_by_a_true_claim(
    fake_issuer: FakeIssuer, http: httpx.AsyncClient, browser: httpx.AsyncClient, email_verified: object
) -> None:
    fake_issuer.claims = {"email_verified": email_verified}
    profile = await google_sign_in(google_for(fake_issuer, http), browser)
    assert (profile.email, profile.email_verified) == ("grace@gmail.example", False)


async def test_jwks_is_cached_between_sign_ins(
    fake_issuer: FakeIssuer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = google_for(fake_issuer, http)
    await google_sign_in(provider, browser)
    await google_sign_in(provider, browser)
    assert fake_issuer.jwks_requests == 1


async def test_rotated_signing_key_is_fetched_once(
    fake_issuer: FakeIssuer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = google_for(fake_issuer, http)
    await google_sign_in(provider, browser)
    fake_issuer.key = RSAKey.generate_key(2048, {"kid": "k2", "use": "sig", "alg": "RS256"})
    fake_issuer.published = [fake_issuer.key]
    profile = await google_sign_in(provider, browser)
    assert profile.email_verified is True
    assert fake_issuer.jwks_requests == 2


async def test_unpublished_key_is_refused_after_one_refetch(
    fake_issuer: FakeIssuer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    provider = google_for(fake_issuer, http)
    await google_sign_in(provider, browser)
    fake_issuer.key = RSAKey.generate_key(2048, {"kid": "k-unpublished", "use": "sig", "alg": "RS256"})
    with pytest.raises(ProviderError) as caught:
        await google_sign_in(provider, browser)
    assert caught.value.kind == "OAuthCallbackError"
    assert fake_issuer.jwks_requests == 2


def other_key_same_kid(issuer: FakeIssuer) -> Any:
    impostor = RSAKey.generate_key(2048, {"kid": issuer.key.kid or "", "alg": "RS256"})
    return lambda claims: jwt.encode({"alg": "RS256", "kid": impostor.kid}, claims, impostor)


def hs256_with_client_secret(issuer: FakeIssuer) -> Any:
    key = OctKey.import_key(issuer.client_secret)
    return lambda claims: jwt.encode({"alg": "HS256", "kid": issuer.key.kid}, claims, key, algorithms=["HS256"])


TAMPERED: dict[str, tuple[Any, str]] = {
    "wrong issuer": (lambda fake: {"claims": {"iss": "https://accounts.google.com"}}, "issuer"),
    "issuer with trailing slash": (lambda fake: {"claims": {"iss": fake.url + "/"}}, "issuer"),
    "wrong audience": (lambda fake: {"claims": {"aud": "someone-else", "azp": None}}, "audience"),
    "audiences without azp": (lambda fake: {"claims": {"aud": [fake.client_id, "other"], "azp": None}}, "azp"),
    "azp of another client": (lambda fake: {"claims": {"azp": "someone-else"}}, "azp"),
    "expired": (lambda fake: {"claims": {"exp": int(time.time()) - 120, "iat": int(time.time()) - 3720}}, "expired"),
    "no exp": (lambda fake: {"claims": {"exp": None}}, "exp or iat"),
    "no iat": (lambda fake: {"claims": {"iat": None}}, "exp or iat"),
    "issued in the future": (lambda fake: {"claims": {"iat": int(time.time()) + 600}}, "future"),
    "no sub": (lambda fake: {"claims": {"sub": None}}, "subject"),
    "alg none": (lambda fake: {"sign": unsigned}, "'none' is not allowed"),
    "HS256 with the client secret": (lambda fake: {"sign": hs256_with_client_secret(fake)}, "'HS256' is not allowed"),
    "signed by another key with the same kid": (lambda fake: {"sign": other_key_same_kid(fake)}, "signature"),
    "garbage": (lambda fake: {"sign": lambda claims: "not.a.jwt"}, "malformed"),
}


@pytest.mark.parametrize("tamper", list(TAMPERED), ids=list(TAMPERED))
async def test_tampered_id_token_is_a_callback_error(
    fake_issuer: FakeIssuer, http: httpx.AsyncClient, browser: httpx.AsyncClient, tamper: str
) -> None:
    mutate, reason = TAMPERED[tamper]
    for name, value in mutate(fake_issuer).items():
        setattr(fake_issuer, name, value)
    with pytest.raises(ProviderError) as caught:
        await google_sign_in(google_for(fake_issuer, http), browser)
    assert caught.value.kind == "OAuthCallbackError"
    assert reason in caught.value.message


async def test_nonce_of_another_sign_in_is_an_invalid_check(
    fake_issuer: FakeIssuer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    with pytest.raises(ProviderError) as caught:
        await google_sign_in(google_for(fake_issuer, http), browser, nonce="nonce-of-another-browser")
    assert caught.value.kind == "InvalidCheck"


async def test_userinfo_about_another_subject_is_refused(
    fake_issuer: FakeIssuer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    fake_issuer.claims = {"email": None, "email_verified": None}
    fake_issuer.userinfo = {"sub": "someone-else", "email": "mallory@example.test", "email_verified": True}
    with pytest.raises(ProviderError) as caught:
        await google_sign_in(google_for(fake_issuer, http), browser)
    assert caught.value.kind == "OAuthCallbackError"


async def test_email_and_its_verification_come_from_the_same_source(
    fake_issuer: FakeIssuer, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    """An unverified ID token email is not upgraded by a verified one from userinfo."""
    fake_issuer.claims = {"email_verified": None}
    fake_issuer.userinfo = {"sub": "1098765432101234567890", "email": "other@example.test", "email_verified": True}
    provider = OIDC(fake_issuer.url, fake_issuer.client_id, fake_issuer.client_secret, http=http, userinfo=True)
    profile = await google_sign_in(provider, browser)
    assert (profile.email, profile.email_verified) == ("grace@gmail.example", False)


async def test_discovery_for_another_issuer_is_refused(fake_issuer: FakeIssuer, http: httpx.AsyncClient) -> None:
    fake_issuer.discovery_issuer = "https://accounts.google.com"
    with pytest.raises(ProviderError) as caught:
        await start(google_for(fake_issuer, http))
    assert caught.value.kind == "OAuthCallbackError"


# --- verify_id_token on its own (time injected) -------------------------------------------------

NOW = 1_800_000_000
RSA = RSAKey.generate_key(2048, {"kid": "rsa", "alg": "RS256", "use": "sig"})
EC = ECKey.generate_key("P-256", {"kid": "ec", "alg": "ES256", "use": "sig"})


def signed(claims: dict[str, Any], key: Key = RSA, alg: str = "RS256", kid: str | None = "rsa") -> str:
    header: dict[str, Any] = {"alg": alg} if kid is None else {"alg": alg, "kid": kid}
    return jwt.encode(header, claims, key, algorithms=[alg])


def base_claims(**changes: Any) -> dict[str, Any]:
    claims = {"iss": "https://op.example", "aud": "client", "sub": "u1", "iat": NOW, "exp": NOW + 300, "nonce": "n"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def verify(token: str, keys: list[Key] | None = None, now: int = NOW, **options: Any) -> dict[str, Any]:
    return verify_id_token(
        token,
        keys=KeySet(keys or [RSA, EC]),
        issuer="https://op.example",
        client_id="client",
        nonce="n",
        now=now,
        **options,
    )


def test_verify_accepts_rs256_and_es256() -> None:
    assert verify(signed(base_claims()))["sub"] == "u1"
    assert verify(signed(base_claims(), EC, "ES256", "ec"))["sub"] == "u1"


def test_verify_expiry_honours_only_the_leeway() -> None:
    token = signed(base_claims(exp=NOW - 20))
    assert verify(token, leeway=30)["sub"] == "u1"
    with pytest.raises(ProviderError, match="expired"):
        verify(token, leeway=10)
    with pytest.raises(ProviderError, match="expired"):
        verify(signed(base_claims()), now=NOW + 400)
    with pytest.raises(ValueError, match="leeway"):
        verify(token, leeway=120)


def test_verify_refuses_a_future_nbf() -> None:
    with pytest.raises(ProviderError, match="not valid yet"):
        verify(signed(base_claims(nbf=NOW + 120)))


def test_verify_accepts_several_audiences_with_our_azp() -> None:
    assert verify(signed(base_claims(aud=["client", "api"], azp="client")))["sub"] == "u1"
    with pytest.raises(ProviderError, match="azp"):
        verify(signed(base_claims(aud=["client", "api"])))


def test_verify_picks_the_only_key_when_the_token_names_none() -> None:
    assert verify(signed(base_claims(), kid=None), keys=[RSA, EC])["sub"] == "u1"
    second = RSAKey.generate_key(2048, {"kid": "rsa2", "alg": "RS256"})
    with pytest.raises(ProviderError, match="several"):
        verify(signed(base_claims(), kid=None), keys=[RSA, second])


def test_verify_reports_unknown_kid_for_a_refetch() -> None:
    with pytest.raises(UnknownSigningKey):
        verify(signed(base_claims(), kid="rotated"))


def test_verify_ignores_encryption_keys() -> None:
    enc = RSAKey.import_key(RSA.as_dict(private=False) | {"use": "enc", "kid": "rsa"})
    with pytest.raises(UnknownSigningKey):
        verify(signed(base_claims()), keys=[enc])


def test_verify_refuses_algorithms_outside_the_allowlist() -> None:
    with pytest.raises(ProviderError, match="not allowed"):
        verify(signed(base_claims()), algorithms=("ES256",))
    with pytest.raises(ProviderError, match="not allowed"):
        verify(unsigned(base_claims()))
    secret = OctKey.import_key("a-shared-secret-of-some-length-000")
    with pytest.raises(ProviderError, match="not allowed"):
        verify(signed(base_claims(), secret, "HS256", "rsa"), keys=[secret], algorithms=("HS256", "RS256"))


def test_verify_refuses_a_key_of_the_wrong_type_for_the_alg() -> None:
    """An RS256 header naming the EC key's kid finds no usable key (no alg confusion)."""
    with pytest.raises(UnknownSigningKey):
        verify(signed(base_claims(), kid="ec"), keys=[EC])


def test_verify_nonce_is_checked_last_and_as_invalid_check() -> None:
    with pytest.raises(ProviderError) as caught:
        verify(signed(base_claims(nonce="other")))
    assert caught.value.kind == "InvalidCheck"
    with pytest.raises(ProviderError) as caught:
        verify(signed(base_claims(nonce=None)))
    assert caught.value.kind == "InvalidCheck"
    with pytest.raises(ProviderError) as caught:  # a bad signature wins over a bad nonce
        verify(signed(base_claims(nonce="other"), RSAKey.generate_key(2048, {"kid": "rsa"})))
    assert caught.value.kind == "OAuthCallbackError"


# --- GitHub against a local fake of its endpoints ------------------------------------------------


GITHUB_EMAILS: list[dict[str, Any]] = [
    {"email": "secondary@example.test", "primary": False, "verified": True, "visibility": None},
    {"email": "octocat@github.example", "primary": True, "verified": True, "visibility": "private"},
]


@dataclass
class FakeGitHub:
    url: str
    client_id: str = "Iv1.fakeclient"
    client_secret: str = "gh-secret-0123456789"
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "id": 583231,
            "login": "octocat",
            "name": "The Octocat",
            "email": "octocat@public.example",
            "avatar_url": "https://avatars.example/u/583231",
        }
    )
    emails: list[dict[str, Any]] | None = field(default_factory=lambda: list(GITHUB_EMAILS))
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def app(self) -> Starlette:
        async def authorize(request: Request) -> Response:
            params = request.query_params
            assert params["client_id"] == self.client_id and params["code_challenge_method"] == "S256"
            assert "nonce" not in params
            code = secrets.token_hex(10)
            self.codes[code] = (params["redirect_uri"], params["code_challenge"])
            return RedirectResponse(f"{params['redirect_uri']}?{urlencode({'code': code, 'state': params['state']})}")

        async def access_token(request: Request) -> Response:
            form = await request.form()
            pending = self.codes.pop(str(form.get("code")), None)
            if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
                body = {"error": "incorrect_client_credentials", "error_description": "The client_id and/or ..."}
            elif pending is None or pending != (form.get("redirect_uri"), s256(str(form.get("code_verifier")))):
                body = {"error": "bad_verification_code", "error_description": "The code passed is incorrect."}
            else:
                body = {"access_token": "gho_faketoken", "token_type": "bearer", "scope": "read:user,user:email"}
            # Like GitHub: errors come with 200, and JSON only when asked for.
            if request.headers.get("accept") == "application/json":
                return JSONResponse(body)
            return PlainTextResponse(urlencode(body), media_type="application/x-www-form-urlencoded")

        def authorized(request: Request) -> bool:
            return request.headers.get("authorization") == "Bearer gho_faketoken"

        async def user(request: Request) -> Response:
            if not authorized(request):
                return JSONResponse({"message": "Bad credentials"}, status_code=401)
            return JSONResponse(self.user)

        async def emails(request: Request) -> Response:
            if not authorized(request):
                return JSONResponse({"message": "Bad credentials"}, status_code=401)
            if self.emails is None:
                return JSONResponse({"message": "Resource not accessible by integration"}, status_code=403)
            return JSONResponse(self.emails)

        return Starlette(
            routes=[
                Route("/login/oauth/authorize", authorize),
                Route("/login/oauth/access_token", access_token, methods=["POST"]),
                Route("/user", user),
                Route("/user/emails", emails),
            ]
        )


@pytest.fixture(scope="module")
def github_server() -> Iterator[tuple[LocalServer, list[FakeGitHub]]]:
    sock = LocalServer.bind()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    current = [FakeGitHub(url)]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await current[0].app()(scope, receive, send)

    with LocalServer(app, sock) as server:
        yield server, current


@pytest.fixture
def fake_github(github_server: tuple[LocalServer, list[FakeGitHub]]) -> FakeGitHub:
    server, current = github_server
    current[0] = FakeGitHub(server.url)
    return current[0]


def github_for(fake: FakeGitHub, http: httpx.AsyncClient, client_secret: str | None = None) -> GitHub:
    return GitHub(
        fake.client_id,
        client_secret or fake.client_secret,
        http=http,
        authorize_url=f"{fake.url}/login/oauth/authorize",
        token_url=f"{fake.url}/login/oauth/access_token",
        api_url=fake.url,
    )


async def github_sign_in(
    provider: GitHub, browser: httpx.AsyncClient, *, verifier: str | None = None, code: str | None = None
) -> Profile:
    started = await start(provider)
    response = await browser.get(started.url)
    assert response.status_code == 307
    params = query(response.headers["location"])
    assert params["state"] == started.state
    return await provider.complete(
        code=code or params["code"], redirect_uri=CALLBACK, code_verifier=verifier or started.verifier, nonce=None
    )


async def test_github_authorization_url_has_pkce_and_no_nonce(fake_github: FakeGitHub, http: httpx.AsyncClient) -> None:
    started = await start(github_for(fake_github, http))
    assert query(started.url) == {
        "client_id": fake_github.client_id,
        "redirect_uri": CALLBACK,
        "scope": "read:user user:email",
        "state": started.state,
        "code_challenge": s256(started.verifier),
        "code_challenge_method": "S256",
    }


async def test_github_profile_has_string_id_and_primary_verified_email(
    fake_github: FakeGitHub, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    profile = await github_sign_in(github_for(fake_github, http), browser)
    assert profile == Profile(
        provider="github",
        account_id="583231",
        email="octocat@github.example",
        email_verified=True,
        name="The Octocat",
        image="https://avatars.example/u/583231",
        raw=fake_github.user,
    )


async def test_github_unverified_primary_email_is_not_verified(
    fake_github: FakeGitHub, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    fake_github.emails = [
        {"email": "verified-secondary@example.test", "primary": False, "verified": True, "visibility": None},
        {"email": "new-primary@example.test", "primary": True, "verified": False, "visibility": None},
    ]
    profile = await github_sign_in(github_for(fake_github, http), browser)
    assert (profile.email, profile.email_verified) == ("new-primary@example.test", False)


async def test_github_without_email_permission_uses_the_public_email_unverified(
    fake_github: FakeGitHub, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    fake_github.emails = None
    fake_github.user["name"] = None
    profile = await github_sign_in(github_for(fake_github, http), browser)
    assert (profile.email, profile.email_verified, profile.name) == ("octocat@public.example", False, "octocat")


@pytest.mark.parametrize("bad_id", ["583231", True, None, 1.5])
async def test_github_user_without_a_numeric_id_is_refused(
    fake_github: FakeGitHub, http: httpx.AsyncClient, browser: httpx.AsyncClient, bad_id: object
) -> None:
    fake_github.user["id"] = bad_id
    with pytest.raises(ProviderError) as caught:
        await github_sign_in(github_for(fake_github, http), browser)
    assert caught.value.kind == "OAuthCallbackError"


async def test_github_wrong_code_verifier_is_a_callback_error(
    fake_github: FakeGitHub, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    with pytest.raises(ProviderError) as caught:
        await github_sign_in(github_for(fake_github, http), browser, verifier=pkce()[0])
    assert caught.value.kind == "OAuthCallbackError"
    assert "bad_verification_code" in caught.value.message


async def test_github_wrong_secret_is_a_callback_error_that_does_not_leak_it(
    fake_github: FakeGitHub, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    with pytest.raises(ProviderError) as caught:
        await github_sign_in(github_for(fake_github, http, client_secret="wrong-secret-value"), browser)
    assert caught.value.kind == "OAuthCallbackError"
    assert "wrong-secret-value" not in str(caught.value)


async def test_github_unreachable_api_is_a_callback_error(http: httpx.AsyncClient) -> None:
    down = closed_port_url()
    provider = GitHub("id", "secret", http=http, token_url=f"{down}/token", authorize_url=f"{down}/a", api_url=down)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(code="c", redirect_uri=CALLBACK, code_verifier="v" * 43, nonce=None)
    assert caught.value.kind == "OAuthCallbackError"
