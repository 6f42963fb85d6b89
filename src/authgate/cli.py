"""The `authgate` command: demo, schema, migrate, cleanup, secret, check.

Exit codes: 0 success; 1 the command ran and failed (a check found problems, the database refused
the login, has no such database or no schema, a misconfiguration); 2 usage error (bad or missing
arguments); 3 the database could not be reached. Failures print one line naming the cause and the
fix, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from ._check import CheckInput, load_app, run_check
from ._cli_db import DatabaseTarget, cleanup, migrate
from ._errors import AuthError, DatabaseUnavailable
from .schema import SCHEMA_SQL

__all__ = ["EXIT_FAILED", "EXIT_UNREACHABLE", "EXIT_USAGE", "main"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def _demo(args: argparse.Namespace) -> int:
    from ._demo import serve_demo

    return serve_demo(
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        access_ttl=args.access_ttl,
        refresh_ttl=args.refresh_ttl,
        rate_limits=args.rate_limits == "on",
        authjs_version=None if args.authjs == "off" else int(args.authjs),
    )


def _schema(args: argparse.Namespace) -> int:

    print(SCHEMA_SQL[args.dialect])
    return 0


def _migrate(args: argparse.Namespace) -> int:

    return asyncio.run(migrate(DatabaseTarget(args.database_url, args.schema), dry_run=args.dry_run, sql=args.sql))


def _cleanup(args: argparse.Namespace) -> int:

    return asyncio.run(cleanup(DatabaseTarget(args.database_url, args.schema), batch_size=args.batch_size))


def _secret(args: argparse.Namespace) -> int:
    print(secrets.token_urlsafe(48))
    return 0


def _check(args: argparse.Namespace) -> int:

    database = DatabaseTarget(args.database_url, args.schema) if args.database_url else None
    if args.app:
        auth = load_app(args.app)
        config = auth.config
        given = CheckInput(
            secret=config.secret,
            base_url=args.base_url or config.base_url or config.accounts.app_url,
            trusted_origins=config.trusted_origins,
            cookies=config.cookies,
            database=database,
            providers=list(auth.providers.values()),
            email_sender=auth.email_sender,
            test_email_to=args.send_test_email,
        )
    else:
        from ._demo import providers_from_env

        given = CheckInput(
            secret=os.environ.get("AUTHGATE_SECRET"),
            base_url=args.base_url,
            trusted_origins=tuple(args.trusted_origin),
            database=database,
            providers=providers_from_env(),
            test_email_to=args.send_test_email,
        )
    return asyncio.run(run_check(given))


def _database_arguments(command: argparse.ArgumentParser, *, required: bool) -> None:
    need = "" if required else " (optional here)"
    command.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help=f"postgresql://... or sqlite:///file.db; default $DATABASE_URL{need}",
    )
    command.add_argument(
        "--schema", default=None, help="PostgreSQL schema holding authgate's tables (default: the search_path)"
    )
    command.set_defaults(database_required=required)


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="authgate",
        description="authgate authentication toolkit",
        epilog="exit codes: 0 ok, 1 failed, 2 usage error, 3 database unreachable",
    )
    parser.add_argument("--version", action="version", version=f"authgate {_version()}")
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
    _database_arguments(migrate, required=True)
    migrate.add_argument("--dry-run", action="store_true", help="list the pending migrations, change nothing")
    migrate.add_argument("--sql", action="store_true", help="print the pending migrations' SQL, change nothing")
    migrate.set_defaults(run=_migrate)

    cleanup = commands.add_parser("cleanup", help="delete sessions whose refresh lifetime is over")
    _database_arguments(cleanup, required=True)
    cleanup.add_argument("--batch-size", type=int, default=1000, help="rows per delete (at least 1)")
    cleanup.set_defaults(run=_cleanup)

    secret = commands.add_parser("secret", help="print a new random secret for AUTHGATE_SECRET")
    secret.set_defaults(run=_secret)

    check = commands.add_parser("check", help="diagnose secret, base URL, cookies, database, providers and mail")
    check.add_argument("--app", default=None, help="module:attribute of your Auth object, e.g. app:auth")
    check.add_argument("--base-url", default=None, help="the public URL of the app, e.g. https://example.com")
    check.add_argument("--trusted-origin", action="append", default=[], help="another origin allowed to write")
    check.add_argument("--send-test-email", default=None, metavar="ADDRESS", help="send one test email (with --app)")
    _database_arguments(check, required=False)
    check.set_defaults(run=_check)
    named = {"demo": demo, "schema": schema, "migrate": migrate, "cleanup": cleanup, "secret": secret, "check": check}
    return parser, named


def _version() -> str:
    try:
        return version("authgate")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `authgate` command."""
    parser, commands = _parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error
    command = commands[args.command]
    if getattr(args, "database_required", False) and not args.database_url:
        command.error("--database-url is required (or set DATABASE_URL)")
    if getattr(args, "batch_size", 1) < 1:
        command.error(f"--batch-size must be at least 1, not {args.batch_size}")
    if getattr(args, "schema", None) and args.database_url and not args.database_url.lower().startswith("postgres"):
        command.error("--schema applies to PostgreSQL databases only")

    try:
        code: int = args.run(args)
    except DatabaseUnavailable as error:
        print(f"authgate {args.command}: {error.detail}", file=sys.stderr)
        return EXIT_FAILED if error.reachable else EXIT_UNREACHABLE
    except AuthError as error:  # Configuration, MissingExtra (a missing optional package) included
        print(f"authgate {args.command}: {error.message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
