"""A start-up failure a newcomer can fix (database down, wrong password, schema missing) is one log
line naming the cause and the fix, not a 60-line traceback with the cause in the middle."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from ._errors import AuthError, Configuration

__all__ = ["StartupFailed", "check_providers", "plain_configuration_errors", "report_startup_failure"]

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("authgate")


class StartupFailed(RuntimeError):
    """Raised out of `auth.lifespan` when the app cannot start; the message is the whole story."""


class _DropStartupTraceback(logging.Filter):
    """uvicorn logs the traceback Starlette formats for a failed lifespan; for StartupFailed the
    line authgate already logged says everything, so that record is dropped (once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if message.startswith("Traceback") and StartupFailed.__name__ in message:
            logging.getLogger("uvicorn.error").removeFilter(self)
            return False
        return True


def report_startup_failure(detail: str) -> StartupFailed:
    """Log `detail` once and return the exception for the lifespan to raise."""
    logger.error("authgate cannot start: %s", detail)
    logging.getLogger("uvicorn.error").addFilter(_DropStartupTraceback())
    return StartupFailed(detail)


async def check_providers(providers: Iterable[Any]) -> None:
    """Fetch each OIDC provider's discovery document once at start-up (in the background, so a slow
    provider never delays start-up) and log, naming the fix, any provider that cannot work."""
    checked = [provider for provider in providers if callable(getattr(provider, "check", None))]
    results = await asyncio.gather(*(provider.check() for provider in checked), return_exceptions=True)
    for provider, result in zip(checked, results, strict=True):
        if isinstance(result, AuthError):
            logger.error(
                "authgate provider %r cannot be used: %s. Sign-in with it fails until this is fixed; run"
                " `authgate check --app module:auth` to see every setting",
                provider.id,
                result.message,
            )
        elif isinstance(result, BaseException):
            logger.error("authgate provider %r check failed: %r", provider.id, result)


def plain_configuration_errors(function: Callable[P, R]) -> Callable[P, R]:
    """For `Auth(...)`: a Configuration error it raises while the app module is imported (a short
    secret, SameSite=None without Secure) ends the process, if nobody catches it, with one line
    naming the fix instead of a traceback (`uvicorn app:app` lets import errors through to
    `sys.excepthook`). Every other exception keeps the usual traceback."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except Configuration:
            _install_plain_excepthook()
            raise

    return wrapper


def _install_plain_excepthook() -> None:
    previous = sys.excepthook
    if getattr(previous, "_authgate", False):
        return

    def excepthook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        if isinstance(error, Configuration):
            print(f"authgate configuration error: {error.message}", file=sys.stderr)
            return
        previous(kind, error, trace)

    excepthook._authgate = True  # type: ignore[attr-defined]
    sys.excepthook = excepthook
