"""A start-up failure a newcomer can fix (database down, wrong password, schema missing) is one log
line naming the cause and the fix, not a 60-line traceback with the cause in the middle."""

from __future__ import annotations

import logging

__all__ = ["StartupFailed", "report_startup_failure"]

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
