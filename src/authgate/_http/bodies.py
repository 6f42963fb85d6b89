"""The request body of every route, as a msgspec Struct. A handler names its model in its
signature (`body: ChangeEmail`); validation, the OpenAPI request schema and the docs table are
read from these declarations, so every field a handler reads is documented and checked.

A field's JSON name is its attribute name unless `msgspec.field(name=...)` says otherwise (the
Auth.js names `csrfToken` and `callbackUrl`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from .validation import NEW_PASSWORD, PASSWORD, Body, FormBody

__all__ = [
    "AuthJSForm",
    "ChangeEmail",
    "ChangePassword",
    "CredentialsForm",
    "EmailPassword",
    "ForgotPassword",
    "LinkToken",
    "LinkTokenForm",
    "MFAVerify",
    "MagicLinkRedeem",
    "MagicLinkRedeemForm",
    "MagicLinkRequest",
    "MagicLinkRequestForm",
    "OAuthStart",
    "OAuthStartForm",
    "PasskeyName",
    "PasskeyRegistration",
    "PasskeySignIn",
    "RefreshToken",
    "ResendVerification",
    "ResetPassword",
    "SignOut",
    "SignOutForm",
    "SignUp",
    "StepUp",
    "TOTPCode",
]

Email = Annotated[str, Meta(max_length=320, extra_json_schema={"format": "email"})]
Password = Annotated[str, PASSWORD]
NewPassword = Annotated[str, NEW_PASSWORD]
Name = Annotated[str, Meta(max_length=255)]
Token = Annotated[str, Meta(max_length=256)]
Code = Annotated[str, Meta(max_length=16)]
Transport = Annotated[
    Literal["cookie", "bearer"], Meta(description="`bearer` returns the tokens in the body and sets no cookie")
]
Credential = Annotated[dict[str, Any], Meta(description="the WebAuthn credential as JSON")]
CallbackUrl = str  # checked against the redirect allowlist, not by length; the body limit bounds it
LinkCallbackUrl = Annotated[str, Meta(max_length=2048)]  # kept with an emailed link's token


class EmailPassword(Body, kw_only=True, frozen=True):
    email: Email
    password: Password
    transport: Transport | None = None


class SignUp(Body, kw_only=True, frozen=True):
    email: Email
    password: NewPassword
    name: Name | None = None
    transport: Transport | None = None


class RefreshToken(Body, kw_only=True, frozen=True):
    refresh_token: Annotated[str, Meta(max_length=512)]


class StepUp(Body, kw_only=True, frozen=True):
    """A credential change's proof: the password or a TOTP code, or nothing inside `reauth_window`."""

    password: Password | None = None
    code: Code | None = None


class MFAVerify(Body, kw_only=True, frozen=True):
    challenge: Token
    code: Annotated[str, Meta(max_length=64)]
    trust_device: bool = False
    transport: Transport | None = None


class TOTPCode(Body, kw_only=True, frozen=True):
    code: Code


class LinkToken(Body, kw_only=True, frozen=True):
    """The token of an emailed link."""

    token: Token


class ResendVerification(Body, kw_only=True, frozen=True):
    email: Email | None = None


class ForgotPassword(Body, kw_only=True, frozen=True):
    email: Email


class ResetPassword(Body, kw_only=True, frozen=True):
    token: Token
    password: NewPassword


class ChangePassword(Body, kw_only=True, frozen=True):
    current_password: Password
    new_password: NewPassword


class ChangeEmail(Body, kw_only=True, frozen=True):
    email: Email
    password: Password | None = None
    code: Code | None = None


class PasskeyRegistration(Body, kw_only=True, frozen=True):
    credential: Credential
    name: Name | None = None


class PasskeyName(Body, kw_only=True, frozen=True):
    name: Name


class PasskeySignIn(Body, kw_only=True, frozen=True):
    credential: Credential
    transport: Transport | None = None


# -- routes an HTML form may post to (Auth.js): each JSON model beside its form ------------------


class AuthJSForm(FormBody, kw_only=True, frozen=True):
    """What every Auth.js form may carry: the CSRF token (checked before the form is read into its
    model), where to go afterwards, and `json=true` (v4) asking for `{url}` instead of a 302."""

    csrf_token: str | None = msgspec.field(name="csrfToken", default=None)
    callback_url: CallbackUrl | None = msgspec.field(name="callbackUrl", default=None)
    json: str | None = None


class CredentialsForm(AuthJSForm, kw_only=True, frozen=True):
    """The JSON twin is EmailPassword."""

    email: Email
    password: Password
    redirect: str | None = None  # sent by the Auth.js client; the answer's shape follows `json` instead


class OAuthStart(Body, kw_only=True, frozen=True):
    """`link=true` links the provider to the signed-in user (step-up: `password` or `code`)."""

    callback_url: CallbackUrl | None = msgspec.field(name="callbackUrl", default=None)
    link: bool | str | None = None
    password: Password | None = None
    code: Code | None = None


class OAuthStartForm(AuthJSForm, kw_only=True, frozen=True):
    link: str | None = None
    password: Password | None = None
    code: Code | None = None


class SignOut(Body, kw_only=True, frozen=True):
    callback_url: CallbackUrl | None = msgspec.field(name="callbackUrl", default=None)


class SignOutForm(AuthJSForm, kw_only=True, frozen=True):
    pass


class MagicLinkRequest(Body, kw_only=True, frozen=True):
    email: Email
    callback_url: LinkCallbackUrl | None = msgspec.field(name="callbackUrl", default=None)


class MagicLinkRequestForm(AuthJSForm, kw_only=True, frozen=True):
    email: Email
    callback_url: LinkCallbackUrl | None = msgspec.field(name="callbackUrl", default=None)


class MagicLinkRedeem(Body, kw_only=True, frozen=True):
    """Both come from the emailed link; a missing one is a bad link (`Verification`), not a 400."""

    token: Token | None = None
    email: Email | None = None


class MagicLinkRedeemForm(AuthJSForm, kw_only=True, frozen=True):
    """The confirmation page's form."""

    token: Token | None = None
    email: Email | None = None


class LinkTokenForm(FormBody, kw_only=True, frozen=True):
    """The email-change confirmation page's form (the JSON twin is LinkToken)."""

    token: Token
    csrf_token: str | None = msgspec.field(name="csrfToken", default=None)
