"""The JWT session strategy's token: a JWE with `alg: dir`, `enc: A256CBC-HS512`, as Auth.js makes it.

Keys come from HKDF-SHA256 over each secret, salted with the cookie name, so one secret yields a
different key per cookie. A list of secrets rotates keys: the first encrypts, every one decrypts,
and `kid` (the key's JWK thumbprint) picks the right one without trial decryption. joserfc does the
cryptography; this module only pins the allowlist and refuses every header it did not write.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

__all__ = ["InvalidJWE", "JWECodec", "derive_key"]

_ALG, _ENC = "dir", "A256CBC-HS512"
_ALLOWED_HEADER = {"alg", "enc", "kid"}
_MAX_TOKEN = 8192
_MAX_HEADER = 512  # ours is about 120 characters; nothing legitimate is longer


class InvalidJWE(Exception):
    """Any token we will not accept: wrong header, tag, key, shape or expiry."""


def derive_key(secret: str, salt: str) -> bytes:
    """64 bytes for A256CBC-HS512 from a secret, with the cookie name as salt (as Auth.js does)."""
    info = f"authgate Generated Encryption Key ({salt})".encode()
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=salt.encode(), info=info).derive(secret.encode())


def _b64json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


class JWECodec:
    """Encrypts claims for one cookie name with the first secret; decrypts with any of them."""

    def __init__(self, secrets: Sequence[str], salt: str) -> None:
        if not secrets:
            raise ValueError("at least one secret is needed")
        keys = [OctKey.import_key(derive_key(secret, salt)) for secret in secrets]
        self._encrypting = keys[0]
        self._by_kid = {key.thumbprint(): key for key in keys}

    def encode(self, claims: Mapping[str, Any], *, max_age: int, now: float | None = None) -> str:
        """Encrypt `claims` plus iat, exp and jti."""
        issued = int(now if now is not None else time.time())
        payload = {**claims, "iat": issued, "exp": issued + max_age, "jti": str(uuid.uuid4())}
        header = {"alg": _ALG, "enc": _ENC, "kid": self._encrypting.thumbprint()}
        plaintext = json.dumps(payload, separators=(",", ":")).encode()
        return jwe.encrypt_compact(header, plaintext, self._encrypting, algorithms=[_ALG, _ENC])

    def decode(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The claims of a token we made and that has not expired; InvalidJWE otherwise."""
        if len(token) > _MAX_TOKEN or token.count(".") != 4:
            raise InvalidJWE("not a compact JWE")
        header_segment = token.split(".", 1)[0]
        if len(header_segment) > _MAX_HEADER:
            raise InvalidJWE("header too long")
        try:
            header = _b64json(header_segment)
        except (ValueError, UnicodeError, RecursionError):
            raise InvalidJWE("unreadable header") from None
        # Allowlist before any cryptography: no `zip` (compression oracles), no `crit`, no other alg.
        if not isinstance(header, dict) or set(header) - _ALLOWED_HEADER:
            raise InvalidJWE("unexpected header parameters")
        if header.get("alg") != _ALG or header.get("enc") != _ENC:
            raise InvalidJWE("only dir + A256CBC-HS512 is accepted")
        kid = header.get("kid")
        candidates = [self._by_kid[kid]] if isinstance(kid, str) and kid in self._by_kid else []
        if kid is None:
            candidates = list(self._by_kid.values())
        for key in candidates:
            try:
                plaintext = jwe.decrypt_compact(token, key, algorithms=[_ALG, _ENC]).plaintext
            except (JoseError, ValueError):
                continue
            break
        else:
            raise InvalidJWE("no key decrypts this token")
        try:
            claims = json.loads(plaintext or b"")
        except ValueError:
            raise InvalidJWE("payload is not JSON") from None
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise InvalidJWE("payload has no expiry")
        if claims["exp"] <= (now if now is not None else time.time()):
            raise InvalidJWE("expired")
        return claims
