"""Misconfigurations a newcomer makes end in one message naming the cause and the fix, with the
right exit code and no traceback: from the CLI (migrate, cleanup, check, demo) and at app start-up."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import pytest

from authgate.schema import LATEST_VERSION, MIGRATIONS

from . import smtp_fixture
from .smtp_fixture import SMTPServer

smtp_server = smtp_fixture.smtp_server

PG = os.environ.get("AUTHGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "s" * 48


def authgate(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AUTHGATE_SECRET")}
    return subprocess.run(
        [sys.executable, "-m", "authgate.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**base, **(env or {})},
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in result.stderr and "Traceback" not in result.stdout


@pytest.fixture
def schema_name() -> Iterator[str]:
    name = f"cli_{uuid.uuid4().hex[:12]}"
    yield name
    import asyncio

    async def drop() -> None:
        conn = await asyncpg.connect(PG)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()

    asyncio.run(drop())


async def schema_exists(name: str) -> bool:
    conn = await asyncpg.connect(PG)
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", name))
    finally:
        await conn.close()


# -- database errors from the CLI ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("postgresql://postgres@127.0.0.1:1/test", 3, "cannot reach PostgreSQL at 127.0.0.1:1/test"),
        ("postgresql://postgres@no-such-host.invalid/test", 3, "(host name not found)"),
        ("postgresql://authgate_nobody@127.0.0.1:5432/test", 1, 'refused the login: role "authgate_nobody"'),
        ("postgresql://postgres@127.0.0.1:5432/authgate_no_such_db", 1, "`createdb authgate_no_such_db`"),
    ],
    ids=["closed-port", "unknown-host", "login-refused", "missing-database"],
)
def test_migrate_names_the_database_failure(url: str, code: int, message: str) -> None:
    result = authgate("migrate", "--database-url", url)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "try again" not in result.stderr  # retrying does not fix a wrong password
    assert no_traceback(result)


def test_database_url_comes_from_the_environment_or_is_a_usage_error(tmp_path: Path) -> None:
    missing = authgate("migrate")
    assert missing.returncode == 2 and "--database-url is required (or set DATABASE_URL)" in missing.stderr
    from_env = authgate("migrate", env={"DATABASE_URL": f"sqlite:///{tmp_path}/env.db"})
    assert from_env.returncode == 0, from_env.stderr
    assert "applied 1 " in from_env.stdout


@pytest.mark.parametrize("size", ["0", "-5"])
def test_cleanup_batch_size_below_one_is_a_usage_error(tmp_path: Path, size: str) -> None:
    result = authgate("cleanup", "--database-url", f"sqlite:///{tmp_path}/x.db", "--batch-size", size)
    assert result.returncode == 2
    assert f"--batch-size must be at least 1, not {size}" in result.stderr
    assert no_traceback(result)


def test_version_flag() -> None:
    from importlib.metadata import version

    result = authgate("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"authgate {version('authgate')}"


def test_migrate_lists_each_migration_then_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    dry = authgate("migrate", "--database-url", url, "--dry-run")
    assert dry.returncode == 0
    assert [line for line in dry.stdout.splitlines() if line.startswith("would apply")] == [
        f"would apply {m.version} {m.name}" for m in MIGRATIONS["sqlite"]
    ]
    assert not (tmp_path / "m.db").exists()  # a dry run writes nothing
    sql = authgate("migrate", "--database-url", url, "--sql")
    assert sql.returncode == 0 and "CREATE TABLE IF NOT EXISTS users" in sql.stdout
    assert not (tmp_path / "m.db").exists()
    first = authgate("migrate", "--database-url", url)
    applied = [line for line in first.stdout.splitlines() if line.startswith("applied ")]
    assert applied == [f"applied {m.version} {m.name}" for m in MIGRATIONS["sqlite"]]
    assert f"now at version {LATEST_VERSION}" in first.stdout
    second = authgate("migrate", "--database-url", url)
    assert "nothing to apply" in second.stdout and "applied " not in second.stdout


def test_sql_output_builds_the_schema_in_sqlite(tmp_path: Path) -> None:
    import sqlite3

    sql = authgate("migrate", "--database-url", f"sqlite:///{tmp_path}/s.db", "--sql").stdout
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.executescript(sql)
    version = conn.execute("SELECT max(version) FROM authgate_schema_version").fetchone()[0]
    conn.close()
    assert version == LATEST_VERSION
    again = authgate("migrate", "--database-url", f"sqlite:///{tmp_path}/s.db")
    assert "nothing to apply" in again.stdout


async def test_postgres_schema_option_keeps_authgate_beside_an_apps_users_table(schema_name: str) -> None:
    conn = await asyncpg.connect(PG)
    try:
        # The app's own `users` table, in the app's schema: authgate must not touch it.
        await conn.execute(f'CREATE SCHEMA "{schema_name}_app"')
        await conn.execute(f'CREATE TABLE "{schema_name}_app".users (id serial primary key, nickname text)')
    finally:
        await conn.close()
    try:
        result = authgate("migrate", "--database-url", PG, "--schema", schema_name)
        assert result.returncode == 0, result.stderr
        assert f'schema "{schema_name}"' in result.stdout and "applied 1 " in result.stdout
        cleaned = authgate("cleanup", "--database-url", PG, "--schema", schema_name)
        assert cleaned.returncode == 0 and "deleted 0 expired session(s)" in cleaned.stderr
        checked = authgate("check", "--database-url", PG, "--schema", schema_name, env={"AUTHGATE_SECRET": SECRET})
        assert f"schema version {LATEST_VERSION} (current)" in checked.stdout
    finally:
        conn = await asyncpg.connect(PG)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema_name}_app" CASCADE')
        await conn.close()


async def test_cleanup_without_a_schema_says_so_and_creates_nothing(tmp_path: Path, schema_name: str) -> None:
    sqlite = authgate("cleanup", "--database-url", f"sqlite:///{tmp_path}/empty.db")
    assert sqlite.returncode == 1 and "has no authgate schema; nothing to clean up" in sqlite.stderr
    assert "Run `authgate migrate` first" in sqlite.stderr and no_traceback(sqlite)
    assert not (tmp_path / "empty.db").exists()
    postgres = authgate("cleanup", "--database-url", PG, "--schema", schema_name)
    assert postgres.returncode == 1 and "has no authgate schema" in postgres.stderr
    assert not await schema_exists(schema_name)


def test_schema_option_is_for_postgres_only(tmp_path: Path) -> None:
    result = authgate("migrate", "--database-url", f"sqlite:///{tmp_path}/a.db", "--schema", "x")
    assert result.returncode == 2 and "--schema applies to PostgreSQL databases only" in result.stderr


# -- authgate check ----------------------------------------------------------------------------


class _Discovery(BaseHTTPRequestHandler):
    methods: list[str] = ["none"]

    def do_GET(self) -> None:
        issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        body = json.dumps(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/auth",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
                "token_endpoint_auth_methods_supported": self.methods,
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def discovery() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def write_app(tmp_path: Path, body: str) -> None:
    (tmp_path / "myapp.py").write_text(textwrap.dedent(body))


def test_check_all_ok_for_a_sound_app(tmp_path: Path) -> None:
    write_app(
        tmp_path,
        f"""
        from authgate import Auth
        from authgate.stores import SQLiteStore
        auth = Auth(store=SQLiteStore("sqlite:///app.db"), secret={SECRET!r}, base_url="https://app.example.com")
        """,
    )
    authgate("migrate", "--database-url", "sqlite:///app.db", cwd=tmp_path)
    result = authgate("check", "--app", "myapp:auth", "--database-url", "sqlite:///app.db", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "ok       secret:" in result.stdout
    assert "ok       base URL: https://app.example.com" in result.stdout
    assert f"ok       database: SQLite app.db: schema version {LATEST_VERSION} (current)" in result.stdout
    assert result.stdout.strip().endswith("authgate check: all ok")


def test_check_reports_each_problem_with_its_fix(tmp_path: Path) -> None:
    result = authgate("check", "--database-url", "postgresql://postgres@127.0.0.1:1/test", cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "problem  secret: AUTHGATE_SECRET is not set" in out and "fix: set AUTHGATE_SECRET=$(authgate secret)" in out
    assert "problem  base URL: not set" in out and "403 ForbiddenOrigin" in out
    assert "problem  database: cannot reach PostgreSQL at 127.0.0.1:1/test as 'postgres' (connection refused)" in out
    assert "fix: Start PostgreSQL" in out
    assert no_traceback(result)
    short = authgate("check", "--base-url", "https://a.example", env={"AUTHGATE_SECRET": "short"})
    assert "problem  secret: shorter than 32 characters" in short.stdout


def test_check_fetches_discovery_and_refuses_an_unusable_token_auth_method(tmp_path: Path, discovery: str) -> None:
    env = {"AUTHGATE_SECRET": SECRET, "OIDC_ISSUER": discovery, "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "s"}
    result = authgate("check", "--base-url", "https://a.example", env=env, cwd=tmp_path)
    assert result.returncode == 1
    listed = "discovery lists token_endpoint_auth_methods_supported=['none']"
    assert f"problem  provider oidc: OIDC provider 'oidc': {listed}" in result.stdout
    _Discovery.methods = ["private_key_jwt", "client_secret_post"]
    try:
        ok = authgate("check", "--base-url", "https://a.example", env=env, cwd=tmp_path)
    finally:
        _Discovery.methods = ["none"]
    assert f"ok       provider oidc: issuer {discovery}, token endpoint auth client_secret_post" in ok.stdout
    unreachable = authgate(
        "check", "--base-url", "https://a.example", cwd=tmp_path, env={**env, "OIDC_ISSUER": "http://127.0.0.1:1"}
    )
    assert "problem  provider oidc: OIDC discovery failed: ConnectError" in unreachable.stdout


def test_check_sends_a_test_email(tmp_path: Path, smtp_server: SMTPServer) -> None:
    host, port = smtp_server.host, smtp_server.port
    write_app(
        tmp_path,
        f"""
        from authgate import Auth
        from authgate.mail import SMTPSender
        auth = Auth(secret={SECRET!r}, base_url="https://app.example.com",
                    email_sender=SMTPSender({host!r}, {port}, sender="auth@example.com"))
        """,
    )
    result = authgate("check", "--app", "myapp:auth", "--send-test-email", "ops@example.com", cwd=tmp_path)
    assert "ok       mail: test message sent to ops@example.com" in result.stdout
    assert any(m["To"] == "ops@example.com" for m in smtp_server.messages)
    write_app(
        tmp_path,
        f"""
        from authgate import Auth
        from authgate.mail import SMTPSender
        auth = Auth(secret={SECRET!r}, base_url="https://app.example.com",
                    email_sender=SMTPSender("127.0.0.1", 1, sender="auth@example.com"))
        """,
    )
    down = authgate("check", "--app", "myapp:auth", "--send-test-email", "ops@example.com", cwd=tmp_path)
    assert down.returncode == 1 and "problem  mail: SMTPSender(host='127.0.0.1', port=1" in down.stdout


# -- app start-up ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_uvicorn(tmp_path: Path, app_code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text(textwrap.dedent(app_code))
    return subprocess.run(
        [sys.executable, "-m", "uvicorn", "app:app", "--port", str(_free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, **env},
    )


STARTUP_APP = """
import os
from starlette.applications import Starlette
from starlette.routing import Mount
from authgate import Auth
from authgate.stores import PostgresStore
auth = Auth(store=PostgresStore(os.environ["DATABASE_URL"], apply_schema=os.environ.get("APPLY") == "1"),
            secret=os.environ["AUTHGATE_SECRET"])
