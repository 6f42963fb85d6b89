"""`authgate check`: one diagnostic for a deployment. Each line is `ok` or `problem` with the fix;
the exit code is non-zero when any line is a problem.

It checks an app's real configuration when given `--app module:attribute` (an `Auth` object), and
otherwise what the command line and the environment say (AUTHGATE_SECRET, DATABASE_URL, the same
GITHUB_/GOOGLE_/OIDC_ variables as the demo)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._auth import Auth
from ._cli_db import DatabaseTarget, probe
from ._config import CookieOptions, normalize_origin
from ._errors import AuthError, Configuration, DatabaseUnavailable
from .mail import EmailMessage
from .schema import LATEST_VERSION

if TYPE_CHECKING:
    from ._auth import Auth
    from .mail import EmailSender
    from .providers import OAuthProvider

__all__ = ["CheckInput", "load_app", "run_check"]

_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")


@dataclass
class CheckInput:
    """What to check, from `--app` or from flags and the environment."""

    secret: str | Sequence[str] | None
    base_url: str | None
    trusted_origins: tuple[str, ...] = ()
    cookies: CookieOptions = field(default_factory=CookieOptions)
    database: DatabaseTarget | None = None
    providers: Sequence[OAuthProvider] = ()
    email_sender: EmailSender | None = None
    test_email_to: str | None = None


class Report:
    def __init__(self) -> None:
        self.problems = 0

    def ok(self, topic: str, text: str) -> None:
        print(f"ok       {topic}: {text}")

    def problem(self, topic: str, text: str, fix: str) -> None:
        self.problems += 1
        print(f"problem  {topic}: {text}\n         fix: {fix}")


def load_app(spec: str) -> Auth:
    """`module:attribute` naming an Auth object (imported from the current directory)."""

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise Configuration(f"--app takes module:attribute (e.g. app:auth), not {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise Configuration(f"--app: cannot import {module_name!r}: {error}") from None
    found = getattr(module, attribute, None)
    if not isinstance(found, Auth):
        raise Configuration(f"--app: {spec} is not an authgate Auth object")
    return found


async def run_check(given: CheckInput) -> int:
    report = Report()
    _check_secret(report, given.secret)
    own = _check_base_url(report, given)
    _check_cookies(report, given.cookies, own)
    _check_origins(report, given.trusted_origins)
    await _check_database(report, given.database)
    await _check_providers(report, given.providers)
    await _check_mail(report, given.email_sender, given.test_email_to)
    print(f"authgate check: {report.problems} problem(s)" if report.problems else "authgate check: all ok")
    return 1 if report.problems else 0


def _check_secret(report: Report, secret: str | Sequence[str] | None) -> None:
    fix = "set AUTHGATE_SECRET=$(authgate secret) once and keep it across restarts and instances"
    secrets = [secret] if isinstance(secret, str) else list(secret or [])
    if not secrets or not secrets[0]:
        report.problem("secret", "AUTHGATE_SECRET is not set", fix)
    elif any(len(value) < 32 for value in secrets):
        report.problem("secret", "shorter than 32 characters", fix)
    else:
        report.ok(
            "secret",
            f"set ({len(secrets)} key(s)); keep it stable: sessions in JWT mode, CSRF tokens and TOTP secrets"
            " are bound to it",
        )


def _check_base_url(report: Report, given: CheckInput) -> str | None:
    if given.base_url is None:
        report.problem(
            "base URL",
            "not set: the app's origin is then read from each request's Host and scheme; behind a proxy that"
            " terminates TLS that is http://<internal host>, so every browser write gets 403 ForbiddenOrigin",
            "Auth(base_url='https://your.site') (or --base-url for this check); a proxy on another origin goes in"
            " trusted_origins",
        )
        return None
    origin = normalize_origin(given.base_url)
    if origin is None:
        report.problem("base URL", f"{given.base_url!r} is not an http(s) URL", "use scheme://host[:port]")
        return None
    host = origin.split("://", 1)[1].rsplit(":", 1)[0] if origin.count(":") > 1 else origin.split("://", 1)[1]
    if origin.startswith("http://") and host not in _LOOPBACK and given.cookies.secure:
        report.problem(
            "base URL",
            f"{origin} is plain HTTP on a non-loopback host: browsers drop Secure cookies there",
            "serve the app over HTTPS (base_url='https://...')",
        )
        return origin
    report.ok("base URL", f"{origin} (browser writes must come from this origin or a trusted one)")
    return origin


def _check_cookies(report: Report, cookies: CookieOptions, origin: str | None) -> None:
    same_sites = f"session SameSite={cookies.session_same_site}, refresh SameSite={cookies.refresh_same_site}"
    if "none" in (cookies.session_same_site, cookies.refresh_same_site) and not cookies.secure:
        report.problem("cookies", f"{same_sites} without Secure: browsers drop them", "CookieOptions(secure=True)")
    elif not cookies.secure and origin is not None and origin.startswith("https://"):
        report.problem("cookies", "Secure is off on an HTTPS site", "CookieOptions(secure=True) (the default)")
    else:
        report.ok("cookies", f"{cookies.session_cookie}, Secure={cookies.secure}, HttpOnly, {same_sites}")


def _check_origins(report: Report, origins: Sequence[str]) -> None:
    bad = [origin for origin in origins if normalize_origin(origin) != origin]
    if bad:
        report.problem("trusted origins", f"{bad!r} are not exact origins", "write each as scheme://host[:port]")
    else:
        report.ok("trusted origins", ", ".join(origins) if origins else "none (only the base URL's origin)")


async def _check_database(report: Report, target: DatabaseTarget | None) -> None:
    if target is None:
        report.ok("database", "not checked (pass --database-url or set DATABASE_URL)")
        return
    try:
        version = await probe(target)
    except DatabaseUnavailable as error:
        cause, _, fix = error.detail.partition(". ")
        report.problem("database", cause, fix or "see above")
        return
    except AuthError as error:
        report.problem("database", error.message, "fix the database URL")
        return
    migrate = "authgate migrate --database-url ..." + (f" --schema {target.schema}" if target.schema else "")
    if version is None:
        report.problem("database", f"{target.describe()} is reachable but has no authgate schema", migrate)
    elif version < LATEST_VERSION:
        report.problem("database", f"{target.describe()} is at version {version}, needs {LATEST_VERSION}", migrate)
    else:
        report.ok("database", f"{target.describe()}: schema version {version} (current)")


async def _check_providers(report: Report, providers: Sequence[OAuthProvider]) -> None:
    if not providers:
        report.ok("providers", "none configured")
    for provider in providers:
        check = getattr(provider, "check", None)
        if check is None:
            report.ok(f"provider {provider.id}", "configured (no discovery document to fetch)")
            continue
        try:
            summary = await check()
        except AuthError as error:
            report.problem(
                f"provider {provider.id}",
                error.message,
                "check the issuer URL and that this machine can reach it; a wrong issuer fails every sign-in",
            )
        else:
            report.ok(f"provider {provider.id}", str(summary))


async def _check_mail(report: Report, sender: EmailSender | None, test_to: str | None) -> None:
    if sender is None:
        report.ok("mail", "no email sender: verification, password reset and email codes are unavailable")
        return
    if test_to is None:
        report.ok("mail", f"{sender!r} (add --send-test-email ADDRESS to send one)")
        return

    message = EmailMessage(to=test_to, subject="authgate check", text="This is a test message from authgate check.")
    try:
        await sender.send(message)
    except AuthError as error:
        report.problem("mail", f"{sender!r}: {error.message}", "check the SMTP host, port, TLS and login")
    else:
        report.ok("mail", f"test message sent to {test_to} through {sender!r}")
