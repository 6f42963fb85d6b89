"""Hostile input against the running demo: schemathesis generates requests from the published
OpenAPI document (valid and invalid bodies, headers, query strings, cookies) and checks every
answer: no 5xx, a documented status, and a body that matches the documented schema.

The demo runs as a real `authgate demo` process (SQLite file, rate limits off so generated sign-ups
are exercised rather than throttled). Half the cases carry a live session, so the signed-in routes
run past the session check; the document makes `X-Authgate-Client: true` a required header, so
positive cases pass the CSRF check and negative cases drop or change it.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from authgate._config import AuthConfig
from authgate.openapi import openapi_document

pytestmark = pytest.mark.timeout(300)

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
METHODS = ("get", "post", "put", "patch", "delete")
SESSION_COOKIE = "authgate_session"
REFRESH_COOKIE = "authgate_refresh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Browser:
    """The cookies a browser would hold for the demo: updated from every answer, and replaced by a
    fresh account whenever a generated request signs out, deletes the account or rotates away."""

    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    accounts: int = 0

    def sign_up(self) -> None:
        self.accounts += 1
        response = httpx.post(
            f"{self.base}/api/auth/sign-up",
            json={"email": f"fuzz-{self.accounts}-{secrets.token_hex(4)}@example.com", "password": "fuzz password 1"},
            headers={"X-Authgate-Client": "true"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        self.cookies = {name: response.cookies[name] for name in (SESSION_COOKIE, REFRESH_COOKIE)}

    def signed_in(self) -> dict[str, str]:
        """Cookies of a session that is alive now."""
        if self.cookies:
            check = httpx.get(f"{self.base}/api/auth/session", cookies=self.cookies, timeout=10)
            if check.status_code == 200:
                return self.cookies
        self.sign_up()
        return self.cookies

    def remember(self, set_cookies: list[str]) -> None:
        for header in set_cookies:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if name in (SESSION_COOKIE, REFRESH_COOKIE):
                if value and "Max-Age=0" not in header:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)


@dataclass
class Demo:
    base: str
    stderr: Path
    browser: Browser
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A real `authgate demo` process on a free port with a temporary SQLite file."""
    tmp = tmp_path_factory.mktemp("demo")
    port = _free_port()
    stderr = tmp / "demo.log"
    env = {**os.environ, "AUTHGATE_SECRET": secrets.token_urlsafe(48)}
    command = [sys.executable, "-m", "authgate.cli", "demo", "--port", str(port)]
    command += ["--database-url", f"sqlite:///{tmp}/demo.db", "--rate-limits", "off"]
    with stderr.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/api/auth/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"authgate demo did not start on {base}:\n{stderr.read_text()}")
                time.sleep(0.1)
        made = Demo(base, stderr, Browser(base))
        yield made
        print(f"\nschemathesis: {made.cases} requests, statuses {dict(sorted(made.statuses.items()))}")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "Traceback" not in stderr.read_text(), stderr.read_text()


@pytest.fixture(scope="module")
def demo_schema(demo: Demo) -> BaseSchema:
    """The document as the demo serves it."""
    return schemathesis.openapi.from_url(f"{demo.base}/api/auth/openapi.json")


def _labels() -> list[str]:
    # Collected from the document of a default configuration (the demo's has the same paths), so
    # each operation is its own test item; test_demo_documents_the_collected_operations checks that.
    # Schemathesis leaves out the operation that serves the document it was loaded from.
    document = openapi_document(AuthConfig(secret="x" * 32))
    labels = [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item]
    return [label for label in labels if label.split()[0].lower() in METHODS and label != "GET /openapi.json"]


def test_demo_documents_the_collected_operations(demo_schema: BaseSchema) -> None:
    served = {result.ok().label for result in demo_schema.get_all_operations()}
    assert served == set(_labels())


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("label", _labels())
def test_auth_route_answers_hostile_input_as_documented(
    label: str, mode: GenerationMode, demo: Demo, demo_schema: BaseSchema
) -> None:
    operation = demo_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served document"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def exchange(case: Case) -> None:
        demo.cases += 1
        if demo.cases % 2 == 0:
            # A live session instead of a generated token, so signed-in routes get past the session check.
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            case.cookies = {**(case.cookies or {}), **demo.browser.signed_in()}
        response = case.call(timeout=30)
        demo.statuses[response.status_code] = demo.statuses.get(response.status_code, 0) + 1
        demo.browser.remember(response.headers.get("set-cookie", []))
        case.validate_response(response, checks=CHECKS)

    exchange()
