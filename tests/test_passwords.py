"""Passwords: enumeration resistance, length rules, NFKC, imported hash formats and rehash."""

from __future__ import annotations

import base64
import hashlib
import os
import unicodedata

import bcrypt
import httpx
import pytest
from argon2 import PasswordHasher as Argon2

from authgate import Auth, PasswordOptions, User
from authgate._passwords import PasswordHasher

from .support import CLIENT, SECRET, FakeClock, client_for, session_count

EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"


class CountingHasher(PasswordHasher):
    """Counts verifications, to prove unknown emails cost the same work as wrong passwords."""

    def __init__(self) -> None:
        super().__init__()
        self.verifications = 0

    def verify_sync(self, stored: str, password: str) -> tuple[bool, str | None]:
        self.verifications += 1
        return super().verify_sync(stored, password)


async def test_unknown_email_and_wrong_password_are_identical(client: httpx.AsyncClient, auth: Auth) -> None:
    await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    counting = CountingHasher()
    auth.ctx.hasher = counting
    wrong = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": "wrong password"}, headers=CLIENT)
    after_wrong = counting.verifications
    unknown = await client.post(
        "/api/auth/sign-in", json={"email": "nobody@example.com", "password": "wrong password"}, headers=CLIENT
    )
    malformed = await client.post(
        "/api/auth/sign-in", json={"email": "not an email", "password": "wrong password"}, headers=CLIENT
    )
    assert wrong.status_code == unknown.status_code == malformed.status_code == 401
    assert wrong.content == unknown.content == malformed.content
    assert wrong.json() == {"error": "Invalid email or password", "kind": "CredentialsSignin"}
    assert after_wrong == 1 and counting.verifications == 3  # one verify per attempt, dummy hash included
    assert await session_count(auth.store, EMAIL) == 1
    counting.close()


@pytest.mark.parametrize("variant", ["Ann@Example.com", "  ann@example.com  ", "ANN@EXAMPLE.COM", "ａｎｎ@example.com"])
async def test_duplicate_email_is_409_after_trim_case_fold_and_nfkc(
    client: httpx.AsyncClient, auth: Auth, variant: str
) -> None:
    await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    response = await client.post("/api/auth/sign-up", json={"email": variant, "password": PASSWORD}, headers=CLIENT)
    assert response.status_code == 409
    assert response.json()["kind"] == "EmailInUse"
    assert await session_count(auth.store, EMAIL) == 1
    signed_in = await client.post("/api/auth/sign-in", json={"email": variant, "password": PASSWORD}, headers=CLIENT)
    assert signed_in.status_code == 200


async def test_password_is_nfkc_normalised(client: httpx.AsyncClient) -> None:
    full_width = "ｃｏｒｒｅｃｔ　ｈｏｒｓｅ　１２３"
    assert unicodedata.normalize("NFKC", full_width) == "correct horse 123"
    await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": full_width}, headers=CLIENT)
    response = await client.post(
        "/api/auth/sign-in", json={"email": EMAIL, "password": "correct horse 123"}, headers=CLIENT
    )
    assert response.status_code == 200


async def test_256_character_password_works_and_is_not_truncated(client: httpx.AsyncClient) -> None:
    long_password = "é" * 256  # 512 UTF-8 bytes, far past bcrypt's 72
    assert (
        await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": long_password}, headers=CLIENT)
    ).status_code == 200
    near_miss = "é" * 255 + "e"
    response = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": near_miss}, headers=CLIENT)
    assert response.status_code == 401


def test_bcrypt_sha256_option_does_not_truncate_at_72_bytes() -> None:
    hasher = PasswordHasher("bcrypt-sha256")
    stored = hasher.hash_sync("a" * 72 + "first")
    assert hasher.verify_sync(stored, "a" * 72 + "first")[0]
    assert not hasher.verify_sync(stored, "a" * 72 + "other")[0]
    hasher.close()


def test_plain_bcrypt_option_refuses_passwords_over_72_bytes() -> None:
    from authgate import InvalidRequest

    hasher = PasswordHasher("bcrypt")
    with pytest.raises(InvalidRequest) as refused:
        hasher.hash_sync("a" * 73)
    assert refused.value.field == "password"
    hasher.close()


