"""A real OpenID Connect provider for tests: panva/oidc-provider (tests/oidc/server.mjs) on a free
loopback port, one per test session.

Use it from a test module (or list this module in `pytest_plugins`):

    from .oidc_fixture import OIDCServer, login, oidc_server  # noqa: F401  (oidc_server is a fixture)

    async def test_something(oidc_server: OIDCServer) -> None:
        provider = OIDC(oidc_server.issuer, oidc_server.client_id, oidc_server.client_secret)
        url = await provider.authorization_url(redirect_uri=..., state=..., code_challenge=..., nonce=...)
        async with httpx.AsyncClient() as browser:
            callback_url = await login(browser, url)          # ...?code=...&state=...&iss=...

Any account id signs in without a password (see server.mjs for the claims each id gets). If Node,
npm or oidc-provider cannot start, every test using the fixture fails and says which: never skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "POST_CLIENT_ID",
    "POST_CLIENT_SECRET",
    "REDIRECT_URI",
    "OIDCServer",
    "login",
    "oidc_server",
]

OIDC_DIR = Path(__file__).parent / "oidc"

#: client_secret_basic, RS256 ID tokens
CLIENT_ID = "authgate-test"
CLIENT_SECRET = "authgate-test-secret-0123456789abcdef"
#: client_secret_post, ES256 ID tokens
POST_CLIENT_ID = "authgate-test-post"
POST_CLIENT_SECRET = "authgate-test-post-secret-0123456789"

#: Registered for both clients, with http://127.0.0.1|localhost|testserver and https://testserver
#: + /api/auth/callback/oidc (server.mjs). More: AUTHGATE_OIDC_REDIRECT_URIS="uri1 uri2".
REDIRECT_URI = "http://127.0.0.1/callback"

_START_TIMEOUT = 30.0
_NPM_TIMEOUT = 300.0


@dataclass(frozen=True)
class OIDCServer:
    """A running oidc-provider: what a relying party needs to be configured against it."""

    issuer: str
    client_id: str
    client_secret: str
    post_client_id: str
    post_client_secret: str
    redirect_uri: str
    log_path: Path

    async def login(self, client: httpx.AsyncClient, authorize_url: str, *, account: str | None = None) -> str:
        return await login(client, authorize_url, account=account)


async def login(client: httpx.AsyncClient, authorize_url: str, *, account: str | None = None) -> str:
    """Sign in at the provider and return the URL it finally redirects to (the relying party's
    callback, with `code`, `state` and `iss`, or `error`).

    `client` must reach the provider over the network (a plain httpx.AsyncClient, not one bound
    to an ASGI app); it keeps the provider's cookies. `account` picks the account id (default: the
    request's login_hint, else "alice"). Raises AssertionError if the provider shows a page
    instead of redirecting (an invalid client, redirect_uri or PKCE parameter, say)."""
    provider_origin = _origin(authorize_url)
    url = authorize_url
    for _ in range(20):
        if account is not None and urlsplit(url).path.startswith("/interaction/"):
            url = _add_query(url, account=account)
        response = await client.get(url, follow_redirects=False)
        if not response.is_redirect:
            raise AssertionError(f"oidc-provider answered {response.status_code} at {url}: {response.text[:500]}")
        url = urljoin(url, response.headers["location"])
        if _origin(url) != provider_origin:
            return url
    raise AssertionError(f"oidc-provider redirected more than 20 times, last to {url}")


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCServer]:
    """oidc-provider on a free 127.0.0.1 port for the whole session; stopped at the end."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("The OIDC tests need Node.js and npm on PATH (tests/oidc runs oidc-provider)", pytrace=False)
    _install(npm)
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("oidc-provider") / "server.log"
    extra = os.environ.get("AUTHGATE_OIDC_REDIRECT_URIS", "").split()
    command = [node, "server.mjs", "--port", str(port)]
    for uri in extra:
        command += ["--redirect-uri", uri]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=OIDC_DIR, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_discovery(process, issuer, log_path)
        yield OIDCServer(
            issuer=issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            post_client_id=POST_CLIENT_ID,
            post_client_secret=POST_CLIENT_SECRET,
            redirect_uri=REDIRECT_URI,
            log_path=log_path,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _install(npm: str) -> None:
    """`npm ci` once, when tests/oidc/node_modules lacks oidc-provider."""
    if (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return
    try:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=OIDC_DIR,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`npm ci` in {OIDC_DIR} (oidc-provider) took over {_NPM_TIMEOUT:.0f}s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"`npm ci` in {OIDC_DIR} failed, so oidc-provider is missing:\n{done.stderr[-2000:]}", pytrace=False
        )


def _wait_for_discovery(process: subprocess.Popen[bytes], issuer: str, log_path: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    url = f"{issuer}/.well-known/openid-configuration"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"oidc-provider (node tests/oidc/server.mjs) exited with {process.returncode}:\n"
                f"{log_path.read_text(errors='replace')[-2000:]}",
                pytrace=False,
            )
        try:
            document = httpx.get(url, timeout=1.0).json()
            if isinstance(document, dict) and document.get("issuer") == issuer:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    process.kill()
    pytest.fail(
        f"oidc-provider did not serve {url} within {_START_TIMEOUT:.0f}s:\n"
        f"{log_path.read_text(errors='replace')[-2000:]}",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _add_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params] + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
