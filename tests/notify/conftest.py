"""A real SMTP server and a Twilio-shaped SMS gateway on 127.0.0.1, and a Notifier that
sends through both, for the notification and receipt tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from notify.email import EmailSender, SmtpSettings
from notify.notifications import Notifier
from notify.sms import SmsSender, SmsSettings
from storage.database import Database
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.smtp_server import FakeSmtpServer


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
def sms_gateway() -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway() as gateway:
        yield gateway


@pytest.fixture
async def notifier(
    sqlite_db: Database, smtp: FakeSmtpServer, sms_gateway: FakeSmsGateway
) -> AsyncIterator[Notifier]:
    email = EmailSender(SmtpSettings.from_url(smtp.url(timeout=2), sender="csms <noreply@ev.test>"))
    sms = SmsSender(SmsSettings.from_url(sms_gateway.url_for(timeout=2), sender="+4930000000"))
    yield Notifier(sqlite_db, email=email, sms=sms, message_domain="ev.test")
    await sms.aclose()
