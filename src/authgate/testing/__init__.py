"""Test helpers for code built on authgate. Needs pytest and pytest-asyncio.

`StoreContract` is the one suite every storage adapter passes. Subclass it in a `Test*` class and
provide an async fixture `store` that yields an opened, empty store:

    from authgate.stores import Store  # and User, Session, ...: the records a store keeps
    from authgate.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        async def store(self) -> AsyncIterator[Store]:
            store = MyStore(...)
            await store.open()
            yield store
            await store.close()
"""

from __future__ import annotations

from ._passkeys import PasskeyContract
from ._records import hash_token
from ._sessions import SessionContract
from ._tokens import TokenContract
from ._users import UserContract

__all__ = ["StoreContract", "hash_token"]


class StoreContract(UserContract, SessionContract, TokenContract, PasskeyContract):
    """Behaviour every `Store` adapter must have. Subclasses provide the `store` fixture."""
