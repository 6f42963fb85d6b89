"""TOTP (RFC 6238) with pyotp: secrets encrypted at rest, +-1 step of clock drift, and the time
step returned so the store can refuse the same code twice."""

from __future__ import annotations

import base64
import hmac
import os
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .._optional import require

__all__ = ["SecretBox", "TOTPEnrollment", "matching_step", "new_secret", "qr_svg_data_uri"]

_SIX_DIGITS = re.compile(r"[0-9]{6}", re.ASCII)
_STEP = 30


def is_six_digits(code: str) -> bool:
    """Exactly six ASCII digits: full-width digits and "12345" are not codes (never `int()` a code)."""
    return _SIX_DIGITS.fullmatch(code) is not None


class SecretBox:
    """AES-256-GCM with a key derived from the auth secret, for TOTP secrets at rest. The user id
    is the associated data, so a secret copied onto another user's row does not decrypt."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._keys = [AESGCM(self._derive(secret)) for secret in secrets]

    @staticmethod
    def _derive(secret: str) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"authgate-totp", info=b"totp-secret").derive(
            secret.encode()
        )

    def seal(self, plaintext: str, user_id: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[0].encrypt(nonce, plaintext.encode(), user_id.encode())
        return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, user_id: str) -> str:
        from cryptography.exceptions import InvalidTag

        raw = base64.urlsafe_b64decode(sealed.removeprefix("v1.").encode())
        for key in self._keys:  # newest secret first; older ones still open rotated rows
            try:
                return key.decrypt(raw[:12], raw[12:], user_id.encode()).decode()
            except InvalidTag:
                continue
        raise ValueError("TOTP secret does not decrypt with any configured secret")


def new_secret() -> str:
    return str(require("mfa").random_base32())


def matching_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step (-1, 0 or +1 around `at`) whose code equals `code`, compared as strings in
    constant time; None when none does."""
    if not is_six_digits(code):
        return None
    totp = require("mfa").TOTP(secret)
    current = int(at.timestamp()) // _STEP
    found = None
    for step in (current - 1, current, current + 1):  # check all three: no early exit to time
        if hmac.compare_digest(totp.at(step * _STEP).encode(), code.encode()):
            found = step
    return found


def qr_svg_data_uri(uri: str) -> str:
    """The otpauth URI as an SVG QR code, ready for an <img src>."""
    return str(require("mfa", "segno").make(uri, error="m").svg_data_uri(scale=4))


@dataclass(frozen=True, slots=True)
class TOTPEnrollment:
    """What a user needs to add authgate to an authenticator app (shown once)."""

    secret: str
    otpauth_uri: str
    qr_svg: str

    def to_json(self) -> dict[str, str]:
        return {"secret": self.secret, "otpauth_uri": self.otpauth_uri, "qr_svg": self.qr_svg}