def _django_hash(password: str) -> str:
    salt, iterations = "saltsaltsalt", 1000
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def _better_auth_hash(password: str) -> str:
    salt = os.urandom(16).hex()
    key = hashlib.scrypt(password.encode(), salt=salt.encode(), n=16384, r=16, p=1, maxmem=64 * 1024 * 1024, dklen=64)
    return f"{salt}:{key.hex()}"


def _authingo_bcrypt(password: str) -> str:
    return "$2a$" + bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode()[4:]


IMPORTED = {
    "authingo-bcrypt-2a": _authingo_bcrypt,
    "fastapi-users-argon2-defaults": lambda p: Argon2().hash(p),
    "django-pbkdf2": _django_hash,
    "better-auth-scrypt": _better_auth_hash,
}


@pytest.mark.parametrize("kind", list(IMPORTED))
async def test_imported_hash_verifies_and_is_rehashed_to_argon2id(store: object, clock: FakeClock, kind: str) -> None:
    auth = Auth(store=store, secret=SECRET, clock=clock)  # type: ignore[arg-type]
    now = clock()
    user = User("u-imported", EMAIL, "Ann", False, None, now, now)
    imported_hash = IMPORTED[kind](PASSWORD)
    await auth.store.create_user(user, email_key=EMAIL, password_hash=imported_hash)
    async with client_for(auth) as client:
        wrong = await client.post(
            "/api/auth/sign-in", json={"email": EMAIL, "password": "not the password"}, headers=CLIENT
        )
        assert wrong.status_code == 401
        assert await auth.store.get_credentials(EMAIL) == (user, imported_hash)  # a failure upgrades nothing
        ok = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert ok.status_code == 200, ok.text
        assert ok.json()["user"]["id"] == "u-imported"
    found = await auth.store.get_credentials(EMAIL)
    assert found is not None and found[1] is not None and found[1].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    async with client_for(auth) as client:
        again = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert again.status_code == 200
    auth.hasher.close()


async def test_authingo_bcrypt_hash_verifies_against_raw_non_nfkc_password(store: object, clock: FakeClock) -> None:
    auth = Auth(store=store, secret=SECRET, clock=clock)  # type: ignore[arg-type]
    raw_password = "ｐａｓｓｗｏｒｄ１２３"  # AuthInGo hashed the raw bytes, not the NFKC form
    now = clock()
    await auth.store.create_user(
        User("u1", EMAIL, "", False, None, now, now), email_key=EMAIL, password_hash=_authingo_bcrypt(raw_password)
    )
    async with client_for(auth) as client:
        ok = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": raw_password}, headers=CLIENT)
        assert ok.status_code == 200
    auth.hasher.close()


async def test_breach_hook_refuses_password_and_writes_nothing(store: object, clock: FakeClock) -> None:
    async def is_breached(password: str) -> bool:
        return password == "password123"

    auth = Auth(store=store, secret=SECRET, clock=clock, passwords=PasswordOptions(is_breached=is_breached))  # type: ignore[arg-type]
    async with client_for(auth) as client:
        response = await client.post(
            "/api/auth/sign-up", json={"email": EMAIL, "password": "password123"}, headers=CLIENT
        )
    assert response.status_code == 400 and response.json()["field"] == "password"
    assert await auth.store.get_credentials(EMAIL) is None
    auth.hasher.close()


async def test_hashing_runs_off_the_event_loop_thread() -> None:
    import threading

    seen: list[str] = []

    class Recording(PasswordHasher):
        def hash_sync(self, password: str) -> str:
            seen.append(threading.current_thread().name)
            return super().hash_sync(password)

    hasher = Recording()
    await hasher.hash(PASSWORD)
    assert seen and seen[0].startswith("authgate-hash") and seen[0] != threading.main_thread().name
    hasher.close()


def test_hashing_threads_run_at_lower_priority_than_the_event_loop() -> None:
    import os
    import threading

    hasher = PasswordHasher(workers=2)
    niceness = hasher._pool.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()
    assert niceness > os.getpriority(os.PRIO_PROCESS, 0)
    hasher.close()
