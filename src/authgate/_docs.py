"""The reference parts of `docs/` come from the code, so they cannot drift from it: the option
tables of configuration.md from the option classes, the route table of routes.md from the OpenAPI
document (`authgate.openapi`).

`python -m authgate._docs` rewrites every generated block in place; `--check` only reports the
stale ones (exit 1). A block sits between `<!-- BEGIN GENERATED name ... -->` and
`<!-- END GENERATED name -->`; everything outside the markers is hand-written and kept.

An option's description is its docstring (a string right after a dataclass field) or the comment
lines right above it (a field or a constructor parameter); its type and default are the source
text of the annotation and default, exactly as a user writes them.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import (
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
from .openapi import openapi_document
from .stores import PostgresStore, RedisStore, SQLiteStore

__all__ = [
    "Option",
    "OptionTable",
    "documented_names",
    "option_tables",
    "render",
    "route_table",
    "schema_table",
    "stale_blocks",
]

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMAND = "python -m authgate._docs"
_BLOCK = re.compile(
    r"(?P<begin><!-- BEGIN GENERATED (?P<name>\S+)[^\n]*-->\n)(?P<body>.*?)(?P<end><!-- END GENERATED (?P=name) -->)",
    re.DOTALL,
)


@dataclass(frozen=True)
class Option:
    name: str
    type: str
    default: str  # "" when the option is required
    description: str


@dataclass(frozen=True)
class OptionTable:
    name: str  # the block name in the document: the class a user builds
    options: tuple[Option, ...]


def _source_tree(obj: type) -> tuple[str, ast.Module]:
    source = inspect.getsource(sys.modules[obj.__module__])
    return source, ast.parse(source)


def _class_node(tree: ast.Module, name: str) -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise LookupError(f"class {name} not found at the top of its module")


def _text(source: str, node: ast.AST | None) -> str:
    return " ".join((ast.get_source_segment(source, node) or "").split()) if node is not None else ""


def _comments_above(lines: list[str], lineno: int) -> str:
    """The `#` lines directly above line `lineno` (1-based), joined; '' when there are none."""
    found: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        found.append(lines[index].strip().lstrip("#").strip())
        index -= 1
    return " ".join(reversed(found))


def _field_default(source: str, value: ast.expr | None) -> str:
    if isinstance(value, ast.Call) and _text(source, value.func) == "field":
        for keyword in value.keywords:
            if keyword.arg == "default":
                return _text(source, keyword.value)
            if keyword.arg == "default_factory":
                return f"{_text(source, keyword.value)}()"
        return ""
    return _text(source, value)


def dataclass_options(cls: type) -> tuple[Option, ...]:
    """The fields of a dataclass, in source order, described by their docstrings or comments."""
    source, tree = _source_tree(cls)
    lines = source.splitlines()
    body = _class_node(tree, cls.__name__).body
    options = []
    for position, node in enumerate(body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        following = body[position + 1] if position + 1 < len(body) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            description = " ".join(inspect.cleandoc(following.value.value).split())
        else:
            description = _comments_above(lines, node.lineno)
        options.append(
            Option(node.target.id, _text(source, node.annotation), _field_default(source, node.value), description)
        )
    return tuple(options)


def parameter_options(cls: type, describe: Callable[[str], str] | None = None) -> tuple[Option, ...]:
    """The parameters of `cls.__init__` (but self), described by the comment lines above each, or
    else by `describe(name)`."""
    owner = next(klass for klass in cls.__mro__ if "__init__" in vars(klass))  # Auth inherits AuthEngine's
    source, tree = _source_tree(owner)
    lines = source.splitlines()
    init = next(
        node
        for node in _class_node(tree, owner.__name__).body
        if isinstance(node, ast.FunctionDef) and node.name == "__init__"
    )
    arguments = init.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    pairs = list(zip(positional, defaults, strict=True)) + list(
        zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
    )
    options = []
    for argument, default in pairs:
        if argument.arg == "self":
            continue
        description = _comments_above(lines, argument.lineno)
        if not description and describe is not None:
            description = describe(argument.arg)
        options.append(Option(argument.arg, _text(source, argument.annotation), _text(source, default), description))
    return tuple(options)


def option_tables() -> tuple[OptionTable, ...]:
    """Every class whose options a user passes to `Auth(...)`, in the order of the document."""

    config = {option.name: option.description for option in dataclass_options(AuthConfig)}
    tables = [OptionTable("Auth", parameter_options(Auth, lambda name: config.get(name, "")))]
    for cls in (
        CookieOptions,
        SessionOptions,
        PasswordOptions,
        MFAOptions,
        AccountOptions,
        PasskeyOptions,
        MagicLinkOptions,
        AuthJSOptions,
        RateLimitOptions,
        Callbacks,
        Events,
    ):
        tables.append(OptionTable(cls.__name__, dataclass_options(cls)))
    for store in (SQLiteStore, PostgresStore, RedisStore):
        tables.append(OptionTable(store.__name__, parameter_options(store)))
    return tuple(tables)


def _cell(text: str, *, code: bool) -> str:
    text = text.replace("|", "\\|")
    return f"`{text}`" if code and text else text


def _table(table: OptionTable) -> str:
    rows = ["| option | type | default | description |", "|---|---|---|---|"]
    for option in table.options:
        default = _cell(option.default, code=True) or "required"
        rows.append(
            f"| {_cell(option.name, code=True)} | {_cell(option.type, code=True)} | {default} "
            f"| {_cell(option.description, code=False)} |"
        )
    return "\n".join(rows) + "\n"


def generated_blocks() -> dict[str, str]:
    return {table.name: _table(table) for table in option_tables()}


def render(text: str, blocks: dict[str, str]) -> str:
    """`text` with every generated block's body replaced; LookupError names a block that has no
    markers in the text or markers with no block."""
    missing = set(blocks) - {match["name"] for match in _BLOCK.finditer(text)}
    if missing:
        raise LookupError(f"no '<!-- BEGIN GENERATED name -->' markers for: {', '.join(sorted(missing))}")

    def replace(match: re.Match[str]) -> str:
        if match["name"] not in blocks:
            raise LookupError(f"markers for an unknown generated block: {match['name']}")
        return match["begin"] + blocks[match["name"]] + match["end"]

    return _BLOCK.sub(replace, text)


_METHODS = ("get", "post", "patch", "put", "delete")


def _shape(schema: dict[str, Any]) -> str:
    """A schema in a few characters: a component's name, `{field, optional?}`, or alternatives."""
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[-1]}`"
    if "anyOf" in schema:
        return " or ".join(_shape(option) for option in schema["anyOf"])
    if isinstance(schema.get("additionalProperties"), dict):
        return f"`{{<id>: {_shape(schema['additionalProperties']).strip('`')}}}`"
    if schema.get("type") == "null":
        return "`null`"
    if "properties" in schema:
        required = set(schema.get("required", ()))
        fields = [name if name in required else f"{name}?" for name in schema["properties"]]
        return f"`{{{', '.join(fields)}}}`"
    return ""


def _inputs(operation: dict[str, Any], shared: list[dict[str, Any]]) -> str:
    parts = []
    query = [p["name"] for p in (*shared, *operation.get("parameters", ())) if p.get("in") == "query"]
    if query:
        parts.append(" ".join(f"`?{name}=`" for name in query))
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        parts.append(_shape(content["application/json"]["schema"]))
    if "application/x-www-form-urlencoded" in content:
        parts.append("form " + _shape(content["application/x-www-form-urlencoded"]["schema"]))
    return "; ".join(part for part in parts if part)


def _answer(status: str, response: dict[str, Any]) -> str:
    content = response.get("content", {})
    if "application/json" in content:
        return f"{status} {_shape(content['application/json']['schema'])}".strip()
    if "text/html" in content:
        return f"{status} HTML"
    return f"{status} redirect" if status.startswith("3") else status


def route_table(document: dict[str, Any]) -> str:
    """One row per operation of the OpenAPI document, in its order."""
    rows = ["| method | path | what | body / query | success | errors |", "|---|---|---|---|---|---|"]
    for path, item in document["paths"].items():
        for method in (m for m in _METHODS if m in item):
            operation = item[method]
            what = operation["summary"] + (f". {operation['description']}" if "description" in operation else "")
            responses = operation["responses"]
            success = ", ".join(_answer(status, responses[status]) for status in responses if int(status) < 400)
            errors = ", ".join(status for status in responses if int(status) >= 400)
            cells = [method.upper(), path, what, _inputs(operation, item.get("parameters", [])), success, errors]
            rows.append("| " + " | ".join(_cell(cell, code=False) for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def schema_table(document: dict[str, Any]) -> str:
    """The named bodies the route table refers to."""
    rows = ["| schema | fields | description |", "|---|---|---|"]
    for name, schema in document["components"]["schemas"].items():
        rows.append(
            f"| `{name}` | {_cell(_shape(schema), code=False)} | {_cell(schema.get('description', ''), code=False)} |"
        )
    return "\n".join(rows) + "\n"


def _route_blocks() -> dict[str, str]:

    document = openapi_document(AuthConfig(secret="x" * 32))  # the defaults; only lengths depend on it
    return {"routes": route_table(document), "schemas": schema_table(document)}


def _documents() -> dict[Path, dict[str, str]]:
    return {DOCS / "configuration.md": generated_blocks(), DOCS / "routes.md": _route_blocks()}


def stale_blocks() -> list[Path]:
    """The documents whose generated blocks differ from what the code says now."""
    return [path for path, blocks in _documents().items() if render(path.read_text(), blocks) != path.read_text()]


def documented_names(path: Path, block: str) -> list[str]:
    """The first column of the generated table `block` in `path`, for tests."""
    for match in _BLOCK.finditer(path.read_text()):
        if match["name"] == block:
            return re.findall(r"^\| `([^`]+)` \|", match["body"], re.MULTILINE)
    raise LookupError(f"{path.name} has no generated block {block}")


def main(argv: list[str]) -> int:
    if argv[1:] == ["--check"]:
        stale = stale_blocks()
        for path in stale:
            print(f"{path} is stale; run `{COMMAND}`", file=sys.stderr)
        return 1 if stale else 0
    if argv[1:]:
        print(f"usage: {COMMAND} [--check]", file=sys.stderr)
        return 2
    for path, blocks in _documents().items():
        old = path.read_text()
        new = render(old, blocks)
        if new != old:
            path.write_text(new)
            print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
