"""The JWE session token: interoperable with joserfc, and strict about everything else."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jwe
from joserfc.jwk import OctKey

from authgate._jwe import InvalidJWE, JWECodec, derive_key

SECRET = "s" * 40
OLD_SECRET = "o" * 40
SALT = "authgate_session"
NOW = 1_800_000_000


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_round_trip_and_expiry() -> None:
    codec = JWECodec([SECRET], SALT)
    token = codec.encode({"sub": "u1"}, max_age=60, now=NOW)
    claims = codec.decode(token, now=NOW + 59)
    assert claims["sub"] == "u1" and claims["exp"] == NOW + 60 and claims["jti"]
    with pytest.raises(InvalidJWE, match="expired"):
        codec.decode(token, now=NOW + 60)


def test_token_made_by_joserfc_with_the_same_key_decodes() -> None:
    key = OctKey.import_key(derive_key(SECRET, SALT))
    payload = json.dumps({"sub": "u2", "exp": NOW + 100}).encode()
    token = jwe.encrypt_compact(
        {"alg": "dir", "enc": "A256CBC-HS512"}, payload, key, algorithms=["dir", "A256CBC-HS512"]
    )
    assert JWECodec([SECRET], SALT).decode(token, now=NOW)["sub"] == "u2"


def test_salt_separates_cookies() -> None:
    token = JWECodec([SECRET], SALT).encode({"sub": "u1"}, max_age=60, now=NOW)
    with pytest.raises(InvalidJWE):
        JWECodec([SECRET], "other_cookie").decode(token, now=NOW)


def test_rotation_old_secret_decrypts_until_removed() -> None:
    old_token = JWECodec([OLD_SECRET], SALT).encode({"sub": "u1"}, max_age=60, now=NOW)
    rotated = JWECodec([SECRET, OLD_SECRET], SALT)
    assert rotated.decode(old_token, now=NOW)["sub"] == "u1"
    new_token = rotated.encode({"sub": "u1"}, max_age=60, now=NOW)
    assert JWECodec([SECRET], SALT).decode(new_token, now=NOW)["sub"] == "u1"
    with pytest.raises(InvalidJWE):
        JWECodec([SECRET], SALT).decode(old_token, now=NOW)


@pytest.mark.parametrize(
    ("alg", "enc"),
    [("dir", "A256GCM"), ("dir", "A128CBC-HS256"), ("A256KW", "A256CBC-HS512"), ("none", "A256CBC-HS512")],
)
def test_other_alg_or_enc_is_refused(alg: str, enc: str) -> None:
    token = JWECodec([SECRET], SALT).encode({"sub": "u1"}, max_age=60, now=NOW)
    parts = token.split(".")
    forged = ".".join([_b64({"alg": alg, "enc": enc}), *parts[1:]])
    with pytest.raises(InvalidJWE):
        JWECodec([SECRET], SALT).decode(forged, now=NOW)


def test_real_a256gcm_token_with_the_right_key_is_still_refused() -> None:
    key = OctKey.import_key(derive_key(SECRET, SALT)[:32])
    token = jwe.encrypt_compact(
        {"alg": "dir", "enc": "A256GCM"}, b'{"exp": 1900000000}', key, algorithms=["dir", "A256GCM"]
    )
    with pytest.raises(InvalidJWE, match="only dir"):
        JWECodec([SECRET], SALT).decode(token, now=NOW)


def test_zip_header_is_refused() -> None:
    key = OctKey.import_key(derive_key(SECRET, SALT))
    header = {"alg": "dir", "enc": "A256CBC-HS512", "zip": "DEF"}
    token = jwe.encrypt_compact(header, b'{"exp": 1900000000}', key, algorithms=["dir", "A256CBC-HS512", "DEF"])
    with pytest.raises(InvalidJWE, match="unexpected header"):
        JWECodec([SECRET], SALT).decode(token, now=NOW)


def test_truncated_or_flipped_tag_is_refused() -> None:
    token = JWECodec([SECRET], SALT).encode({"sub": "u1"}, max_age=60, now=NOW)
    head, tag = token.rsplit(".", 1)
    for bad_tag in (tag[:-4], tag[:-1] + ("A" if tag[-1] != "A" else "B"), ""):
        with pytest.raises(InvalidJWE):
            JWECodec([SECRET], SALT).decode(f"{head}.{bad_tag}", now=NOW)


@pytest.mark.parametrize("garbage", ["", "a.b.c.d.e", "....", "x" * 9000, "eyJ.....", "é.a.b.c.d"])
def test_garbage_is_refused_not_crashed(garbage: str) -> None:
    with pytest.raises(InvalidJWE):
        JWECodec([SECRET], SALT).decode(garbage, now=NOW)
