"""Provider sign-in through the routes, against a real OpenID provider (npm oidc-provider)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from authgate import Auth
from authgate._hooks import Callbacks
from authgate.providers import OIDC

from . import oidc_fixture
from .oidc_fixture import OIDCServer, login
from .support import CLIENT, ORIGIN, SECRET, FakeClock, client_for

oidc_server = oidc_fixture.oidc_server
PASSWORD = "correct horse battery"


def make_auth(store: object, server: OIDCServer, *, trusted: bool = False, **options: object) -> Auth:
    provider = OIDC(server.issuer, server.client_id, server.client_secret, trusted_for_linking=trusted)
    return Auth(store=store, secret=SECRET, providers=[provider], **options)  # type: ignore[arg-type]


@pytest.fixture
async def network() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def start(client: httpx.AsyncClient, query: str = "?callbackUrl=%2Fdashboard") -> str:
    response = await client.get(f"/api/auth/signin/oidc{query}")
    assert response.status_code == 302, response.text
    checks = response.headers["set-cookie"]
    assert checks.startswith("authgate_oauth=") and "HttpOnly" in checks and "Max-Age=900" in checks
    assert "Path=/api/auth/callback" in checks
    location = response.headers["location"]
    params = parse_qs(urlsplit(location).query)
    assert params["code_challenge_method"] == ["S256"] and params["state"] and params["nonce"]
    return location


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path == "/api/auth/callback/oidc"
    return f"{parts.path}?{parts.query}"


async def full_sign_in(client: httpx.AsyncClient, network: httpx.AsyncClient, account: str) -> httpx.Response:
    callback = await login(network, await start(client), account=account)
    return await client.get(callback_path(callback))


async def test_full_redirect_dance_creates_user_and_session(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as client:
        done = await full_sign_in(client, network, "alice")
        assert done.status_code == 302 and done.headers["location"] == "/dashboard"
        cookies = done.headers.get_list("set-cookie")
        assert any(c.startswith("authgate_oauth=;") and "Max-Age=0" in c for c in cookies)
        assert any(c.startswith("authgate_session=") for c in cookies)
        session = (await client.get("/api/auth/session")).json()
        # The provider is not trusted for linking, so its email_verified claim is not taken over.
        assert session["user"]["email"] == "alice@example.test" and session["user"]["email_verified"] is False
        user_id = session["user"]["id"]
        client.cookies.clear()
        again = await full_sign_in(client, network, "alice")  # a returning account signs in as the same user
        assert again.status_code == 302
        assert (await client.get("/api/auth/session")).json()["user"]["id"] == user_id
    accounts = await auth.store.list_accounts(user_id)
    assert [(a.provider, a.account_id) for a in accounts] == [("oidc", "alice")]


async def error_kind(response: httpx.Response) -> str:
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{ORIGIN}/api/auth/error?")
    return parse_qs(urlsplit(location).query)["error"][0]


async def test_tampered_state_is_invalid_check(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as client:
        callback = callback_path(await login(network, await start(client), account="mallory"))
        tampered = callback.replace("state=", "state=x")
        assert await error_kind(await client.get(tampered)) == "InvalidCheck"
        assert await auth.store.get_credentials("mallory@example.test") is None


async def test_callback_without_the_checks_cookie_is_invalid_check(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    """Login CSRF: an attacker's own callback URL opened in the victim's browser has no checks cookie."""
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as attacker, client_for(auth) as victim:
        callback = callback_path(await login(network, await start(attacker), account="mallory"))
        assert await error_kind(await victim.get(callback)) == "InvalidCheck"
        assert (await victim.get("/api/auth/session")).status_code == 401


async def test_checks_from_another_flow_do_not_fit(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as client:
        first = await start(client)
        await start(client)  # a second flow replaces the checks cookie
        callback = callback_path(await login(network, first, account="alice"))
        assert await error_kind(await client.get(callback)) == "InvalidCheck"


async def test_forged_checks_cookie_is_invalid_check(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as client:
        callback = callback_path(await login(network, await start(client), account="alice"))
        client.cookies.clear()
        forged = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIn0.." + "A" * 40
        response = await client.get(callback, headers={"Cookie": f"authgate_oauth={forged}"})
        assert await error_kind(response) == "InvalidCheck"


async def test_code_replay_and_wrong_issuer_param_fail(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as client:
        first_callback = await login(network, await start(client), account="alice")
        assert (await client.get(callback_path(first_callback))).headers["location"] == "/dashboard"
        location = await start(client)
        callback = callback_path(await login(network, location, account="alice"))
        swapped = callback.replace("iss=", "iss=https%3A%2F%2Fevil.example%2F&x=")
        assert await error_kind(await client.get(swapped)) == "InvalidCheck"
        replay_checks = await start(client)
        state = parse_qs(urlsplit(replay_checks).query)["state"][0]
        old = parse_qs(urlsplit(first_callback).query)
        replay = f"/api/auth/callback/oidc?code={old['code'][0]}&state={state}"
        assert await error_kind(await client.get(replay)) == "OAuthCallbackError"


async def test_provider_error_answer_maps_to_access_denied(store: object, oidc_server: OIDCServer) -> None:
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as client:
        await start(client)
        denied = await client.get("/api/auth/callback/oidc?error=access_denied&state=x")
        assert await error_kind(denied) == "AccessDenied"
        other = await client.get("/api/auth/callback/oidc?error=server_error&state=x")
        assert await error_kind(other) == "OAuthCallbackError"


@pytest.mark.parametrize("target", ["//evil.com", "/\\evil.com", "https:evil.com", "https://evil.com/x"])
async def test_callback_url_open_redirects_fall_back_to_base(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient, target: str
) -> None:
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as client:
        location = await start(client, "?" + httpx.QueryParams({"callbackUrl": target}).__str__())
        done = await client.get(callback_path(await login(network, location, account="alice")))
        assert done.headers["location"] == f"{ORIGIN}/"


async def sign_up_with_password(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD}, headers=CLIENT)
    assert response.status_code == 200
    return str(response.json()["user"]["id"])


async def test_existing_email_is_not_linked_silently(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server)  # not trusted for linking
    async with client_for(auth) as client:
        owner_id = await sign_up_with_password(client, "bob@example.test")
        client.cookies.clear()
        assert await error_kind(await full_sign_in(client, network, "bob")) == "OAuthAccountNotLinked"
    assert await auth.store.list_accounts(owner_id) == []


async def test_trusted_verified_email_links_only_to_a_verified_owner(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server, trusted=True)
    async with client_for(auth) as client:
        owner_id = await sign_up_with_password(client, "carol@example.test")
        client.cookies.clear()
        # An unverified owner might be an attacker who registered Carol's address first.
        assert await error_kind(await full_sign_in(client, network, "carol")) == "OAuthAccountNotLinked"
        owner = await auth.store.get_user(owner_id)
        assert owner is not None
        await auth.store.update_user(replace(owner, email_verified=True))
        done = await full_sign_in(client, network, "carol")
        assert done.headers["location"] == "/dashboard"
        assert (await client.get("/api/auth/session")).json()["user"]["id"] == owner_id
    assert [a.account_id for a in await auth.store.list_accounts(owner_id)] == ["carol"]


async def test_trusted_provider_with_unverified_email_is_not_linked(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server, trusted=True)
    async with client_for(auth) as client:
        owner_id = await sign_up_with_password(client, "unverified-dan@example.test")
        owner = await auth.store.get_user(owner_id)
        assert owner is not None
        await auth.store.update_user(replace(owner, email_verified=True))
        client.cookies.clear()
        assert await error_kind(await full_sign_in(client, network, "unverified-dan")) == "OAuthAccountNotLinked"
    assert await auth.store.list_accounts(owner_id) == []


async def test_full_width_email_cannot_claim_another_account(store: object, clock: FakeClock) -> None:
    from authgate import normalize_email

    assert normalize_email("ｅｖｅ@example.test")[1] == normalize_email("EVE@example.test")[1]


async def test_signed_in_user_links_a_provider(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as client:
        user_id = await sign_up_with_password(client, "erin@example.com")
        refused = await client.post("/api/auth/signin/oidc", json={"link": True})
        assert refused.status_code == 403
        started = await client.post("/api/auth/signin/oidc", json={"link": True, "callbackUrl": "/me"}, headers=CLIENT)
        assert started.status_code == 302
        done = await client.get(callback_path(await login(network, started.headers["location"], account="erin-gh")))
        assert done.headers["location"] == "/me"
        assert (await client.get("/api/auth/session")).json()["user"]["id"] == user_id
    assert [a.account_id for a in await auth.store.list_accounts(user_id)] == ["erin-gh"]


async def test_linking_an_account_owned_by_someone_else_is_refused(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as client:
        await full_sign_in(client, network, "frank")  # frank's provider account now has its own user
        client.cookies.clear()
        user_id = await sign_up_with_password(client, "grace@example.com")
        started = await client.post("/api/auth/signin/oidc", json={"link": True}, headers=CLIENT)
        done = await client.get(callback_path(await login(network, started.headers["location"], account="frank")))
        assert await error_kind(done) == "OAuthAccountNotLinked"
    assert await auth.store.list_accounts(user_id) == []


async def test_sign_in_callback_can_refuse(store: object, oidc_server: OIDCServer, network: httpx.AsyncClient) -> None:
    async def only_example_com(user: object, account: object, profile: object) -> bool:
        return str(getattr(user, "email", "")).endswith("@example.com")

    auth = make_auth(store, oidc_server, callbacks=Callbacks(sign_in=only_example_com))
    async with client_for(auth) as client:
        assert await error_kind(await full_sign_in(client, network, "henry")) == "AccessDenied"
        assert (await client.get("/api/auth/session")).status_code == 401


async def test_audit_trail_records_sign_ins_and_links(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    auth = make_auth(store, oidc_server)
    async with client_for(auth) as client:
        await full_sign_in(client, network, "ivy")
        user_id = (await client.get("/api/auth/session")).json()["user"]["id"]
    types = [e.type for e in await auth.store.list_events(user_id=user_id)]
    assert {"create_user", "link_account", "sign_in"} <= set(types)


async def test_providers_route_lists_the_provider(store: object, oidc_server: OIDCServer) -> None:
    async with client_for(make_auth(store, oidc_server)) as client:
        listed = (await client.get("/api/auth/providers")).json()
    assert listed["oidc"] == {
        "id": "oidc",
        "name": "OpenID Connect",
        "type": "oidc",
        "signinUrl": f"{ORIGIN}/api/auth/signin/oidc",
        "callbackUrl": f"{ORIGIN}/api/auth/callback/oidc",
    }


async def test_error_path_sends_failed_sign_ins_to_the_apps_page(
    store: object, oidc_server: OIDCServer, network: httpx.AsyncClient
) -> None:
    from authgate import AccountOptions

    auth = make_auth(store, oidc_server, accounts=AccountOptions(error_path="/auth/error"))
    async with client_for(auth) as client:
        callback = callback_path(await login(network, await start(client), account="mallory"))
        failed = await client.get(callback.replace("state=", "state=x"))
        assert failed.status_code == 302 and failed.headers["location"] == f"{ORIGIN}/auth/error?error=InvalidCheck"
        linked = await client.get("/api/auth/error?error=AccessDenied")
        assert linked.status_code == 302 and linked.headers["location"] == f"{ORIGIN}/auth/error?error=AccessDenied"
