"""The JWT codec's verification as it was before issue 14: joserfc decrypts every token.

Only for the benchmark's "before" row (l): the header checks of the old `_jwe.py` (length, shape,
allowlist, kid), then joserfc's `decrypt_compact`, as `_jwe.py` did when it used joserfc.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from authgate._jwe import InvalidJWE, derive_key, key_thumbprint

_ALLOWED_HEADER = {"alg", "enc", "kid"}


def joserfc_verify(secret: str, salt: str = "authgate_session") -> Callable[[str], bytes]:
    raw = derive_key(secret, salt)
    keys = {key_thumbprint(raw): OctKey.import_key(raw)}

    def verify(token: str) -> bytes:
        if len(token) > 8192 or token.count(".") != 4:
            raise InvalidJWE("not a compact JWE")
        segment = token.split(".", 1)[0]
        if len(segment) > 512:
            raise InvalidJWE("header too long")
        try:
            header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (ValueError, UnicodeError, RecursionError):
            raise InvalidJWE("unreadable header") from None
        if not isinstance(header, dict) or set(header) - _ALLOWED_HEADER:
            raise InvalidJWE("unexpected header parameters")
        if header.get("alg") != "dir" or header.get("enc") != "A256CBC-HS512":
            raise InvalidJWE("only dir + A256CBC-HS512 is accepted")
        kid = header.get("kid")
        candidates = [keys[kid]] if isinstance(kid, str) and kid in keys else []
        if kid is None:
            candidates = list(keys.values())
        for key in candidates:
            try:
                return jwe.decrypt_compact(token, key, algorithms=["dir", "A256CBC-HS512"]).plaintext or b""
            except (JoseError, ValueError):
                continue
        raise InvalidJWE("no key decrypts this token")

    return verify
