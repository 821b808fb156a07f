"""The certificates csms's CA issued to chargers: kept when sent, listed, warned about.

Every certificate sent in a ``CertificateSigned`` is kept (serial, charger, subject,
validity, SHA-256 fingerprint and the PEM), whatever the charger then answers: a signed
certificate that left csms is on record. A charger uses its newest certificate (1.6
security whitepaper A02.FR.09 / 2.0.1 A02.FR.09: the newest by start of validity), so the
one that matters for renewal is each charger's newest one: :func:`expiring_certificates`
gives those expiring within a window, for ``csms certificates list --expiring`` and for
the daily WARNING lines of :func:`expiry_warnings`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from csms.domain.security.csr import IssuedCertificate
from csms.domain.views import iso
from storage.ports import UnitOfWork
from storage.records import IssuedCertificateRecord

__all__ = [
    "CERTIFICATE_SIGNED_REJECTED_EVENT",
    "CSR_REJECTED_EVENT",
    "EXPIRY_WARNING_DAYS",
    "certificate_view",
    "certificate_views",
    "expires_in_days",
    "expiring_certificates",
    "expiry_warning",
    "expiry_warnings",
    "list_certificates",
    "record_issued_certificate",
]

log = logging.getLogger(__name__)

#: A certificate this close to its not-after is flagged in ``csms certificates list`` and
#: warned about daily (a 2.0.1 station renews by itself one month ahead, A03.FR.02).
EXPIRY_WARNING_DAYS = 30

#: ``security_events.kind`` of a CSR csms refused to sign (details: ``reason``,
#: ``certificate_type``; never the CSR or any key).
CSR_REJECTED_EVENT = "CsrRejected"
#: ``security_events.kind`` of a CertificateSigned the charger answered Rejected
#: (details: ``serial``, ``certificate_type``, and the charger's ``reason_code`` if any).
CERTIFICATE_SIGNED_REJECTED_EVENT = "CertificateSignedRejected"


def record_issued_certificate(
    uow: UnitOfWork,
    *,
    charger_id: str,
    issued: IssuedCertificate,
    certificate_type: str,
    now: datetime,
) -> IssuedCertificateRecord:
    """Keep a certificate csms is about to send to ``charger_id``."""
    return uow.issued_certificates.add(
        serial=issued.serial,
        charger_id=charger_id,
        certificate_type=certificate_type,
        subject=issued.subject,
        not_before=issued.not_before,
        not_after=issued.not_after,
        fingerprint=issued.fingerprint,
        pem=issued.pem,
        issued_at=now,
    )


def expires_in_days(record: IssuedCertificateRecord, *, now: datetime) -> int:
    """Whole days until the not-after, rounded down (negative once expired: -1 on the
    first day after)."""
    return math.floor((record.not_after - now) / timedelta(days=1))


def list_certificates(
    uow: UnitOfWork, *, charger_id: str | None = None, limit: int | None = None
) -> list[IssuedCertificateRecord]:
    """Every certificate issued (to ``charger_id`` only, when given), newest first."""
    return uow.issued_certificates.list(charger_id=charger_id, limit=limit)


def expiring_certificates(
    uow: UnitOfWork,
    *,
    now: datetime,
    within: timedelta,
    charger_id: str | None = None,
) -> list[IssuedCertificateRecord]:
    """The certificates in use that expire within ``within`` of ``now`` (expired ones
    included), soonest first: of each charger only its newest certificate, and only
    chargers still in service (not archived, not removed). A certificate a newer one
    replaced needs no renewal."""
    candidates = uow.issued_certificates.list(
        charger_id=charger_id, expiring_before=now + within, newest_per_charger=True
    )
    found: list[IssuedCertificateRecord] = []
    for record in candidates:
        charger = uow.chargers.get(record.charger_id)
        if charger is not None and charger.archived_at is None:
            found.append(record)
    found.sort(key=lambda r: (r.not_after, r.charger_id))
    return found


def expiry_warning(record: IssuedCertificateRecord, *, now: datetime) -> str:
    """The alert line of an expiring certificate: fixed words an operator can grep for
    (``certificate expiring:`` / ``certificate expired:``) and the command that renews it."""
    days = expires_in_days(record, now=now)
    state = "expiring" if days >= 0 else "expired"
    if days >= 0:
        left = f"{days} day{'' if days == 1 else 's'}"
    else:
        left = f"{-days} day{'' if days == -1 else 's'} ago"
    return (
        f"certificate {state}: charger {record.charger_id} serial {record.serial} not after "
        f"{record.not_after:%Y-%m-%d %H:%M}Z ({left}); renew with "
        f"`csms chargers certificates renew {record.charger_id}`"
    )


def expiry_warnings(uow: UnitOfWork, *, now: datetime) -> list[str]:
    """One WARNING log line per certificate in use expiring within
    :data:`EXPIRY_WARNING_DAYS` days (or expired); the lines, as logged."""
    lines = [
        expiry_warning(record, now=now)
        for record in expiring_certificates(
            uow, now=now, within=timedelta(days=EXPIRY_WARNING_DAYS)
        )
    ]
    for line in lines:
        log.warning("%s", line)
    return lines


def certificate_view(record: IssuedCertificateRecord, *, now: datetime) -> dict[str, Any]:
    """An issued certificate as the API and ``csms certificates list --json`` show it
    (SPEC: ``serial``, ``charger_id``, ``subject``, ``not_after``, ``fingerprint``)."""
    return {
        "serial": record.serial,
        "charger_id": record.charger_id,
        "certificate_type": record.certificate_type,
        "subject": record.subject,
        "not_before": iso(record.not_before),
        "not_after": iso(record.not_after),
        "fingerprint": record.fingerprint,
        "issued_at": iso(record.issued_at),
        "expires_in_days": expires_in_days(record, now=now),
    }


def certificate_views(
    records: Iterable[IssuedCertificateRecord], *, now: datetime
) -> list[dict[str, Any]]:
    """:func:`certificate_view` of each record."""
    return [certificate_view(record, now=now) for record in records]
