"""Every failure a caller can see is an `AuthError` with a stable `kind` and HTTP status.

The HTTP layer turns any AuthError into `{"error": message, "kind": kind}`; nothing else in
authgate catches broadly, so an unexpected exception is a bug that shows up, not a silent 500.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AccountInUse",
    "AuthError",
    "Configuration",
    "CredentialsSignin",
    "DatabaseUnavailable",
    "EmailInUse",
    "ForbiddenOrigin",
    "InvalidCheck",
    "InvalidRefreshToken",
    "InvalidRequest",
    "MethodNotAllowed",
    "MissingCSRF",
    "NotFound",
    "OAuthAccountNotLinked",
    "OAuthCallbackError",
    "PasskeyInUse",
    "PayloadTooLarge",
    "RateLimited",
    "ReauthenticationRequired",
    "RefreshInProgress",
    "RefreshTokenReuse",
    "ServiceUnavailable",
    "SessionExpired",
    "Unauthenticated",
    "UnsupportedMediaType",
    "Verification",
]


# The fix for every "this needs an email sender" error, in one place.
NO_SENDER_FIX = (
    "pass Auth(email_sender=SMTPSender(...)) (pip install 'authgate[mail]'), or ConsoleSender() in development"
)


class AuthError(Exception):
    """Base of every authgate error. `kind` is stable API; `message` is for humans."""

    kind: str = "AuthError"
    status_code: int = 400
    message: str = "Authentication error"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or type(self).message
        self.field = field
        super().__init__(self.message)

    def to_json(self) -> dict[str, str]:
        body = {"error": self.message, "kind": self.kind}
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidRequest(AuthError):
    kind = "InvalidRequest"
    status_code = 400
    message = "Invalid request"


class CredentialsSignin(AuthError):
    kind = "CredentialsSignin"
    status_code = 401
    message = "Invalid email or password"


class EmailInUse(AuthError):
    kind = "EmailInUse"
    status_code = 409
    message = "An account with this email already exists"


class MissingCSRF(AuthError):
    kind = "MissingCSRF"
    status_code = 403
    message = "Missing X-Authgate-Client header or CSRF token"


class ForbiddenOrigin(AuthError):
    kind = "ForbiddenOrigin"
    status_code = 403
    message = "Cross-site request refused"


class PayloadTooLarge(AuthError):
    kind = "PayloadTooLarge"
    status_code = 413
    message = "Request body is larger than 64 KiB"


class UnsupportedMediaType(AuthError):
    kind = "UnsupportedMediaType"
    status_code = 415
    message = "Content-Type must be application/json"


class Unauthenticated(AuthError):
    kind = "Unauthenticated"
    status_code = 401
    message = "Not signed in"


class SessionExpired(AuthError):
    kind = "SessionExpired"
    status_code = 401
    message = "Session expired; refresh it"


class InvalidRefreshToken(AuthError):
    kind = "InvalidRefreshToken"
    status_code = 401
    message = "Refresh token is missing, expired or revoked"


class RefreshTokenReuse(AuthError):
    kind = "RefreshTokenReuse"
    status_code = 401
    message = "Refresh token was already used; the session has been revoked"


class RefreshInProgress(AuthError):
    kind = "RefreshInProgress"
    status_code = 409
    message = "This refresh token was rotated a moment ago by a parallel request; use the new tokens"


class ServiceUnavailable(AuthError):
    kind = "ServiceUnavailable"
    status_code = 503
    message = "Authentication storage is unavailable; try again"


class DatabaseUnavailable(ServiceUnavailable):
    """The store could not be opened. HTTP callers see ServiceUnavailable's generic message; the
    operator (the CLI, the start-up log) sees `detail`, which names the cause and the fix.
    `reachable` is False when no server answered (down, wrong host or port), True when one
    answered and refused (login, missing database, missing or old schema)."""

    def __init__(self, detail: str, *, reachable: bool) -> None:
        super().__init__()
        self.detail = detail
        self.reachable = reachable


class Configuration(AuthError):
    kind = "Configuration"
    status_code = 500
    message = "authgate is misconfigured"


class NotFound(AuthError):
    kind = "NotFound"
    status_code = 404
    message = "Not found"


class MethodNotAllowed(AuthError):
    kind = "MethodNotAllowed"
    status_code = 405
    message = "Method not allowed"


class AccessDenied(AuthError):
    kind = "AccessDenied"
    status_code = 403
    message = "Sign-in was refused"


class OAuthCallbackError(AuthError):
    kind = "OAuthCallbackError"
    status_code = 400
    message = "The sign-in provider's answer could not be used"


class InvalidCheck(AuthError):
    kind = "InvalidCheck"
    status_code = 400
    message = "The sign-in attempt could not be verified (state, PKCE or nonce); start again"


class OAuthAccountNotLinked(AuthError):
    kind = "OAuthAccountNotLinked"
    status_code = 409
    message = "This email already belongs to an account; sign in with it first, then link this provider"


class AccountInUse(OAuthAccountNotLinked):
    """A provider identity that is already linked (to this or another user)."""

    message = "This provider account is already linked to a user"


class PasskeyInUse(AuthError):
    kind = "PasskeyInUse"
    status_code = 409
    message = "This passkey is already registered"


class RateLimited(AuthError):
    kind = "RateLimited"
    status_code = 429
    message = "Too many attempts; try again later"

    def __init__(self, message: str | None = None, *, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class Verification(AuthError):
    """A verification link, reset token, one-time code or challenge that is wrong, used or expired."""

    kind = "Verification"
    status_code = 400
    message = "This link or code is invalid or has expired"


class ReauthenticationRequired(AuthError):
    """Adding or removing a credential or factor needs a recent re-authentication: send the password
    (or a code of an existing factor) with the request, or call /reauthenticate first."""

    kind = "ReauthenticationRequired"
    status_code = 403
    message = "Confirm it is you: enter your password or a code from your authenticator"
