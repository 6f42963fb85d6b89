"""The `authgate` command, run as a user runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from authgate.cli import main

AUTHGATE = [sys.executable, "-m", "authgate.cli"]


def test_secret_prints_a_fresh_long_secret(capsys: object) -> None:
    assert main(["secret"]) == 0
    first = capsys.readouterr().out.strip()  # type: ignore[attr-defined]
    main(["secret"])
    second = capsys.readouterr().out.strip()  # type: ignore[attr-defined]
    assert len(first) >= 64 and first != second


def test_schema_prints_sql_for_each_dialect(capsys: object) -> None:
    for dialect in ("postgres", "sqlite"):
        assert main(["schema", "--dialect", dialect]) == 0
        sql = capsys.readouterr().out  # type: ignore[attr-defined]
        assert "CREATE TABLE IF NOT EXISTS users" in sql and "CREATE TABLE IF NOT EXISTS sessions" in sql
        assert "idx_sessions_refresh_expires_at" in sql


def test_check_reports_missing_secret(capsys: object, monkeypatch: object) -> None:
    monkeypatch.delenv("AUTHGATE_SECRET", raising=False)  # type: ignore[attr-defined]
    assert main(["check", "--base-url", "http://example.com"]) == 1
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "AUTHGATE_SECRET" in out and "plain HTTP" in out


def test_migrate_and_cleanup_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert main(["migrate", "--database-url", url]) == 0
    assert main(["cleanup", "--database-url", url]) == 0


def test_migrate_with_unreachable_database_fails_cleanly(capsys: object) -> None:
    assert main(["migrate", "--database-url", "postgresql://postgres@127.0.0.1:1/test"]) == 3
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in capsys.readouterr().err  # type: ignore[attr-defined]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_serves_routes_page_and_protected_route(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "AUTHGATE_SECRET"}
    process = subprocess.Popen(
        [*AUTHGATE, "demo", "--port", str(port), "--database-url", f"sqlite:///{tmp_path}/demo.db"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,  # the demo keeps its secret in a file in the working directory
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/api/auth/session", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=base) as client:
            assert client.get("/api/auth/session").status_code == 401
            assert "<html" in client.get("/").text.lower()
            headers = {"X-Authgate-Client": "true"}
            signed_up = client.post(
                "/api/auth/sign-up", json={"email": "demo@example.com", "password": "demo password"}, headers=headers
            )
            assert signed_up.status_code == 200
            assert "Secure" not in signed_up.headers["set-cookie"]  # loopback HTTP demo only
            assert client.get("/api/private", headers=headers).text == "hello demo@example.com"
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "AUTHGATE_SECRET is not set; created authgate-demo.secret" in err
    assert (tmp_path / "authgate-demo.secret").stat().st_mode & 0o077 == 0  # readable by its owner only
    assert "NOT marked Secure" in err
