"""Property tests: the parsers that see hostile bytes only ever answer with their own refusals."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from authgate import AuthError
from authgate._config import AuthConfig
from authgate._http.credentials import read_credentials
from authgate._http.parsing import parse_json_object
from authgate._jwe import InvalidJWE, JWECodec
from authgate._redirects import safe_redirect
from authgate._tokens import looks_like_token

CONFIG = AuthConfig(secret="p" * 40)
CODEC = JWECodec(["p" * 40], "authgate_session")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_json_parser_refuses_arbitrary_bytes_with_invalid_request(raw: bytes) -> None:
    try:
        assert isinstance(parse_json_object(raw), dict)
    except AuthError as error:
        assert error.kind == "InvalidRequest"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_json_parser_accepts_every_plain_object(value: dict[str, object]) -> None:
    import json

    try:
        text = json.dumps(value)
    except ValueError:
        return
    try:
        parsed = parse_json_object(text.encode("utf-8", "surrogatepass"))
    except AuthError as error:  # NaN/Infinity, lone surrogates and deep nesting are refused on purpose
        assert error.kind == "InvalidRequest"
        return
    assert parsed.keys() == value.keys()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=100))
def test_cookie_and_authorization_parsing_never_raises(cookie: bytes, authorization: bytes) -> None:
    scope = {"headers": [(b"cookie", cookie), (b"authorization", authorization)], "scheme": "https"}
    credentials = read_credentials(scope, CONFIG)
    assert credentials.token is None or isinstance(credentials.token, str)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_token_filter_accepts_only_token_shaped_ascii(value: str) -> None:
    if looks_like_token(value):
        assert value.isascii() and 16 <= len(value) <= 256 and "\x00" not in value and ";" not in value


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_jwe_decode_only_raises_invalid_jwe(token: str) -> None:
    try:
        CODEC.decode(token)
    except InvalidJWE:
        pass


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_redirect_target_is_always_on_our_origin(target: str) -> None:
    result = safe_redirect(target, own_origin="https://app.example.com", fallback="/")
    assert result == "/" or result == target
    if result.startswith("/"):
        assert not result.startswith("//") and "\\" not in result
    else:
        assert result.startswith("https://app.example.com")
        assert result[len("https://app.example.com") :][:1] in ("", "/", "?", "#", ":")
