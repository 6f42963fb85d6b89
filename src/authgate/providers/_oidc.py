"""Any OpenID Connect provider, configured from its discovery document."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import quote_plus

from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from .._errors import Configuration
from ._base import (
    HTTPProvider,
    Profile,
    ProviderError,
    access_token_from,
    callback_error,
    require_secure_url,
    str_or_none,
    with_query,
)
from ._jwt import ALGORITHMS, MAX_LEEWAY, UnknownSigningKey, verify_id_token

if TYPE_CHECKING:
    import httpx

__all__ = ["OIDC"]

TokenEndpointAuthMethod = Literal["client_secret_basic", "client_secret_post"]


class OIDC(HTTPProvider):
    """A generic OpenID Connect provider: authorization code flow with PKCE S256 and a nonce,
    endpoints and keys from `{issuer}/.well-known/openid-configuration`, a verified ID token, and
    userinfo when the ID token carries no email (or always, with `userinfo=True`).

    `trusted_for_linking`: the app trusts this provider's `email_verified` enough to attach a
    sign-in to an existing user with that email. Leave it False for providers anyone can run.
    """

    kind = "oidc"
    uses_nonce = True

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        id: str = "oidc",
        name: str = "OpenID Connect",
        scopes: Sequence[str] = ("openid", "email", "profile"),
        trusted_for_linking: bool = False,
        http: httpx.AsyncClient | None = None,
        token_endpoint_auth_method: TokenEndpointAuthMethod | None = None,
        userinfo: bool | None = None,
        algorithms: Collection[str] = ALGORITHMS,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            http, label="OIDC provider", id=id, name=name, client_id=client_id, client_secret=client_secret,
            scopes=scopes, trusted_for_linking=trusted_for_linking,
        )  # fmt: skip
        if "openid" not in scopes:
            raise Configuration(f"OIDC provider {id!r}: scopes must include 'openid'")
        if not 0 <= leeway <= MAX_LEEWAY:
            raise Configuration(f"OIDC provider {id!r}: leeway must be 0..{MAX_LEEWAY} seconds")
        self.issuer = require_secure_url(issuer, f"OIDC provider {id!r} issuer")
        self._auth_method = token_endpoint_auth_method
        self._userinfo = userinfo
        self._algorithms = tuple(algorithms)
        self._leeway = leeway
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._jwks: KeySet | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, issuer={self.issuer!r}, client_id={self.client_id!r})"

    async def discover(self) -> Mapping[str, Any]:
        """The provider's discovery document (fetched once, then cached); its `issuer` must be
        exactly the configured one, so a document served for another issuer is refused."""
        if self._metadata is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self.fetch_object("GET", url, what="OIDC discovery")
            if document.get("issuer") != self.issuer:
                raise callback_error("OIDC discovery issuer does not match the configured issuer")
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                _endpoint(document, field)
            self._metadata = document
        return self._metadata

    async def check(self) -> str:
        """Fetch discovery now and pick the token-endpoint auth method, so a provider that cannot
        work fails at start-up or in `authgate check` rather than after a user signed in there.
        Returns a one-line summary; raises ProviderError (unreachable, bad document) or
        Configuration (no usable auth method)."""
        metadata = await self.discover()
        try:
            method = self._token_auth_method(metadata)
        except ProviderError:
            listed = metadata.get("token_endpoint_auth_methods_supported")
            raise Configuration(
                f"OIDC provider {self.id!r}: discovery lists token_endpoint_auth_methods_supported={listed!r};"
                " authgate needs client_secret_basic or client_secret_post. Enable one for this client at the"
                " provider, or pass token_endpoint_auth_method= if the provider accepts it unlisted"
            ) from None
        return f"issuer {self.issuer}, token endpoint auth {method}"

    async def authorization_url(self, *, redirect_uri: str, state: str, code_challenge: str, nonce: str | None) -> str:
        """Where to send the browser: the authorization endpoint with PKCE S256, state and nonce."""
        if not nonce:
            raise ValueError("OIDC sign-in needs a nonce")
        metadata = await self.discover()
        self._token_auth_method(metadata)  # unusable: fail now, before the user signs in at the provider
        params = {
            "response_type": "code",
            **self.authorization_params(redirect_uri=redirect_uri, state=state, code_challenge=code_challenge),
            "nonce": nonce,
        }
        return with_query(_endpoint(metadata, "authorization_endpoint"), params)

    async def complete(self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str | None) -> Profile:
        """Exchange the code, verify the ID token (and nonce), read userinfo if needed."""
        metadata = await self.discover()
        tokens = await self._exchange(metadata, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        access_token = access_token_from(tokens, "Token request")
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise callback_error("Token response has no ID token")
        claims = await self._verify(metadata, id_token, nonce)
        userinfo: dict[str, Any] = {}
        if self._wants_userinfo(metadata, claims):
            userinfo = await self._fetch_userinfo(metadata, access_token, claims["sub"])
        return self.profile(claims, userinfo)

    def profile(self, claims: Mapping[str, Any], userinfo: Mapping[str, Any]) -> Profile:
        """Map verified ID token claims (and userinfo) to a Profile. The email and its
        `email_verified` always come from the same source, the signed ID token first."""
        email_source = claims if "email" in claims else userinfo
        email = str_or_none(email_source.get("email"))
        merged = {**userinfo, **claims}
        return Profile(
            provider=self.id,
            account_id=claims["sub"],
            email=email,
            email_verified=email is not None and email_source.get("email_verified") is True,
            name=str_or_none(merged.get("name")) or str_or_none(merged.get("preferred_username")),
            image=str_or_none(merged.get("picture")),
            raw=merged,
        )

    async def _exchange(
        self, metadata: Mapping[str, Any], *, code: str, redirect_uri: str, code_verifier: str
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        headers: dict[str, str] = {}
        if self._token_auth_method(metadata) == "client_secret_basic":
            # RFC 6749 2.3.1: both parts are form-urlencoded before base64.
            pair = f"{quote_plus(self.client_id, safe='')}:{quote_plus(self._client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        else:
            form |= {"client_id": self.client_id, "client_secret": self._client_secret}
        url = _endpoint(metadata, "token_endpoint")
        return await self.fetch_object("POST", url, what="Token request", data=form, headers=headers)

    def _token_auth_method(self, metadata: Mapping[str, Any]) -> TokenEndpointAuthMethod:
        if self._auth_method is not None:
            return self._auth_method
        supported = metadata.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        if isinstance(supported, list):
            preferred: tuple[TokenEndpointAuthMethod, ...] = ("client_secret_basic", "client_secret_post")
            for method in preferred:
                if method in supported:
                    return method
        raise callback_error("Provider supports neither client_secret_basic nor client_secret_post")

    async def _verify(self, metadata: Mapping[str, Any], id_token: str, nonce: str | None) -> dict[str, Any]:
        for refresh in (False, True):
            keys = await self._keys(metadata, refresh=refresh)
            try:
                return verify_id_token(
                    id_token,
                    keys=keys,
                    issuer=self.issuer,
                    client_id=self.client_id,
                    nonce=nonce,
                    now=int(self._clock()),
                    leeway=self._leeway,
                    algorithms=self._algorithms,
                )
            except UnknownSigningKey:
                continue  # keys may have rotated: refetch the JWKS once
        raise callback_error("ID token is signed with a key the provider does not publish")

    async def _keys(self, metadata: Mapping[str, Any], *, refresh: bool) -> KeySet:
        if self._jwks is None or refresh:
            body = await self.fetch_object("GET", _endpoint(metadata, "jwks_uri"), what="JWKS request")
            keys = body.get("keys")
            if not isinstance(keys, list):
                raise callback_error("JWKS has no key list")
            try:
                self._jwks = KeySet.import_key_set(cast(KeySetSerialization, {"keys": keys}))
            except (JoseError, KeyError, TypeError, ValueError):
                raise callback_error("JWKS holds no usable key") from None
        return self._jwks

    def _wants_userinfo(self, metadata: Mapping[str, Any], claims: Mapping[str, Any]) -> bool:
        if self._userinfo is not None:
            return self._userinfo
        return "email" not in claims and "email" in self.scopes and "userinfo_endpoint" in metadata

    async def _fetch_userinfo(self, metadata: Mapping[str, Any], access_token: str, sub: str) -> dict[str, Any]:
        url = _endpoint(metadata, "userinfo_endpoint")
        body = await self.fetch_object(
            "GET", url, what="Userinfo request", headers={"Authorization": f"Bearer {access_token}"}
        )
        if body.get("sub") != sub:
            # OIDC Core 5.3.2: a userinfo answer about someone else must not be used.
            raise callback_error("Userinfo subject does not match the ID token")
        return body


def _endpoint(metadata: Mapping[str, Any], field: str) -> str:
    value = metadata.get(field)
    if not isinstance(value, str):
        raise callback_error(f"OIDC discovery has no {field}")
    try:
        return require_secure_url(value, f"OIDC {field}")
    except Configuration:
        raise callback_error(f"OIDC discovery {field} is not an https URL") from None
