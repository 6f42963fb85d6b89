"""The `authgate` command: demo, schema, migrate, cleanup, secret, check."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
from collections.abc import Sequence

__all__ = ["main"]

logger = logging.getLogger("authgate.cli")


def _demo(args: argparse.Namespace) -> int:
    from ._optional import require

    uvicorn = require("demo")
    from ._demo import build_demo_app, demo_origin, is_loopback_host, providers_from_env

    secret = os.environ.get("AUTHGATE_SECRET")
    if not secret:
        secret = secrets.token_urlsafe(48)
        print("authgate demo: AUTHGATE_SECRET is not set; using a random secret for this run", file=sys.stderr)
    secure = not is_loopback_host(args.host)
    if not secure:
        print(
            "authgate demo: serving plain HTTP on loopback, so cookies are NOT marked Secure; "
            "never do this on a public address",
            file=sys.stderr,
        )
    else:
        print(
            f"authgate demo: {args.host} is not loopback; cookies are Secure, so browsers only keep them over HTTPS",
            file=sys.stderr,
        )
    origin = demo_origin(args.host, args.port)
    providers = providers_from_env()
    app, _ = build_demo_app(
        database_url=args.database_url,
        secret=secret,
        secure_cookies=secure,
        access_ttl=args.access_ttl,
        refresh_ttl=args.refresh_ttl,
        app_url=origin,
        rate_limits=args.rate_limits == "on",
        providers=providers,
        authjs_version=None if args.authjs == "off" else int(args.authjs),
    )
    names = ", ".join(p.name for p in providers) or "none (set GITHUB_/GOOGLE_/OIDC_ variables to add some)"
    print(f"authgate demo: providers: {names}; emails are printed here", file=sys.stderr)
    if args.rate_limits == "off":
        print("authgate demo: rate limits are OFF", file=sys.stderr)
    page = origin
    print(f"authgate demo: {page}/ (database {args.database_url})", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from .schema import SCHEMA_SQL

    print(SCHEMA_SQL[args.dialect])
    return 0


def _open_store(url: str) -> object:
    from .stores import store_from_url

    return store_from_url(url)


def _migrate(args: argparse.Namespace) -> int:
    from .stores import store_from_url

    async def run() -> None:
        store = store_from_url(args.database_url)
        await store.open()  # applies every pending migration, including taking over AuthInGo tables
        await store.close()

    asyncio.run(run())
    print("authgate migrate: schema is up to date", file=sys.stderr)
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from ._config import utc_now
    from .stores import store_from_url

    async def run() -> int:
        store = store_from_url(args.database_url)
        await store.open()
        try:
            total = 0
            while True:
                deleted = await store.delete_expired_sessions(now=utc_now(), limit=args.batch_size)
                total += deleted
                if deleted < args.batch_size:
                    return total
        finally:
            await store.close()

    print(f"authgate cleanup: deleted {asyncio.run(run())} expired sessions", file=sys.stderr)
    return 0


def _secret(args: argparse.Namespace) -> int:
    print(secrets.token_urlsafe(48))
    return 0


def _check(args: argparse.Namespace) -> int:
    from ._config import normalize_origin
    from ._demo import is_loopback_host

    problems: list[str] = []
    secret = os.environ.get("AUTHGATE_SECRET", "")
    if len(secret) < 32:
        problems.append("AUTHGATE_SECRET is unset or shorter than 32 characters (run `authgate secret`)")
    origin = normalize_origin(args.base_url) if args.base_url else None
    if args.base_url and origin is None:
        problems.append(f"--base-url {args.base_url!r} is not an http(s) URL")
    if origin and origin.startswith("http://"):
        host = origin.removeprefix("http://").rsplit(":", 1)[0].strip("[]")
        if not is_loopback_host(host):
            problems.append("base URL is plain HTTP on a non-loopback host: Secure cookies will be dropped")
    for line in problems:
        print(f"problem: {line}")
    if not problems:
        print("ok: secret set, base URL consistent with Secure cookies")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `authgate` command."""
    parser = argparse.ArgumentParser(prog="authgate", description="authgate authentication toolkit")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="serve the demo app with auth routes and a test page")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--database-url", default="sqlite:///authgate-demo.db")
    demo.add_argument("--access-ttl", type=int, default=None, help="access token lifetime in seconds")
    demo.add_argument("--refresh-ttl", type=int, default=None, help="refresh token lifetime in seconds")
    demo.add_argument(
        "--rate-limits", choices=["on", "off"], default="on", help="sign-in/sign-up/OTP limits, counted in memory"
    )
    demo.add_argument(
        "--authjs",
        choices=["off", "4", "5"],
        default="off",
        help="answer the unmodified Auth.js client (next-auth/react v4 or v5) on /session and /_log",
    )
    demo.set_defaults(run=_demo)

    schema = commands.add_parser("schema", help="print the SQL schema")
    schema.add_argument("--dialect", choices=["postgres", "sqlite"], default="postgres")
    schema.set_defaults(run=_schema)

    migrate = commands.add_parser("migrate", help="apply pending migrations (also takes over AuthInGo tables)")
    migrate.add_argument("--database-url", required=True)
    migrate.set_defaults(run=_migrate)

    cleanup = commands.add_parser("cleanup", help="delete sessions whose refresh lifetime is over")
    cleanup.add_argument("--database-url", required=True)
    cleanup.add_argument("--batch-size", type=int, default=1000)
    cleanup.set_defaults(run=_cleanup)

    secret = commands.add_parser("secret", help="print a new random secret for AUTHGATE_SECRET")
    secret.set_defaults(run=_secret)

    check = commands.add_parser("check", help="diagnose secret and base URL settings")
    check.add_argument("--base-url", default=None)
    check.set_defaults(run=_check)

    args = parser.parse_args(argv)
    from ._errors import AuthError

    try:
        code: int = args.run(args)
    except AuthError as error:
        print(f"authgate {args.command}: {error.message}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
