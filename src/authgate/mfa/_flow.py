"""The two-step sign-in (goauth's credentials + MFA sequence), TOTP enrolment, recovery codes
and trusted devices.

A challenge is a random token stored hashed, bound to the user, dead after `max_attempts` wrong
codes or `code_lifetime`, and consumed by the first right one. Email codes are stored as an HMAC
and compared in constant time as strings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .._errors import InvalidRequest, ServiceUnavailable, Verification
from .._models import AuthSession, MFAFactor, RequestMeta, SignInResult, User
from .._optional import require
from .._tokens import hash_token
from .._verification import Verifications
from ._totp import SecretBox, TOTPEnrollment, is_six_digits, matching_step, new_secret, qr_svg_data_uri

if TYPE_CHECKING:
    from .._engine import Auth

__all__ = ["TRUSTED_DEVICE_COOKIE", "MFAChallenge", "MFAFlow"]

logger = logging.getLogger("authgate")

CHALLENGE = "mfa_challenge"
TRUSTED_DEVICE_COOKIE = "authgate_trusted_device"
RECOVERY_CODES = 10


@dataclass(frozen=True, slots=True)
class MFAChallenge:
    """The first step passed: no session yet, a second factor is due."""

    challenge: str
    expires_in: int
    methods: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "mfa_required": True,
            "challenge": self.challenge,
            "expires_in": self.expires_in,
            "methods": list(self.methods),
        }


def _recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(7)).decode().lower()[:10]
    return f"{raw[:5]}-{raw[5:]}"


class MFAFlow:
    """Second-factor operations for one `Auth`."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self.config = auth.config
        self.options = auth.config.mfa
        self.tokens = Verifications(auth)
        self.box = SecretBox(auth.config.secrets)

    def _mac(self, *parts: str, secret: str | None = None) -> str:
        message = "\x1f".join(parts).encode()
        key = (secret or self.config.signing_secret).encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def _macs(self, *parts: str) -> list[str]:
        """The MAC under every configured secret, newest first: rotation keeps old values valid."""
        return [self._mac(*parts, secret=secret) for secret in self.config.secrets]

    # -- trusted devices -------------------------------------------------------------------------

    def trusted_device_cookie(self, user: User) -> str:
        """`device.expiry.mac`, bound to the user and to its credential version, so every trusted
        device ends with the next credential event; verified without a store lookup."""
        device = secrets.token_urlsafe(12)
        expires = int((self.config.clock() + self.options.trusted_device_lifetime).timestamp())
        mac = self._mac("trusted", user.id, str(user.credential_version), device, str(expires))
        return f"{device}.{expires}.{mac}"

    def trusted_device(self, cookie: str | None, user: User) -> str | None:
        """The device id when the cookie is ours, unexpired, for this user and its current
        credential version; else None."""
        if not cookie or cookie.count(".") != 2 or len(cookie) > 200:
            return None
        device, expires, mac = cookie.split(".")
        if not expires.isdigit() or int(expires) <= self.config.clock().timestamp():
            return None
        expected = self._macs("trusted", user.id, str(user.credential_version), device, expires)
        if not any(hmac.compare_digest(mac.encode(), candidate.encode()) for candidate in expected):
            return None
        return device

    # -- sign-in ---------------------------------------------------------------------------------

    async def methods_for(self, user: User) -> tuple[str, ...]:
        """The second factors a user must choose from; empty when none is due."""
        factors = [f for f in await self.auth.store.list_mfa_factors(user.id) if f.confirmed]
        kinds = {f.kind for f in factors}
        if not kinds and self.options.required:
            kinds = {"email"}
        methods = tuple(sorted(kinds))
        if "totp" in kinds and await self.auth.store.count_recovery_codes(user.id):
            methods += ("recovery_code",)
        return methods

    async def challenge(self, user: User, methods: tuple[str, ...], meta: RequestMeta | None) -> MFAChallenge:
        """Create the challenge (and email a code when that is a method). The challenge remembers
        the credential version the first factor was checked against (see `verify`)."""
        if "email" in methods and self.auth.email_sender is None:
            # Fail closed: dropping the factor would turn a second factor off without anyone asking.
            others = tuple(m for m in methods if m != "email")
            if not others:
                logger.error("authgate: user %s has email sign-in codes but no email_sender is configured", user.id)
                raise ServiceUnavailable("Sign-in codes cannot be sent right now")
            methods = others
        data: dict[str, Any] = {"methods": list(methods), "cv": user.credential_version}
        code = None
        if "email" in methods:
            code = f"{secrets.randbelow(10**6):06d}"
        raw = secrets.token_urlsafe(32)
        if code is not None:
            data["code_mac"] = self._mac("otp", hash_token(raw), code)
        await self.tokens.issue(CHALLENGE, user_id=user.id, lifetime=self.options.code_lifetime, data=data, raw=raw)
        if code is not None:
            from ..mail import otp_message

            minutes = max(1, round(self.options.code_lifetime.total_seconds() / 60))
            await self.auth.accounts.deliver(otp_message(user.email, code, minutes))
        return MFAChallenge(raw, int(self.options.code_lifetime.total_seconds()), methods)

    async def verify(self, raw: str, code: str, *, meta: RequestMeta | None) -> SignInResult:
        """Check a code against a challenge; the first right code creates the session."""
        token = await self.tokens.peek(raw, CHALLENGE)
        user_id = token.user_id or ""
        await self.auth.rate_limit("otp_per_user", user_id)
        if await self.tokens.count_attempt(raw) > self.options.max_attempts:
            await self.auth.store.consume_verification(hash_token(raw), CHALLENGE)  # dead now
            raise Verification("Too many wrong codes; sign in again")
        methods = (token.data or {}).get("methods", [])
        if not await self._code_matches(raw, token.data or {}, methods, user_id, code):
            await self.auth.audit("mfa_failed", user_id=user_id, meta=meta)
            raise Verification("Wrong code")
        await self.tokens.consume(raw, CHALLENGE)  # a concurrent right code loses here
        user = await self.auth.store.get_user(user_id)
        if user is None:
            raise Verification()
        # The session insert checks the version the first factor saw, not today's.
        checked = replace(user, credential_version=int((token.data or {}).get("cv", user.credential_version)))
        return await self.auth.start_session(checked, meta, method="mfa")

    async def _code_matches(self, raw: str, data: dict[str, Any], methods: list[str], user_id: str, code: str) -> bool:
        code = code.strip()
        if is_six_digits(code):
            expected = data.get("code_mac")
            if "email" in methods and isinstance(expected, str):
                candidates = self._macs("otp", hash_token(raw), code)  # issued before a rotation too
                if any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates):
                    return True
            if "totp" in methods:
                return await self._totp_matches(user_id, code)
            return False
        if "recovery_code" in methods and len(code) <= 32:
            return await self._use_recovery_code(user_id, code)
        return False

    async def _use_recovery_code(self, user_id: str, code: str) -> bool:
        for code_hash in self._macs("recovery", code.lower()):  # codes made under an older secret
            if await self.auth.store.use_recovery_code(user_id, code_hash):
                return True
        return False

    async def totp_code_matches(self, user_id: str, code: str) -> bool:
        """A current code of the user's confirmed TOTP factor (spent: it cannot be replayed)."""
        code = code.strip()
        if not is_six_digits(code):
            return False
        factors = await self.auth.store.list_mfa_factors(user_id)
        if not any(f.kind == "totp" and f.confirmed for f in factors):
            return False
        return await self._totp_matches(user_id, code)

    def _open_secret(self, factor: MFAFactor, user_id: str) -> str:
        assert factor.secret is not None  # noqa: S101 - callers check
        try:
            return self.box.open(factor.secret, user_id)
        except ValueError:
            # The secret it was sealed with is no longer configured: a clear answer, and the fix for
            # the operator in the log, never a 500.
            logger.error(
                "authgate: the TOTP secret of user %s does not decrypt with any configured secret; add the "
                "previous secret back as secret=[new, old] (AUTHGATE_SECRET must stay the same across restarts)",
                user_id,
            )
            raise Verification("Your authenticator app cannot be checked right now; use a recovery code") from None

    async def _totp_matches(self, user_id: str, code: str) -> bool:
        factor = next((f for f in await self.auth.store.list_mfa_factors(user_id) if f.kind == "totp"), None)
        if factor is None or factor.secret is None:
            return False
        step = matching_step(self._open_secret(factor, user_id), code, self.config.clock())
        # The store refuses a step it has seen: the same code cannot be used twice in its window.
        return step is not None and await self.auth.store.advance_totp_step(user_id, step)

    # -- enrolment -------------------------------------------------------------------------------

    async def enroll_totp(
        self, current: AuthSession, *, password: str | None = None, code: str | None = None
    ) -> TOTPEnrollment:
        """Start TOTP enrolment (needs step-up): an unconfirmed factor with a fresh secret."""
        current = await self.auth.security.require_step_up(current, password=password, code=code)
        user = current.user
        existing = [f for f in await self.auth.store.list_mfa_factors(user.id) if f.kind == "totp"]
        if existing and existing[0].confirmed:
            raise InvalidRequest("TOTP is already enabled; disable it first")
        secret = new_secret()
        factor = MFAFactor(
            user_id=user.id, kind="totp", confirmed=False, created_at=self.config.clock(),
            secret=self.box.seal(secret, user.id),
        )  # fmt: skip
        await self.auth.store.save_mfa_factor(factor)
        pyotp = require("mfa")

        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=self.options.totp_issuer)
        return TOTPEnrollment(secret=secret, otpauth_uri=uri, qr_svg=qr_svg_data_uri(uri))

    async def confirm_totp(self, current: AuthSession, code: str) -> list[str]:
        """Confirm enrolment with a first code; returns the recovery codes (shown once). The
        unconfirmed -> confirmed step is atomic: of parallel confirmations one gets the codes."""
        current = await self.auth.security.require_step_up(current)
        user = current.user
        factor = next((f for f in await self.auth.store.list_mfa_factors(user.id) if f.kind == "totp"), None)
        if factor is None or factor.secret is None or factor.confirmed:
            raise InvalidRequest("start TOTP enrolment first")
        await self.auth.rate_limit("otp_per_user", user.id)
        step = matching_step(self._open_secret(factor, user.id), code.strip(), self.config.clock())
        if step is None:
            raise Verification("Wrong code")
        if not await self.auth.store.confirm_mfa_factor(user.id, "totp", secret=factor.secret, step=step):
            raise InvalidRequest("start TOTP enrolment first")  # another request confirmed it
        codes = await self._replace_recovery_codes(user)
        await self.auth.security.credential_changed(user, "mfa_enabled", keep_session=current.session.id, kind="totp")
        return codes

    async def new_recovery_codes(
        self, current: AuthSession, *, password: str | None = None, code: str | None = None
    ) -> list[str]:
        """Replace the recovery codes (needs a password or TOTP code); the plain codes exist only
        in this answer."""
        current = await self.auth.security.reauthenticate(current, password=password, code=code)
        factors = await self.auth.store.list_mfa_factors(current.user.id)
        if not any(f.kind == "totp" and f.confirmed for f in factors):
            raise InvalidRequest("recovery codes come with TOTP; enable it first")
        codes = await self._replace_recovery_codes(current.user)
        await self.auth.security.credential_changed(current.user, "recovery_codes", keep_session=current.session.id)
        return codes

    async def _replace_recovery_codes(self, user: User) -> list[str]:
        codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
        hashes = [self._mac("recovery", code) for code in codes]
        await self.auth.store.replace_recovery_codes(user.id, hashes, now=self.config.clock())
        return codes

    async def disable(
        self, current: AuthSession, kind: str, *, password: str | None = None, code: str | None = None
    ) -> bool:
        """Turn a factor off. TOTP needs a password or a TOTP code (never the window alone); email
        codes need step-up."""
        security = self.auth.security
        if kind == "totp":
            current = await security.reauthenticate(current, password=password, code=code)
        else:
            current = await security.require_step_up(current, password=password, code=code)
        user = current.user
        removed = await self.auth.store.delete_mfa_factor(user.id, kind)
        if kind == "totp":
            await self.auth.store.replace_recovery_codes(user.id, [], now=self.config.clock())
        if removed:
            await self.auth.security.credential_changed(user, "mfa_disabled", keep_session=current.session.id,
                                                        kind=kind)  # fmt: skip
        return removed

    async def enable_email(self, current: AuthSession, *, password: str | None = None, code: str | None = None) -> None:
        """Email codes as the second factor (needs step-up); the address must be verified first."""
        if self.auth.email_sender is None:
            raise InvalidRequest("email sign-in codes need an email_sender; none is configured")
        current = await self.auth.security.require_step_up(current, password=password, code=code)
        if not current.user.email_verified:
            raise InvalidRequest("verify your email address before using it for sign-in codes")
        await self.auth.store.save_mfa_factor(MFAFactor(current.user.id, "email", True, self.config.clock()))
        await self.auth.security.credential_changed(current.user, "mfa_enabled", keep_session=current.session.id,
                                                    kind="email")  # fmt: skip

    async def status(self, user: User) -> dict[str, Any]:
        factors = await self.auth.store.list_mfa_factors(user.id)
        return {
            "factors": [{"kind": f.kind, "confirmed": f.confirmed} for f in factors],
            "recovery_codes_left": await self.auth.store.count_recovery_codes(user.id),
            "required": self.options.required,
        }