app = Starlette(routes=[Mount("/api/auth", app=auth.asgi_app)], lifespan=auth.lifespan)
"""


@pytest.mark.parametrize(
    ("url", "apply", "message"),
    [
        (
            "postgresql://postgres@127.0.0.1:1/test",
            "1",
            "cannot reach PostgreSQL at 127.0.0.1:1/test as 'postgres' (connection",
        ),
        ("postgresql://authgate_nobody@127.0.0.1:5432/test", "1", 'role "authgate_nobody" does not exist'),
        ("postgresql://postgres@127.0.0.1:5432/authgate_no_such_db", "1", "`createdb authgate_no_such_db`"),
        (PG + "?search_path=authgate_startup_none", "0", "has no authgate schema"),
    ],
    ids=["unreachable", "login-refused", "missing-database", "schema-missing"],
)
def test_app_start_up_failure_is_one_line_without_traceback(tmp_path: Path, url: str, apply: str, message: str) -> None:
    result = run_uvicorn(tmp_path, STARTUP_APP, {"DATABASE_URL": url, "AUTHGATE_SECRET": SECRET, "APPLY": apply})
    assert result.returncode != 0
    assert "authgate cannot start: " in result.stderr and message in result.stderr
    assert "Application startup failed" in result.stderr
    assert no_traceback(result), result.stderr


def test_demo_reports_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = authgate("demo", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"--port {port + 1}" in result.stderr
    assert "open http://" not in result.stderr  # no address printed for a server that never starts
    assert no_traceback(result)


# -- configuration mistakes caught when Auth is built -------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secret": None}, "secret is missing: generate one with `authgate secret` and pass it (AUTHGATE_SECRET)"),
        ({"secret": ""}, "secret must be at least 32 characters; generate one with `authgate secret`"),
        ({"secret": "short"}, "secret must be at least 32 characters; generate one with `authgate secret`"),
        (
            {"cookies": "samesite-none-insecure"},
            "SameSite=None cookies need Secure=True; browsers drop them otherwise",
        ),
        (
            {"accounts": "quiet-sign-up"},
            "AccountOptions(sign_up_conflict='email') sends email, but there is no email_sender: pass"
            " Auth(email_sender=SMTPSender(...)) (pip install 'authgate[mail]')",
        ),
        (
            {"mfa": "required"},
            "MFAOptions(required=True) (email codes for users without TOTP) sends email, but there is no email_sender",
        ),
    ],
    ids=[
        "secret-none",
        "secret-empty",
        "secret-short",
        "samesite-none",
        "quiet-sign-up-without-sender",
        "mfa-without-sender",
    ],
)
def test_configuration_mistakes_name_the_fix(options: dict[str, str | None], message: str) -> None:
    from authgate import AccountOptions, Auth, Configuration, CookieOptions, MFAOptions

    kwargs: dict[str, object] = {"secret": options["secret"] if "secret" in options else SECRET}
    if options.get("cookies"):
        kwargs["cookies"] = CookieOptions(session_same_site="none", secure=False)
    if options.get("accounts"):
        kwargs["accounts"] = AccountOptions(sign_up_conflict="email")
    if options.get("mfa"):
        kwargs["mfa"] = MFAOptions(required=True)
    with pytest.raises(Configuration) as raised:
        Auth(**kwargs)  # type: ignore[arg-type]
    assert message in raised.value.message


async def test_verification_mail_without_a_sender_names_the_fix() -> None:
    from authgate import Auth
    from authgate.stores import MemoryStore

    from .support import CLIENT, client_for

    auth = Auth(store=MemoryStore(), secret=SECRET, base_url="https://testserver")
    async with client_for(auth) as client:
        await client.post(
            "/api/auth/sign-up", json={"email": "a@example.com", "password": "long enough"}, headers=CLIENT
        )
        answer = await client.post("/api/auth/verify-email/send", json={}, headers=CLIENT)
    assert answer.json()["kind"] == "Configuration"
    assert "needs an email sender and Auth has none: pass Auth(email_sender=SMTPSender(...))" in answer.json()["error"]
    auth.hasher.close()


async def test_refused_origin_of_the_app_behind_a_proxy_logs_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    """The app is at https://app.example.com behind a TLS-terminating proxy, base_url unset: the
    request arrives as http://app.example.com, the browser's Origin is https://app.example.com."""
    import httpx

    from authgate import Auth
    from authgate.stores import MemoryStore

    auth = Auth(store=MemoryStore(), secret=SECRET)
    from .support import build_app

    transport = httpx.ASGITransport(app=build_app(auth))
    async with httpx.AsyncClient(transport=transport, base_url="http://app.example.com") as client:
        headers = {"X-Authgate-Client": "true", "Origin": "https://app.example.com"}
        with caplog.at_level("WARNING", logger="authgate"):
            answer = await client.post(
                "/api/auth/sign-up", json={"email": "a@example.com", "password": "long enough"}, headers=headers
            )
            evil = await client.post(
                "/api/auth/sign-up",
                json={"email": "b@example.com", "password": "long enough"},
                headers={**headers, "Origin": "https://evil.example"},
            )
    assert answer.status_code == 403 and answer.json()["kind"] == "ForbiddenOrigin"
    assert evil.status_code == 403
    warnings = [r.getMessage() for r in caplog.records if "refused a write" in r.getMessage()]
    assert warnings == [
        "authgate refused a write from origin https://app.example.com: the app's own origin is"
        " http://app.example.com, taken from the request (base_url is not set). If the app is served at"
        " https://app.example.com (e.g. behind a proxy that terminates TLS), set"
        " Auth(base_url='https://app.example.com'), or add it to trusted_origins"
    ]  # and nothing for a genuinely foreign origin
    auth.hasher.close()


