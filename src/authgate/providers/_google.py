"""Google: OpenID Connect with Google's issuer."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ._oidc import OIDC

if TYPE_CHECKING:
    import httpx

__all__ = ["Google"]


class Google(OIDC):
    """Sign in with Google. Google's ID tokens carry `email`, `email_verified`, `name` and
    `picture`, so no userinfo call is needed. `issuer` exists for tests against a local issuer."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        id: str = "google",
        name: str = "Google",
        scopes: Sequence[str] = ("openid", "email", "profile"),
        trusted_for_linking: bool = False,
        http: httpx.AsyncClient | None = None,
        issuer: str = "https://accounts.google.com",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            issuer, client_id, client_secret, id=id, name=name, scopes=scopes,
            trusted_for_linking=trusted_for_linking, http=http, clock=clock,
        )  # fmt: skip
