"""GitHub: OAuth 2.0 (no OpenID Connect), profile from the REST API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._base import (
    HTTPProvider,
    Profile,
    access_token_from,
    callback_error,
    json_body,
    require_secure_url,
    str_or_none,
    with_query,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["GitHub"]


class GitHub(HTTPProvider):
    """Sign in with GitHub (an OAuth App or a GitHub App's user authorization), PKCE S256.

    The email is the account's primary address from `/user/emails`; `email_verified` is True only
    when GitHub marks that primary address verified. Without the `user:email` scope (or the
    GitHub App "Email addresses" permission) the public profile email is used, unverified.
    """

    kind = "oauth"
    uses_nonce = False

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        id: str = "github",
        name: str = "GitHub",
        scopes: Sequence[str] = ("read:user", "user:email"),
        trusted_for_linking: bool = False,
        http: httpx.AsyncClient | None = None,
        authorize_url: str = "https://github.com/login/oauth/authorize",
        token_url: str = "https://github.com/login/oauth/access_token",  # noqa: S107 (a URL, not a secret)
        api_url: str = "https://api.github.com",
    ) -> None:
        super().__init__(
            http, label="GitHub provider", id=id, name=name, client_id=client_id, client_secret=client_secret,
            scopes=scopes, trusted_for_linking=trusted_for_linking,
        )  # fmt: skip
        self.authorize_url = require_secure_url(authorize_url, "GitHub authorize_url")
        self.token_url = require_secure_url(token_url, "GitHub token_url")
        self.api_url = require_secure_url(api_url, "GitHub api_url").rstrip("/")

    def __repr__(self) -> str:
        return f"GitHub(id={self.id!r}, client_id={self.client_id!r})"

    async def authorization_url(self, *, redirect_uri: str, state: str, code_challenge: str, nonce: str | None) -> str:
        """GitHub's authorize page with PKCE S256 and state (GitHub has no nonce: it issues no ID token)."""
        params = self.authorization_params(redirect_uri=redirect_uri, state=state, code_challenge=code_challenge)
        return with_query(self.authorize_url, params)

    async def complete(self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str | None) -> Profile:
        """Exchange the code (GitHub answers errors with HTTP 200), then read /user and /user/emails."""
        form = {
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        body = await self.fetch_object("POST", self.token_url, what="GitHub token request", data=form)
        token = access_token_from(body, "GitHub token request")
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        user = await self.fetch_object("GET", f"{self.api_url}/user", what="GitHub user request", headers=headers)
        user_id = user.get("id")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise callback_error("GitHub user has no numeric id")
        email, verified = await self._primary_email(headers)
        if email is None:
            email, verified = str_or_none(user.get("email")), False
        return Profile(
            provider=self.id,
            account_id=str(user_id),
            email=email,
            email_verified=verified,
            name=str_or_none(user.get("name")) or str_or_none(user.get("login")),
            image=str_or_none(user.get("avatar_url")),
            raw=user,
        )

    async def _primary_email(self, headers: dict[str, str]) -> tuple[str | None, bool]:
        response = await self.send("GET", f"{self.api_url}/user/emails", what="GitHub emails request", headers=headers)
        if response.status_code in (403, 404):
            return None, False  # the user:email scope or the app's email permission was not granted
        emails = json_body(response, "GitHub emails request")
        if not isinstance(emails, list):
            raise callback_error("GitHub emails request failed: the response is not a list")
        for entry in emails:
            if isinstance(entry, dict) and entry.get("primary") is True:
                email = str_or_none(entry.get("email"))
                return email, email is not None and entry.get("verified") is True
        return None, False
