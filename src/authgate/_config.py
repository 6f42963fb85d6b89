"""Configuration: plain frozen dataclasses with the seed's defaults, checked once at start-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from ._errors import Configuration
from ._passwords import HashAlgorithm

__all__ = ["AuthConfig", "Clock", "CookieOptions", "PasswordOptions", "SessionOptions", "utc_now"]

SameSite = Literal["lax", "strict", "none"]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock. Tests inject their own through `Auth(clock=...)`."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class CookieOptions:
    """Names and attributes of the two cookies (DESIGN section 3).

    `host_prefix=True` names the session cookie `__Host-<name>` (Secure, Path=/, no Domain: the
    browser then refuses it from subdomains and plain HTTP) and the refresh cookie
    `__Secure-<name>` (its path is not `/`, which `__Host-` forbids).
    """

    session_name: str = "authgate_session"
    refresh_name: str = "authgate_refresh"
    domain: str | None = None
    secure: bool = True
    session_same_site: SameSite = "lax"
    refresh_same_site: SameSite = "strict"
    host_prefix: bool = False

    @property
    def session_cookie(self) -> str:
        return f"__Host-{self.session_name}" if self.host_prefix else self.session_name

    @property
    def refresh_cookie(self) -> str:
        return f"__Secure-{self.refresh_name}" if self.host_prefix else self.refresh_name


@dataclass(frozen=True)
class SessionOptions:
    """Lifetimes. The refresh lifetime slides on each refresh (it is the idle timeout); the absolute
    lifetime caps it, counted from sign-in."""

    access_lifetime: timedelta = timedelta(minutes=15)
    refresh_lifetime: timedelta = timedelta(days=30)
    absolute_lifetime: timedelta = timedelta(days=90)
    # Two tabs refreshing at once both present the same token; the loser gets 200 inside this window.
    refresh_grace: timedelta = timedelta(seconds=10)
    cleanup_interval: timedelta = timedelta(hours=1)
    cleanup_batch_size: int = 1000
    # "database" (opaque tokens, needs a store) or "jwt" (JWE cookie). None picks: store -> database.
    strategy: Literal["database", "jwt"] | None = None
    # JWT strategy: the cookie is re-issued by GET /session once it is older than this.
    update_age: timedelta = timedelta(days=1)
    # Accounts without a password prove themselves for deletion by a sign-in this recent.
    reauth_window: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class PasswordOptions:
    """Password policy (NIST 800-63B: length, no composition rules) and hashing."""

    min_length: int = 8
    max_length: int = 256
    algorithm: HashAlgorithm = "argon2id"
    hash_workers: int | None = None
    # Return True to refuse a password (e.g. found in a breach corpus).
    is_breached: Callable[[str], Awaitable[bool]] | None = None


@dataclass(frozen=True)
class MFAOptions:
    """Second factors (goauth's credentials + MFA sequence)."""

    # Every user must pass a second factor; users without TOTP get one-time codes by email.
    required: bool = False
    code_lifetime: timedelta = timedelta(minutes=10)
    max_attempts: int = 5
    trusted_device_lifetime: timedelta = timedelta(days=90)
    totp_issuer: str = "authgate"


@dataclass(frozen=True)
class AccountOptions:
    """Email verification, password reset, email change and the sign-up conflict policy."""

    # Where the app's pages live, for links in emails (default: base_url, else the request origin).
    app_url: str | None = None
    reset_path: str = "/reset-password"
    verification_lifetime: timedelta = timedelta(hours=24)
    reset_lifetime: timedelta = timedelta(minutes=30)
    # "error": sign-up of a taken email answers 409 EmailInUse (the seed's behaviour, easy to use,
    # reveals that the address has an account). "email": every sign-up answers the same
    # `{verification_required: true}`, new users get a verification link, existing owners an email
    # saying someone tried to sign up; nobody can tell which happened. Sign-in then needs a
    # verified email.
    sign_up_conflict: Literal["error", "email"] = "error"
    require_verified_email: bool = False
    # The app's page for failed provider sign-ins (Auth.js's `pages.error`), e.g. "/auth/error": the
    # browser lands there with `?error=<Kind>` instead of on the JSON of GET <base_path>/error.
    error_path: str | None = None


@dataclass(frozen=True)
class PasskeyOptions:
    """WebAuthn relying party settings; defaults come from the app's own origin."""

    rp_id: str | None = None
    rp_name: str = "authgate"
    origins: tuple[str, ...] = ()
    challenge_lifetime: timedelta = timedelta(minutes=5)
    # A passkey counts as multi-factor only when the authenticator verified the user (PIN or
    # biometrics, the UV flag). False: keys that only check presence are refused. True: they are
    # accepted as one factor, so a user with a second factor (or MFAOptions(required=True)) is
    # asked for it after the passkey, as after a password.
    allow_presence_only: bool = False


@dataclass(frozen=True)
class AuthJSOptions:
    """Answer the unmodified Auth.js browser client (`next-auth/react`) the way its own server does.

    Only GET /session and POST /_log change, since nothing in those requests tells Auth.js's client
    from authgate's: signed out, /session answers 200 (`{}` for version 4, `null` for version 5)
    instead of the 401 that authgate's own client refreshes on, and /_log (the v4 client's error
    reports) is accepted and dropped. The form protocol (csrfToken, `json=true`,
    `X-Auth-Return-Redirect`) works with or without this option: each request says what it wants.
    """

    version: Literal[4, 5] = 5


@dataclass(frozen=True)
class MagicLinkOptions:
    """Sign-in links sent by email (Auth.js's email provider): POST /signin/email, /callback/email."""

    lifetime: timedelta = timedelta(minutes=10)
    # A link to an address without an account creates the user (email verified: the link proves
    # the mailbox). Off: such a link signs nobody in, and nothing tells the requester so.
    create_users: bool = False


@dataclass(frozen=True)
class AuthConfig:
    """Everything `Auth` needs besides its store. Built by `Auth(...)`; validated on construction."""

    # One secret, or a list to rotate keys: the first signs and encrypts, all of them decrypt.
    secret: str | tuple[str, ...]
    base_path: str = "/api/auth"
    base_url: str | None = None
    trusted_origins: tuple[str, ...] = ()
    cookies: CookieOptions = field(default_factory=CookieOptions)
    sessions: SessionOptions = field(default_factory=SessionOptions)
    passwords: PasswordOptions = field(default_factory=PasswordOptions)
    mfa: MFAOptions = field(default_factory=MFAOptions)
    accounts: AccountOptions = field(default_factory=AccountOptions)
    passkeys: PasskeyOptions = field(default_factory=PasskeyOptions)
    authjs: AuthJSOptions | None = None
    magic_links: MagicLinkOptions | None = None
    clock: Clock = utc_now

    def __post_init__(self) -> None:
        if not self.secrets or any(len(secret) < 32 for secret in self.secrets):
            raise Configuration("secret must be at least 32 characters; generate one with `authgate secret`")
        if not self.base_path.startswith("/") or self.base_path.endswith("/"):
            raise Configuration("base_path must start with '/' and not end with one, e.g. '/api/auth'")
        cookies = self.cookies
        same_sites = {cookies.session_same_site, cookies.refresh_same_site}
        if "none" in same_sites and not cookies.secure:
            raise Configuration("SameSite=None cookies need Secure=True; browsers drop them otherwise")
        if cookies.host_prefix and (not cookies.secure or cookies.domain):
            raise Configuration("host_prefix needs secure=True and no domain")
        for origin in self.trusted_origins:
            if normalize_origin(origin) != origin:
                raise Configuration(f"trusted origin {origin!r} must be scheme://host[:port] exactly")
        sessions = self.sessions
        if not timedelta(0) < sessions.access_lifetime <= sessions.refresh_lifetime <= sessions.absolute_lifetime:
            raise Configuration("lifetimes must satisfy 0 < access <= refresh <= absolute")
        if self.magic_links is not None and self.magic_links.lifetime <= timedelta(0):
            raise Configuration("MagicLinkOptions.lifetime must be positive")
        error_path = self.accounts.error_path
        if error_path is not None and (not error_path.startswith("/") or error_path.startswith("//")):
            raise Configuration(f"AccountOptions(error_path={error_path!r}) must be a path on the app: '/auth/error'")
        if not 0 < self.passwords.min_length <= self.passwords.max_length:
            raise Configuration("password lengths must satisfy 0 < min_length <= max_length")

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.secret,) if isinstance(self.secret, str) else tuple(self.secret)

    @property
    def signing_secret(self) -> str:
        return self.secrets[0]

    @property
    def own_origin(self) -> str | None:
        return normalize_origin(self.base_url) if self.base_url else None


def normalize_origin(url: str) -> str | None:
    """`scheme://host[:port]` in lower case with default ports dropped, or None when not an origin."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")
