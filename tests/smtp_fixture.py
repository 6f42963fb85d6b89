"""A real SMTP server for tests: aiosmtpd's `Controller` on a free loopback port, in its own thread,
keeping every message it receives.

Use it from a test module (or list this module in `pytest_plugins`):

    from . import smtp_fixture
    from .smtp_fixture import SMTPServer

    smtp_server = smtp_fixture.smtp_server  # the fixture: aiosmtpd on a free port, one per test

    async def test_something(smtp_server: SMTPServer) -> None:
        sender = SMTPSender(smtp_server.host, smtp_server.port, sender="auth@example.test")
        await sender.send(verification_message("ada@example.test", "https://app.test/verify?t=x"))
        (received,) = await smtp_server.wait_for(1)

If the server cannot start, every test using the fixture fails and says why: never skipped.
"""

from __future__ import annotations

import asyncio
import email.message
import email.policy
import socket
import threading
from collections.abc import Callable, Iterator
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["SMTPServer", "free_port", "smtp_server"]

_HOST = "127.0.0.1"
_START_ATTEMPTS = 5


class _Collector:
    """aiosmtpd handler: parse and keep each message (runs on the server's thread)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.lock = threading.Lock()
        self.listeners: list[Callable[[], None]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        parsed = BytesParser(policy=email.policy.default).parsebytes(content)
        assert isinstance(parsed, email.message.EmailMessage)
        with self.lock:
            self.envelopes.append(envelope)
            self.messages.append(parsed)
            for notify in self.listeners:
                notify()
        return "250 Message accepted for delivery"


class SMTPServer:
    """The running server: where it listens and what it has received so far."""

    def __init__(self, host: str, port: int, collector: _Collector) -> None:
        self.host = host
        self.port = port
        self._collector = collector

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        """Messages received so far, parsed with the modern `email.policy.default`."""
        return self._collector.messages

    @property
    def envelopes(self) -> list[Envelope]:
        """SMTP envelopes (MAIL FROM, RCPT TO) of the messages received so far."""
        return self._collector.envelopes

    async def wait_for(self, n: int, timeout: float = 5) -> list[email.message.EmailMessage]:  # noqa: ASYNC109
        """Wait until at least `n` messages arrived (the server runs on another thread) and
        return them; fail the test if they do not arrive within `timeout` seconds."""
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()

        def notify() -> None:
            loop.call_soon_threadsafe(arrived.set)

        with self._collector.lock:
            self._collector.listeners.append(notify)
        try:
            async with asyncio.timeout(timeout):
                # A message is appended before its listeners run, so re-checking the count after
                # clearing the event never misses one.
                while len(self._collector.messages) < n:
                    await arrived.wait()
                    arrived.clear()
        except TimeoutError:
            pytest.fail(f"SMTP test server: expected {n} message(s) within {timeout}s, got {len(self.messages)}")
        finally:
            with self._collector.lock:
                self._collector.listeners.remove(notify)
        return list(self._collector.messages)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (also handy as an "SMTP server down" address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real aiosmtpd server on a free loopback port for one test."""
    collector = _Collector()
    errors: list[str] = []
    controller: Controller | None = None
    # The free port is found by binding and closing, so another process may take it first: retry.
    port = 0
    for _ in range(_START_ATTEMPTS):
        candidate: Controller | None = None
        try:
            port = free_port()
            candidate = Controller(collector, hostname=_HOST, port=port, ready_timeout=10.0)
            candidate.start()
        except Exception as error:
            errors.append(f"port {port}: {error!r}")
            if candidate is not None:
                _stop_quietly(candidate)
            continue
        controller = candidate
        break
    if controller is None:
        pytest.fail(f"aiosmtpd SMTP test server could not start on {_HOST}: {'; '.join(errors)}")
    try:
        yield SMTPServer(_HOST, port, collector)
    finally:
        controller.stop()


def _stop_quietly(controller: Any) -> None:
    try:
        controller.stop()
    except (AssertionError, RuntimeError, OSError):
        pass  # never started: nothing to stop
