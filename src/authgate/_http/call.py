"""One request as the route handlers see it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._client_ip import client_ip
from .._errors import Unauthenticated
from .._models import AuthSession, RequestMeta
from .credentials import Credentials, cookie_value, own_origin
from .parsing import Receive, parse_urlencoded
from .responses import Send

if TYPE_CHECKING:
    from .._engine import AuthEngine

__all__ = ["Call"]


class Call:
    """Scope, receive and send, the engine, and the credentials read once from the headers."""

    __slots__ = ("auth", "config", "credentials", "path_param", "receive", "scope", "send", "session")

    def __init__(self, scope: Any, receive: Receive, send: Send, auth: AuthEngine, credentials: Credentials) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.auth = auth
        self.config = auth.config
        self.credentials = credentials
        self.path_param = ""
        self.session: AuthSession | None = None  # set by the router for a SIGNED_IN route

    @property
    def signed_in(self) -> AuthSession:
        """The session of a SIGNED_IN route, which the router re-read from the store."""
        if self.session is None:
            raise Unauthenticated()
        return self.session

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None

    def cookie(self, name: str) -> str | None:
        header = self.header(b"cookie")
        return cookie_value(header, name) if header else None

    def meta(self) -> RequestMeta:
        """Client IP (the socket peer, or the right-most untrusted X-Forwarded-For hop when the peer
        is a trusted proxy) and user agent."""
        ip = client_ip(self.scope, self.config.trusted_proxies)
        return RequestMeta(ip=ip, user_agent=self.header(b"user-agent"))

    def query(self) -> dict[str, str]:
        """Query parameters; a repeated key is refused rather than guessed at."""
        return parse_urlencoded(self.scope.get("query_string", b""), encoding="ascii", what="query string")

    def origin(self) -> str:
        """The app's own origin (base_url, else what this request was addressed to)."""
        return own_origin(self.scope, self.config, self.credentials.host) or "http://localhost"
