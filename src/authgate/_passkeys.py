"""Passkeys (WebAuthn) with py_webauthn: registration for a signed-in user (after
step-up, a credential event), discoverable-credential sign-in, single-use expiring challenges, sign
counter checked, user verification (UV) required for a passkey to count as multi-factor, and the
assertion's `userHandle` checked against the credential's owner (WebAuthn L2, section 7.2).

The challenge travels inside the browser's signed clientDataJSON, so the server finds the stored
challenge by hashing the one the authenticator signed; a challenge is consumed on first use.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urlsplit

from ._optional import extra_error

try:
    from webauthn import (
        generate_authentication_options,
        generate_registration_options,
        options_to_json,
        verify_authentication_response,
        verify_registration_response,
    )
    from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )
except ModuleNotFoundError as error:
    raise extra_error(error, "passkeys") from None

from ._context import AuthContext
from ._errors import NotFound, Verification
from ._mfa import MFAFlow
from ._models import Authenticator, AuthSession, MFAChallenge, RequestMeta, SignInResult
from ._security import AccountSecurity
from ._verification import Verifications

__all__ = ["PasskeyFlow"]

REGISTER = "passkey_register"
SIGN_IN = "passkey_signin"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_CREDENTIAL_ID = re.compile(r"[A-Za-z0-9_-]{1,1024}")


def is_credential_id(value: object) -> bool:
    """A base64url credential id of a size the store keeps; anything else never reaches SQL."""
    return isinstance(value, str) and _CREDENTIAL_ID.fullmatch(value) is not None


def _signed_challenge(credential: dict[str, Any]) -> str:
    """The challenge inside clientDataJSON (base64url text), or Verification when unreadable."""
    try:
        client_data = json.loads(_unb64url(credential["response"]["clientDataJSON"]))
        challenge = client_data["challenge"]
    except (KeyError, TypeError, ValueError):
        raise Verification("The passkey response is malformed") from None
    if not isinstance(challenge, str) or not 16 <= len(challenge) <= 256:
        raise Verification("The passkey response is malformed")
    return challenge


class PasskeyFlow:
    """WebAuthn ceremonies for one `Auth`."""

    def __init__(self, ctx: AuthContext, *, security: AccountSecurity, mfa: MFAFlow) -> None:
        self.ctx = ctx
        self.options = ctx.config.passkeys
        self.security = security
        self.mfa = mfa
        self.tokens = Verifications(ctx)

    @property
    def _user_verification(self) -> UserVerificationRequirement:
        if self.options.allow_presence_only:
            return UserVerificationRequirement.PREFERRED
        return UserVerificationRequirement.REQUIRED

    def relying_party(self, origin: str) -> tuple[str, list[str]]:
        """(rp_id, accepted origins): configured, or the app's own origin."""
        rp_id = self.options.rp_id or urlsplit(origin).hostname or "localhost"
        return rp_id, list(self.options.origins) or [origin]

    async def registration_options(
        self, current: AuthSession, *, origin: str, password: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        """Start adding a passkey; needs step-up (a stolen session alone adds no passkey)."""
        current = await self.security.require_step_up(current, password=password, code=code)
        user = current.user
        rp_id, _ = self.relying_party(origin)
        existing = await self.ctx.store.list_authenticators(user.id)
        options = generate_registration_options(
            rp_id=rp_id,
            rp_name=self.options.rp_name,
            user_id=user.id.encode(),
            user_name=user.email,
            user_display_name=user.name or user.email,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=self._user_verification,
            ),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=_unb64url(a.credential_id)) for a in existing],
        )
        await self.tokens.issue(
            REGISTER, user_id=user.id, lifetime=self.options.challenge_lifetime, raw=_b64url(options.challenge)
        )
        result: dict[str, Any] = json.loads(options_to_json(options))
        return result

    async def register(
        self, current: AuthSession, credential: dict[str, Any], name: str | None, *, origin: str
    ) -> Authenticator:
        current = await self.security.require_step_up(current)
        user = current.user
        challenge = _signed_challenge(credential)
        token = await self.tokens.consume(challenge, REGISTER)
        if token.user_id != user.id:
            raise Verification()
        rp_id, origins = self.relying_party(origin)
        try:
            verified = verify_registration_response(
                credential=credential, expected_challenge=_unb64url(challenge), expected_rp_id=rp_id,
                expected_origin=origins, require_user_verification=not self.options.allow_presence_only,
            )  # fmt: skip
        except (InvalidRegistrationResponse, ValueError, TypeError, KeyError) as error:
            raise Verification(f"The passkey could not be verified: {error}") from None
        if len(verified.credential_id) > 768:  # 1024 base64url characters, the column's width
            raise Verification("This passkey's credential id is too long")
        transports = credential.get("response", {}).get("transports") or []
        authenticator = Authenticator(
            credential_id=_b64url(verified.credential_id),
            user_id=user.id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=(name or "Passkey")[:255],
            created_at=self.ctx.config.clock(),
            transports=tuple(str(t) for t in transports if isinstance(t, str))[:8],
            backed_up=verified.credential_backed_up,
        )
        await self.ctx.store.add_authenticator(authenticator)  # PasskeyInUse for a duplicate
        await self.security.credential_changed(
            user, "passkey_added", keep_session=current.session.id, credential=authenticator.credential_id[:16]
        )
        return authenticator

    async def remove(
        self, current: AuthSession, credential_id: str, *, password: str | None = None, code: str | None = None
    ) -> None:
        """Remove one of the user's passkeys (needs step-up; a credential event)."""
        current = await self.security.require_step_up(current, password=password, code=code)
        if not await self.ctx.store.delete_authenticator(current.user.id, credential_id):
            raise NotFound("No such passkey")
        await self.security.credential_changed(
            current.user, "passkey_removed", keep_session=current.session.id, credential=credential_id[:16]
        )

    async def authentication_options(self, *, origin: str) -> dict[str, Any]:
        rp_id, _ = self.relying_party(origin)
        options = generate_authentication_options(rp_id=rp_id, user_verification=self._user_verification)
        await self.tokens.issue(
            SIGN_IN, user_id=None, lifetime=self.options.challenge_lifetime, raw=_b64url(options.challenge)
        )
        result: dict[str, Any] = json.loads(options_to_json(options))
        return result

    async def sign_in(
        self, credential: dict[str, Any], *, origin: str, meta: RequestMeta | None, trusted_device: str | None = None
    ) -> SignInResult | MFAChallenge:
        """Verify an assertion and start a session. A user-verified passkey is two factors in one
        (something you have, unlocked by something you know or are), so no second factor follows.
        A presence-only key (when allowed at all) is one factor, like a password."""
        challenge = _signed_challenge(credential)
        await self.tokens.consume(challenge, SIGN_IN)
        credential_id = credential.get("id")
        if not is_credential_id(credential_id):
            raise Verification("The passkey response is malformed")
        assert isinstance(credential_id, str)  # noqa: S101 - narrowed by is_credential_id
        stored = await self.ctx.store.get_authenticator(credential_id)
        if stored is None:
            raise Verification("This passkey is not registered")
        # Usernameless sign-in identified nobody beforehand, so the handle must be there and name
        # the credential's owner (WebAuthn L2, 7.2 step 6).
        user_handle = (credential.get("response") or {}).get("userHandle")
        if not isinstance(user_handle, str) or user_handle != _b64url(stored.user_id.encode()):
            raise Verification("The passkey does not belong to this account")
        rp_id, origins = self.relying_party(origin)
        try:
            verified = verify_authentication_response(
                credential=credential, expected_challenge=_unb64url(challenge), expected_rp_id=rp_id,
                expected_origin=origins, credential_public_key=stored.public_key,
                credential_current_sign_count=stored.sign_count,
                require_user_verification=not self.options.allow_presence_only,
            )  # fmt: skip
        except (InvalidAuthenticationResponse, ValueError, TypeError, KeyError):
            raise Verification("The passkey could not be verified") from None
        now = self.ctx.config.clock()
        if not await self.ctx.store.update_authenticator_use(
            credential_id, sign_count=verified.new_sign_count, now=now
        ):
            raise Verification("The passkey's signature counter went backwards; it may be cloned")
        user = await self.ctx.store.get_user(stored.user_id)
        if user is None:
            raise Verification()
        # A user-verified passkey is two factors in one (possession plus PIN or biometrics).
        return await self.mfa.after_first_factor(
            user, meta, method="passkey", trusted_device=trusted_device, second_factor_done=verified.user_verified
        )

    @staticmethod
    def describe(authenticator: Authenticator) -> dict[str, Any]:
        return {
            "id": authenticator.credential_id,
            "name": authenticator.name,
            "created_at": authenticator.created_at.isoformat().replace("+00:00", "Z"),
            "last_used_at": authenticator.last_used_at.isoformat().replace("+00:00", "Z")
            if authenticator.last_used_at
            else None,
            "backed_up": authenticator.backed_up,
            "transports": list(authenticator.transports),
        }
