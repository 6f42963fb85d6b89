"""Sign-up, sign-in and the session: /sign-up, /sign-in, /session, /refresh, /sign-out, /token,
/sessions, and the Auth.js client's /_log."""

from __future__ import annotations

from .._errors import AuthError, InvalidRequest, NotFound, RefreshInProgress, SessionExpired, Unauthenticated
from .._mfa import TRUSTED_DEVICE_COOKIE
from .._sessions import JWTSessions
from .answers import bearer_json, send_sign_in
from .bodies import EmailPassword, RefreshToken, SignUp
from .call import Call
from .parsing import drain_body
from .responses import clearing_cookies, send_error, send_json, session_cookies
from .spec import COUNT, SIGNED_IN_SECURITY, STRING, TRUE, Access, RouteList, closed, ok, query, ref

__all__ = ["ROUTES", "SIGNED_IN_ANSWER", "SIGN_IN_ANSWER", "needs_store", "sign_in"]

ROUTES = RouteList()
route = ROUTES.route

SIGNED_IN_ANSWER = ok(ref("SignedIn"), "Signed in; session cookies set unless `transport` is `bearer`", cookies=True)
SIGN_IN_ANSWER = ok(
    {"anyOf": [ref("SignedIn"), ref("MFAChallenge")]}, "Signed in, or a second factor is due", cookies=True
)
_SUCCESS = ok(closed({"success": TRUE}), cookies=True)
_REFRESH_COOKIE: tuple[dict[str, list[str]], ...] = ({"refreshCookie": []}, {})


def needs_store(call: Call) -> None:
    """With no store there is nowhere to keep passwords: these routes do not exist."""
    if not call.auth.has_store:
        raise NotFound("Email and password sign-in needs a store")


def needs_authjs(call: Call) -> None:
    if call.config.authjs is None:
        raise NotFound()


@route(
    "POST", "/sign-up", Access.CLIENT, summary="Create an account and sign in",
    answers={200: ok({"anyOf": [ref("SignedIn"), ref("VerificationRequired")]}, cookies=True)},
    errors=(409, 429), requires=needs_store,
    description='With `sign_up_conflict="email"` every address gets the same 200 `{success, '
    "verification_required}`; otherwise a taken address is 409 `EmailInUse`.",
)  # fmt: skip
async def sign_up(call: Call, body: SignUp) -> None:
    if call.config.accounts.sign_up_conflict == "email":
        await call.auth.sign_up_quietly(body.email, body.password, body.name, meta=call.meta())
        await send_json(call.send, 200, {"success": True, "verification_required": True})
        return
    result = await call.auth.sign_up(body.email, body.password, body.name, meta=call.meta())
    await send_sign_in(call, result, body.transport)


@route(
    "POST", "/sign-in", Access.CLIENT, summary="Sign in with email and password", answers={200: SIGN_IN_ANSWER},
    errors=(401, 429), requires=needs_store,
    description="A user with a second factor gets `{mfa_required, challenge, expires_in, methods}` and no cookie; an"
    " unverified address is 403 `AccessDenied` when verification is required. Unknown email and wrong password"
    " give the same 401 `CredentialsSignin`.",
)  # fmt: skip
async def sign_in(call: Call, body: EmailPassword) -> None:
    trusted = call.cookie(TRUSTED_DEVICE_COOKIE)
    result = await call.auth.sign_in(body.email, body.password, meta=call.meta(), trusted_device=trusted)
    await send_sign_in(call, result, body.transport)


@route(
    "GET", "/session", Access.PUBLIC,
    summary="The current session (an app's `session` callback may reshape this body)",
    answers={
        200: ok(
            {"anyOf": [ref("SignedIn"), closed({}), {"type": "null"}]},
            "The session (re-issued cookie with the JWT strategy); with `AuthJSOptions`, signed out: `{}` (version 4)"
            " or `null` (version 5) instead of 401",
            cookies=True,
        )
    },
    errors=(401, 503), security=(*SIGNED_IN_SECURITY, {}),
    description="`expires` equals `session.expires_at` (Auth.js's field); the JWT strategy re-issues its cookie after"
    " `update_age`. Signed out: 401 `Unauthenticated` or `SessionExpired`, or with `AuthJSOptions` 200 `{}`"
    " (version 4) / `null` (version 5).",
)  # fmt: skip
async def session(call: Call, _: None) -> None:
    auth = call.auth
    try:
        current = await auth.authenticate(call.credentials.token)
    except (Unauthenticated, SessionExpired):
        authjs = call.config.authjs
        if authjs is None:
            raise
        # Auth.js's client reads a signed-out session as 200 with an empty body: `{}` (v4)
        # or `null` (v5, whose client would take `{}` for a session).
        await send_json(call.send, 200, {} if authjs.version == 4 else None)
        return
    body = current.to_json()
    # Auth.js's top-level `expires`: when this session, as the browser holds it, ends.
    body["expires"] = body["session"]["expires_at"]
    if auth.callbacks.session is not None:
        body = await auth.callbacks.session(body, current)
    sessions = auth.sessions
    cookies = None
    if isinstance(sessions, JWTSessions) and not call.credentials.from_bearer and sessions.needs_reissue(current):
        cookies = session_cookies(await sessions.reissue(current), call.config)
    await send_json(call.send, 200, body, extra_headers=cookies)


