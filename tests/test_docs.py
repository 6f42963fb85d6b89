"""The generated reference in docs/ matches the code: every option documented, nothing stale."""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from pathlib import Path

import pytest

from authgate import (
    AccountOptions,
    Auth,
    AuthConfig,
    AuthJSOptions,
    Callbacks,
    CookieOptions,
    Events,
    MagicLinkOptions,
    MFAOptions,
    PasskeyOptions,
    PasswordOptions,
    RateLimitOptions,
    SessionOptions,
)
from authgate._docs import COMMAND, DOCS, documented_names, option_tables, stale_blocks
from authgate.stores import MemoryStore, PostgresStore, RedisStore, SQLiteStore

from .support import SECRET, dispatched_routes, not_dispatched, undocumented

CONFIGURATION = DOCS / "configuration.md"
OPTION_CLASSES: list[type] = [
    CookieOptions, SessionOptions, PasswordOptions, MFAOptions, AccountOptions, PasskeyOptions,
    MagicLinkOptions, AuthJSOptions, RateLimitOptions, Callbacks, Events,
]  # fmt: skip
STORES: list[type] = [SQLiteStore, PostgresStore, RedisStore]


def _parameters(cls: type) -> list[str]:
    return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]


def test_generated_docs_are_current() -> None:
    stale = stale_blocks()
    assert not stale, f"{', '.join(map(str, stale))} stale: run `{COMMAND}` (with PYTHONPATH=src) and commit it"


@pytest.mark.parametrize("cls", OPTION_CLASSES, ids=lambda cls: cls.__name__)
def test_every_option_field_is_documented(cls: type) -> None:
    assert documented_names(CONFIGURATION, cls.__name__) == [field.name for field in dataclasses.fields(cls)]


@pytest.mark.parametrize("cls", [Auth, *STORES], ids=lambda cls: cls.__name__)
def test_every_constructor_option_is_documented(cls: type) -> None:
    assert documented_names(CONFIGURATION, cls.__name__) == _parameters(cls)


def test_every_config_field_is_an_auth_argument() -> None:
    """AuthConfig is built by Auth(...): a field without an Auth keyword could not be set."""
    assert {field.name for field in dataclasses.fields(AuthConfig)} <= set(_parameters(Auth))


def test_every_option_has_a_description() -> None:
    missing = [
        f"{table.name}.{option.name}" for table in option_tables() for option in table.options if not option.description
    ]
    assert not missing, (
        f"no description for {missing}: give the field a docstring (or a comment line right above the"
        f" constructor parameter), then run `{COMMAND}`"
    )


def _route_table(path: Path) -> set[tuple[str, str]]:
    """(method, path) of every row of the route table."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| method | path |")) + 2
    routes = set()
    for line in itertools.takewhile(lambda line: line.startswith("|"), lines[start:]):
        method, route = (cell.strip() for cell in line.split(" | ")[:2])
        routes.add((method.removeprefix("| ").lower(), route))
    return routes


def test_routes_md_documents_every_dispatched_route() -> None:
    app = Auth(store=MemoryStore(), secret=SECRET).asgi_app
    assert undocumented(dispatched_routes(app), _route_table(DOCS / "routes.md")) == set(), (
        "add these routes to the table in docs/routes.md"
    )


def test_routes_md_documents_only_dispatched_routes() -> None:
    app = Auth(store=MemoryStore(), secret=SECRET).asgi_app
    assert not_dispatched(app, _route_table(DOCS / "routes.md")) == set(), "docs/routes.md lists unknown routes"
