"""authgate: email/password, provider, MFA and passkey authentication for ASGI apps, secure by default.

Stores live in `authgate.stores`, providers in `authgate.providers`, email senders in
`authgate.mail`; everything an application configures or catches is importable from here.
"""

from ._config import (
    AccountOptions,
    AuthConfig,
    CookieOptions,
    MFAOptions,
    PasskeyOptions,
    PasswordOptions,
    SessionOptions,
)
from ._engine import Auth, normalize_email
from ._errors import (
    AccessDenied,
    AccountInUse,
    AuthError,
    Configuration,
    CredentialsSignin,
    EmailInUse,
    ForbiddenOrigin,
    InvalidCheck,
    InvalidRefreshToken,
    InvalidRequest,
    MethodNotAllowed,
    MissingCSRF,
    NotFound,
    OAuthAccountNotLinked,
    OAuthCallbackError,
    PasskeyInUse,
    PayloadTooLarge,
    RateLimited,
    RefreshInProgress,
    RefreshTokenReuse,
    ServiceUnavailable,
    SessionExpired,
    Unauthenticated,
    UnsupportedMediaType,
    Verification,
)
from ._hooks import Callbacks, Events
from ._models import Account, AuthEvent, AuthSession, RequestMeta, Session, SignInResult, Tokens, User
from ._ratelimit import RateLimitOptions
from .integrations.starlette import RequireAuth
from .mfa import MFAChallenge

__all__ = [
    "AccessDenied",
    "Account",
    "AccountInUse",
    "AccountOptions",
    "Auth",
    "AuthConfig",
    "AuthError",
    "AuthEvent",
    "AuthSession",
    "Callbacks",
    "Configuration",
    "CookieOptions",
    "CredentialsSignin",
    "EmailInUse",
    "Events",
    "ForbiddenOrigin",
    "InvalidCheck",
    "InvalidRefreshToken",
    "InvalidRequest",
    "MFAChallenge",
    "MFAOptions",
    "MethodNotAllowed",
    "MissingCSRF",
    "NotFound",
    "OAuthAccountNotLinked",
    "OAuthCallbackError",
    "PasskeyInUse",
    "PasskeyOptions",
    "PasswordOptions",
    "PayloadTooLarge",
    "RateLimitOptions",
    "RateLimited",
    "RefreshInProgress",
    "RefreshTokenReuse",
    "RequestMeta",
    "RequireAuth",
    "ServiceUnavailable",
    "Session",
    "SessionExpired",
    "SessionOptions",
    "SignInResult",
    "Tokens",
    "Unauthenticated",
    "UnsupportedMediaType",
    "User",
    "Verification",
    "normalize_email",
]