@route(
    "POST", "/refresh", Access.CLIENT, summary="Rotate both tokens from the refresh cookie",
    answers={200: SIGNED_IN_ANSWER}, errors=(401,), security=_REFRESH_COOKIE,
    description="Inside the grace window a second refresh with the just-rotated token gets 200 without new cookies;"
    " an older token is 401 `RefreshTokenReuse` and revokes the session (cookies cleared).",
)  # fmt: skip
async def refresh(call: Call, _: None) -> None:
    try:
        result = await call.auth.refresh(call.credentials.refresh_token)
    except AuthError as error:
        # A dead refresh token means the browser's cookies are useless: drop them.
        if error.status_code == 401:
            await send_error(call.send, error, extra_headers=clearing_cookies(call.config))
            return
        raise
    cookies = session_cookies(result.tokens, call.config) if result.tokens else None
    await send_json(call.send, 200, result.to_json(), extra_headers=cookies)


# The refresh cookie is only sent below /refresh: the second path lets a browser whose access
# cookie already expired still end its session on the server.
@route(
    "POST", "/refresh/sign-out", Access.OWN_SESSION, summary="Sign out with the refresh cookie (it is only sent"
    " below /refresh)", answers={200: _SUCCESS}, security=_REFRESH_COOKIE,
)  # fmt: skip
@route(
    "POST", "/sign-out", Access.OWN_SESSION, summary="Revoke the session and clear both cookies",
    answers={200: _SUCCESS}, security=(*SIGNED_IN_SECURITY, {}),
)  # fmt: skip
async def sign_out(call: Call, _: None) -> None:
    credentials = call.credentials
    await call.auth.sign_out(access_token=credentials.token, refresh_token=credentials.refresh_token, meta=call.meta())
    await send_json(call.send, 200, {"success": True}, extra_headers=clearing_cookies(call.config))


# Bearer clients hold their tokens in the body, never in cookies a browser attaches on its own,
# so this route needs no CSRF header; it still takes only JSON.
@route(
    "POST", "/token", Access.PUBLIC, summary="Bearer mode: rotate tokens with a refresh token from the body",
    answers={200: ok(ref("BearerTokens"))}, errors=(401, 409),
    description="401 as /refresh; 409 `RefreshInProgress` inside the grace window.",
)  # fmt: skip
async def token(call: Call, body: RefreshToken) -> None:
    result = await call.auth.refresh(body.refresh_token)
    if result.tokens is None:
        # Grace-window duplicate: the tokens went to the request that rotated first.
        raise RefreshInProgress()
    await send_json(call.send, 200, bearer_json(call, result))


@route(
    "GET", "/sessions", Access.SIGNED_IN, summary="List the user's sessions",
    answers={200: ok(closed({"sessions": {"type": "array", "items": ref("SessionInfo")}}))}, errors=(400,),
    description="400 with the JWT strategy (no session list).",
)  # fmt: skip
async def list_sessions(call: Call, _: None) -> None:
    current = call.signed_in
    sessions = await call.auth.list_sessions(current.user.id)
    listed = [
        {
            "id": s.id,
            "created_at": s.to_json()["created_at"],
            "last_used_at": s.last_used_at.isoformat().replace("+00:00", "Z") if s.last_used_at else None,
            "ip": s.ip,
            "user_agent": s.user_agent,
            "current": s.id == current.session.id,
        }
        for s in sessions
    ]
    await send_json(call.send, 200, {"sessions": listed})


@route(
    "DELETE", "/sessions", Access.SIGNED_IN, summary="Revoke one session (?id=) or all others (?all=others)",
    answers={200: ok(closed({"revoked": COUNT}))}, errors=(400,),
    query=(query("id", {**STRING, "maxLength": 128}), query("all", {"type": "string", "enum": ["others"]})),
    description="A session that is not yours counts 0.",
)  # fmt: skip
async def revoke_sessions(call: Call, _: None) -> None:
    current = call.signed_in
    user_id, current_id = current.user.id, current.session.id
    params = call.query()
    if params.get("all") == "others":
        revoked = await call.auth.revoke_other_sessions(user_id, current_id)
    elif params.get("id"):
        revoked = int(await call.auth.revoke_session(user_id, params["id"]))
    else:
        raise InvalidRequest("give ?id=<session id> or ?all=others", field="id")
    await send_json(call.send, 200, {"revoked": revoked})


@route(
    "POST", "/_log", Access.PUBLIC,
    summary="The Auth.js v4 client's error reports: accepted and dropped with AuthJSOptions",
    answers={200: ok(closed({}))}, errors=(413,),
    requires=needs_authjs,
    description="404 without `AuthJSOptions`.",
)  # fmt: skip
async def client_log(call: Call, _: None) -> None:
    """The Auth.js v4 client reports its fetch errors here; they are accepted and dropped (reading
    at most the usual body limit), so the page sees no 404."""
    await drain_body(call.receive)
    await send_json(call.send, 200, {})

