"""ID token verification (OpenID Connect Core 3.1.3.7), one function, allowlists only.

Signature against the provider's published keys (asymmetric algorithms only: never `none`, never
HS* with the client secret), then `iss` exactly, `aud` contains the client (and `azp` names it when
present or when there are several audiences), `exp` in the future and `iat` present (with a small
leeway), `sub` present, and finally `nonce` equal to the one this browser's flow sent.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import Any, TypeGuard

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet
from joserfc.jws import JWSRegistry

from ._base import ProviderError, callback_error

__all__ = ["ALGORITHMS", "MAX_LEEWAY", "UnknownSigningKey", "verify_id_token"]

#: ID token algorithms accepted by default: the asymmetric ones of RFC 7518 and RFC 8037/9864.
ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
)
_ASYMMETRIC = frozenset(ALGORITHMS)
MAX_LEEWAY = 60


class UnknownSigningKey(Exception):
    """The token names a key the JWKS does not hold (yet): refetch the JWKS once, then give up."""


def verify_id_token(
    token: str,
    *,
    keys: KeySet,
    issuer: str,
    client_id: str,
    nonce: str | None,
    now: int,
    leeway: int = 30,
    algorithms: Collection[str] = ALGORITHMS,
) -> dict[str, Any]:
    """The verified claims of `token`. Raises UnknownSigningKey when no key matches its `kid`,
    ProviderError("OAuthCallbackError") for a bad signature or claim, and
    ProviderError("InvalidCheck") for a missing or different nonce."""
    if not 0 <= leeway <= MAX_LEEWAY:
        raise ValueError(f"leeway must be 0..{MAX_LEEWAY} seconds")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise callback_error("ID token is malformed") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or alg not in _ASYMMETRIC:
        raise callback_error(f"ID token algorithm {str(alg)[:20]!r} is not allowed")
    kid = header.get("kid")
    key = _signing_key(keys, kid if isinstance(kid, str) else None, alg)
    try:
        claims = jwt.decode(token, key, registry=JWSRegistry(algorithms=[alg], strict_check_header=False)).claims
    except JoseError:
        raise callback_error("ID token signature is invalid") from None
    _check_claims(claims, issuer=issuer, client_id=client_id, now=now, leeway=leeway)
    _check_nonce(claims, nonce)
    return claims


def _signing_key(keys: KeySet, kid: str | None, alg: str) -> Key:
    registry = JWSRegistry(algorithms=[alg])
    model = registry.get_alg(alg)
    usable: list[Key] = []
    for key in keys:
        if kid is not None and key.kid != kid:
            continue
        if key.get("use") not in (None, "sig") or key.alg not in (None, alg):
            continue
        try:
            model.check_key(key)
        except JoseError:
            continue
        usable.append(key)
    if not usable:
        raise UnknownSigningKey
    if len(usable) > 1:
        # Only possible without a kid: guessing among several keys is not verification.
        raise callback_error("ID token names no key id and the provider publishes several")
    return usable[0]


def _check_claims(claims: dict[str, Any], *, issuer: str, client_id: str, now: int, leeway: int) -> None:
    iss = claims.get("iss")
    if not isinstance(iss, str) or not hmac.compare_digest(iss.encode(), issuer.encode()):
        raise callback_error("ID token issuer does not match the provider")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences) or client_id not in audiences:
        raise callback_error("ID token audience does not include this client")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise callback_error("ID token authorized party (azp) is not this client")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _numeric_date(exp) or not _numeric_date(iat):
        raise callback_error("ID token lacks a numeric exp or iat")
    if exp <= now - leeway:
        raise callback_error("ID token has expired")
    if iat > now + leeway:
        raise callback_error("ID token was issued in the future")
    nbf = claims.get("nbf")
    if nbf is not None and (not _numeric_date(nbf) or nbf > now + leeway):
        raise callback_error("ID token is not valid yet")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise callback_error("ID token lacks a subject (sub)")


def _check_nonce(claims: dict[str, Any], nonce: str | None) -> None:
    if nonce is None:
        raise ProviderError("InvalidCheck", "The nonce for this sign-in is missing")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise ProviderError("InvalidCheck", "ID token nonce does not match this sign-in")


def _numeric_date(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value and abs(value) < 1e15
