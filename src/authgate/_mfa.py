"""The two-step sign-in (a first factor, then a second), TOTP enrolment, recovery codes
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
from dataclasses import replace
from typing import Any

from ._context import AuthContext
from ._errors import InvalidRequest, ServiceUnavailable, Verification
from ._models import AuthSession, MFAChallenge, MFAFactor, RequestMeta, SignInResult, User
from ._optional import require
from ._security import AccountSecurity
from ._session_flow import SessionFlow
from ._tokens import hash_token
from ._totp_codes import TOTPCodes
from ._verification import Verifications
from .mail import otp_message
from .mfa._totp import TOTPEnrollment, is_six_digits, matching_step, new_secret, qr_svg_data_uri

__all__ = ["TRUSTED_DEVICE_COOKIE", "MFAFlow"]

logger = logging.getLogger("authgate")

CHALLENGE = "mfa_challenge"
TRUSTED_DEVICE_COOKIE = "authgate_trusted_device"
RECOVERY_CODES = 10


def _recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(7)).decode().lower()[:10]
    return f"{raw[:5]}-{raw[5:]}"


class MFAFlow:
    """Second-factor operations for one `Auth`."""

    def __init__(
        self, ctx: AuthContext, *, sessions: SessionFlow, security: AccountSecurity, totp: TOTPCodes
    ) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.options = ctx.config.mfa
        self.sessions = sessions
        self.security = security
        self.totp = totp
        self.tokens = Verifications(ctx)

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

    async def after_first_factor(
        self,
        user: User,
        meta: RequestMeta | None,
        *,
        method: str,
        trusted_device: str | None,
        second_factor_done: bool = False,
        account: Any = None,
        profile: Any = None,
    ) -> SignInResult | MFAChallenge:
        """Where every sign-in path goes once its first factor passed: the MFA challenge when a
        second factor is due (not done already, no trusted device for this user), else the session."""
        if not second_factor_done and self.trusted_device(trusted_device, user) is None:
            methods = await self.methods_for(user)
            if methods:
                return await self.challenge(user, methods, meta)
        return await self.sessions.start(user, meta, method=method, account=account, profile=profile)

    async def methods_for(self, user: User) -> tuple[str, ...]:
        """The second factors a user must choose from; empty when none is due."""
        factors = [f for f in await self.ctx.store.list_mfa_factors(user.id) if f.confirmed]
        kinds = {f.kind for f in factors}
        if not kinds and self.options.required:
            kinds = {"email"}
        methods = tuple(sorted(kinds))
        if "totp" in kinds and await self.ctx.store.count_recovery_codes(user.id):
            methods += ("recovery_code",)
        return methods

    async def challenge(self, user: User, methods: tuple[str, ...], meta: RequestMeta | None) -> MFAChallenge:
        """Create the challenge (and email a code when that is a method). The challenge remembers
        the credential version the first factor was checked against (see `verify`)."""
        if "email" in methods and self.ctx.email_sender is None:
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
            minutes = max(1, round(self.options.code_lifetime.total_seconds() / 60))
            await self.ctx.deliver(otp_message(user.email, code, minutes))
        return MFAChallenge(raw, int(self.options.code_lifetime.total_seconds()), methods)

    async def verify(self, raw: str, code: str, *, meta: RequestMeta | None) -> SignInResult:
        """Check a code against a challenge; the first right code creates the session."""
        token = await self.tokens.peek(raw, CHALLENGE)
        user_id = token.user_id or ""
        await self.ctx.rate_limit("otp_per_user", user_id)
        if await self.tokens.count_attempt(raw) > self.options.max_attempts:
            await self.ctx.store.consume_verification(hash_token(raw), CHALLENGE)  # dead now
            raise Verification("Too many wrong codes; sign in again")
        methods = (token.data or {}).get("methods", [])
        if not await self._code_matches(raw, token.data or {}, methods, user_id, code):
            await self.ctx.audit("mfa_failed", user_id=user_id, meta=meta)
            raise Verification("Wrong code")
        await self.tokens.consume(raw, CHALLENGE)  # a concurrent right code loses here
        user = await self.ctx.store.get_user(user_id)
        if user is None:
            raise Verification()
        # The session insert checks the version the first factor saw, not today's.
        checked = replace(user, credential_version=int((token.data or {}).get("cv", user.credential_version)))
        return await self.sessions.start(checked, meta, method="mfa")

    async def _code_matches(self, raw: str, data: dict[str, Any], methods: list[str], user_id: str, code: str) -> bool:
        code = code.strip()
        if is_six_digits(code):
            expected = data.get("code_mac")
            if "email" in methods and isinstance(expected, str):
                candidates = self._macs("otp", hash_token(raw), code)  # issued before a rotation too
                if any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates):
                    return True
            if "totp" in methods:
                return await self.totp.code_matches(user_id, code)
            return False
        if "recovery_code" in methods and len(code) <= 32:
            return await self._use_recovery_code(user_id, code)
        return False

    async def _use_recovery_code(self, user_id: str, code: str) -> bool:
        for code_hash in self._macs("recovery", code.lower()):  # codes made under an older secret
            if await self.ctx.store.use_recovery_code(user_id, code_hash):
                return True
        return False

    # -- enrolment -------------------------------------------------------------------------------

    async def enroll_totp(
        self, current: AuthSession, *, password: str | None = None, code: str | None = None
    ) -> TOTPEnrollment:
        """Start TOTP enrolment (needs step-up): an unconfirmed factor with a fresh secret."""
        current = await self.security.require_step_up(current, password=password, code=code)
        user = current.user
        existing = [f for f in await self.ctx.store.list_mfa_factors(user.id) if f.kind == "totp"]
        if existing and existing[0].confirmed:
            raise InvalidRequest("TOTP is already enabled; disable it first")
        secret = new_secret()
        factor = MFAFactor(
            user_id=user.id, kind="totp", confirmed=False, created_at=self.config.clock(),
            secret=self.totp.box.seal(secret, user.id),
        )  # fmt: skip
        await self.ctx.store.save_mfa_factor(factor)
        pyotp = require("mfa")

        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=self.options.totp_issuer)
        return TOTPEnrollment(secret=secret, otpauth_uri=uri, qr_svg=qr_svg_data_uri(uri))

    async def confirm_totp(self, current: AuthSession, code: str) -> list[str]:
        """Confirm enrolment with a first code; returns the recovery codes (shown once). The
        unconfirmed -> confirmed step is atomic: of parallel confirmations one gets the codes."""
        current = await self.security.require_step_up(current)
        user = current.user
        factor = next((f for f in await self.ctx.store.list_mfa_factors(user.id) if f.kind == "totp"), None)
        if factor is None or factor.secret is None or factor.confirmed:
            raise InvalidRequest("start TOTP enrolment first")
        await self.ctx.rate_limit("otp_per_user", user.id)
        step = matching_step(self.totp.open_secret(factor, user.id), code.strip(), self.config.clock())
        if step is None:
            raise Verification("Wrong code")
        if not await self.ctx.store.confirm_mfa_factor(user.id, "totp", secret=factor.secret, step=step):
            raise InvalidRequest("start TOTP enrolment first")  # another request confirmed it
        codes = await self._replace_recovery_codes(user)
        await self.security.credential_changed(user, "mfa_enabled", keep_session=current.session.id, kind="totp")
        return codes

    async def new_recovery_codes(
        self, current: AuthSession, *, password: str | None = None, code: str | None = None
    ) -> list[str]:
        """Replace the recovery codes (needs a password or TOTP code); the plain codes exist only
        in this answer."""
        current = await self.security.reauthenticate(current, password=password, code=code)
        factors = await self.ctx.store.list_mfa_factors(current.user.id)
        if not any(f.kind == "totp" and f.confirmed for f in factors):
            raise InvalidRequest("recovery codes come with TOTP; enable it first")
        codes = await self._replace_recovery_codes(current.user)
        await self.security.credential_changed(current.user, "recovery_codes", keep_session=current.session.id)
        return codes

    async def _replace_recovery_codes(self, user: User) -> list[str]:
        codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
        hashes = [self._mac("recovery", code) for code in codes]
        await self.ctx.store.replace_recovery_codes(user.id, hashes, now=self.config.clock())
        return codes

    async def disable(
        self, current: AuthSession, kind: str, *, password: str | None = None, code: str | None = None
    ) -> bool:
        """Turn a factor off. TOTP needs a password or a TOTP code (never the window alone); email
        codes need step-up."""
        security = self.security
        if kind == "totp":
            current = await security.reauthenticate(current, password=password, code=code)
        else:
            current = await security.require_step_up(current, password=password, code=code)
        user = current.user
        removed = await self.ctx.store.delete_mfa_factor(user.id, kind)
        if kind == "totp":
            await self.ctx.store.replace_recovery_codes(user.id, [], now=self.config.clock())
        if removed:
            await self.security.credential_changed(user, "mfa_disabled", keep_session=current.session.id,
                                                        kind=kind)  # fmt: skip
        return removed

    async def enable_email(self, current: AuthSession, *, password: str | None = None, code: str | None = None) -> None:
        """Email codes as the second factor (needs step-up); the address must be verified first."""
        if self.ctx.email_sender is None:
            raise InvalidRequest("email sign-in codes need an email_sender; none is configured")
        current = await self.security.require_step_up(current, password=password, code=code)
        if not current.user.email_verified:
            raise InvalidRequest("verify your email address before using it for sign-in codes")
        await self.ctx.store.save_mfa_factor(MFAFactor(current.user.id, "email", True, self.config.clock()))
        await self.security.credential_changed(current.user, "mfa_enabled", keep_session=current.session.id,
                                                    kind="email")  # fmt: skip

    async def status(self, user: User) -> dict[str, Any]:
        factors = await self.ctx.store.list_mfa_factors(user.id)
        return {
            "factors": [{"kind": f.kind, "confirmed": f.confirmed} for f in factors],
            "recovery_codes_left": await self.ctx.store.count_recovery_codes(user.id),
            "required": self.options.required,
        }
