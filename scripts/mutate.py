"""Mutation check for the security rules (DESIGN section 9 and SECURITY.md).

Each mutant weakens one rule by one small edit (a condition dropped, a check skipped, a bucket or a
claim swapped) in a copy of `src/`, then runs the tests that guard that rule against the copy. A
mutant the tests do not notice "survives": a rule nobody would see break. Every mutant here must be
killed; an equivalent mutant (one that cannot change behaviour) is not listed but explained in
docs/security.md.

Why a small driver and not mutmut or cosmic-ray: those generate operator mutants everywhere (and
spend hours on lines that are not rules); this check is about named rules, each with the tests
that claim to guard it, so the list is written by hand and reads as the rule book.

    .venv/bin/python scripts/mutate.py            # all mutants (a few minutes)
    .venv/bin/python scripts/mutate.py step-up    # those whose name contains "step-up"
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"

CRED = "tests/test_invariants_credentials.py"
IDENT = "tests/test_invariants_identity.py"
QUIET = "tests/test_quiet_mode.py"
SESSIONS = "tests/test_sessions.py"
JWT = "tests/test_jwt_strategy.py"
PASSKEYS = "tests/test_passkeys.py"
REDIRECTS = "tests/test_redirects_csrf.py"
REVIEW = "tests/test_review_findings.py"
ACCOUNTS = "tests/test_accounts.py"
MFA = "tests/test_mfa_totp.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # under src/authgate
    old: str  # must occur exactly once
    new: str
    tests: tuple[str, ...]
    select: str = "memory or sqlite or not store"  # pytest -k: Postgres adds time, not coverage here


MUTANTS = (
    # -- sessions and refresh ------------------------------------------------------------------
    Mutant("sessions: expired access token accepted", "_sessions.py",
           "        if self.config.clock() >= session.expires_at:\n            raise SessionExpired()",
           "        if False:\n            raise SessionExpired()", (SESSIONS,)),
    Mutant("sessions: insert ignores the credential version", "_sessions.py",
           "            credential_version=user.credential_version,\n", "            credential_version=None,\n",
           (CRED,)),
    Mutant("sessions: refresh slides past the absolute lifetime", "_sessions.py",
           "refresh_expires_at = min(now + options.refresh_lifetime, session.created_at + options.absolute_lifetime)",
           "refresh_expires_at = now + options.refresh_lifetime", (SESSIONS,)),
    Mutant("refresh: grace for any retired token, not only the latest", "_sessions.py",
           "if retired.is_latest and self.config.clock() - retired.retired_at <= grace:",
           "if self.config.clock() - retired.retired_at <= grace:", (CRED,)),
    Mutant("refresh: reuse does not revoke", "_sessions.py",
           "        await self.store.delete_session(retired.session_id)\n        logger.warning",
           "        logger.warning", (SESSIONS, CRED)),
    Mutant("sign-out: retired refresh tokens ignored", "_sessions.py",
           "            (refresh_token, self.store.get_retired_refresh),\n", "", (CRED,)),
    Mutant("sign-out: retired access tokens ignored", "_sessions.py",
           "            (access_token, self.store.get_retired_access),\n", "", (CRED,)),
    Mutant("memory store: rotation resets the auth time", "stores/memory.py",
           "            last_used_at=now,\n", "            last_used_at=now,\n            auth_time=now,\n", (CRED,), "memory"),
    # -- JWT -------------------------------------------------------------------------------------
    Mutant("jwt: absolute lifetime not checked on read", "_sessions.py",
           "            if now >= float(claims[_SESSION_START]) + self.config.sessions.absolute_lifetime.total_seconds():",
           "            if False:", (JWT,)),
    Mutant("jwt: re-issue resets the sign-in time", "_sessions.py",
           'claims = {k: v for k, v in (current.claims or {}).items() if k not in ("iat", "exp", "jti")}',
           'claims = {k: v for k, v in (current.claims or {}).items() if k not in ("iat", "exp", "jti")}\n'
           "        claims[_SESSION_START] = claims[_AUTH_TIME] = int(self.config.clock().timestamp())", (JWT,)),
    Mutant("jwt: callback may move the pinned times", "_sessions.py",
           "            claims = {**await self.callbacks.jwt(dict(claims), user), **pinned}",
           "            claims = {**pinned, **await self.callbacks.jwt(dict(claims), user)}", (JWT,)),
    # -- step-up ---------------------------------------------------------------------------------
    Mutant("step-up: any session is recent", "_security.py",
           "        return self.config.clock() - current.session.authenticated_at <= self.config.sessions.reauth_window",
           "        return True", (CRED, IDENT, JWT)),
    Mutant("step-up: wrong password accepted", "_security.py",
           "            if not await self.password_matches(current.user, password):",
           "            if False:", (CRED,)),
    Mutant("step-up: wrong TOTP code accepted", "_security.py",
           "        elif code is None or not await self.totp.confirmed_code_matches(current.user.id, code):",
           "        elif code is None:", (MFA,)),
    Mutant("step-up: re-authentication shares the sign-in bucket", "_security.py",
           '        await self.ctx.rate_limit("reauth_per_user", current.user.id)',
           '        await self.ctx.rate_limit("sign_in_per_account", self.ctx.email_key(current.user.email))',
           (CRED,)),
    Mutant("step-up: re-authentication not recorded on the session", "_security.py",
           "            await self.ctx.store.set_session_auth_time(current.session.id, now)", "            pass",
           (CRED,)),
    Mutant("step-up: passkey registration", "_passkeys.py",
           "        current = await self.security.require_step_up(current, password=password, code=code)\n"
           "        user = current.user\n        rp_id",
           "        user = current.user\n        rp_id", (CRED,)),
    Mutant("step-up: TOTP enrolment", "_mfa.py",
           "        current = await self.security.require_step_up(current, password=password, code=code)\n"
           "        user = current.user\n        existing",
           "        user = current.user\n        existing", (CRED, JWT)),
    Mutant("step-up: email MFA", "_mfa.py",
           "        current = await self.security.require_step_up(current, password=password, code=code)\n"
           "        if not current.user.email_verified:",
           "        if not current.user.email_verified:", (CRED,)),
    Mutant("step-up: email change", "_account.py",
           "        await self.security.require_step_up(current, password=password, code=code)\n"
           '        await self.ctx.rate_limit("email_verification_per_user"',
           '        await self.ctx.rate_limit("email_verification_per_user"', (CRED, REVIEW)),
    Mutant("step-up: account deletion", "_account.py",
           '        """Needs step-up: the password or a factor code, or a re-authentication within `reauth_window`."""\n'
           "        await self.security.require_step_up(current, password=password, code=code)",
           '        """Needs step-up."""', (CRED,)),
    Mutant("step-up: provider linking", "_oauth.py",
           "            link_session = await self.security.require_step_up(link_session, password=password, code=code)",
           "            pass", (IDENT,)),
    Mutant("step-up: recovery codes need no proof", "_mfa.py",
           '        current = await self.security.reauthenticate(current, password=password, code=code)\n'
           "        factors = await self.ctx.store.list_mfa_factors(current.user.id)",
           "        factors = await self.ctx.store.list_mfa_factors(current.user.id)", (CRED,)),
    # -- credential events -----------------------------------------------------------------------
    Mutant("credential events: nothing ended", "_security.py",
           "        revoked = await self.ctx.store.record_credential_change(user.id, keep_session_id=keep_session)",
           "        revoked = 0", (CRED,)),
    Mutant("credential events: pending tokens survive (memory store)", "stores/memory.py",
           "        for token_hash in [h for h, v in self._verifications.items() if v.user_id == user_id]:\n"
           "            del self._verifications[token_hash]\n        return await self.delete_user_sessions",
           "        return await self.delete_user_sessions", (CRED,), "memory"),
    Mutant("credential events: version not bumped (memory store)", "stores/memory.py",
           "            self._users[user_id] = replace(user, credential_version=user.credential_version + 1)",
           "            pass", (CRED,), "memory"),
    Mutant("credential events: sign out everywhere keeps pending tokens", "_security.py",
           "        return await self.credential_changed(\n"
           '            user, "session_revoked", keep_session=current_session_id, notify=False, reason="others"\n'
           "        )",
           "        return await self.ctx.store.delete_user_sessions(user_id, except_session_id=current_session_id)", (CRED,)),
    Mutant("credential events: no notice to the verified address", "_security.py",
           "        if notify and user.email_verified and self.ctx.email_sender is not None:",
           "        if False:", (CRED, ACCOUNTS)),
    Mutant("credential events: trusted devices outlive them", "_mfa.py",
           '        expected = self._macs("trusted", user.id, str(user.credential_version), device, expires)',
           '        expected = self._macs("trusted", user.id, str(user.credential_version), device, expires) + [\n'
           '            self._mac("trusted", user.id, str(user.credential_version - 1), device, expires)]', (CRED,)),
    Mutant("reset: an intruder's passkey survives", "_account.py",
           "            removed = await self._remove_sign_in_methods(user, factors=False)",
           "            removed = {}", (IDENT,)),
    Mutant("reset: an unverified account stays unverified", "_account.py",
           "        verified = replace(user, email_verified=True, updated_at=self.config.clock())\n        await store.update_user(verified)",
           "        verified = replace(user, updated_at=self.config.clock())\n        await store.update_user(verified)",
           (IDENT, QUIET)),
    Mutant("reset: a squatter's provider identity survives", "_account.py",
           "        for account in accounts:\n            await store.unlink_account(",
           "        for account in []:\n            await store.unlink_account(", (IDENT,)),
    # -- factors and races -----------------------------------------------------------------------
    # The memory store finishes each call without suspending, so requests cannot interleave there:
    # the race is only real (and only testable) on a store that awaits I/O.
    Mutant("TOTP: confirmation not atomic (SQLite store)", "stores/_queries.py",
           "AND NOT confirmed AND secret IS :secret", "AND secret IS :secret", (CRED,), "sqlite"),
    Mutant("TOTP: confirmation not atomic (Postgres store)", "stores/_queries.py",
           "AND NOT confirmed AND secret IS NOT DISTINCT FROM :secret", "AND secret IS NOT DISTINCT FROM :secret",
           (CRED,), "postgres"),
    Mutant("MFA: email factor without a sender fails open", "_mfa.py",
           '            others = tuple(m for m in methods if m != "email")',
           "            others = tuple(methods)", (CRED,)),
    Mutant("MFA: email MFA enabled without a sender", "_mfa.py",
           "        if self.ctx.email_sender is None:\n"
           '            raise InvalidRequest("email sign-in codes need an email_sender; none is configured")',
           "", (CRED,)),
    # -- secrets rotate --------------------------------------------------------------------------
    Mutant("secrets: recovery codes only under the newest secret", "_mfa.py",
           '        for code_hash in self._macs("recovery", code.lower()):',
           '        for code_hash in self._macs("recovery", code.lower())[:1]:', (IDENT,)),
    Mutant("secrets: undecryptable TOTP secret is a 500", "_totp_codes.py",
           '            raise Verification("Your authenticator app cannot be checked right now; use a recovery code") from None',
           "            raise", (IDENT,)),
    Mutant("secrets: emailed codes only under the newest secret", "_mfa.py",
           '                candidates = self._macs("otp", hash_token(raw), code)  # issued before a rotation too',
           '                candidates = self._macs("otp", hash_token(raw), code)[:1]', (IDENT,)),
    Mutant("secrets: CSRF cookie only under the newest secret", "_csrf.py",
           "    keys = (secrets_,) if isinstance(secrets_, str) else tuple(secrets_)",
           "    keys = (secrets_,) if isinstance(secrets_, str) else tuple(secrets_)[:1]", (IDENT,)),
    # -- identity from providers -----------------------------------------------------------------
    Mutant("providers: untrusted provider sets email_verified", "_oauth.py",
           "            email_verified=provider.trusted_for_linking and profile.email_verified,",
           "            email_verified=profile.email_verified,", (IDENT,)),
    Mutant("providers: merge into an unverified owner", "_oauth.py",
           "if not (provider.trusted_for_linking and profile.email_verified and owner.email_verified):",
           "if not (provider.trusted_for_linking and profile.email_verified):", (IDENT,)),
    Mutant("providers: untrusted provider merges", "_oauth.py",
           "if not (provider.trusted_for_linking and profile.email_verified and owner.email_verified):",
           "if not (profile.email_verified and owner.email_verified):", (IDENT,)),
    # -- passkeys --------------------------------------------------------------------------------
    Mutant("passkeys: UV not required", "_passkeys.py",
           "                credential_current_sign_count=stored.sign_count,\n"
           "                require_user_verification=not self.options.allow_presence_only,",
           "                credential_current_sign_count=stored.sign_count,\n"
           "                require_user_verification=False,", (IDENT,)),
    Mutant("passkeys: userHandle not checked", "_passkeys.py",
           "        if not isinstance(user_handle, str) or user_handle != _b64url(stored.user_id.encode()):",
           "        if False:", (IDENT,)),
    Mutant("passkeys: presence-only key skips the second factor", "_passkeys.py",
           "second_factor_done=verified.user_verified", "second_factor_done=True", (IDENT,)),
    # py_webauthn refuses a lower counter first; the store's compare-and-set is what stops two
    # assertions with the same counter at once (a clone racing the original).
    Mutant("passkeys: sign counter compare-and-set dropped (SQL stores)", "stores/_queries.py",
           "WHERE credential_id = :credential_id AND ((:sign_count = 0 AND sign_count = 0) OR :sign_count > sign_count)",
           "WHERE credential_id = :credential_id", (PASSKEYS,), "sqlite"),
    # -- cross-site and RequireAuth --------------------------------------------------------------
    Mutant("CSRF: header not required", "_http/credentials.py",
           "    if not (credentials.client_header or csrf_token_ok):\n        raise MissingCSRF()",
           "    pass", (SESSIONS,)),
    Mutant("CSRF: forged Origin accepted", "_http/credentials.py",
           "        if not trusted:\n            _warn_if_proxied(scope, config, credentials.origin, credentials.host)\n"
           "            raise ForbiddenOrigin()", "        pass", (SESSIONS, REDIRECTS)),
    Mutant("CSRF: any bearer header exempts", "_http/credentials.py",
           "    if not (credentials.client_header or csrf_token_ok):",
           "    if credentials.from_bearer:\n        return\n    if not (credentials.client_header or csrf_token_ok):",
           (IDENT,)),
    Mutant("CSRF: sign-out exempt for any bearer header", "_http/credentials.py",
           "    if credentials.from_bearer and await auth.get_session(credentials.token) is not None:",
           "    if credentials.from_bearer:", (IDENT,)),
    Mutant("CSRF: POST counted as a safe method", "_http/credentials.py",
           'SAFE_METHODS = frozenset({"GET", "HEAD"})', 'SAFE_METHODS = frozenset({"GET", "HEAD", "POST"})',
           (SESSIONS,)),
    Mutant("RequireAuth: WebSocket without Origin passes", "_http/credentials.py",
           "        if credentials.origin is None:\n"
           '            raise ForbiddenOrigin("A WebSocket needs an Origin header or a bearer token")',
           "", (IDENT,)),
    Mutant("RequireAuth: unknown scope types forwarded", "integrations/starlette.py",
           '            raise RuntimeError(f"RequireAuth: refusing an ASGI scope of type {kind!r}")  # fail closed',
           "            await self.app(scope, receive, send)\n            return", (IDENT,)),
    # -- quiet mode and recoverable verification -------------------------------------------------
    Mutant("quiet: forgot-password works before answering", "_account.py",
           '        self.ctx.run_later(send(), what="sending a reset link")', "        await send()", (QUIET,)),
    Mutant("quiet: sign-up works before answering", "_password_flow.py",
           '        self.ctx.run_later(finish(), what="quiet sign-up")', "        await finish()", (QUIET,)),
    Mutant("quiet: change-email tells a taken address", "_account.py",
           '        if quiet:\n            self.ctx.run_later(send(), what="an email change")',
           '        if False:\n            self.ctx.run_later(send(), what="an email change")', (QUIET,)),
    Mutant("verification: a refused sign-in mails no new link", "_password_flow.py",
           '            self.ctx.run_later(self.accounts.send_verification(user), what="verification link")\n',
           "", (QUIET,)),
    Mutant("verification: squatted address cannot be claimed", "_account.py",
           "        await self.ctx.deliver(unverified_account_message(user.email, await self._reset_link(user)))",
           "        await self.ctx.deliver(existing_account_message(user.email, self.ctx.app_url))", (QUIET,)),
    Mutant("links: opening the email-change link changes the address", "_http/account_routes.py",
           "        new_email = await call.auth.accounts.pending_email_change(token)",
           "        new_email = (await call.auth.accounts.confirm_email_change(token)).email", (ACCOUNTS,)),
    # -- redirects -------------------------------------------------------------------------------
    Mutant("redirects: scheme-relative target accepted", "_redirects.py",
           '        if target.startswith("//") or decoded.startswith("//"):\n            return fallback',
           "        pass", (REDIRECTS,)),
    Mutant("redirects: userinfo in the host accepted", "_redirects.py",
           'if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:',
           'if parts.scheme not in ("http", "https") or not parts.netloc:', (REDIRECTS,)),
)


def run(mutant: Mutant, work: Path) -> tuple[bool, float, str]:
    source = work / "src" / "authgate" / mutant.path
    original = source.read_text()
    if original.count(mutant.old) != 1:
        raise SystemExit(f"mutant {mutant.name!r}: its text occurs {original.count(mutant.old)} times in {mutant.path}")
    source.write_text(original.replace(mutant.old, mutant.new))
    try:
        started = time.monotonic()
        env = {**os.environ, "PYTHONPATH": str(work / "src")}
        command = [str(PYTHON), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--timeout", "120",
                   "-k", mutant.select, *mutant.tests]  # fmt: skip
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        return done.returncode != 0, time.monotonic() - started, (lines[0] if lines else done.stdout[-200:])
    finally:
        source.write_text(original)


def check_texts(mutants: list[Mutant]) -> None:
    """Every mutant's text must stand exactly once in its file, checked before anything runs: a rule
    whose code was rewritten must get its mutant rewritten too, not skipped."""
    problems = []
    for mutant in mutants:
        count = (ROOT / "src" / "authgate" / mutant.path).read_text().count(mutant.old)
        if count != 1:
            problems.append(f"mutant {mutant.name!r}: its text occurs {count} times in {mutant.path}")
    if problems:
        raise SystemExit("\n".join(problems))


def main() -> int:
    wanted = sys.argv[1:]
    chosen = [m for m in MUTANTS if not wanted or any(w in m.name for w in wanted)]
    check_texts(chosen)
    survivors = []
    with tempfile.TemporaryDirectory(prefix="authgate-mutants-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "src", work / "src")
        for number, mutant in enumerate(chosen, 1):
            killed, seconds, evidence = run(mutant, work)
            verdict = "killed" if killed else "SURVIVED"
            print(f"{number:3d}/{len(chosen)} {verdict:8s} {seconds:5.1f}s  {mutant.name}", flush=True)
            if killed:
                print(f"             by {evidence.strip()[:150]}", flush=True)
            else:
                survivors.append(mutant.name)
    print(f"\n{len(chosen) - len(survivors)} killed, {len(survivors)} survived of {len(chosen)} mutants")
    for name in survivors:
        print(f"  survived: {name}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
