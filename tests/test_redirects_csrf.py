"""Open-redirect tricks fall back to the base URL; CSRF tokens are bound to the secret."""

from __future__ import annotations

import pytest

from authgate._csrf import csrf_matches, new_csrf_cookie
from authgate._redirects import safe_redirect

OWN = "https://app.example.com"
FALLBACK = "https://app.example.com/"


def redirect(target: str) -> str:
    return safe_redirect(target, own_origin=OWN, allowed_origins=["https://docs.example.com"], fallback=FALLBACK)


@pytest.mark.parametrize(
    "target",
    [
        "/dashboard",
        "/settings?tab=security#mfa",
        "https://app.example.com/after-login",
        "https://app.example.com:443/x",
        "https://docs.example.com/guide",
    ],
)
def test_own_origin_and_allowlist_are_kept(target: str) -> None:
    assert redirect(target) == target


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "//evil.com/path",
        "/\\evil.com",
        "\\\\evil.com",
        "/\\/evil.com",
        "https:evil.com",
        "http:/evil.com",
        "https://evil.com",
        "https://app.example.com@evil.com",
        "https://user:pw@app.example.com/",
        "https://app.example.com.evil.com/",
        "http://app.example.com/",  # downgrade
        "https://app.example.com:8443/",
        "/%2f%2fevil.com",
        "/%2F%2Fevil.com",
        "/%252f%252fevil.com",
        "/%5cevil.com",
        "/\tevil.com",
        "/\n/evil.com",
        "java\tscript:alert(1)",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        " /dashboard",
        "/dash\x00board",
        "evil.com",
        "",
        "/" + "a" * 5000,
    ],
)
def test_open_redirect_tricks_fall_back_to_base_url(target: str) -> None:
    assert redirect(target) == FALLBACK


def test_csrf_token_round_trip_and_forgery() -> None:
    token, cookie = new_csrf_cookie("secret-one-" * 4)
    assert csrf_matches("secret-one-" * 4, cookie, token)
    assert not csrf_matches("secret-one-" * 4, cookie, token + "x")
    assert not csrf_matches("secret-two-" * 4, cookie, token)  # a token from another secret fails
    assert not csrf_matches("secret-one-" * 4, f"{token}|{'0' * 64}", token)  # forged signature
    assert not csrf_matches("secret-one-" * 4, None, token)
    assert not csrf_matches("secret-one-" * 4, cookie, None)
    assert not csrf_matches("secret-one-" * 4, cookie, "")
