"""OAuth 2.0 and OpenID Connect providers: framework-free classes the engine calls to start a
sign-in (`authorization_url`) and to finish it (`complete`, which returns a `Profile`).

The engine owns state, PKCE verifier and nonce storage, cookies, routes and accounts; a provider
only talks to the authorization server, and raises `ProviderError` for anything that goes wrong.
"""

from ._base import OAuthProvider, Profile, ProviderError, ProviderErrorKind
from ._github import GitHub
from ._google import Google
from ._oidc import OIDC

__all__ = ["OIDC", "GitHub", "Google", "OAuthProvider", "Profile", "ProviderError", "ProviderErrorKind"]