async def test_unusable_provider_is_reported_at_start_up_and_refused_before_the_redirect(
    discovery: str, caplog: pytest.LogCaptureFixture
) -> None:
    from authgate import Auth
    from authgate.providers import OIDC
    from authgate.stores import MemoryStore

    from .support import client_for

    auth = Auth(store=MemoryStore(), secret=SECRET, providers=[OIDC(discovery, "id", "secret")])
    with caplog.at_level("ERROR", logger="authgate"):
        async with auth.lifespan(None):
            import asyncio

            for _ in range(100):
                if any("cannot be used" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.05)
            async with client_for(auth) as client:
                start = await client.get("/api/auth/signin/oidc")
    (logged,) = [r.getMessage() for r in caplog.records if "cannot be used" in r.getMessage()]
    assert "authgate provider 'oidc' cannot be used: OIDC provider 'oidc': discovery lists" in logged
    assert "authgate check" in logged
    assert start.status_code != 302 or discovery not in start.headers.get("location", "")  # never sent to the provider


async def test_store_without_migrations_refuses_an_old_schema_naming_the_versions(schema_name: str) -> None:
    from authgate._errors import DatabaseUnavailable
    from authgate.stores import PostgresStore

    assert authgate("migrate", "--database-url", PG, "--schema", schema_name).returncode == 0
    conn = await asyncpg.connect(PG, server_settings={"search_path": schema_name})
    await conn.execute("DELETE FROM authgate_schema_version WHERE version = $1", LATEST_VERSION)
    await conn.close()
    store = PostgresStore(PG, schema=schema_name, apply_schema=False)
    with pytest.raises(DatabaseUnavailable) as raised:
        await store.open()
    assert f"has authgate schema version {LATEST_VERSION - 1}; this authgate needs {LATEST_VERSION}" in (
        raised.value.detail
    )
    assert "Run `authgate migrate --database-url ...` (with the same --schema)" in raised.value.detail
    checked = authgate("check", "--database-url", PG, "--schema", schema_name, env={"AUTHGATE_SECRET": SECRET})
    assert f"is at version {LATEST_VERSION - 1}, needs {LATEST_VERSION}" in checked.stdout
    dry = authgate("migrate", "--database-url", PG, "--schema", schema_name, "--dry-run")
    assert [line for line in dry.stdout.splitlines() if line.startswith("would apply")] == [
        f"would apply {m.version} {m.name}" for m in MIGRATIONS["postgres"][-1:]
    ]


