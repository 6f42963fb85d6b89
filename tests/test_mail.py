"""Email: SMTPSender against a real aiosmtpd server, the console sender, and the message builders."""

from __future__ import annotations

import io
import logging

import pytest

from authgate import Configuration, ServiceUnavailable
from authgate.mail import (
    ConsoleSender,
    EmailMessage,
    EmailSender,
    SMTPSender,
    email_change_message,
    existing_account_message,
    otp_message,
    password_reset_message,
    verification_message,
)

from . import smtp_fixture
from .smtp_fixture import SMTPServer, free_port

smtp_server = smtp_fixture.smtp_server  # the fixture: aiosmtpd on a free loopback port

SENDER = "Authgate <auth@example.test>"
HOSTILE_URL = 'https://app.example.test/verify?token=a&next="><script>alert(1)</script>'
LINK_BUILDERS = [verification_message, password_reset_message, email_change_message, existing_account_message]


async def test_smtp_sender_delivers_subject_text_and_html(smtp_server: SMTPServer) -> None:
    sender = SMTPSender(smtp_server.host, smtp_server.port, sender=SENDER)
    url = "https://app.example.test/verify?token=abc123&x=1"

    await sender.send(verification_message("ada@example.test", url))

    (received,) = await smtp_server.wait_for(1)
    assert received["Subject"] == "Verify your email address"
    assert received["To"] == "ada@example.test"
    assert received["From"] == SENDER
    assert received["Message-ID"].endswith("@example.test>")
    assert received["Date"]
    text = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert url in text.get_content()
    assert 'href="https://app.example.test/verify?token=abc123&amp;x=1"' in html.get_content()
    assert smtp_server.envelopes[0].rcpt_tos == ["ada@example.test"]
    assert smtp_server.envelopes[0].mail_from == "auth@example.test"


async def test_smtp_sender_sends_plain_text_only_message(smtp_server: SMTPServer) -> None:
    sender = SMTPSender(smtp_server.host, smtp_server.port, sender=SENDER)

    await sender.send(EmailMessage(to="bob@example.test", subject="Hello", text="Just text. Ünïcode too."))

    (received,) = await smtp_server.wait_for(1)
    assert not received.is_multipart()
    assert received.get_content().replace("\r\n", "\n") == "Just text. Ünïcode too.\n"  # CRLF on the wire


async def test_smtp_sender_delivers_several_messages_in_order(smtp_server: SMTPServer) -> None:
    sender = SMTPSender(smtp_server.host, smtp_server.port, sender=SENDER)

    await sender.send(password_reset_message("a@example.test", "https://app.example.test/reset?t=1"))
    await sender.send(otp_message("b@example.test", "012345", 10))

    received = await smtp_server.wait_for(2)
    assert [m["To"] for m in received] == ["a@example.test", "b@example.test"]


async def test_smtp_server_down_raises_service_unavailable_naming_smtp_without_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = SMTPSender(
        "127.0.0.1", free_port(), sender=SENDER, username="smtp-user", password="hunter2-secret", timeout=2
    )

    with caplog.at_level(logging.WARNING, logger="authgate.mail"), pytest.raises(ServiceUnavailable) as raised:
        await sender.send(verification_message("ada@example.test", "https://app.example.test/v?t=1"))

    error = raised.value
    assert error.status_code == 503
    assert "SMTP" in error.message
    assert error.__cause__ is None and error.__suppress_context__
    shown = f"{error!s} {error!r} {error.to_json()} {caplog.text} {sender!r}"
    assert "hunter2-secret" not in shown
    assert "smtp-user" not in shown


def test_smtp_sender_refuses_implicit_tls_together_with_starttls() -> None:
    with pytest.raises(Configuration):
        SMTPSender(sender=SENDER, use_tls=True, start_tls=True)


def test_smtp_sender_refuses_username_without_password() -> None:
    with pytest.raises(Configuration):
        SMTPSender(sender=SENDER, username="user")


async def test_header_injection_in_subject_is_refused_before_connecting() -> None:
    sender = SMTPSender("127.0.0.1", free_port(), sender=SENDER)

    with pytest.raises(ValueError, match="line breaks"):
        await sender.send(EmailMessage(to="a@example.test", subject="Hi\r\nBcc: victim@example.test", text="x"))
    with pytest.raises(ValueError, match="line breaks"):
        await sender.send(EmailMessage(to="a@example.test\nBcc: victim@example.test", subject="Hi", text="x"))


def test_senders_satisfy_the_protocol() -> None:
    assert isinstance(SMTPSender(sender=SENDER), EmailSender)
    assert isinstance(ConsoleSender(), EmailSender)


async def test_console_sender_writes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    await ConsoleSender().send(verification_message("ada@example.test", "https://app.example.test/v?t=1"))

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "ada@example.test" in captured.err
    assert "Verify your email address" in captured.err
    assert "https://app.example.test/v?t=1" in captured.err


async def test_console_sender_writes_to_the_given_stream() -> None:
    stream = io.StringIO()

    await ConsoleSender(stream).send(otp_message("ada@example.test", "482913", 5))

    assert "482913" in stream.getvalue()


@pytest.mark.parametrize("builder", LINK_BUILDERS)
def test_link_messages_escape_the_url_in_html_and_keep_it_verbatim_in_text(builder: object) -> None:
    assert callable(builder)
    message = builder("ada@example.test", HOSTILE_URL)

    assert isinstance(message, EmailMessage)
    assert message.to == "ada@example.test"
    assert HOSTILE_URL in message.text
    assert message.html is not None
    assert "<script>" not in message.html
    assert '"><' not in message.html
    assert 'href="https://app.example.test/verify?token=a&amp;next=&quot;&gt;&lt;script&gt;' in message.html
    assert "token=a&next" not in message.html


@pytest.mark.parametrize("builder", LINK_BUILDERS)
@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,<b>x</b>", "/relative/path", "https:evil", "https://app.test/\r\nx"],
)
def test_link_messages_refuse_anything_but_absolute_http_links(builder: object, url: str) -> None:
    assert callable(builder)
    with pytest.raises(ValueError):
        builder("ada@example.test", url)


def test_otp_code_is_in_the_body_but_never_in_the_subject() -> None:
    message = otp_message("ada@example.test", "012345", 10)

    assert "012345" not in message.subject
    assert "012345" in message.text
    assert message.html is not None and "012345" in message.html
    assert "10 minutes" in message.text
    assert "1 minute." in otp_message("ada@example.test", "012345", 1).text


@pytest.mark.parametrize("code", ["", "１２３４５６", "12 34", "<b>1</b>"])
def test_otp_message_refuses_codes_that_are_not_ascii_alphanumerics(code: str) -> None:
    with pytest.raises(ValueError):
        otp_message("ada@example.test", code, 10)


def test_existing_account_message_points_to_sign_in_without_mentioning_a_new_account_link() -> None:
    message = existing_account_message("ada@example.test", "https://app.example.test/sign-in")

    assert "already have an account" in message.subject
    assert "https://app.example.test/sign-in" in message.text
    assert message.html is not None and 'href="https://app.example.test/sign-in"' in message.html
