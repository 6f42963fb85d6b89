"""Links sent by email that change state (a sign-in link, an email-change confirmation) never act on
GET: mail scanners open every link before the user does. GET shows this small page; its button
POSTs the token back as a form with a CSRF token (double submit against the signed cookie), and only
that POST spends it. Also the form side of the routes an HTML form may post to."""

from __future__ import annotations

from html import escape

from .._csrf import csrf_matches, csrf_token_from_cookie, new_csrf_cookie
from .call import Call
from .credentials import check_cross_site
from .responses import short_lived_cookie

__all__ = ["CSRF_COOKIE", "check_form_csrf", "send_confirmation_page"]

CSRF_COOKIE = "authgate_csrf"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>body{{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1.25rem}}</style></head>
<body><h1>{title}</h1><p>{question}</p>
<form method="post" action="{action}">
{fields}<input type="hidden" name="csrfToken" value="{csrf}">
<button type="submit" id="confirm">{button}</button></form>
<p>If you did not ask for this link, close this page: nothing happens until you press the button.</p>
</body></html>
"""
# The page carries the token in its URL and form: no scripts, no framing, and no Referer to any
# other origin. Not `no-referrer`: under it Chromium sends `Origin: null` with the form's POST,
# which the Origin check rightly refuses.
_PAGE_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ),
]


async def send_confirmation_page(
    call: Call,
    *,
    title: str,
    question: str,
    action: str,
    fields: dict[str, str],
    button: str,
) -> None:
    """The page whose button POSTs `fields` (and a CSRF token) to `action`. `question` is plain text
    except for `<strong>{value}</strong>` spans the caller escapes itself."""
    config = call.config
    csrf = csrf_token_from_cookie(config.secrets, call.cookie(CSRF_COOKIE))
    headers = list(_PAGE_HEADERS)
    if csrf is None:
        csrf, cookie = new_csrf_cookie(config.signing_secret)
        headers.append(short_lived_cookie(config, CSRF_COOKIE, cookie, path="/", max_age=24 * 3600))
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in fields.items()
    )
    page = _PAGE.format(
        title=escape(title), question=question, action=escape(action), fields=hidden, csrf=escape(csrf),
        button=escape(button),
    ).encode()  # fmt: skip
    headers.append((b"content-length", str(len(page)).encode()))
    await call.send({"type": "http.response.start", "status": 200, "headers": headers})
    await call.send({"type": "http.response.body", "body": page})


def check_form_csrf(call: Call, form: dict[str, str]) -> None:
    """A form proves itself with `csrfToken` matching the signed cookie (or, like a script, with the
    header); either way the Origin check applies."""
    token = form.get("csrfToken")
    ok = token is not None and csrf_matches(call.config.secrets, call.cookie(CSRF_COOKIE), token)
    check_cross_site(call.scope, call.credentials, call.config, csrf_token_ok=ok)
