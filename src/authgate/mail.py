"""Outgoing email: a one-method `EmailSender` protocol, an SMTP sender, a console sender for the
demo, and the builders for every message authgate sends.

Builders return plain text plus a small HTML part. Every value placed in the HTML is escaped, and
links are limited to http(s) URLs, so a hostile value cannot turn into markup or a `javascript:`
link in someone's inbox. One-time codes never go in the subject: subjects show up in lock-screen
notifications and mail previews.
"""

from __future__ import annotations

import email.message
import email.utils
import html
import logging
import sys
from dataclasses import dataclass
from typing import Protocol, TextIO, runtime_checkable
from urllib.parse import urlsplit

from ._errors import Configuration, ServiceUnavailable
from ._optional import require

__all__ = [
    "ConsoleSender",
    "EmailMessage",
    "EmailSender",
    "SMTPSender",
    "credential_changed_notice",
    "email_change_message",
    "existing_account_message",
    "magic_link_message",
    "otp_message",
    "password_reset_message",
    "unverified_account_message",
    "verification_message",
]

logger = logging.getLogger("authgate.mail")

_ALLOWED_URL_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class EmailMessage:
    """One message to one recipient: a plain-text body and an optional HTML alternative."""

    to: str
    subject: str
    text: str
    html: str | None = None


@runtime_checkable
class EmailSender(Protocol):
    """Anything that can deliver an `EmailMessage`. Failures raise `ServiceUnavailable`."""

    async def send(self, message: EmailMessage) -> None: ...


class SMTPSender:
    """Deliver through an SMTP server with aiosmtplib.

    `use_tls` connects with implicit TLS (port 465); `start_tls=None` upgrades with STARTTLS when
    the server offers it, `True` requires it, `False` never tries. Any connection or protocol
    failure raises `ServiceUnavailable`; the error names SMTP and never the credentials.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 25,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool | None = None,
        timeout: float = 10.0,
    ) -> None:
        if use_tls and start_tls:
            raise Configuration("SMTPSender: use_tls (implicit TLS) and start_tls cannot both be set")
        if (username is None) != (password is None):
            raise Configuration("SMTPSender: give both username and password, or neither")
        _check_header_value("sender", sender)
        self._smtp = require("mail")  # at construction, so a missing extra stops start-up
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.use_tls = use_tls
        self.start_tls = start_tls
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SMTPSender(host={self.host!r}, port={self.port!r}, sender={self.sender!r})"

    async def send(self, message: EmailMessage) -> None:
        """Send `message`; raise `ServiceUnavailable` if the server cannot be reached or refuses it."""
        mime = _to_mime(message, self.sender)
        try:
            await self._smtp.send(
                mime,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self._password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=self.timeout,
            )
        except (self._smtp.SMTPException, OSError) as error:
            # Log the kind of failure and the SMTP reply code only: a server reply or an exception
            # message can echo the login, and none of it belongs in an HTTP response.
            logger.warning(
                "SMTP delivery via %s:%s failed: %s (code %s)",
                self.host,
                self.port,
                type(error).__name__,
                getattr(error, "code", None),
            )
            raise ServiceUnavailable("Email could not be sent: the SMTP server is unavailable; try again") from None


class ConsoleSender:
    """Print messages instead of sending them (the demo). Writes to stderr unless given a stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    async def send(self, message: EmailMessage) -> None:
        """Write the recipient, subject and plain-text body to the stream."""
        # Resolved at call time so that a replaced sys.stderr (pytest's capsys, a log capture) is used.
        stream = self.stream if self.stream is not None else sys.stderr
        stream.write(f"--- email to {message.to} ---\nSubject: {message.subject}\n\n{message.text}\n---\n")
        stream.flush()


def verification_message(to: str, url: str) -> EmailMessage:
    """Ask the owner of `to` to confirm the address by opening `url`."""
    return _link_message(
        to,
        subject="Verify your email address",
        intro="Confirm that this is your email address by opening the link below.",
        action="Verify email address",
        url=url,
        outro="If you did not create an account, you can ignore this email.",
    )


def password_reset_message(to: str, url: str) -> EmailMessage:
    """Send a password reset link."""
    return _link_message(
        to,
        subject="Reset your password",
        intro="Someone asked to reset the password for this account. Open the link below to choose a new one.",
        action="Reset password",
        url=url,
        outro="If it was not you, ignore this email: your password stays the same.",
    )


def magic_link_message(to: str, url: str, minutes: int) -> EmailMessage:
    """Send a sign-in link (the email provider)."""
    return _link_message(
        to,
        subject="Your sign-in link",
        intro=f"Open the link below to sign in. It works once, within {minutes} minutes.",
        action="Sign in",
        url=url,
        outro="If you did not ask to sign in, ignore this email: nobody can use the link without your mailbox.",
    )


def email_change_message(to: str, url: str) -> EmailMessage:
    """Ask the owner of the new address `to` to confirm an email change."""
    return _link_message(
        to,
        subject="Confirm your new email address",
        intro="Confirm that you want to use this address for your account by opening the link below.",
        action="Confirm new email address",
        url=url,
        outro="If you did not ask for this change, ignore this email: nothing changes.",
    )


