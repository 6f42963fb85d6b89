"""authgate: email/password and session authentication for ASGI apps, secure by default."""

from ._config import AuthConfig, CookieOptions, PasswordOptions, SessionOptions
from ._engine import Auth, normalize_email
from ._errors import (
    AuthError,
    Configuration,
    CredentialsSignin,
    EmailInUse,
    ForbiddenOrigin,
    InvalidRefreshToken,
    InvalidRequest,
    MethodNotAllowed,
    MissingCSRF,
    NotFound,
    PayloadTooLarge,
    RefreshInProgress,
    RefreshTokenReuse,
    ServiceUnavailable,
    SessionExpired,
    Unauthenticated,
    UnsupportedMediaType,
)
from ._models import AuthSession, RequestMeta, Session, SignInResult, Tokens, User
from .integrations.starlette import RequireAuth

__all__ = [
    "Auth",
    "AuthConfig",
    "AuthError",
    "AuthSession",
    "Configuration",
    "CookieOptions",
    "CredentialsSignin",
    "EmailInUse",
    "ForbiddenOrigin",
    "InvalidRefreshToken",
    "InvalidRequest",
    "MethodNotAllowed",
    "MissingCSRF",
    "NotFound",
    "PasswordOptions",
    "PayloadTooLarge",
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
    "normalize_email",
]
