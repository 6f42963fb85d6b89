"""Configuration: plain frozen dataclasses, checked once at start-up. Each field's docstring is its entry
in docs/configuration.md (`python -m authgate._docs` regenerates it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from ._client_ip import parse_networks
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
    """Names and attributes of the two cookies: the session (access) cookie and the refresh cookie.

    `host_prefix=True` names the session cookie `__Host-<name>` (Secure, Path=/, no Domain: the
    browser then refuses it from subdomains and plain HTTP) and the refresh cookie
    `__Secure-<name>` (its path is not `/`, which `__Host-` forbids).
    """

    session_name: str = "authgate_session"
    """Name of the session (access) cookie, sent on every path."""
    refresh_name: str = "authgate_refresh"
    """Name of the refresh cookie, sent only under `base_path`."""
    domain: str | None = None
    """Cookie Domain attribute; None keeps the cookies host-only."""
    secure: bool = True
    """Secure attribute; `False` only for local plain-HTTP development."""
    session_same_site: SameSite = "lax"
    """SameSite of the session cookie; `"none"` needs `secure=True` (Configuration otherwise)."""
    refresh_same_site: SameSite = "strict"
    """SameSite of the refresh cookie."""
    host_prefix: bool = False
    """`__Host-` session cookie and `__Secure-` refresh cookie; needs `secure=True` and no `domain`."""

    @property
    def session_cookie(self) -> str:
        return f"__Host-{self.session_name}" if self.host_prefix else self.session_name

    @property
    def refresh_cookie(self) -> str:
        return f"__Secure-{self.refresh_name}" if self.host_prefix else self.refresh_name


@dataclass(frozen=True)
class SessionOptions:
    """Lifetimes and the session strategy. The refresh lifetime slides on each refresh (it is the
    idle timeout); the absolute lifetime caps it, counted from sign-in. Access <= refresh <=
    absolute must hold."""

    access_lifetime: timedelta = timedelta(minutes=15)
    """How long the session cookie is accepted before the client must refresh."""
    refresh_lifetime: timedelta = timedelta(days=30)
    """Lifetime of the refresh token; slides on each refresh, so it is also the idle timeout."""
    absolute_lifetime: timedelta = timedelta(days=90)
    """Counted from sign-in; no refresh extends a session past it."""
    refresh_grace: timedelta = timedelta(seconds=10)
    """Two tabs refreshing at once both present the same token; inside this window the second gets
    200 without new tokens instead of a reuse error."""
    cleanup_interval: timedelta = timedelta(hours=1)
    """How often `auth.lifespan` deletes sessions past their refresh lifetime."""
    cleanup_batch_size: int = 1000
    """Rows per DELETE during cleanup; batches repeat until one comes back short."""
    strategy: Literal["database", "jwt"] | None = None
    """`"database"` (opaque tokens, needs a store) or `"jwt"` (JWE cookie). None picks database when
    there is a store, else jwt."""
    update_age: timedelta = timedelta(days=1)
    """JWT strategy: GET /session re-issues the cookie once it is older than this."""
    reauth_window: timedelta = timedelta(minutes=10)
    """Accounts without a password prove themselves for deletion by a sign-in this recent."""


@dataclass(frozen=True)
class PasswordOptions:
    """Password policy (NIST 800-63B: length, no composition rules) and hashing."""

    min_length: int = 8
    """Fewest characters a new password may have."""
    max_length: int = 256
    """Most characters a password may have (bounds the hashing cost of one request)."""
    algorithm: HashAlgorithm = "argon2id"
    """Hash for new passwords: `"argon2id"` (OWASP parameters), `"bcrypt"` (refuses passwords over
    72 bytes) or `"bcrypt-sha256"` (no truncation)."""
    hash_workers: int | None = None
    """Threads hashing off the event loop; None: the CPU count."""
    is_breached: Callable[[str], Awaitable[bool]] | None = None
    """`async (password) -> bool`; True refuses the password (e.g. found in a breach corpus)."""


@dataclass(frozen=True)
class MFAOptions:
    """Second factors. A first factor (a password, a provider, a sign-in link, a passkey without user
    verification) of a user with a factor (or of anyone, with `required`) answers `{mfa_required,
    challenge, methods}` instead of a session; `POST /mfa/verify` with a TOTP code, an emailed code
    or a recovery code completes the sign-in (docs/routes.md)."""

    required: bool = False
    """Every user must pass a second factor; users without TOTP get one-time codes by email (needs
    an `email_sender`)."""
    code_lifetime: timedelta = timedelta(minutes=10)
    """How long an MFA challenge (and an emailed code) stays valid."""
    max_attempts: int = 5
    """Wrong codes after which a challenge is dead."""
    trusted_device_lifetime: timedelta = timedelta(days=90)
    """How long a device marked trusted skips the second factor."""
    totp_issuer: str = "authgate"
    """Issuer name shown by authenticator apps next to the account."""


@dataclass(frozen=True)
class AccountOptions:
    """Email verification, password reset, email change and the sign-up conflict policy."""

    app_url: str | None = None
    """Where the app's pages live, for links in emails (default: `base_url`)."""
    reset_path: str = "/reset-password"
    """The app's page that receives `?token=` for a password reset."""
    verification_lifetime: timedelta = timedelta(hours=24)
    """How long an email verification link stays valid."""
    reset_lifetime: timedelta = timedelta(minutes=30)
    """How long a password reset link stays valid."""
    sign_up_conflict: Literal["error", "email"] = "error"
    """`"error"`: sign-up of a taken email answers 409 EmailInUse (easy to use, reveals that the
    address has an account). `"email"`: every sign-up answers the same `{verification_required:
    true}`, new users get a verification link, existing owners an email saying someone tried to
    sign up; nobody can tell which happened. Sign-in then needs a verified email, and an
    `email_sender` is required."""
    require_verified_email: bool = False
    """Password sign-in needs a verified address."""
    error_path: str | None = None
    """The app's page for failed provider sign-ins (Auth.js's `pages.error`), e.g. `"/auth/error"`:
    the browser lands there with `?error=<Kind>` instead of on the JSON of GET <base_path>/error."""


