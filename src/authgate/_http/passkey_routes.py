"""Passkeys: registration (step-up), listing, renaming and removal for a signed-in user, and
sign-in with a passkey (/signin/passkey for the challenge, /callback/passkey for the assertion)."""

from __future__ import annotations

from .._errors import InvalidRequest, NotFound
from .._mfa import TRUSTED_DEVICE_COOKIE
from .answers import send_sign_in
from .bodies import PasskeyName, PasskeyRegistration, PasskeySignIn, StepUp
from .call import Call
from .mfa_routes import proof
from .responses import send_json
from .session_routes import SIGNED_IN_ANSWER
from .spec import STRING, TRUE, Access, RouteList, closed, ok, query, ref

__all__ = ["ROUTES"]

ROUTES = RouteList()
route = ROUTES.route
_PASSKEY_ID = (query("id", {**STRING, "maxLength": 1024, "minLength": 1}, required=True, description="the passkey id"),)


@route(
    "POST", "/passkey/register/options", Access.SIGNED_IN,
    summary="Passkey registration options (a fresh challenge; step-up)", answers={200: ok(ref("WebAuthnOptions"))},
    errors=(429,), body_optional=True, description="User verification is required.",
)  # fmt: skip
async def register_options(call: Call, body: StepUp) -> None:
    options = await call.auth.passkeys.registration_options(call.signed_in, origin=call.origin(), **proof(body))
    await send_json(call.send, 200, options)


@route(
    "POST", "/passkey/register/verify", Access.SIGNED_IN, summary="Register a passkey from the authenticator's answer",
    answers={200: ok(closed({"passkey": ref("Passkey")}))}, errors=(409,),
    description="Inside the step-up window; a credential event. 409 `PasskeyInUse` for a credential already "
    "registered.",
)  # fmt: skip
async def register(call: Call, body: PasskeyRegistration) -> None:
    passkeys = call.auth.passkeys
    added = await passkeys.register(call.signed_in, body.credential, body.name, origin=call.origin())
    await send_json(call.send, 200, {"passkey": passkeys.describe(added)})


@route(
    "GET", "/passkeys", Access.SIGNED_IN, summary="List the user's passkeys",
    answers={200: ok(closed({"passkeys": {"type": "array", "items": ref("Passkey")}}))},
)  # fmt: skip
async def passkey_list(call: Call, _: None) -> None:
    found = await call.auth.store.list_authenticators(call.signed_in.user.id)
    await send_json(call.send, 200, {"passkeys": [call.auth.passkeys.describe(a) for a in found]})


def _passkey_id(call: Call) -> str:
    # Imported here: the passkeys extra (webauthn) is optional, and this module is always imported.
    from .._passkeys import is_credential_id

    credential_id = call.query().get("id")
    if not credential_id:
        raise InvalidRequest("id: the passkey id is required", field="id")
    if not is_credential_id(credential_id):
        raise NotFound("No such passkey")
    return credential_id


@route(
    "PATCH", "/passkeys", Access.SIGNED_IN, summary="Rename a passkey", answers={200: ok(closed({"renamed": TRUE}))},
    errors=(404,), query=_PASSKEY_ID, description="404 for a passkey that is not yours.",
)  # fmt: skip
async def passkey_rename(call: Call, body: PasskeyName) -> None:
    credential_id = _passkey_id(call)
    if not await call.auth.store.rename_authenticator(call.signed_in.user.id, credential_id, body.name):
        raise NotFound("No such passkey")
    await send_json(call.send, 200, {"renamed": True})


@route(
    "DELETE", "/passkeys", Access.SIGNED_IN, summary="Delete a passkey (step-up)",
    answers={200: ok(closed({"deleted": TRUE}))}, errors=(404, 429), body_optional=True, query=_PASSKEY_ID,
    description="A credential event; 404 for a passkey that is not yours.",
)  # fmt: skip
async def passkey_delete(call: Call, body: StepUp) -> None:
    await call.auth.passkeys.remove(call.signed_in, _passkey_id(call), **proof(body))
    await send_json(call.send, 200, {"deleted": True})


@route(
    "POST", "/signin/passkey", Access.CLIENT, summary="Passkey sign-in options (a fresh challenge)",
    answers={200: ok(ref("WebAuthnOptions"))},
)  # fmt: skip
async def sign_in_options(call: Call, _: None) -> None:
    await send_json(call.send, 200, await call.auth.passkeys.authentication_options(origin=call.origin()))


@route(
    "POST", "/callback/passkey", Access.CLIENT, summary="Sign in with a passkey assertion",
    answers={200: SIGNED_IN_ANSWER},
)  # fmt: skip
async def passkey_callback(call: Call, body: PasskeySignIn) -> None:
    result = await call.auth.passkeys.sign_in(
        body.credential, origin=call.origin(), meta=call.meta(), trusted_device=call.cookie(TRUSTED_DEVICE_COOKIE)
    )
    await send_sign_in(call, result, body.transport)