async def test_an_apps_own_users_table_is_named_with_the_schema_fix(tmp_path: Path, schema_name: str) -> None:
    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema_name}"')
        await conn.execute(f'CREATE TABLE "{schema_name}".users (id serial primary key, nickname text)')
    finally:
        await conn.close()
    result = authgate("migrate", "--database-url", PG, "--schema", schema_name)
    assert result.returncode == 1 and no_traceback(result)
    assert "migration 1 (" in result.stderr and "already exists here with other columns" in result.stderr
    assert "`authgate migrate --schema authgate` and PostgresStore(url, schema='authgate')" in result.stderr
    env = {"DATABASE_URL": PG + f"?search_path={schema_name}", "AUTHGATE_SECRET": SECRET, "APPLY": "1"}
    started = run_uvicorn(tmp_path, STARTUP_APP, env)
    assert "authgate cannot start: migration 1 (" in started.stderr and no_traceback(started), started.stderr


@pytest.mark.parametrize(
    ("construction", "message"),
    [
        ('Auth(secret="short")', "secret must be at least 32 characters; generate one with `authgate secret`"),
        (
            'Auth(secret=SECRET, cookies=CookieOptions(session_same_site="none", secure=False))',
            "SameSite=None cookies need Secure=True; browsers drop them otherwise",
        ),
    ],
    ids=["secret-short", "samesite-none"],
)
def test_configuration_mistake_at_import_is_one_line_under_uvicorn(
    tmp_path: Path, construction: str, message: str
) -> None:
    app = f"""
from starlette.applications import Starlette
from authgate import Auth, CookieOptions
SECRET = "{SECRET}"
auth = {construction}
app = Starlette()
"""
    result = run_uvicorn(tmp_path, app, {})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"authgate configuration error: {message}"
    assert no_traceback(result), result.stderr


@pytest.mark.parametrize("ids", [("credentials",), ("passkey",), ("email",), ("github", "github")])
def test_provider_ids_are_unique_and_not_a_built_in_method(ids: tuple[str, ...]) -> None:
    """/callback/credentials, /callback/passkey and /signin/email belong to the built-in methods: a
    provider by one of those ids would never be reached (or would take the method's place)."""
    from authgate import Auth, Configuration
    from authgate.providers import GitHub

    providers = [GitHub(client_id="id", client_secret="secret", id=provider_id) for provider_id in ids]
    with pytest.raises(Configuration, match="provider ids must be unique"):
        Auth(secret="s" * 40, providers=providers)
