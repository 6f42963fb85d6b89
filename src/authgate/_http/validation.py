"""Typed request bodies: each route declares its body as a msgspec Struct (bodies.py), and this
module turns what the strict parser read (parsing.py) into that Struct.

msgspec converts the dict in C, strictly (no "5" for 5, no 1 for true), and reads the field
declarations that the OpenAPI document is written from, so a route cannot read a field the
document does not describe. What msgspec does not check is checked here, on the converted value:
NUL characters, lone surrogates and the configured password length. When anything fails, the
fields are walked in declaration order and the first bad one is named, in the words the routes
have always used (`email: must be a string`), whatever msgspec's own message was.

Unknown fields are ignored, as a JSON object's extra members always were; the strict parser has
already refused duplicate keys, NaN and deep nesting anywhere in the body.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import msgspec
from msgspec import inspect as types

from .._errors import InvalidRequest
from .parsing import text_problem

__all__ = ["NEW_PASSWORD", "PASSWORD", "Body", "BodyDecoder", "FieldRule", "FormBody", "field_rules"]


class Body(msgspec.Struct, kw_only=True, frozen=True):
    """A JSON request body. Fields are validated and documented in the order they are declared."""


class FormBody(Body, kw_only=True, frozen=True):
    """An HTML form post (`application/x-www-form-urlencoded`, the Auth.js client's way): every
    value is text, and `csrfToken` stands in for the client header."""


#: Markers for password fields, whose bounds come from `PasswordOptions`: any password is at most
#: `max_length` long; a new one is documented with `min_length` too (the account flow enforces
#: that one, with its own message).
PASSWORD = msgspec.Meta(extra={"limit": "password"})
NEW_PASSWORD = msgspec.Meta(extra={"limit": "new_password"})

Kind = Literal["text", "choice", "flag", "flag_or_text", "object"]
B = TypeVar("B", bound=Body)


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One declared field, as validation and the OpenAPI document read it."""

    attr: str  # the Struct attribute
    name: str  # the JSON or form name
    kind: Kind
    required: bool
    nullable: bool
    max_length: int | None = None
    limit: str | None = None  # "password" or "new_password": bounded by PasswordOptions
    choices: tuple[str, ...] = ()
    schema: dict[str, Any] = field(default_factory=dict)  # extra JSON Schema: format, description

    def bound(self, max_password: int) -> int | None:
        """The longest value allowed, given PasswordOptions.max_length."""
        return max_password if self.limit else self.max_length


def _unwrap(info: types.Type) -> tuple[types.Type, dict[str, Any], dict[str, Any]]:
    """A type without its Annotated metadata, plus that metadata's JSON Schema and extra."""
    if isinstance(info, types.Metadata):
        return info.type, dict(info.extra_json_schema or {}), dict(info.extra or {})
    return info, {}, {}


def _rule(attr: str, name: str, required: bool, info: types.Type, hint: Any) -> FieldRule:
    members = info.types if isinstance(info, types.UnionType) else (info,)
    nullable = any(isinstance(member, types.NoneType) for member in members)
    schema: dict[str, Any] = {}
    limit = None
    kinds: list[types.Type] = []
    for member in members:
        if isinstance(member, types.NoneType):
            continue
        bare, more_schema, extra = _unwrap(member)
        schema |= more_schema
        limit = extra.get("limit", limit)
        kinds.append(bare)
    kind: Kind
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    match kinds:
        case [types.StrType() as text]:
            kind, max_length = "text", text.max_length
        case [types.LiteralType()]:
            # The declared order, not msgspec's sorted one: it is the order of the error message.
            literal = next(arg for arg in (hint, *typing.get_args(hint)) if typing.get_origin(arg) is Literal)
            kind, choices = "choice", typing.get_args(literal)
        case [types.BoolType()]:
            kind = "flag"
        case [types.BoolType(), types.StrType()]:
            kind = "flag_or_text"
        case [types.DictType()]:
            kind = "object"
        case _:
            raise TypeError(f"{name}: no validation rule for a field of type {hint}")
    return FieldRule(attr, name, kind, required, nullable, max_length, limit, choices, schema)


@functools.cache
def field_rules(model: type[Body]) -> tuple[FieldRule, ...]:
    """The fields of a body model, in declaration order."""
    struct = types.type_info(model)
    assert isinstance(struct, types.StructType)  # noqa: S101 - a Body is a Struct
    hints = typing.get_type_hints(model)
    return tuple(
        _rule(item.name, item.encode_name, item.required, item.type, hints[item.name]) for item in struct.fields
    )


_ABSENT: Any = object()


def _problem(rule: FieldRule, value: Any, max_length: int | None) -> str | None:
    """What is wrong with one field's value (None when nothing is). Null counts as absent, except
    where true or false is expected."""
    if value is _ABSENT or value is None:
        if rule.required:
            return "must be an object" if rule.kind == "object" else "is required"
        if value is _ABSENT or rule.nullable or rule.kind != "flag":
            return None
    if rule.kind == "flag":
        return None if isinstance(value, bool) else "must be true or false"
    if rule.kind == "object":
        return None if isinstance(value, dict) else "must be an object"
    if isinstance(value, bool) and rule.kind == "flag_or_text":
        return None
    if not isinstance(value, str):
        return "must be true, false or a string" if rule.kind == "flag_or_text" else "must be a string"
    if max_length is not None and len(value) > max_length:
        return f"at most {max_length} characters"
    problem = text_problem(value)
    if problem is None and rule.choices and value not in rule.choices:
        problem = "must be " + " or ".join(map(repr, rule.choices))
    return problem


class BodyDecoder(Generic[B]):
    """One body model bound to the configured password length."""

    __slots__ = ("_rules", "_texts", "model")

    def __init__(self, model: type[B], *, max_password: int) -> None:
        self.model = model
        self._rules = tuple((rule, rule.bound(max_password)) for rule in field_rules(model))
        # What msgspec leaves to us on a value it accepted: the text of the text fields.
        self._texts = tuple(pair for pair in self._rules if pair[0].kind in ("text", "choice", "flag_or_text"))

    def decode(self, data: dict[str, Any]) -> B:
        """The typed body, or InvalidRequest naming the first bad field."""
        try:
            body = msgspec.convert(data, self.model, strict=True)
        except msgspec.ValidationError as error:
            raise self._explain(data, error) from None
        for rule, max_length in self._texts:
            problem = _problem(rule, getattr(body, rule.attr), max_length)
            if problem is not None:
                raise _refusal(rule, problem)
        return body

    def _explain(self, data: dict[str, Any], error: msgspec.ValidationError) -> InvalidRequest:
        for rule, max_length in self._rules:
            problem = _problem(rule, data.get(rule.name, _ABSENT), max_length)
            if problem is not None:
                return _refusal(rule, problem)
        return InvalidRequest(f"body: {error}")  # a check this module does not know: msgspec's words


def _refusal(rule: FieldRule, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{rule.name}: {problem}", field=rule.name)
