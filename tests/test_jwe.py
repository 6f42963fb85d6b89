"""The JWE session token: interoperable with joserfc, and strict about everything else."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jwe
from joserfc.jwk import OctKey

from authgate._jwe import InvalidJWE, JWECodec, VerifiedCache, derive_key, key_thumbprint

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


def test_our_token_decrypts_with_joserfc_and_names_its_key_by_thumbprint() -> None:
    key = OctKey.import_key(derive_key(SECRET, SALT))
    token = JWECodec([SECRET], SALT).encode({"sub": "u3", "n": [1, 2]}, max_age=60, now=NOW)
    result = jwe.decrypt_compact(token, key, algorithms=["dir", "A256CBC-HS512"])
    assert json.loads(result.plaintext or b"")["sub"] == "u3"
    assert result.protected == {"alg": "dir", "enc": "A256CBC-HS512", "kid": key.thumbprint()}
    assert key_thumbprint(derive_key(SECRET, SALT)) == key.thumbprint()


def test_joserfc_token_with_kid_decodes_and_unknown_kid_is_refused() -> None:
    key = OctKey.import_key(derive_key(SECRET, SALT))
    payload = json.dumps({"sub": "u4", "exp": NOW + 100}).encode()
    for kid, ok in ((key.thumbprint(), True), ("someone-else", False)):
        header = {"alg": "dir", "enc": "A256CBC-HS512", "kid": kid}
        token = jwe.encrypt_compact(header, payload, key, algorithms=["dir", "A256CBC-HS512"])
        if ok:
            assert JWECodec([SECRET], SALT).decode(token, now=NOW)["sub"] == "u4"
        else:
            with pytest.raises(InvalidJWE):
                JWECodec([SECRET], SALT).decode(token, now=NOW)


def test_lenient_encodings_and_an_encrypted_key_are_refused() -> None:
    token = JWECodec([SECRET], SALT).encode({"sub": "u1"}, max_age=60, now=NOW)
    head, empty, iv, ciphertext, tag = token.split(".")
    assert empty == ""
    for forged in (
        f"{head}.AAAA.{iv}.{ciphertext}.{tag}",  # dir has no encrypted key
        f"{head}..{iv}=.{ciphertext}.{tag}",  # padding
        f"{head}..{iv}.{ciphertext.replace('-', '+').replace('_', '/')}+.{tag}",  # standard alphabet
        f"{head}..{iv[:-2]}.{ciphertext}.{tag}",  # short IV
        f"{head}..{iv}.{ciphertext[:-3]}.{tag}",  # ciphertext not whole blocks
        f"{head}..{iv}.{ciphertext[:8]}\n{ciphertext[8:]}.{tag}",  # a line break a lenient decoder skips
        f"{head}..{iv}.{ciphertext[:8]} {ciphertext[8:]}.{tag}",
        f"{head}..{iv}.{ciphertext[:8]}é{ciphertext[9:]}.{tag}",
    ):
        with pytest.raises(InvalidJWE):
            JWECodec([SECRET], SALT).decode(forged, now=NOW)


def test_cache_serves_a_verified_token_but_never_past_its_expiry() -> None:
    codec = JWECodec([SECRET], SALT)
    token = codec.encode({"sub": "u1"}, max_age=60, now=NOW)
    assert codec.decode(token, now=NOW)["sub"] == "u1"
    assert len(codec.cache) == 1
    assert codec.decode(token, now=NOW + 59)["exp"] == NOW + 60
    with pytest.raises(InvalidJWE, match="expired"):
        codec.decode(token, now=NOW + 60)
    assert len(codec.cache) == 0  # the expired entry is gone, not kept for a clock that goes back


def test_cached_claims_cannot_be_altered_by_a_caller() -> None:
    codec = JWECodec([SECRET], SALT)
    token = codec.encode({"sub": "u1", "roles": ["user"]}, max_age=60, now=NOW)
    flat = codec.encode({"sub": "u2"}, max_age=60, now=NOW)
    for t in (token, flat):
        codec.decode(t, now=NOW)
        first = codec.decode(t, now=NOW)
        first["sub"] = "admin"
        first["exp"] = NOW + 10**9
        first.get("roles", []).append("admin")
        again = codec.decode(t, now=NOW)
        assert again["sub"] in ("u1", "u2") and again["exp"] == NOW + 60
        assert again.get("roles", ["user"]) == ["user"]


def test_cache_never_answers_for_an_altered_token_or_stores_a_refused_one() -> None:
    codec = JWECodec([SECRET], SALT)
    token = codec.encode({"sub": "u1"}, max_age=60, now=NOW)
    codec.decode(token, now=NOW)
    rest = token.split(".", 1)[1]
    forged_head = _b64({"alg": "dir", "enc": "A256CBC-HS512", "zip": "DEF"})
    for forged in (f"{forged_head}.{rest}", token[:-1] + ("A" if token[-1] != "A" else "B"), token + "."):
        with pytest.raises(InvalidJWE):
            codec.decode(forged, now=NOW)
    assert len(codec.cache) == 1


def test_a_removed_secret_takes_its_cached_tokens_with_it() -> None:
    # Secrets are fixed per codec; changing them means a new codec, which starts with an empty cache.
    old_token = JWECodec([OLD_SECRET], SALT).encode({"sub": "u1"}, max_age=60, now=NOW)
    rotating = JWECodec([SECRET, OLD_SECRET], SALT)
    assert rotating.decode(old_token, now=NOW)["sub"] == "u1"
    with pytest.raises(InvalidJWE):
        JWECodec([SECRET], SALT).decode(old_token, now=NOW)


def test_cache_is_bounded_by_entries_and_bytes() -> None:
    codec = JWECodec([SECRET], SALT, cache=VerifiedCache(max_entries=3))
    tokens = [codec.encode({"sub": f"u{i}"}, max_age=60, now=NOW) for i in range(5)]
    for token in tokens:
        codec.decode(token, now=NOW)
    assert len(codec.cache) == 3
    assert [codec.decode(t, now=NOW)["sub"] for t in tokens] == [f"u{i}" for i in range(5)]  # misses still decode
    small = JWECodec([SECRET], SALT, cache=VerifiedCache(max_bytes=2000))
    for i in range(10):
        small.decode(small.encode({"sub": f"u{i}", "pad": "x" * 200}, max_age=60, now=NOW), now=NOW)
    assert 1 <= len(small.cache) <= 3
    off = JWECodec([SECRET], SALT, cache=VerifiedCache(max_entries=0))
    off.decode(tokens[0], now=NOW)
    assert len(off.cache) == 0


def test_a_second_spelling_of_the_same_bytes_is_refused() -> None:
    token = JWECodec([SECRET], SALT).encode({"sub": "u1"}, max_age=60, now=NOW)
    head, tag = token.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 32 bytes are 43 characters; the last one carries 4 bits and 2 unused ones.
    same_bytes = alphabet[alphabet.index(tag[-1]) ^ 1]
    assert base64.urlsafe_b64decode(tag[:-1] + same_bytes + "=") == base64.urlsafe_b64decode(tag + "=")
    with pytest.raises(InvalidJWE):
        JWECodec([SECRET], SALT).decode(f"{head}.{tag[:-1]}{same_bytes}", now=NOW)


def test_any_bytes_round_trip_through_the_strict_decoder() -> None:
    from authgate._jwe import _b64decode

    for size in range(70):
        data = bytes(range(256))[size : size * 2] + b"\xff" * (size % 5)
        assert _b64decode(base64.urlsafe_b64encode(data).rstrip(b"=").decode()) == data


def test_every_padding_length_interoperates_with_joserfc_both_ways() -> None:
    key = OctKey.import_key(derive_key(SECRET, SALT))
    codec = JWECodec([SECRET], SALT)
    for extra in range(40):  # covers plaintexts ending on every byte of a 16-byte block
        claims = {"sub": "u" + "x" * extra}
        ours = codec.encode(claims, max_age=60, now=NOW)
        assert (
            json.loads(jwe.decrypt_compact(ours, key, algorithms=["dir", "A256CBC-HS512"]).plaintext or b"")["sub"]
            == claims["sub"]
        )
        payload = json.dumps({**claims, "exp": NOW + 60}).encode()
        theirs = jwe.encrypt_compact(
            {"alg": "dir", "enc": "A256CBC-HS512"}, payload, key, algorithms=["dir", "A256CBC-HS512"]
        )
        assert codec.decode(theirs, now=NOW)["sub"] == claims["sub"]


def test_a_cache_shared_by_threads_never_refuses_a_valid_token() -> None:
    import threading

    codec = JWECodec([SECRET], SALT, cache=VerifiedCache(max_entries=8))
    tokens = [codec.encode({"sub": f"u{i}"}, max_age=60, now=NOW) for i in range(64)]
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for round_ in range(30):
                for i, token in enumerate(tokens):
                    assert codec.decode(token, now=NOW + (round_ % 2))["sub"] == f"u{i}"
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(codec.cache) <= 8
