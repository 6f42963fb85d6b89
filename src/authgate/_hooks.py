"""Callbacks (may change an outcome) and events (are told about one): plain async callables.

No subclassing and no manager objects: a user reads the signature and knows what to write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._models import Account, AuthEvent, AuthSession, User

if TYPE_CHECKING:
    from .providers import Profile

__all__ = ["Callbacks", "Events"]

EventHandler = Callable[[AuthEvent], Awaitable[None]]


@dataclass(frozen=True)
class Callbacks:
    """Hooks that shape or refuse what authgate does; each is an async callable or None."""

    sign_in: Callable[[User, Account | None, Profile | None], Awaitable[bool]] | None = None
    """`sign_in(user, account, profile)`: return False to refuse (AccessDenied). `account` and
    `profile` are None for email/password sign-in."""
    redirect: Callable[[str, str], Awaitable[str]] | None = None
    """`redirect(url, base_url)`: choose where to send the browser after a provider sign-in; the
    answer still has to pass the same-origin/allowlist check, so a bug here cannot open a redirect."""
    jwt: Callable[[dict[str, Any], User | None], Awaitable[dict[str, Any]]] | None = None
    """`jwt(claims, user)`: enrich the JWT strategy's claims (`user` is set at sign-in, None on
    re-issue). Claims must be JSON."""
    session: Callable[[dict[str, Any], AuthSession], Awaitable[dict[str, Any]]] | None = None
    """`session(body, current)`: shape the JSON that GET /session answers."""


@dataclass(frozen=True)
class Events:
    """Notifications, each given the `AuthEvent` that also goes to the `auth_events` audit table.

    A handler's exception is logged and swallowed: an event never changes the outcome.
    """

    sign_in: EventHandler | None = None
    """A user signed in (any method)."""
    sign_out: EventHandler | None = None
    """A user signed out."""
    create_user: EventHandler | None = None
    """A user was created (sign-up, provider or sign-in link)."""
    link_account: EventHandler | None = None
    """A provider account was linked to a user."""
    session_revoked: EventHandler | None = None
    """A session was revoked."""
