"""Store outages answer 503; FastAPI and Starlette integrations; the public API is pinned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Depends, FastAPI

import authgate
from authgate import Auth, User
from authgate._ratelimit import RateLimitOptions
from authgate.stores import MemoryStore, PostgresStore, SQLiteStore

from .support import CLIENT, ORIGIN, SECRET, FakeClock, client_for

EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"
TOKEN_COOKIE = {"Cookie": "authgate_session=" + "A" * 43}


def down_stores(tmp_path: object) -> dict[str, object]:
    return {
        "postgres": PostgresStore("postgresql://postgres@127.0.0.1:1/test"),  # nothing listens on port 1
        "sqlite": SQLiteStore(f"sqlite:///{tmp_path}/missing-dir/deeper/auth.db"),
    }


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
async def test_unreachable_store_answers_503_on_every_route(tmp_path: object, kind: str) -> None:
    auth = Auth(store=down_stores(tmp_path)[kind], secret=SECRET)  # type: ignore[arg-type]
    async with client_for(auth) as client:
        answers = [
            await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT),
            await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT),
            await client.get("/api/auth/session", headers=TOKEN_COOKIE),
            await client.get("/api/private", headers={**CLIENT, **TOKEN_COOKIE}),
        ]
    for response in answers:
        assert response.status_code == 503, response.text
        assert response.json()["kind"] == "ServiceUnavailable"
        assert "Traceback" not in response.text and "asyncpg" not in response.text and "sqlite" not in response.text
    auth.hasher.close()


async def test_postgres_outage_mid_run_is_503_then_recovers(pg_url: str, pg_schema: str) -> None:
    """Terminating every pooled connection (what a restart does) gives 503 or a retry, never a 500,
    and the app recovers without a restart."""
    import asyncpg

    app_name = f"outage-{pg_schema}"  # terminate only this test's connections
    pool = await asyncpg.create_pool(
        pg_url, min_size=2, max_size=2, server_settings={"application_name": app_name, "search_path": pg_schema}
    )
    store = PostgresStore(pool=pool)
    auth = Auth(store=store, secret=SECRET)
    async with client_for(auth) as client:
        signed_up = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert signed_up.status_code == 200
        admin = await asyncpg.connect(pg_url)
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app_name
        )
        await admin.close()
        assert killed == 2
        statuses = [(await client.get("/api/auth/session")).status_code for _ in range(3)]
        assert set(statuses) <= {200, 503}
        assert statuses[-1] == 200
    await auth.close()
    await pool.close()
    auth.hasher.close()


async def test_fifty_simultaneous_sign_ups_make_one_user(store: object) -> None:
    # Limits off: this is about the unique constraint, not the sign-up limit (tested on its own).
    auth = Auth(store=store, secret=SECRET, rate_limits=RateLimitOptions(enabled=False))  # type: ignore[arg-type]
    async with client_for(auth) as client:
        responses = await asyncio.gather(
            *[
                client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
                for _ in range(50)
            ]
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 49
    found = await auth.store.get_credentials(EMAIL)
    assert found is not None
    assert len(await auth.store.list_user_sessions(found[0].id)) == 1
    auth.hasher.close()


@pytest.fixture
async def fastapi_client(auth: Auth) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.mount("/api/auth", auth.asgi_app)

    @app.get("/api/me")
    async def me(user: User = Depends(auth.current_user)) -> dict[str, str]:
        return {"email": user.email}

    @app.post("/api/me")
    async def update_me(user: User = Depends(auth.current_user)) -> dict[str, str]:
        return {"email": user.email}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as client:
        yield client


async def test_fastapi_dependency_answers_like_require_auth(fastapi_client: httpx.AsyncClient) -> None:
    anonymous = await fastapi_client.get("/api/me", headers=CLIENT)
    assert anonymous.status_code == 401 and anonymous.json()["detail"]["kind"] == "Unauthenticated"
    await fastapi_client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    # A page load (GET) passes with the cookie alone; a write needs the header, like RequireAuth.
    navigated = await fastapi_client.get("/api/me")
    assert navigated.status_code == 200 and navigated.json() == {"email": EMAIL}
    no_header = await fastapi_client.post("/api/me")
    assert no_header.status_code == 403 and no_header.json()["detail"]["kind"] == "MissingCSRF"
    ok = await fastapi_client.post("/api/me", headers=CLIENT)
    assert ok.status_code == 200 and ok.json() == {"email": EMAIL}


async def test_get_session_returns_none_when_signed_out(auth: Auth, clock: FakeClock) -> None:
    assert await auth.get_session(None) is None
    assert await auth.get_session("garbage") is None
    result = await auth.sign_up(EMAIL, PASSWORD)
    assert result.tokens is not None
    found = await auth.get_session(result.tokens.access_token)
    assert found is not None and found.user.email == EMAIL
    clock.advance(minutes=16)
    assert await auth.get_session(result.tokens.access_token) is None


def test_public_api_is_pinned() -> None:
    assert sorted(authgate.__all__) == [
        "AccessDenied", "Account", "AccountInUse", "AccountOptions", "Auth", "AuthConfig", "AuthError", "AuthEvent",
        "AuthJSOptions", "AuthSession", "Callbacks", "Configuration", "CookieOptions", "CredentialsSignin",
        "EmailInUse", "Events", "ForbiddenOrigin", "InvalidCheck", "InvalidRefreshToken", "InvalidRequest",
        "MFAChallenge", "MFAOptions", "MagicLinkOptions", "MethodNotAllowed", "MissingCSRF", "NotFound",
        "OAuthAccountNotLinked", "OAuthCallbackError", "PasskeyInUse", "PasskeyOptions", "PasswordOptions",
        "PayloadTooLarge", "RateLimitOptions", "RateLimited", "ReauthenticationRequired", "RefreshInProgress",
        "RefreshTokenReuse", "RequestMeta", "RequireAuth", "ServiceUnavailable", "Session", "SessionExpired",
        "SessionOptions", "SignInResult", "Tokens", "Unauthenticated", "UnsupportedMediaType", "User",
        "Verification", "normalize_email",
    ]  # fmt: skip


def test_error_kinds_are_stable() -> None:
    kinds = {cls.kind: cls.status_code for cls in authgate.AuthError.__subclasses__()}
    assert kinds["MissingCSRF"] == 403 and kinds["CredentialsSignin"] == 401 and kinds["EmailInUse"] == 409
    assert kinds["ServiceUnavailable"] == 503 and kinds["PayloadTooLarge"] == 413 and kinds["InvalidRequest"] == 400


@pytest.mark.parametrize(
    "options",
    [
        {"secret": "short"},
        {"base_path": "api/auth"},
        {"trusted_origins": ["https://example.com/"]},
    ],
)
def test_bad_configuration_fails_at_start_up(options: dict[str, object]) -> None:
    from authgate import Configuration
    from authgate.stores import MemoryStore

    settings: dict[str, object] = {"secret": SECRET, **options}
    with pytest.raises(Configuration):
        Auth(store=MemoryStore(), **settings)  # type: ignore[arg-type]


def test_same_site_none_without_secure_is_a_configuration_error() -> None:
    from authgate import Configuration, CookieOptions
    from authgate.stores import MemoryStore

    with pytest.raises(Configuration, match="SameSite=None"):
        Auth(store=MemoryStore(), secret=SECRET, cookies=CookieOptions(secure=False, session_same_site="none"))


async def test_host_prefix_cookies(clock: FakeClock) -> None:
    from authgate import CookieOptions
    from authgate.stores import MemoryStore

    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock, cookies=CookieOptions(host_prefix=True))
    async with client_for(auth) as client:
        response = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        names = sorted(c.split("=", 1)[0] for c in response.headers.get_list("set-cookie"))
        assert names == ["__Host-authgate_session", "__Secure-authgate_refresh"]
        assert (await client.get("/api/private", headers=CLIENT)).status_code == 200
    auth.hasher.close()


async def test_trusted_origin_is_exact_match(clock: FakeClock) -> None:
    from authgate.stores import MemoryStore

    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock, trusted_origins=["https://app.example.com"])
    async with client_for(auth) as client:
        body = {"email": EMAIL, "password": PASSWORD}
        refused = [
            await client.post("/api/auth/sign-up", json=body, headers={**CLIENT, "Origin": origin})
            for origin in ("https://app.example.com:444", "http://app.example.com", "https://evil.app.example.com")
        ]
        assert [r.status_code for r in refused] == [403, 403, 403]
        ok = await client.post("/api/auth/sign-up", json=body, headers={**CLIENT, "Origin": "https://app.example.com"})
        assert ok.status_code == 200
    auth.hasher.close()


class StaleCacheStore(MemoryStore):
    """A store whose session lookups come from a cache that never hears of revocations: the worst
    case any session cache can be in during its revocation bound."""

    def __init__(self) -> None:
        super().__init__()
        self.cached: dict[str, object] = {}

    async def get_session_by_token(self, token_hash: str):  # type: ignore[no-untyped-def]
        if token_hash not in self.cached:
            self.cached[token_hash] = await super().get_session_by_token(token_hash)
        return self.cached[token_hash]


async def test_sensitive_routes_read_past_a_stale_session_cache(clock: FakeClock) -> None:
    store = StaleCacheStore()
    auth = Auth(store=store, secret=SECRET, clock=clock)
    async with client_for(auth) as client:
        await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert (await client.get("/api/auth/sessions", headers=CLIENT)).status_code == 200
        found = await store.get_credentials(EMAIL)
        assert found is not None
        await store.delete_user_sessions(found[0].id)  # revoked elsewhere; the cache did not hear
        assert (await client.get("/api/private", headers=CLIENT)).status_code == 200  # the stale cache answers
        for method, path, body in (
            ("GET", "/api/auth/sessions", None),
            ("POST", "/api/auth/change-password", {"current_password": PASSWORD, "new_password": "x" * 12}),
            ("POST", "/api/auth/mfa/totp/enroll", None),
            ("POST", "/api/auth/passkey/register/options", None),
        ):
            response = await client.request(method, path, json=body, headers=CLIENT)
            assert response.status_code == 401, (path, response.text)
