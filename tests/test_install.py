"""Optional dependencies: without an extra's package, core authgate still imports and runs, and the
feature that needs it fails with an error naming `pip install 'authgate[EXTRA]'`, never a bare
ModuleNotFoundError. Each case runs in a subprocess where the package is blocked from importing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")
OPTIONAL = ["asyncpg", "redis", "pyotp", "segno", "webauthn", "aiosmtplib", "httpx", "fastapi", "litestar", "uvicorn"]


def run_blocked(blocked: list[str], code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `code` with `blocked` packages unimportable (None in sys.modules makes `import` fail
    with ModuleNotFoundError, exactly as when the package is not installed)."""
    prelude = f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )


def test_core_runs_with_every_optional_package_missing() -> None:
    result = run_blocked(
        OPTIONAL,
        """
        import asyncio
        from starlette.applications import Starlette
        from starlette.routing import Mount
        from authgate import Auth, RequireAuth
        from authgate.mail import ConsoleSender
        from authgate.providers import OIDC
        from authgate.stores import MemoryStore, SQLiteStore

        auth = Auth(store=MemoryStore(), secret="s" * 40)
        app = Starlette(routes=[Mount("/api/auth", app=auth.asgi_app)])

        async def main() -> None:
            result = await auth.sign_up("ann@example.com", "correct horse battery")
            assert result.tokens is not None
            found = await auth.get_session(result.tokens.access_token)
            assert found is not None
            print("signed up", found.user.email)

        asyncio.run(main())
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "signed up ann@example.com" in result.stdout


CASES = {
    "postgres": (["asyncpg"], "from authgate.stores import PostgresStore"),
    "redis": (["redis"], "from authgate.stores import RedisStore"),
    "passkeys": (["webauthn"], "from authgate import Auth; Auth(secret='s' * 40).passkeys"),
    "mail": (["aiosmtplib"], "from authgate.mail import SMTPSender; SMTPSender(sender='a@example.com')"),
    "oauth": (["httpx"], "from authgate.providers import GitHub; GitHub(client_id='a', client_secret='b')"),
    "fastapi": (["fastapi"], "from authgate import Auth; Auth(secret='s' * 40).current_user"),
    "litestar": (["litestar"], "from authgate.integrations.litestar import AuthGatePlugin"),
    "mfa": (["pyotp"], "from authgate.mfa._totp import new_secret; new_secret()"),
}


@pytest.mark.parametrize("extra", sorted(CASES))
def test_missing_extra_names_the_pip_install(extra: str) -> None:
    blocked, code = CASES[extra]
    result = run_blocked(blocked, code)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("authgate._optional.MissingExtra: "), result.stderr
    assert f"pip install 'authgate[{extra}]'" in last
    if extra == "postgres":  # the README's example, word for word
        assert last.endswith("PostgresStore: the 'asyncpg' package is not installed; pip install 'authgate[postgres]'")
    assert "ModuleNotFoundError" not in result.stderr  # raised `from None`: one error, not a chain


def test_missing_extra_is_an_import_error_and_a_configuration_error() -> None:
    result = run_blocked(
        ["asyncpg"],
        """
        from authgate import Configuration
        try:
            from authgate.stores import PostgresStore
        except ImportError as error:
            assert isinstance(error, Configuration), type(error)
            print("caught:", error)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'authgate[postgres]'" in result.stdout


def test_totp_route_without_the_mfa_extra_answers_json_naming_it() -> None:
    result = run_blocked(
        ["pyotp", "segno"],
        """
        import asyncio, json
        import httpx
        from authgate import Auth
        from authgate.stores import MemoryStore
        from tests.support import client_for, CLIENT

        async def main() -> None:
            auth = Auth(store=MemoryStore(), secret="s" * 40)
            async with client_for(auth) as client:
                body = {"email": "ann@example.com", "password": "correct horse battery"}
                await client.post("/api/auth/sign-up", json=body, headers=CLIENT)
                answer = await client.post("/api/auth/mfa/totp/enroll", json={}, headers=CLIENT)
                print(answer.status_code, json.dumps(answer.json()))

        asyncio.run(main())
        """,
    )
    assert result.returncode == 0, result.stderr
    status, _, body = result.stdout.strip().partition(" ")
    assert status == "500"
    assert '"kind": "Configuration"' in body and "pip install 'authgate[mfa]'" in body


def test_demo_without_uvicorn_says_which_extra() -> None:
    result = run_blocked(["uvicorn"], "import sys; from authgate.cli import main; sys.exit(main(sys.argv[1:]))", "demo")
    assert result.returncode == 1
    assert "pip install 'authgate[demo]'" in result.stderr
    assert "Traceback" not in result.stderr
