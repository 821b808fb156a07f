"""EmailSender against a real SMTP server (aiosmtpd) on 127.0.0.1: plain, STARTTLS, implicit
TLS, and the failures the outbox worker has to tell apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notify.email import EmailSender, OutgoingEmail, SmtpSettings
from notify.errors import DeliveryError
from tests.fakes.smtp_server import FakeSmtpServer, silent_listener

SENDER = "csms <noreply@csms.example>"
RECIPIENT = "ada.lovelace@example.org"
USER, PASSWORD = "csms-mailer", "p@ss:w/rd%secret"
BODY = "Your car is charged: 23.4 kWh. Bitte abholen — merci!"


def make_email(**overrides: str) -> OutgoingEmail:
    fields = {
        "to": f"Ada Lovelace <{RECIPIENT}>",
        "subject": "Charging done — 23.4 kWh",
        "text": BODY,
        "html": f"<p>{BODY}</p>",
        "message_id": "<outbox-17.email.done@csms.example>",
    }
    fields.update(overrides)
    return OutgoingEmail(**fields)


def sender_for(url: str) -> EmailSender:
    return EmailSender(SmtpSettings.from_url(url, sender=SENDER))


@pytest.fixture
def relay() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
def submission(tmp_path: Path) -> Iterator[FakeSmtpServer]:
    """STARTTLS required, AUTH required, a certificate from a test CA."""
    with FakeSmtpServer(tls="starttls", credentials=(USER, PASSWORD), directory=tmp_path) as server:
        yield server


async def test_plain_relay_delivers_to_the_envelope_recipient(relay: FakeSmtpServer) -> None:
    await sender_for(relay.url(timeout=5)).send(make_email())

    [received] = relay.received
    assert received.rcpt_tos == (RECIPIENT,)
    assert received.mail_from == "noreply@csms.example"
    assert received.tls is False
    assert received.message["To"] == f"Ada Lovelace <{RECIPIENT}>"
    assert received.message["From"] == SENDER


async def test_starttls_with_login_and_cafile(submission: FakeSmtpServer) -> None:
    await sender_for(submission.url(timeout=5)).send(make_email())

    [received] = submission.received
    assert received.tls is True
    assert received.login == USER
    assert received.rcpt_tos == (RECIPIENT,)


async def test_implicit_tls_with_login(tmp_path: Path) -> None:
    with FakeSmtpServer(tls="implicit", credentials=(USER, PASSWORD), directory=tmp_path) as smtps:
        url = smtps.url(timeout=5)
        assert url.startswith("smtps://")
        await sender_for(url).send(make_email())

        [received] = smtps.received
        assert received.tls is True
        assert received.login == USER


async def test_untrusted_certificate_is_a_transient_tls_failure(
    submission: FakeSmtpServer,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await sender_for(submission.url(timeout=5, cafile=False)).send(make_email())

    assert caught.value.permanent is False
    assert "TLS" in str(caught.value)
    assert submission.data_commands == 0


async def test_starttls_required_but_not_offered_is_permanent(relay: FakeSmtpServer) -> None:
    url = relay.url(starttls=True, timeout=5)  # smtp:// without starttls=off
    with pytest.raises(DeliveryError) as caught:
        await sender_for(url).send(make_email())

    assert caught.value.permanent is True
    assert "STARTTLS" in str(caught.value)
    assert relay.data_commands == 0


async def test_message_is_multipart_alternative_with_the_given_message_id(
    relay: FakeSmtpServer,
) -> None:
    await sender_for(relay.url(timeout=5)).send(make_email())

    [message] = relay.messages
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == "<outbox-17.email.done@csms.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Subject"] == "Charging done — 23.4 kWh"
    assert message["Date"] is not None
    plain, html = list(message.iter_parts())
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content_charset() == "utf-8"
    assert plain.get_content().strip() == BODY
    assert html.get_content_type() == "text/html"
    assert html.get_content().strip() == f"<p>{BODY}</p>"


async def test_redelivery_carries_the_same_message_id_and_is_recorded_once(
    relay: FakeSmtpServer,
) -> None:
    sender = sender_for(relay.url(timeout=5))
    await sender.send(make_email())
    await sender.send(make_email())

    assert relay.data_commands == 2
    assert len(relay.messages) == 1


async def test_recipient_refused_with_550_is_permanent(relay: FakeSmtpServer) -> None:
    relay.reject_next(550)
    with pytest.raises(DeliveryError) as caught:
        await sender_for(relay.url(timeout=5)).send(make_email())

    assert caught.value.permanent is True
    assert "550" in str(caught.value)
    assert "recipient" in str(caught.value)
    assert relay.messages == []


async def test_recipient_deferred_with_451_is_transient(relay: FakeSmtpServer) -> None:
    relay.defer_next(451)
    with pytest.raises(DeliveryError) as caught:
        await sender_for(relay.url(timeout=5)).send(make_email())

    assert caught.value.permanent is False
    assert "451" in str(caught.value)


async def test_data_refused_with_554_is_permanent_and_deferred_452_transient(
    relay: FakeSmtpServer,
) -> None:
    sender = sender_for(relay.url(timeout=5))
    relay.reject_next(554, stage="data")
    with pytest.raises(DeliveryError) as refused:
        await sender.send(make_email())
    relay.defer_next(452, stage="data")
    with pytest.raises(DeliveryError) as deferred:
        await sender.send(make_email())

    assert refused.value.permanent is True
    assert deferred.value.permanent is False
    assert relay.messages == []
    await sender.send(make_email())
    assert len(relay.messages) == 1


async def test_wrong_password_is_permanent(submission: FakeSmtpServer) -> None:
    url = submission.url(login=(USER, "wrong-password"), timeout=5)
    with pytest.raises(DeliveryError) as caught:
        await sender_for(url).send(make_email())

    assert caught.value.permanent is True
    assert "535" in str(caught.value)
    assert submission.auth_failures >= 1


async def test_login_required_but_not_configured_is_permanent(
    submission: FakeSmtpServer,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await sender_for(submission.url(login=False, timeout=5)).send(make_email())

    assert caught.value.permanent is True
    assert "530" in str(caught.value)
    assert submission.data_commands == 0


async def test_credentials_for_a_server_without_auth_are_refused_before_sending(
    relay: FakeSmtpServer,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await sender_for(relay.url(login=(USER, PASSWORD), timeout=5)).send(make_email())

    assert caught.value.permanent is True
    assert "AUTH" in str(caught.value)
    assert relay.data_commands == 0


async def test_plain_relay_with_login(tmp_path: Path) -> None:
    with FakeSmtpServer(credentials=(USER, PASSWORD)) as relay:
        await sender_for(relay.url(timeout=5)).send(make_email())

        [received] = relay.received
        assert (received.tls, received.login) == (False, USER)


async def test_server_down_is_transient_and_delivery_works_once_it_is_back(
    relay: FakeSmtpServer,
) -> None:
    sender = sender_for(relay.url(timeout=5))
    relay.stop()
    with pytest.raises(DeliveryError) as caught:
        await sender.send(make_email())
    assert caught.value.permanent is False

    relay.start()
    await sender.send(make_email())
    assert len(relay.messages) == 1


async def test_server_that_never_greets_times_out_as_transient() -> None:
    with silent_listener() as port:
        url = f"smtp://127.0.0.1:{port}?starttls=off&timeout=0.5"
        with pytest.raises(DeliveryError) as caught:
            await sender_for(url).send(make_email())

    assert caught.value.permanent is False
    assert "in time" in str(caught.value)


async def test_no_answer_after_data_is_transient_and_the_redelivery_is_recognised(
    relay: FakeSmtpServer,
) -> None:
    sender = sender_for(relay.url(timeout=0.5))
    relay.hold()
    with pytest.raises(DeliveryError) as caught:
        await sender.send(make_email())
    assert caught.value.permanent is False
    assert "unknown" in str(caught.value)
    assert relay.wait_held(0)
    relay.release()

    await sender.send(make_email())  # the outbox retries: same Message-ID
    assert relay.data_commands == 2
    assert len(relay.messages) == 1


async def test_error_messages_name_neither_the_recipient_nor_the_password(
    submission: FakeSmtpServer,
) -> None:
    sender = sender_for(submission.url(timeout=5))
    errors: list[DeliveryError] = []
    for inject in (
        lambda: submission.reject_next(550),
        lambda: submission.defer_next(450),
        lambda: submission.reject_next(553, stage="mail"),
        lambda: submission.reject_next(554, stage="data"),
    ):
        inject()
        with pytest.raises(DeliveryError) as caught:
            await sender.send(make_email())
        errors.append(caught.value)
    with pytest.raises(DeliveryError) as wrong_login:
        await sender_for(submission.url(login=(USER, PASSWORD + "x"), timeout=5)).send(make_email())
    errors.append(wrong_login.value)

    for error in errors:
        text = f"{error} {error!r}"
        assert RECIPIENT not in text
        assert "ada.lovelace" not in text
        assert PASSWORD not in text
        assert "Bitte abholen" not in text
        assert f"127.0.0.1:{submission.port}" in text


async def test_invalid_recipient_address_is_permanent_without_echoing_it(
    relay: FakeSmtpServer,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await sender_for(relay.url(timeout=5)).send(make_email(to="ada.lovelace at example"))

    assert caught.value.permanent is True
    assert "ada.lovelace" not in str(caught.value)
    assert relay.data_commands == 0


def test_outgoing_email_requires_an_rfc5322_message_id() -> None:
    with pytest.raises(ValueError, match="msg-id"):
        make_email(message_id="outbox-17")


# -- CSMS_SMTP_URL and CSMS_MAIL_FROM ------------------------------------------------------


def test_url_defaults_by_scheme() -> None:
    starttls = SmtpSettings.from_url("smtp://mail.example.com", sender=SENDER)
    implicit = SmtpSettings.from_url("smtps://mail.example.com", sender=SENDER)
    plain = SmtpSettings.from_url("smtp://localhost?starttls=off", sender=SENDER)

    assert (starttls.security, starttls.port) == ("starttls", 587)
    assert (implicit.security, implicit.port) == ("tls", 465)
    assert (plain.security, plain.port) == ("none", 25)
    assert starttls.timeout == 30
    assert starttls.username is None and starttls.password is None
    assert starttls.envelope_sender == "noreply@csms.example"


def test_url_credentials_are_percent_decoded_and_hidden_from_repr(tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text("")
    settings = SmtpSettings.from_url(
        f"smtp://csms%40example.com:p%40ss%3Aw%2Frd@mail.example.com:2525"
        f"?cafile={cafile}&timeout=2.5",
        sender=SENDER,
    )

    assert settings.username == "csms@example.com"
    assert settings.password == "p@ss:w/rd"
    assert (settings.port, settings.timeout, settings.cafile) == (2525, 2.5, str(cafile))
    assert "p@ss" not in repr(settings)
    assert "ss%3A" not in repr(settings)


@pytest.mark.parametrize(
    "url",
    [
        "http://csms:hunter22@mail.example.com",
        "smtp://csms:hunter22@",
        "smtp://csms:hunter22@mail.example.com:99999",
        "smtp://csms:hunter22@mail.example.com:port",
        "smtp://csms:hunter22@mail.example.com?tls=yes",
        "smtp://csms:hunter22@mail.example.com?timeout=0",
        "smtp://csms:hunter22@mail.example.com?starttls=maybe",
        "smtps://csms:hunter22@mail.example.com?starttls=off",
        "smtp://csms:hunter22@mail.example.com/inbox",
        "smtp://csms:hunter22@mail.example.com?cafile=no-such-dir/ca.pem",
        "smtp://:hunter22@mail.example.com",
        "mail.example.com",
    ],
)
def test_invalid_url_names_the_key_and_hides_the_password(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        SmtpSettings.from_url(url, sender=SENDER)

    message = str(caught.value)
    assert message.startswith("CSMS_SMTP_URL")
    assert "smtps://" in message  # says what is allowed
    assert "hunter22" not in message


@pytest.mark.parametrize(
    "sender", ["", "noreply", "csms <noreply@>", "a@example.com, b@example.com", "x\r\nBcc: y@z"]
)
def test_invalid_mail_from_names_the_key(sender: str) -> None:
    with pytest.raises(ValueError, match="CSMS_MAIL_FROM"):
        SmtpSettings.from_url("smtp://mail.example.com", sender=sender)


def test_mail_from_accepts_a_bare_address() -> None:
    settings = SmtpSettings.from_url("smtp://mail.example.com", sender="noreply@csms.example")
    assert settings.envelope_sender == "noreply@csms.example"
