"""The SignCertificate handlers with a real SQLite database and a fixed clock: what is
left for after the answer, and the refusals the socket tests do not reach (a broken CA,
a connection that cannot send, a charger that does not answer)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from csms.adapters.v16 import inbound as v16
from csms.adapters.v201 import inbound as v201
from csms.domain.charging.stations import register_unknown_charger
from csms.domain.model import RegistrationStatus
from csms.domain.security.csr import CsrSigner
from csms.gateway import CallContext, FollowUp
from csms.routing import CommandTimeout
from storage.database import Database
from tests.pki import ORG, csms_ca, csr_pem, verify_chain, write_ca

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class Connection:
    """What the gateway gives a handler: the jobs it leaves, and a charger that answers
    CertificateSigned with ``answer`` (or raises it)."""

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.jobs: list[FollowUp] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.answer = answer

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((action, payload))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def run_jobs(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            await job(self.call)


ContextFactory = Callable[..., CallContext]


@pytest.fixture
async def context(sqlite_db: Database, tmp_path: Path) -> ContextFactory:
    await sqlite_db.write(
        lambda uow: register_unknown_charger(
            uow, charger_id="CP1", status=RegistrationStatus.ACCEPTED, now=NOW
        )
    )

    def make(connection: Connection | None, *, signer: bool = True) -> CallContext:
        return CallContext(
            charger_id="CP1",
            db=sqlite_db,
            heartbeat_interval=300,
            set_accepted=lambda _: None,
            clock=lambda: NOW,
            signer=CsrSigner(home=tmp_path, organization=ORG, days=90) if signer else None,
            after_answer=connection.jobs.append if connection is not None else None,
        )

    return make


async def test_an_accepted_csr_leaves_certificate_signed_for_after_the_answer(
    context: ContextFactory, sqlite_db: Database, tmp_path: Path
) -> None:
    ca = csms_ca(now=NOW)
    write_ca(tmp_path, ca)
    connection = Connection({"status": "Accepted"})
    answer = await v16.HANDLERS["SignCertificate"](context(connection), {"csr": csr_pem()})
    assert answer == {"status": "Accepted"}
    # Nothing stored or sent while the handler runs: only once its answer is out.
    assert connection.sent == []
    assert await sqlite_db.read(lambda uow: uow.issued_certificates.list()) == []
    await connection.run_jobs()
    ((action, payload),) = connection.sent
    assert action == "CertificateSigned"
    assert set(payload) == {"certificateChain"}  # 1.6: no certificateType
    leaf = verify_chain(payload["certificateChain"], ca.certificate, at=NOW)
    (row,) = await sqlite_db.read(lambda uow: uow.issued_certificates.list())
    assert row.issued_at == NOW
    assert row.not_after == leaf.not_valid_after_utc == datetime(2027, 2, 20, 10, 0, tzinfo=UTC)


async def test_a_201_request_without_certificate_type_gets_a_chain_without_one(
    context: ContextFactory, tmp_path: Path
) -> None:
    write_ca(tmp_path, csms_ca(now=NOW))
    connection = Connection({"status": "Accepted"})
    answer = await v201.HANDLERS["SignCertificate"](context(connection), {"csr": csr_pem()})
    assert answer == {"status": "Accepted"}
    await connection.run_jobs()
    ((_, payload),) = connection.sent
    assert set(payload) == {"certificateChain"}


async def test_broken_ca_files_reject_the_csr_and_log_the_file_to_fix(
    context: ContextFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = write_ca(tmp_path, csms_ca(now=NOW))
    (directory / "ca.key").unlink()
    connection = Connection({"status": "Accepted"})
    answer = await v201.HANDLERS["SignCertificate"](context(connection), {"csr": csr_pem()})
    assert answer == {
        "status": "Rejected",
        "statusInfo": {
            "reasonCode": "NotEnabled",
            "additionalInfo": "the CSMS cannot sign certificates now",
        },
    }
    assert connection.jobs == []
    assert "ca.key is missing" in caplog.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)


async def test_a_context_without_a_signer_rejects(context: ContextFactory) -> None:
    answer = await v16.HANDLERS["SignCertificate"](
        context(Connection({}), signer=False), {"csr": csr_pem()}
    )
    assert answer == {"status": "Rejected"}


async def test_a_context_that_cannot_send_after_the_answer_rejects(
    context: ContextFactory, tmp_path: Path
) -> None:
    write_ca(tmp_path, csms_ca(now=NOW))
    answer = await v16.HANDLERS["SignCertificate"](context(None), {"csr": csr_pem()})
    assert answer == {"status": "Rejected"}


async def test_a_charger_that_does_not_answer_keeps_the_record_and_the_log_says_renew(
    context: ContextFactory,
    sqlite_db: Database,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_ca(tmp_path, csms_ca(now=NOW))
    connection = Connection(CommandTimeout("CP1 did not answer CertificateSigned within 30 s"))
    await v16.HANDLERS["SignCertificate"](context(connection), {"csr": csr_pem()})
    await connection.run_jobs()
    (row,) = await sqlite_db.read(lambda uow: uow.issued_certificates.list())
    assert f"certificate {row.serial} for charger CP1 not delivered" in caplog.text
    assert "csms chargers certificates renew CP1" in caplog.text
    assert await sqlite_db.read(lambda uow: uow.security_events.list()) == []


async def test_a_charger_rejecting_with_a_reason_code_keeps_it_in_the_event(
    context: ContextFactory, sqlite_db: Database, tmp_path: Path
) -> None:
    write_ca(tmp_path, csms_ca(now=NOW))
    connection = Connection({"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCert"}})
    await v201.HANDLERS["SignCertificate"](context(connection), {"csr": csr_pem()})
    await connection.run_jobs()
    (event,) = await sqlite_db.read(lambda uow: uow.security_events.list())
    assert event.kind == "CertificateSignedRejected"
    assert event.created_at == NOW
    assert event.details["reason_code"] == "InvalidCert"