@dataclass(frozen=True)
class PasskeyOptions:
    """WebAuthn relying party settings; defaults come from the app's own origin."""

    rp_id: str | None = None
    """Relying party ID (a registrable domain); None: the host of the app's origin (`base_url`, else
    the request's)."""
    rp_name: str = "authgate"
    """Name the authenticator shows when creating a passkey."""
    origins: tuple[str, ...] = ()
    """Origins accepted in WebAuthn responses; empty: the app's origin only."""
    challenge_lifetime: timedelta = timedelta(minutes=5)
    """How long a registration or sign-in challenge stays valid."""
    allow_presence_only: bool = False
    """A passkey counts as multi-factor only when the authenticator verified the user (PIN or
    biometrics, the UV flag). False: keys that only check presence are refused. True: they are
    accepted as one factor, so a user with a second factor (or `MFAOptions(required=True)`) is
    asked for it after the passkey, as after a password."""


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
    """The `next-auth/react` major version: a signed-out GET /session answers 200 `{}` (4) or
    `null` (5)."""


@dataclass(frozen=True)
class MagicLinkOptions:
    """Sign-in links sent by email (Auth.js's email provider): POST /signin/email, /callback/email."""

    lifetime: timedelta = timedelta(minutes=10)
    """How long a link stays valid; single use, stored only as SHA-256, bound to the address."""
    create_users: bool = False
    """A link to an address without an account creates the user (email verified: the link proves
    the mailbox). False: such a link signs nobody in, and nothing tells the requester so."""


@dataclass(frozen=True)
class AuthConfig:
    """Everything `Auth` needs besides its store. Built by `Auth(...)`; validated on construction."""

    secret: str | tuple[str, ...]
    """At least 32 characters (`authgate secret` makes one); a list rotates keys: the first signs
    and encrypts, all of them decrypt."""
    base_path: str = "/api/auth"
    """Where `auth.asgi_app` is mounted; the refresh cookie's path follows it."""
    base_url: str | None = None
    """The app's own origin, e.g. `"https://app.example.com"`: Origin checks and links in emails."""
    trusted_origins: tuple[str, ...] = ()
    """Other origins allowed to call the auth routes, each exactly `scheme://host[:port]`."""
    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies (IPs or CIDRs) whose `X-Forwarded-For` is believed for the client IP (rate
    limits, audit lines); empty: the header is ignored and the socket peer is the client."""
    cookies: CookieOptions = field(default_factory=CookieOptions)
    """Cookie names and attributes (`CookieOptions`)."""
    sessions: SessionOptions = field(default_factory=SessionOptions)
    """Session lifetimes and strategy (`SessionOptions`)."""
    passwords: PasswordOptions = field(default_factory=PasswordOptions)
    """Password policy and hashing (`PasswordOptions`)."""
    mfa: MFAOptions = field(default_factory=MFAOptions)
    """Second factors (`MFAOptions`)."""
    accounts: AccountOptions = field(default_factory=AccountOptions)
    """Verification, reset, email change and sign-up conflicts (`AccountOptions`)."""
    passkeys: PasskeyOptions = field(default_factory=PasskeyOptions)
    """WebAuthn relying party (`PasskeyOptions`)."""
    authjs: AuthJSOptions | None = None
    """`AuthJSOptions(version=4 | 5)`: answer the unmodified `next-auth/react` client; None: off."""
    magic_links: MagicLinkOptions | None = None
    """`MagicLinkOptions()`: sign-in links by email (needs a store and an `email_sender`); None: off."""
    clock: Clock = utc_now
    """Returns the current aware datetime; tests inject their own."""

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
        parse_networks(tuple(self.trusted_proxies))
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