def email_changed_notice(to: str, new_email: str, sign_in_url: str) -> EmailMessage:
    """Tell the old address that the account's email changed, so a hijacked session cannot move
    the account away silently."""
    return _link_message(
        to,
        subject="Your email address was changed",
        intro=f"The email address of your account was changed to {new_email}. "
        "Sign-in links and password resets now go to that address.",
        action="Sign in",
        url=sign_in_url,
        outro="If you did not make this change, your account may be compromised: contact support at once.",
    )


def existing_account_message(to: str, sign_in_url: str) -> EmailMessage:
    """Tell the owner of `to` that someone tried to sign up with it (sent instead of an "email in
    use" answer, so the sign-up form does not reveal which addresses have accounts)."""
    return _link_message(
        to,
        subject="You already have an account",
        intro="Someone tried to create an account with this email address, but you already have one. "
        'Sign in with the link below; if you forgot your password, use "Forgot password" there.',
        action="Sign in",
        url=sign_in_url,
        outro="If it was not you, ignore this email: no new account was created.",
    )


def unverified_account_message(to: str, reset_url: str) -> EmailMessage:
    """Sent when someone signs up (or asks again) with an address whose account was never verified:
    the mailbox owner claims it by choosing a password, which also removes whatever anyone else
    attached to it (sessions, factors, passkeys, provider identities)."""
    return _link_message(
        to,
        subject="Finish setting up your account",
        intro="Someone tried to create an account with this email address. An account with this address "
        "exists but was never confirmed. If it is yours, open the link below and choose a password: that "
        "confirms the address and signs out everyone else.",
        action="Choose a password",
        url=reset_url,
        outro="If it was not you, ignore this email.",
    )


#: What each credential event is called in the notice to the account's address.
CREDENTIAL_EVENT_NAMES = {
    "password_change": "Your password was changed",
    "password_reset": "Your password was reset",
    "account_recovered": "Your account was recovered with a password reset",
    "email_change": "Your email address was changed",
    "mfa_enabled": "A second sign-in factor was turned on",
    "mfa_disabled": "A second sign-in factor was turned off",
    "recovery_codes": "New recovery codes were generated",
    "passkey_added": "A passkey was added",
    "passkey_removed": "A passkey was removed",
    "account_linked": "A sign-in provider was linked",
    "account_unlinked": "A sign-in provider was unlinked",
}


def credential_changed_notice(to: str, event: str, sign_in_url: str) -> EmailMessage:
    """Tell the account's verified address that how it signs in changed, so an intruder who changes
    a credential cannot do it silently."""
    what = CREDENTIAL_EVENT_NAMES.get(event, "How your account signs in was changed")
    return _link_message(
        to,
        subject=what,
        intro=f"{what}. Every other session of your account was signed out and pending links were cancelled.",
        action="Sign in",
        url=sign_in_url,
        outro="If you did not make this change, reset your password at once and contact support.",
    )


def otp_message(to: str, code: str, minutes: int) -> EmailMessage:
    """Send a one-time sign-in code that expires after `minutes`. The code is not in the subject."""
    if not code or not code.isascii() or not code.isalnum():
        raise ValueError("otp_message: the code must be ASCII letters or digits")
    if minutes < 1:
        raise ValueError("otp_message: minutes must be at least 1")
    unit = "minute" if minutes == 1 else "minutes"
    text = (
        f"Your sign-in code is: {code}\n\n"
        f"It expires in {minutes} {unit}. Never share it; we will never ask you for it.\n"
        "If you did not try to sign in, you can ignore this email.\n"
    )
    body = (
        f'<p>Your sign-in code is:</p>\n<p style="font-size:24px;letter-spacing:4px"><b>{html.escape(code)}</b></p>\n'
        f"<p>It expires in {minutes} {unit}. Never share it; we will never ask you for it.</p>\n"
        "<p>If you did not try to sign in, you can ignore this email.</p>"
    )
    return EmailMessage(to=to, subject="Your sign-in code", text=text, html=_page(body))


def _link_message(to: str, *, subject: str, intro: str, action: str, url: str, outro: str) -> EmailMessage:
    _check_url(url)
    text = f"{intro}\n\n{url}\n\n{outro}\n"
    href = html.escape(url, quote=True)
    body = (
        f"<p>{html.escape(intro)}</p>\n"
        f'<p><a href="{href}">{html.escape(action)}</a></p>\n'
        f"<p>Or copy this link into your browser:<br>{href}</p>\n"
        f"<p>{html.escape(outro)}</p>"
    )
    return EmailMessage(to=to, subject=subject, text=text, html=_page(body))


def _page(body: str) -> str:
    return f'<!doctype html>\n<html><body style="font-family:sans-serif">\n{body}\n</body></html>\n'


def _check_url(url: str) -> None:
    # Allowlist: only web links, and no control characters that could split the text body.
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise ValueError("email link contains control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in _ALLOWED_URL_SCHEMES or not parts.netloc:
        raise ValueError("email links must be absolute http(s) URLs")


def _check_header_value(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} must not contain line breaks")


def _to_mime(message: EmailMessage, sender: str) -> email.message.EmailMessage:
    _check_header_value("to", message.to)
    _check_header_value("subject", message.subject)
    mime = email.message.EmailMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    # make_msgid() without a domain asks DNS for this host's FQDN, which can stall the event loop.
    domain = sender.rpartition("@")[2].strip(" >") or "authgate.invalid"
    mime["Message-ID"] = email.utils.make_msgid(domain=domain)
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime
