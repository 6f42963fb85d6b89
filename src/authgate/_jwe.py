"""The JWT session strategy's token: a JWE with `alg: dir`, `enc: A256CBC-HS512`, as Auth.js makes it.

Keys come from HKDF-SHA256 over each secret, salted with the cookie name, so one secret yields a
different key per cookie. A list of secrets rotates keys: the first encrypts, every one decrypts,
and `kid` (the key's JWK thumbprint, RFC 7638) picks the right one without trial decryption.

The codec does the one construction it accepts directly on `cryptography` (RFC 7516 compact form,
RFC 7518 5.2.5: AES-256-CBC with an HMAC-SHA-512 tag truncated to 32 bytes over the protected
header, IV, ciphertext and the header's bit length), so a check does not pay for a general JOSE
library's registries and key objects. Tokens stay interchangeable with joserfc's and Auth.js's
(tests/test_jwe.py proves both directions). The header allowlist is checked before any
cryptography and the tag before any decryption.

Verified tokens are remembered in a bounded cache keyed by the whole token string, so a token seen
again skips the MAC and the decryption; see `VerifiedCache` for why that cannot accept anything the
full check would refuse.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["InvalidJWE", "JWECodec", "VerifiedCache", "derive_key", "key_thumbprint"]

_ALG, _ENC = "dir", "A256CBC-HS512"
_ALLOWED_HEADER = {"alg", "enc", "kid"}
_MAX_TOKEN = 8192
_MAX_HEADER = 512  # ours is about 120 characters; nothing legitimate is longer
_IV_BYTES, _TAG_BYTES, _BLOCK = 16, 32, 16
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_URL_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_SCALARS = (str, int, float, bool, type(None))


class InvalidJWE(Exception):
    """Any token we will not accept: wrong header, tag, key, shape or expiry."""


def derive_key(secret: str, salt: str) -> bytes:
    """64 bytes for A256CBC-HS512 from a secret, with the cookie name as salt (as Auth.js does)."""
    info = f"authgate Generated Encryption Key ({salt})".encode()
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=salt.encode(), info=info).derive(secret.encode())


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(segment: str) -> bytes:
    """Strict unpadded base64url: only its 64 characters, no padding, and canonical (the unused low
    bits of the last character are zero; otherwise one token has many spellings, each a separate
    entry in the verified-token cache)."""
    try:
        raw = segment.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidJWE("not base64url") from None
    # `+`, `/` and `=` are base64 but not unpadded base64url; strict mode refuses everything else.
    rem = len(raw) % 4
    if rem == 1 or b"+" in raw or b"/" in raw or b"=" in raw:
        raise InvalidJWE("not base64url")
    try:
        data = binascii.a2b_base64(raw.translate(_URL_TO_STANDARD) + b"=" * (-rem % 4), strict_mode=True)
    except binascii.Error:
        raise InvalidJWE("not base64url") from None
    if rem and _ALPHABET.index(segment[-1]) & (0x0F if rem == 2 else 0x03):
        raise InvalidJWE("not canonical base64url")
    return data


def key_thumbprint(key: bytes) -> str:
    """The RFC 7638 JWK thumbprint of a symmetric key: what joserfc's `OctKey.thumbprint()` gives."""
    members = json.dumps({"k": _b64encode(key), "kty": "oct"}, separators=(",", ":"), sort_keys=True)
    return _b64encode(hashlib.sha256(members.encode("ascii")).digest())


