"""Strict request bodies: size first, then media type, then a parser that refuses what Python's
json module would quietly accept (duplicate keys, NaN, deep nesting). The route's typed model
(validation.py) then checks the fields.

Hand-written because no library combines a streaming size cap with these refusals: msgspec and
pydantic keep the last of two duplicate keys, and msgspec has no depth limit of its own.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from .._errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

__all__ = [
    "FORM",
    "MAX_BODY",
    "body_media_type",
    "drain_body",
    "parse_json_object",
    "parse_urlencoded",
    "read_form_body",
    "read_json_body",
    "read_optional_json_body",
    "text_problem",
]

MAX_BODY = 64 * 1024
_MAX_DEPTH = 16
FORM = "application/x-www-form-urlencoded"

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


def _media_type(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, int | None]:
    content_type: str | None = None
    length: int | None = None
    for name, value in headers:
        if name == b"content-type":
            content_type = value.decode("latin-1").split(";", 1)[0].strip().lower()
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise InvalidRequest("Content-Length is not a number") from None
    return content_type, length


def body_media_type(scope: Any) -> str | None:
    """The request's media type, lower-cased, without parameters."""
    return _media_type(scope["headers"])[0]


async def read_json_body(scope: Any, receive: Receive) -> dict[str, Any]:
    """The request body as a JSON object, or an AuthError (413, 415, 400) before anything is written."""
    content_type, length = _media_type(scope["headers"])
    if length is not None and length > MAX_BODY:
        raise PayloadTooLarge()
    # JSON only: text/plain and form encodings are what a cross-site form can send without preflight.
    if content_type != "application/json":
        raise UnsupportedMediaType()
    return parse_json_object(await _read_body(receive))


async def read_optional_json_body(scope: Any, receive: Receive) -> dict[str, Any]:
    """Like `read_json_body`, but a request with no body at all (no type, no length) is `{}`: the
    routes whose body only carries an optional step-up proof can still be called bare."""
    content_type, length = _media_type(scope["headers"])
    if content_type is None and not length:
        return {}
    return await read_json_body(scope, receive)


async def read_form_body(scope: Any, receive: Receive) -> dict[str, str]:
    """An HTML form post (`application/x-www-form-urlencoded`), for the Auth.js form routes only."""
    content_type, length = _media_type(scope["headers"])
    if length is not None and length > MAX_BODY:
        raise PayloadTooLarge()
    if content_type != FORM:
        raise UnsupportedMediaType("Content-Type must be application/x-www-form-urlencoded or application/json")
    form = parse_urlencoded(await _read_body(receive), encoding="utf-8", what="form body")
    for key, value in form.items():
        problem = text_problem(value)
        if problem is not None:
            raise InvalidRequest(f"{key}: {problem}", field=key)
    return form


def parse_urlencoded(raw: bytes, *, encoding: str, what: str) -> dict[str, str]:
    """`a=1&b=2` as a dict: at most 32 fields, and a repeated key is refused rather than guessed at."""
    try:
        pairs = parse_qsl(raw.decode(encoding), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest(f"{what} is malformed") from None
    return _no_duplicates(pairs)


async def drain_body(receive: Receive) -> None:
    """Read and discard a body (up to the size limit) for a route that ignores what it is sent."""
    await _read_body(receive)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:  # a lying or absent Content-Length: stop reading here
            raise PayloadTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The pairs as a dict; a repeated key is refused rather than guessed at."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidRequest(f"{key}: duplicate key", field=key)
            seen.add(key)
    return result


def _no_constants(name: str) -> Any:
    raise InvalidRequest(f"JSON constant {name} is not allowed")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


# Built once: `json.loads` with hooks builds a new decoder on every call, which costs more than
# the parse of a typical body.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object; refuse everything ambiguous with InvalidRequest."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("body is not valid UTF-8") from None
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise InvalidRequest("body is nested too deeply") from None
    except ValueError:  # JSONDecodeError and friends
        raise InvalidRequest("body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidRequest("body must be a JSON object")
    # A body cannot nest deeper than it has brackets: most bodies need no walk at all.
    if raw.count(b"{") + raw.count(b"[") > _MAX_DEPTH and _depth(value) > _MAX_DEPTH:
        raise InvalidRequest("body is nested too deeply")
    return value


def text_problem(value: str) -> str | None:
    """NUL and lone surrogates ("\\ud800"): JSON and forms can carry both; no store or header should."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text"
    return None
