"""Every route of the auth app, in the order of the OpenAPI document and docs/routes.md (the
document's own route, GET /openapi.json, is declared beside it in `authgate.openapi`)."""

from __future__ import annotations

from . import account_routes, magic_link_routes, mfa_routes, passkey_routes, provider_routes, session_routes
from .spec import Route

__all__ = ["ROUTES"]

ROUTES: tuple[Route, ...] = tuple(
    route
    for module in (session_routes, provider_routes, magic_link_routes, passkey_routes, mfa_routes, account_routes)
    for route in module.ROUTES.routes
)
