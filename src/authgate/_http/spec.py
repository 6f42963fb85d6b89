"""Route declarations. Each route is declared once, on its handler:

    @ROUTES.route("POST", "/change-email", Access.SIGNED_IN, summary=..., answers={200: ok(...)})
    async def change_email(call: Call, body: ChangeEmail) -> None: ...

and everything else is made from that: the router and its checks (app.py), the body model
(the handler's second parameter: a `Body`, a `FormBody`, both as a union, or `None` for no body),
the OpenAPI operation (authgate.openapi) and its row in docs/routes.md (authgate._docs).

The statuses a route can answer follow from the declaration where the router produces them (see
`Route.error_statuses`); `errors` adds the ones the handler or the engine produce.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from .call import Call
from .validation import Body, FormBody

__all__ = [
    "BOOL",
    "COUNT",
    "NO_STORE",
    "NULLABLE_STRING",
    "REDIRECT",
    "SIGNED_IN_SECURITY",
    "STRING",
    "TIME",
    "TRUE",
    "Access",
    "Handler",
    "Requirement",
    "Route",
    "RouteList",
    "Schema",
    "closed",
    "html_page",
    "ok",
    "query",
    "ref",
]

Schema = dict[str, Any]
Handler = Callable[[Call, Any], Awaitable[None]]
H = TypeVar("H", bound=Handler)


class Access(Enum):
    """Who may call a route, checked before the handler runs (and, but for forms, before the body
    is read, so a refused request never reaches the store)."""

    PUBLIC = "public"  # reads, pages, and /token (a bearer client's token is in the body, never a cookie)
    CLIENT = "client"  # X-Authgate-Client: true and a trusted Origin (credentials.check_cross_site)
    OWN_SESSION = "own session"  # a bearer token that authenticates, else as CLIENT (sign-out)
    SIGNED_IN = "signed in"  # the session, re-read from the store: bearer, or cookie and CLIENT's checks
    FORM = "form"  # an HTML form proves itself with csrfToken (read from the form); JSON as CLIENT


#: What a route needs before anything else runs (a store, an enabled feature, a known provider):
#: a check that raises NotFound (documented as 404) when it is missing.
Requirement = Callable[[Call], None]


@dataclass(frozen=True, slots=True)
class Route:
    """One route, as declared on its handler."""

    method: str
    path: str  # relative to the base path; `{provider}` at the end matches one path segment
    handler: Handler
    access: Access
    summary: str
    answers: Mapping[int, Schema]  # the answers other than the shared errors: status -> OpenAPI response
    errors: tuple[int, ...] = ()
    description: str = ""
    json: type[Body] | None = None
    form: type[FormBody] | None = None
    body_optional: bool = False  # a bare request (no type, no length) is read as `{}`
    requires: Requirement | None = None
    query: tuple[Schema, ...] = ()
    security: tuple[Mapping[str, list[str]], ...] | None = None  # default: from `access`
    url_errors: tuple[int, ...] = ()  # statuses a form asking for `{url}` gets as the error page's URL

    @property
    def error_statuses(self) -> tuple[int, ...]:
        """Every error status: from the router's checks, then the declared ones."""
        statuses = set(self.errors)
        if self.access is not Access.PUBLIC:
            statuses |= {403, 503}  # the cross-site checks; then whatever the route asks the store
        if self.access is Access.SIGNED_IN:
            statuses.add(401)
        if self.json is not None or self.form is not None:
            statuses |= {400, 413, 415, 503}
        if self.requires is not None:
            statuses.add(404)
        return tuple(sorted(statuses))


class RouteList:
    """The routes one module declares, in order."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        access: Access,
        *,
        summary: str,
        answers: Mapping[int, Schema],
        errors: tuple[int, ...] = (),
        description: str = "",
        body_optional: bool = False,
        requires: Requirement | None = None,
        query: tuple[Schema, ...] = (),
        security: tuple[Mapping[str, list[str]], ...] | None = None,
        url_errors: tuple[int, ...] = (),
    ) -> Callable[[H], H]:
        """Declare the decorated handler's route; the handler itself is returned unchanged."""

        def declare(handler: H) -> H:
            json, form = _body_models(handler)
            self.routes.append(
                Route(
                    method=method, path=path, handler=handler, access=access, summary=summary, answers=answers,
                    errors=errors, description=description, json=json, form=form, body_optional=body_optional,
                    requires=requires, query=query, security=security, url_errors=url_errors,
                )
            )
            return handler

        return declare


def _body_models(handler: Handler) -> tuple[type[Body] | None, type[FormBody] | None]:
    """The JSON and form models a handler takes, read from the annotation of its second parameter."""
    second = list(inspect.signature(handler).parameters)[1]
    annotation = typing.get_type_hints(handler)[second]
    members = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    json = [m for m in members if isinstance(m, type) and issubclass(m, Body) and not issubclass(m, FormBody)]
    form = [m for m in members if isinstance(m, type) and issubclass(m, FormBody)]
    if len(json) > 1 or len(form) > len(json) or len(json) + len(form) != len(members) - (type(None) in members):
        raise TypeError(f"{handler.__qualname__}: the body is a Body, a Body | FormBody, or None")
    return (json[0] if json else None), (form[0] if form else None)


# -- the vocabulary of answers -------------------------------------------------------------------

STRING: Schema = {"type": "string"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
TIME: Schema = {"type": "string", "format": "date-time"}
TRUE: Schema = {"type": "boolean", "const": True}
BOOL: Schema = {"type": "boolean"}
COUNT: Schema = {"type": "integer", "minimum": 0}
NO_STORE: dict[str, Schema] = {"Cache-Control": {"required": True, "schema": {"type": "string", "const": "no-store"}}}
SET_COOKIE: Schema = {"description": "session cookies set, rotated or cleared", "schema": STRING}
SIGNED_IN_SECURITY: tuple[Mapping[str, list[str]], ...] = ({"sessionCookie": []}, {"bearer": []})


def ref(name: str) -> Schema:
    """A schema of the document's components (authgate.openapi)."""
    return {"$ref": f"#/components/schemas/{name}"}


def closed(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """A closed object: the listed properties and nothing else."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


def ok(schema: Schema, description: str = "OK", *, cookies: bool = False) -> Schema:
    """A JSON answer (`cookies`: it may set or clear the session cookies)."""
    headers = {**NO_STORE, **({"Set-Cookie": SET_COOKIE} if cookies else {})}
    return {"description": description, "headers": headers, "content": {"application/json": {"schema": schema}}}


REDIRECT: Schema = {
    "description": "Redirect (to the provider, the app, or the error page)",
    "headers": {**NO_STORE, "Location": {"required": True, "schema": STRING}, "Set-Cookie": SET_COOKIE},
}


def html_page(posts: str) -> Schema:
    """An emailed link's confirmation page, whose form POSTs `posts` back (GET spends nothing)."""
    return {
        "description": f"HTML confirmation page (a form POSTing {posts})",
        "headers": NO_STORE,
        "content": {"text/html": {"schema": STRING}},
    }


def query(name: str, schema: Schema, *, required: bool = False, description: str = "") -> Schema:
    """A query parameter (the handler reads it with `call.query()`)."""
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}
