"""The email to the owner of an address someone tried to register with (issue 13 point 6:
registration does not tell whether an address is taken; its owner is told instead), sent
to a real SMTP server on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csms.domain.outbox_events import REGISTRATION_ATTEMPT, enqueue_registration_attempt
from csms.domain.people.customers import add_customer
from notify.account_notices import RegistrationAttemptNotice
from notify.email import EmailSender, SmtpSettings
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import OutboxRecord
from tests.fakes.smtp_server import FakeSmtpServer

T0 = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
EMAIL = "olga.owner@example.org"


def _notice(db: Database, smtp: FakeSmtpServer | None) -> RegistrationAttemptNotice:
    email = None
    if smtp is not None:
        email = EmailSender(SmtpSettings.from_url(smtp.url(timeout=2), sender="noreply@ev.test"))
    return RegistrationAttemptNotice(db, email=email, message_domain="ev.test")


async def _attempt(db: Database) -> OutboxRecord:
    def run(uow: UnitOfWork) -> OutboxRecord:
        owner = add_customer(uow, name="Olga Owner", email=EMAIL, now=T0, notify=())
        assert enqueue_registration_attempt(uow, owner.id, now=T0)
        [record] = [r for r in uow.outbox.list() if r.topic == REGISTRATION_ATTEMPT]
        return record

    return await db.write(run)


async def test_the_owner_is_told_someone_tried_to_register_with_their_address(
    sqlite_db: Database, smtp: FakeSmtpServer
) -> None:
    record = await _attempt(sqlite_db)
    outcome = await _notice(sqlite_db, smtp)(record, T0)
    assert outcome.status == "done"
    [message] = smtp.messages
    # sent although the owner chose no notifications: it is about their account's security
    assert message["To"] == EMAIL
    assert message["Subject"] == "Someone tried to register with your email address"
    assert message["Message-ID"] == "<email.registration_attempt.1.2026-12-03@ev.test>"
    plain = message.get_body(("plain",))
    assert plain is not None
    body = plain.get_content()
    assert "Hello Olga Owner" in body and "2026-12-03 09:30 UTC" in body
    assert "no new account was made" in body
    assert "log in to the app" in body and "reset" in body


async def test_a_second_attempt_the_same_day_enqueues_nothing(sqlite_db: Database) -> None:
    await _attempt(sqlite_db)
    again = await sqlite_db.write(lambda uow: enqueue_registration_attempt(uow, 1, now=T0))
    assert again is False


async def test_an_erased_owner_gets_nothing(sqlite_db: Database, smtp: FakeSmtpServer) -> None:
    record = await _attempt(sqlite_db)
    await sqlite_db.write(lambda uow: uow.customers.erase(1, now=T0))
    outcome = await _notice(sqlite_db, smtp)(record, T0)
    assert outcome.result == "skipped: no customer to tell" and smtp.messages == []


async def test_without_smtp_the_notice_is_skipped_and_logged_without_the_address(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="notify")
    record = await _attempt(sqlite_db)
    outcome = await _notice(sqlite_db, None)(record, T0)
    assert outcome.result == "skipped: email disabled"
    assert "email is disabled (set CSMS_SMTP_URL)" in caplog.text
    assert EMAIL not in caplog.text and "Olga" not in caplog.text