class _Key:
    """One derived key split as RFC 7518 5.2.2.1 says: the first half MACs, the second encrypts."""

    __slots__ = ("enc_key", "kid", "mac_key")

    def __init__(self, key: bytes) -> None:
        self.mac_key, self.enc_key = key[:32], key[32:]
        self.kid = key_thumbprint(key)

    def tag(self, aad: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        length = (len(aad) * 8).to_bytes(8, "big")
        return hmac.digest(self.mac_key, b"".join((aad, iv, ciphertext, length)), "sha512")[:_TAG_BYTES]

    def encrypt(self, aad: bytes, plaintext: bytes) -> tuple[bytes, bytes, bytes]:
        iv = os.urandom(_IV_BYTES)
        fill = _BLOCK - len(plaintext) % _BLOCK  # PKCS#7: 1..16 bytes, each the count
        padded = plaintext + bytes([fill]) * fill
        encryptor = Cipher(algorithms.AES(self.enc_key), modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        return iv, ciphertext, self.tag(aad, iv, ciphertext)

    def decrypt(self, aad: bytes, iv: bytes, ciphertext: bytes, tag: bytes) -> bytes | None:
        """The plaintext, or None when the tag (compared in constant time) or the padding is wrong."""
        if not hmac.compare_digest(self.tag(aad, iv, ciphertext), tag):
            return None
        decryptor = Cipher(algorithms.AES(self.enc_key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        # Only reachable with a valid tag, so a key holder's own bad token: no oracle to guard.
        fill = padded[-1]
        if not 1 <= fill <= _BLOCK or padded[-fill:] != bytes([fill]) * fill:
            return None
        return padded[:-fill]


class VerifiedCache:
    """Plaintexts of tokens that passed the full check, keyed by the exact token string.

    Why a hit cannot accept what the full check would refuse:
    - Only a token that passed every check (allowlist, tag, key, JSON, expiry) is stored, under the
      whole compact string: changing any character (header included) is a different key and a miss.
    - Expiry is checked again on every hit, against the caller's clock, from the stored token's own
      `exp`; a hit never extends anything, and an expired entry is dropped.
    - The cache belongs to one codec, whose secrets cannot change: rotating or removing a secret
      builds a new codec (a new `Auth`), and with it an empty cache, so no token outlives its key.
    - Each hit returns a new dict (a copy when every claim is a string, number, boolean or null,
      else parsed again from the plaintext), so a caller that mutates the claims it got cannot
      alter what the next request sees.
    Bounded by entry count and by the bytes of tokens and plaintexts held; the oldest entries go
    first. Invalid tokens are never stored, so garbage cannot evict anything. Changes take a lock,
    so an app that checks sessions from several threads cannot see a valid token refused because
    two threads evicted the same entry; a lookup needs none.
    """

    __slots__ = ("_entries", "_held", "_lock", "max_bytes", "max_entries")

    def __init__(self, max_entries: int = 4096, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        # token -> (plaintext, exp, the claims when all of them are immutable scalars)
        self._entries: dict[str, tuple[bytes, int, dict[str, Any] | None]] = {}
        self._held = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float) -> dict[str, Any] | None:
        """A fresh copy of the claims of a verified, unexpired token; None on a miss."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        plaintext, exp, flat = entry
        if exp <= now:
            with self._lock:
                self._drop(token)
            return None
        return dict(flat) if flat is not None else _claims(plaintext)

    def put(self, token: str, plaintext: bytes, claims: dict[str, Any]) -> None:
        size = len(token) + len(plaintext)
        if self.max_entries <= 0 or size > self.max_bytes or token in self._entries:
            return
        flat = all(type(value) in _SCALARS for value in claims.values())
        entry = (plaintext, claims["exp"], dict(claims) if flat else None)
        with self._lock:
            while self._entries and (len(self._entries) >= self.max_entries or self._held + size > self.max_bytes):
                self._drop(next(iter(self._entries)))
            if token not in self._entries:
                self._entries[token] = entry
                self._held += size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._held = 0

    def _drop(self, token: str) -> None:
        """Remove one entry if it is still there; the caller holds the lock."""
        entry = self._entries.pop(token, None)
        if entry is not None:
            self._held -= len(token) + len(entry[0])


def _claims(plaintext: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(plaintext)
    except (ValueError, UnicodeError, RecursionError):
        raise InvalidJWE("payload is not JSON") from None
    if not isinstance(claims, dict) or type(claims.get("exp")) is not int:
        raise InvalidJWE("payload has no expiry")
    return claims


class JWECodec:
    """Encrypts claims for one cookie name with the first secret; decrypts with any of them."""

    def __init__(self, secrets: Sequence[str], salt: str, *, cache: VerifiedCache | None = None) -> None:
        if not secrets:
            raise ValueError("at least one secret is needed")
        keys = [_Key(derive_key(secret, salt)) for secret in secrets]
        self._encrypting = keys[0]
        self._by_kid = {key.kid: key for key in keys}
        self.cache = cache if cache is not None else VerifiedCache()

    def encode(self, claims: Mapping[str, Any], *, max_age: int, now: float | None = None) -> str:
        """Encrypt `claims` plus iat, exp and jti."""
        issued = int(now if now is not None else time.time())
        payload = {**claims, "iat": issued, "exp": issued + max_age, "jti": str(uuid.uuid4())}
        header = {"alg": _ALG, "enc": _ENC, "kid": self._encrypting.kid}
        protected = _b64encode(json.dumps(header, separators=(",", ":")).encode())
        plaintext = json.dumps(payload, separators=(",", ":")).encode()
        iv, ciphertext, tag = self._encrypting.encrypt(protected.encode("ascii"), plaintext)
        return f"{protected}..{_b64encode(iv)}.{_b64encode(ciphertext)}.{_b64encode(tag)}"

    def decode(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The claims of a token we made and that has not expired; InvalidJWE otherwise."""
        moment = now if now is not None else time.time()
        cached = self.cache.get(token, moment)
        if cached is not None:
            return cached
        plaintext = self._verify(token)
        claims = _claims(plaintext)
        if claims["exp"] <= moment:
            raise InvalidJWE("expired")
        self.cache.put(token, plaintext, claims)
        return claims

    def _verify(self, token: str) -> bytes:
        if len(token) > _MAX_TOKEN or token.count(".") != 4:
            raise InvalidJWE("not a compact JWE")
        protected, encrypted_key, iv_segment, ciphertext_segment, tag_segment = token.split(".")
        if len(protected) > _MAX_HEADER:
            raise InvalidJWE("header too long")
        try:
            header = json.loads(_b64decode(protected))
        except (ValueError, UnicodeError, RecursionError):
            raise InvalidJWE("unreadable header") from None
        # Allowlist before any cryptography: no `zip` (compression oracles), no `crit`, no other alg.
        if not isinstance(header, dict) or set(header) - _ALLOWED_HEADER:
            raise InvalidJWE("unexpected header parameters")
        if header.get("alg") != _ALG or header.get("enc") != _ENC:
            raise InvalidJWE("only dir + A256CBC-HS512 is accepted")
        if encrypted_key:  # `dir` has no encrypted key (RFC 7518 4.5)
            raise InvalidJWE("dir takes no encrypted key")
        iv, ciphertext, tag = _b64decode(iv_segment), _b64decode(ciphertext_segment), _b64decode(tag_segment)
        if len(iv) != _IV_BYTES or len(tag) != _TAG_BYTES or not ciphertext or len(ciphertext) % _BLOCK:
            raise InvalidJWE("malformed IV, ciphertext or tag")
        kid = header.get("kid")
        if kid is None:
            candidates = list(self._by_kid.values())
        elif isinstance(kid, str) and kid in self._by_kid:
            candidates = [self._by_kid[kid]]
        else:
            candidates = []
        aad = protected.encode("ascii")
        for key in candidates:
            plaintext = key.decrypt(aad, iv, ciphertext, tag)
            if plaintext is not None:
                return plaintext
        raise InvalidJWE("no key decrypts this token")
