"""Password hashing: argon2id by default, verification of every format users bring with them.

Formats verified: argon2 (any parameters, e.g. fastapi-users), bcrypt `$2a$/$2b$/$2y$` (as in a
database taken over from AuthInGo by `authgate migrate`), `bcrypt-sha256$` (our no-truncation
bcrypt), Django's `pbkdf2_sha256$`, and Better Auth's scrypt `salt:key`. Anything but argon2id at
the current parameters is rehashed on the next sign-in.
Hashing runs in a bounded thread pool: argon2-cffi and bcrypt release the GIL, so the event loop
keeps serving session checks while a sign-in flood hashes on the other threads.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import bcrypt
from argon2 import PasswordHasher as _Argon2Hasher
from argon2 import Type as _Argon2Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ._errors import InvalidRequest

__all__ = ["HashAlgorithm", "PasswordHasher", "normalize_password"]

HashAlgorithm = Literal["argon2id", "bcrypt", "bcrypt-sha256"]

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT_MAX_BYTES = 72
_HASH_THREAD_NICENESS = 10


def normalize_password(password: str) -> str:
    """NFKC, so the same password typed on two keyboards (full-width digits, composed accents) matches."""
    return unicodedata.normalize("NFKC", password)


def _bcrypt_sha256_input(password: bytes) -> bytes:
    # Pre-hash so bcrypt sees 44 bytes whatever the length: no silent truncation at 72 bytes.
    # base64 keeps NUL bytes out, which bcrypt would otherwise stop at.
    return base64.b64encode(hmac.new(b"authgate-bcrypt-sha256", password, hashlib.sha256).digest())


class PasswordHasher:
    """Hashes new passwords with one algorithm and verifies all supported formats.

    `verify` returns `(ok, new_hash_or_None)`: a new hash when the stored one should be upgraded.
    """

    def __init__(self, algorithm: HashAlgorithm = "argon2id", *, workers: int | None = None) -> None:
        self.algorithm = algorithm
        # OWASP's argon2id recommendation: m=19 MiB, t=2, p=1.
        self._argon2 = _Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1, type=_Argon2Type.ID)
        self.workers = workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="authgate-hash", initializer=_yield_to_event_loop
        )
        # Bound what waits for the pool: a flood queues here, in the event loop, not as threads.
        # One semaphore per event loop, since a hasher may outlive a loop (tests, reloads).
        self._slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._dummy_hash: str | None = None

    # -- synchronous cores (run in the pool) --------------------------------------------------

    def hash_sync(self, password: str) -> str:
        raw = normalize_password(password).encode("utf-8")
        if self.algorithm == "argon2id":
            return self._argon2.hash(raw)
        if self.algorithm == "bcrypt":
            if len(raw) > _BCRYPT_MAX_BYTES:
                raise InvalidRequest("password: longer than bcrypt's 72 bytes", field="password")
            return bcrypt.hashpw(raw, bcrypt.gensalt(12)).decode("ascii")
        return "bcrypt-sha256$" + bcrypt.hashpw(_bcrypt_sha256_input(raw), bcrypt.gensalt(12)).decode("ascii")

    def verify_sync(self, stored: str, password: str) -> tuple[bool, str | None]:
        normalized = normalize_password(password).encode("utf-8")
        ok = self._check(stored, password, normalized)
        if not ok:
            return False, None
        return True, (self.hash_sync(password) if self._needs_rehash(stored) else None)

    def _check(self, stored: str, password: str, normalized: bytes) -> bool:
        if stored.startswith("$argon2"):
            try:
                return self._argon2.verify(stored, normalized)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
        if stored.startswith(_BCRYPT_PREFIXES):
            # Hashes from a taken-over AuthInGo database were made from the raw password bytes (it
            # did not normalise), so try those first; our own bcrypt hashes are of the NFKC form.
            candidates = [password.encode("utf-8"), normalized]
            return any(len(c) <= _BCRYPT_MAX_BYTES and _bcrypt_check(c, stored) for c in candidates)
        if stored.startswith("bcrypt-sha256$"):
            return _bcrypt_check(_bcrypt_sha256_input(normalized), stored.removeprefix("bcrypt-sha256$"))
        if stored.startswith("pbkdf2_sha256$"):
            return _django_pbkdf2_check(stored, password)
        if ":" in stored:
            return _better_auth_scrypt_check(stored, password)
        return False

    def _needs_rehash(self, stored: str) -> bool:
        if self.algorithm == "argon2id":
            if not stored.startswith("$argon2id$"):
                return True
            try:
                return self._argon2.check_needs_rehash(stored)
            except InvalidHashError:
                return True
        if self.algorithm == "bcrypt":
            return not stored.startswith(_BCRYPT_PREFIXES)
        return not stored.startswith("bcrypt-sha256$")

    # -- async API ---------------------------------------------------------------------------

    async def _run(self, fn: object, *args: str) -> object:
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.workers * 4)
        async with slots:
            return await loop.run_in_executor(self._pool, fn, *args)  # type: ignore[arg-type]

    async def hash(self, password: str) -> str:
        """Hash a new password off the event loop."""
        result = await self._run(self.hash_sync, password)
        assert isinstance(result, str)  # noqa: S101 - narrows the executor's Any
        return result

    async def verify(self, stored: str | None, password: str) -> tuple[bool, str | None]:
        """Verify against a stored hash; with no stored hash, spend the same time on a dummy hash."""
        if stored is None:
            stored = await self.dummy_hash()
            await self._run(self.verify_sync, stored, password)
            return False, None
        result = await self._run(self.verify_sync, stored, password)
        assert isinstance(result, tuple)  # noqa: S101
        return result

    async def dummy_hash(self) -> str:
        """A hash of a random password with the current parameters, so unknown emails cost one verify."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(base64.b64encode(os.urandom(18)).decode())
        return self._dummy_hash

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def _yield_to_event_loop() -> None:
    """Lower this hashing thread's scheduling priority (Linux nice is per thread).

    A sign-in flood keeps every hashing thread busy; at equal priority the event loop thread gets
    only its share of the cores and session checks queue behind argon2. Niced hashers still use
    every idle cycle (throughput is unchanged when nothing else runs) but give way to the loop.
    Raising niceness needs no privilege; where it is unsupported nothing changes.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _HASH_THREAD_NICENESS)
    except (AttributeError, OSError):
        pass


def _bcrypt_check(password: bytes, stored: str) -> bool:
    try:
        return bcrypt.checkpw(password, stored.encode("ascii"))
    except ValueError:
        return False


def _django_pbkdf2_check(stored: str, password: str) -> bool:
    try:
        _, iterations, salt, expected = stored.split("$", 3)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode("utf-8"), int(iterations))
    except (ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(base64.b64encode(digest).decode("ascii"), expected)


def _better_auth_scrypt_check(stored: str, password: str) -> bool:
    # Better Auth: hex salt ":" hex key, scrypt N=16384 r=16 p=1 dkLen=64 over the NFKC password.
    try:
        salt_hex, key_hex = stored.split(":", 1)
        expected = bytes.fromhex(key_hex)
        derived = hashlib.scrypt(
            normalize_password(password).encode("utf-8"),
            salt=salt_hex.encode("utf-8"),
            n=16384,
            r=16,
            p=1,
            maxmem=128 * 16384 * 16 * 2,
            dklen=64,
        )
    except ValueError:
        return False
    return hmac.compare_digest(derived, expected)
