"""Install authgate as a user would and run the README's quick starts against it.

Builds the wheel and sdist, installs the wheel with each documented extra into a fresh venv (pip's
cache makes repeat runs quick), checks that each extra brings its feature and that a missing one is
reported by name, then runs every README quick start (Starlette, FastAPI, Litestar) under uvicorn
with the README's own install line and code, and makes real HTTP requests: sign up, then the
protected route. Needs Postgres (AUTHGATE_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test).

    python scripts/check_install.py [--keep]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("AUTHGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")

# extra -> code that must run once it is installed (and, for the bare install, must fail by name)
EXTRAS: dict[str, str] = {
    "": "import authgate, authgate.stores, authgate.mfa, authgate.providers; from authgate.stores import SQLiteStore",
    "postgres": "from authgate.stores import PostgresStore",
    "redis": "from authgate.stores import RedisStore",
    "mfa": "from authgate.mfa._totp import new_secret, qr_svg_data_uri; qr_svg_data_uri('otpauth://x'); new_secret()",
    "passkeys": "import authgate._passkeys",
    "mail": "from authgate.mail import SMTPSender; SMTPSender(sender='a@example.com')",
    "oauth": "from authgate.providers import GitHub; GitHub(client_id='a', client_secret='b')",
    "fastapi": "from authgate.integrations.fastapi import install",
    "litestar": "from authgate.integrations.litestar import AuthGatePlugin",
    "demo": "import uvicorn, authgate._passkeys; from authgate.mfa._totp import new_secret; new_secret()",
    "all": "from authgate.stores import PostgresStore, RedisStore; import authgate._passkeys, uvicorn, litestar",
}


def log(message: str) -> None:
    print(f"[check-install] {message}", flush=True)


def fail(message: str) -> NoReturn:
    fail(f"{message}")


def pg_execute(statement: str) -> None:
    """One statement on the test server, through this interpreter's asyncpg."""
    import asyncio

    import asyncpg

    async def execute() -> None:
        conn = await asyncpg.connect(PG)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(execute())


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        fail(f"failed: {' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def venv(path: Path, *requirements: str) -> Path:
    """A fresh venv without pip of its own; this interpreter's pip installs into it (shared cache)."""
    run(sys.executable, "-m", "venv", "--without-pip", path)
    python = path / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--disable-pip-version-check")
    run(*pip, *requirements)
    return python


def check_extra(tmp: Path, wheel: Path, extra: str) -> str:
    started = time.monotonic()
    python = venv(tmp / f"venv-{extra or 'core'}", f"{wheel}[{extra}]" if extra else str(wheel))
    run(python, "-c", EXTRAS[extra])
    if extra == "":
        # The bare install names the extra for every optional feature instead of a bare ModuleNotFoundError.
        for name, code in EXTRAS.items():
            if name in ("", "all", "demo"):
                continue
            probe = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
            if probe.returncode == 0 or f"pip install 'authgate[{name}]'" not in probe.stderr:
                fail(f"core install: {code!r} did not name the {name} extra:\n{probe.stderr}")
        demo = subprocess.run([python.parent / "authgate", "demo"], capture_output=True, text=True, timeout=60)
        if demo.returncode != 1 or "pip install 'authgate[demo]'" not in demo.stderr or "Traceback" in demo.stderr:
            fail(f"core install: `authgate demo` did not name the demo extra:\n{demo.stderr}")
    return f"{extra or 'core'} ({time.monotonic() - started:.0f}s)"


def readme_quick_starts() -> dict[str, tuple[str, str]]:
    """name -> (pip install line, python code), from the blocks after each `<!-- check-install: NAME -->`."""
    text = (ROOT / "README.md").read_text()
    found: dict[str, tuple[str, str]] = {}
    for match in re.finditer(r"<!-- check-install: (\w+) -->", text):
        rest = text[match.end() :]
        install = re.search(r"```sh\n(pip install [^\n]+)\n```", rest)
        code = re.search(r"```python\n(.*?)```", rest, re.S)
        if install is None or code is None:
            fail(f"README quick start {match.group(1)!r} lacks a pip line or code")
        found[match.group(1)] = (install.group(1), code.group(1))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(
    url: str, *, method: str = "GET", body: object = None, headers: dict[str, str]
) -> tuple[int, str, list[str]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:  # loopback only
            return answer.status, answer.read().decode(), answer.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), []


def quick_start(tmp: Path, wheel: Path, name: str, install: str, code: str, protected: str) -> str:
    started = time.monotonic()
    requirements = [
        re.sub(r"^'?authgate(\[[^\]]*\])?'?$", lambda m: f"{wheel}{m.group(1) or ''}", arg)
        for arg in install.split()[2:]
    ]
    if str(wheel) not in " ".join(requirements):
        fail(f"README {name}: the install line does not install authgate: {install}")
    work = tmp / f"quickstart-{name}"
    work.mkdir()
    python = venv(work / "venv", *requirements)
    (work / "app.py").write_text(code)
    bin_dir = python.parent
    secret = run(bin_dir / "authgate", "secret").strip()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AUTHGATE_SECRET": secret}
    database = None
    if "DATABASE_URL" in code:
        database = f"authgate_qs_{uuid.uuid4().hex[:10]}"
        pg_execute(f"CREATE DATABASE {database}")
        env["DATABASE_URL"] = PG.rsplit("/", 1)[0] + "/" + database
    port = free_port()
    server = subprocess.Popen(
        [bin_dir / "uvicorn", "app:app", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, _ = request(f"{base}/api/auth/session", headers={})
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    fail(f"{name}: uvicorn did not start")
                time.sleep(0.2)
        client = {"X-Authgate-Client": "true"}
        status, body, _ = request(base + protected, headers=client)
        if status != 401 or json.loads(body).get("kind") != "Unauthenticated":
            fail(f"{name}: anonymous {protected} answered {status} {body}")
        email = f"{name}@example.com"
        status, body, cookies = request(
            f"{base}/api/auth/sign-up",
            method="POST",
            body={"email": email, "password": "correct horse battery"},
            headers=client,
        )
        if status != 200:
            fail(f"{name}: sign-up answered {status} {body}")
        # The cookies are Secure; a browser would send them back over HTTPS. Here we send them by hand.
        jar = "; ".join(cookie.split(";", 1)[0] for cookie in cookies)
        status, body, _ = request(base + protected, headers={**client, "Cookie": jar})
        if status != 200 or email not in body:
            fail(f"{name}: signed-in {protected} answered {status} {body}")
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=15)
        if database is not None:
            pg_execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    if "Traceback" in output:
        fail(f"{name}: the server printed a traceback:\n{output}")
    return f"{name} ({time.monotonic() - started:.0f}s)"


PROTECTED = {"starlette": "/api/private", "fastapi": "/api/me", "litestar": "/api/me"}


def main() -> int:
    keep = "--keep" in sys.argv
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="authgate-install-"))
    try:
        dist = tmp / "dist"
        log("building sdist and wheel")
        run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
        (wheel,) = dist.glob("authgate-*.whl")
        (sdist,) = dist.glob("authgate-*.tar.gz")
        listing = run("tar", "tzf", sdist)
        for needed in ("LICENSE", "README.md", "src/authgate/py.typed"):
            if needed not in listing:
                fail(f"the sdist lacks {needed}")
        starts = readme_quick_starts()
        if sorted(starts) != sorted(PROTECTED):
            fail(f"README quick starts found: {sorted(starts)}; expected {sorted(PROTECTED)}")
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [pool.submit(check_extra, tmp, wheel, extra) for extra in EXTRAS]
            jobs += [
                pool.submit(quick_start, tmp, wheel, name, install, code, PROTECTED[name])
                for name, (install, code) in starts.items()
            ]
            done = [job.result() for job in jobs]
        log("extras: " + ", ".join(done[: len(EXTRAS)]))
        log("README quick starts (sign-up, then the protected route): " + ", ".join(done[len(EXTRAS) :]))
        log(f"ok in {time.monotonic() - started:.0f}s")
        return 0
    finally:
        if keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
