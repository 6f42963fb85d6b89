"""Second factors: answering a sign-in challenge, TOTP, recovery codes and emailed codes. Every
route but /mfa/verify acts for a signed-in user, whose session the router re-read from the store."""

from __future__ import annotations

from .._mfa import TRUSTED_DEVICE_COOKIE
from .answers import send_sign_in
from .bodies import MFAVerify, StepUp, TOTPCode
from .call import Call
from .responses import send_json, session_cookies, short_lived_cookie
from .session_routes import SIGNED_IN_ANSWER
from .spec import BOOL, COUNT, STRING, TRUE, Access, RouteList, closed, ok

__all__ = ["ROUTES", "proof"]

ROUTES = RouteList()
route = ROUTES.route
_CODES = {"type": "array", "items": STRING}


def proof(body: StepUp) -> dict[str, str | None]:
    """The optional step-up proof a body may carry: the password, or a TOTP code."""
    return {"password": body.password, "code": body.code}


@route(
    "GET", "/mfa", Access.SIGNED_IN, summary="The user's second factors",
    answers={
        200: ok(
            closed(
                {
                    "factors": {"type": "array", "items": closed({"kind": STRING, "confirmed": BOOL})},
                    "recovery_codes_left": COUNT,
                    "required": BOOL,
                }
            )
        )
    },
)  # fmt: skip
async def mfa_status(call: Call, _: None) -> None:
    await send_json(call.send, 200, await call.auth.mfa.status(call.signed_in.user))


@route(
    "POST", "/mfa/verify", Access.CLIENT, summary="Answer a sign-in challenge with a code",
    answers={200: SIGNED_IN_ANSWER}, errors=(429,),
    description="`trust_device` sets `authgate_trusted_device` (`trusted_device_lifetime`, 90 days). A wrong, used "
    "or expired code, or the 6th try, is 400 `Verification`.",
)  # fmt: skip
async def mfa_verify(call: Call, body: MFAVerify) -> None:
    result = await call.auth.mfa.verify(body.challenge, body.code, meta=call.meta())
    if body.transport == "bearer":
        await send_sign_in(call, result, "bearer")
        return
    config = call.config
    headers = session_cookies(result.tokens, config) if result.tokens else []
    if body.trust_device:
        lifetime = int(config.mfa.trusted_device_lifetime.total_seconds())
        value = call.auth.mfa.trusted_device_cookie(result.user)
        headers.append(
            short_lived_cookie(config, TRUSTED_DEVICE_COOKIE, value, path=config.base_path, max_age=lifetime)
        )
    await send_json(call.send, 200, result.to_json(), extra_headers=headers)


@route(
    "POST", "/mfa/totp/enroll", Access.SIGNED_IN, summary="Start TOTP enrolment (step-up)",
    answers={200: ok(closed({"secret": STRING, "otpauth_uri": STRING, "qr_svg": STRING}))}, errors=(429,),
    body_optional=True, description="400 when TOTP is already on.",
)  # fmt: skip
async def totp_enroll(call: Call, body: StepUp) -> None:
    enrollment = await call.auth.mfa.enroll_totp(call.signed_in, **proof(body))
    await send_json(call.send, 200, enrollment.to_json())


@route(
    "POST", "/mfa/totp/confirm", Access.SIGNED_IN, summary="Confirm TOTP with a first code; returns recovery codes",
    answers={200: ok(closed({"enabled": TRUE, "recovery_codes": _CODES}))}, errors=(429,),
    description="10 recovery codes, shown once.",
)  # fmt: skip
async def totp_confirm(call: Call, body: TOTPCode) -> None:
    codes = await call.auth.mfa.confirm_totp(call.signed_in, body.code)
    await send_json(call.send, 200, {"enabled": True, "recovery_codes": codes})


@route(
    "POST", "/mfa/totp/disable", Access.SIGNED_IN, summary="Disable TOTP (needs a current code or the password)",
    answers={200: ok(closed({"disabled": BOOL}))}, errors=(429,),
    description="Always needs the proof, even inside `reauth_window`; a credential event.",
)  # fmt: skip
async def totp_disable(call: Call, body: StepUp) -> None:
    await send_json(call.send, 200, {"disabled": await call.auth.mfa.disable(call.signed_in, "totp", **proof(body))})


@route(
    "POST", "/mfa/recovery-codes", Access.SIGNED_IN,
    summary="New recovery codes (needs a current TOTP code or the password)",
    answers={200: ok(closed({"recovery_codes": _CODES}))}, errors=(429,),
    description="Always needs the proof, even inside `reauth_window`; a credential event.",
)  # fmt: skip
async def recovery_codes(call: Call, body: StepUp) -> None:
    codes = await call.auth.mfa.new_recovery_codes(call.signed_in, **proof(body))
    await send_json(call.send, 200, {"recovery_codes": codes})


@route(
    "POST", "/mfa/email/enable", Access.SIGNED_IN, summary="Use emailed codes as a second factor (step-up)",
    answers={200: ok(closed({"enabled": TRUE}))}, errors=(429,), body_optional=True,
    description="A credential event; 400 when the address is not verified or there is no `email_sender`.",
)  # fmt: skip
async def email_mfa_enable(call: Call, body: StepUp) -> None:
    await call.auth.mfa.enable_email(call.signed_in, **proof(body))
    await send_json(call.send, 200, {"enabled": True})


@route(
    "POST", "/mfa/email/disable", Access.SIGNED_IN, summary="Stop emailed codes (step-up)",
    answers={200: ok(closed({"disabled": BOOL}))}, errors=(429,), body_optional=True,
    description="A credential event.",
)  # fmt: skip
async def email_mfa_disable(call: Call, body: StepUp) -> None:
    await send_json(call.send, 200, {"disabled": await call.auth.mfa.disable(call.signed_in, "email", **proof(body))})
