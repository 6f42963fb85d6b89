"""`AuthContext`: what every flow shares (configuration, store, password hasher, rate limiter,
mailer, audit log, background work), built once by the engine and passed down.

The flows (sessions, sign-in, accounts, MFA, providers, passkeys, sign-in links) take this object
and their collaborators explicitly, never the `Auth` facade: the layers then point one way, and a
flow names exactly what it uses. Auditing and mail delivery are public operations here because
every flow performs them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine, Mapping
from typing import Any

from ._client_ip import ip_key
from ._config import AuthConfig
from ._emails import normalize_email
from ._errors import NO_SENDER_FIX, AuthError, Configuration
from ._hooks import Callbacks, Events
from ._models import AuthEvent, RequestMeta
from ._passwords import PasswordHasher
from ._ratelimit import RateLimiter, RateLimitOptions
from .mail import EmailMessage, EmailSender
from .providers import OAuthProvider
from .stores.base import Store

__all__ = ["AuthContext"]

logger = logging.getLogger("authgate")

_CLOSE_GRACE = 15.0  # seconds close() waits for background mail before closing the store anyway


class AuthContext:
    """The shared services of one `Auth`; flows receive it instead of the facade."""

    def __init__(
        self,
        config: AuthConfig,
        store: Store | None,
        *,
        email_sender: EmailSender | None,
        rate_limits: RateLimitOptions | None,
        callbacks: Callbacks,
        events: Events,
        providers: Mapping[str, OAuthProvider],
    ) -> None:
        self.config = config
        self._store = store
        self.email_sender = email_sender
        options = rate_limits or RateLimitOptions()
        self.limiter = RateLimiter(options) if options.enabled else None
        self.callbacks = callbacks
        self.events = events
        self.providers = providers
        self.hasher = PasswordHasher(config.passwords.algorithm, workers=config.passwords.hash_workers)
        strategy = config.sessions.strategy or ("database" if store is not None else "jwt")
        self.uses_database_sessions = strategy == "database"
        self._opened = False
        self._open_lock: asyncio.Lock | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- store -----------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store; Configuration when there is none (JWT strategy without users)."""
        if self._store is None:
            raise Configuration("this operation needs a store")
        return self._store

    @property
    def has_store(self) -> bool:
        return self._store is not None

    @property
    def is_open(self) -> bool:
        """Whether `open` ran (and `close` has not since)."""
        return self._opened

    async def open(self) -> None:
        """Open the store (idempotent). Routes call this lazily, so a missing lifespan still works."""
        if self._opened:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if not self._opened:
                if self._store is not None:
                    await self._store.open()
                self._opened = True

    async def close(self) -> None:
        """Finish the work started after answering (mail, quiet sign-ups; bounded by the mail
        timeout), then close the store and the rate-limit storage."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), timeout=_CLOSE_GRACE)
        if self._opened and self._store is not None:
            await self._store.close()
        if self.limiter is not None:
            await self.limiter.close()
        self._opened = False
        self._open_lock = None

    # -- limits, keys ----------------------------------------------------------------------------

    async def rate_limit(self, limit_name: str, key: str) -> None:
        """Spend one unit of a named limit (RateLimited when over); nothing when limits are off."""
        if self.limiter is not None:
            await self.limiter.hit(limit_name, key)

    async def rate_limit_ip(self, limit_name: str, meta: RequestMeta | None) -> None:
        """`rate_limit` keyed by the client IP (an IPv6 client by its /64)."""
        await self.rate_limit(limit_name, ip_key(meta.ip if meta is not None else None))

    @staticmethod
    def email_key(email: str) -> str:
        """The lookup key of an address (see `normalize_email`)."""
        return normalize_email(email)[1]

    # -- audit -----------------------------------------------------------------------------------

    async def audit(
        self,
        event_type: str,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        meta: RequestMeta | None = None,
        **detail: Any,
    ) -> None:
        """Record an event in the audit table and tell the matching event handler. Best effort:
        losing an audit line must not undo a sign-in that already happened."""
        event = AuthEvent(
            id=str(uuid.uuid4()),
            type=event_type,
            created_at=self.config.clock(),
            user_id=user_id,
            session_id=session_id,
            ip=meta.ip if meta else None,
            user_agent=(meta.user_agent or "")[:512] or None if meta else None,
            detail=detail or None,
        )
        if self._store is not None:
            try:
                await self._store.record_event(event)
            except AuthError as error:
                logger.warning("authgate: could not record %s event: %s", event_type, error.message)
        handler = getattr(self.events, event_type, None)
        if handler is not None:
            try:
                await handler(event)
            except Exception:  # an event handler never changes the outcome
                logger.exception("authgate: %s event handler failed", event_type)

    # -- links and mail --------------------------------------------------------------------------
    # Links in emails come from configuration only, never from the request: a forged Host header
    # would otherwise mail the victim a reset link to the attacker's site, token included.

    @property
    def app_url(self) -> str:
        """Where the app's pages live (reset form, landing after a link)."""
        url = self.config.accounts.app_url or self.config.base_url
        if url is None:
            raise Configuration("set base_url or AccountOptions(app_url=...) to send links by email")
        return url.rstrip("/")

    @property
    def api_url(self) -> str:
        """Where the auth routes live (links that GET a route)."""
        origin = self.config.own_origin or self.app_url
        return f"{origin}{self.config.base_path}"

    async def deliver(self, message: EmailMessage) -> None:
        """Send now; Configuration when no sender is set."""
        if self.email_sender is None:
            raise Configuration(f"{message.subject!r} needs an email sender and Auth has none: {NO_SENDER_FIX}")
        await self.email_sender.send(message)

    def deliver_later(self, message: EmailMessage) -> None:
        """Send in the background, so the answer takes as long whether or not an email goes out."""
        self.run_later(self.deliver(message), what=f"sending an email to {message.to}")

    def run_later(self, work: Coroutine[object, object, object], *, what: str) -> None:
        """Run `work` after the answer: whatever differs between an address with an account and one
        without (lookups, token writes, mail, a mail outage) must not change what the caller sees."""

        async def run() -> None:
            try:
                await work
            except AuthError as error:  # a limit, an outage: nobody is waiting for this answer
                logger.warning("authgate: %s failed: %s", what, error.message)
            except Exception:
                logger.exception("authgate: %s failed", what)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def idle(self) -> None:
        """Wait for the background work started so far (tests, and a graceful shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
