"""SignCertificate on both versions, and the CertificateSigned csms sends after it.

1.6 security extension (whitepaper edition 3, A02/A03) and 2.0.1 A02/A03: the charger
sends a CSR; csms answers Accepted when it can sign it (A02.FR.11 / A03.FR.11), else
Rejected (A02.FR.12 / A03.FR.12), and once that answer has gone out sends
``CertificateSigned`` with the chain its CA signed (leaf, then the CA certificate). The
certificate is kept in ``issued_certificates`` just before it is sent.

Rejected, each with a reason the log and (2.0.1) ``statusInfo`` carry:

- the CSR breaks a rule of :func:`csms.domain.security.csr.check_csr`: also a
  ``CsrRejected`` security event with the reason (never the CSR or any key);
- csms has no CA (``csms ca init`` not run) or its CA files are broken: a log line says
  what to do;
- 2.0.1 ``certificateType`` V2GCertificate: csms's CA signs Charging Station
  certificates only (ISO 15118 certificates come from a V2G PKI).

The charger's CertificateSigned answer Rejected (it found the certificate invalid, A02.FR.07)
is kept as a ``CertificateSignedRejected`` security event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from csms.domain.security.csr import (
    CHARGING_STATION_CERTIFICATE,
    CertificateAuthorityError,
    CsrRejected,
    IssuedCertificate,
    check_csr,
    sign_csr,
)
from csms.domain.security.issued_certificates import (
    CERTIFICATE_SIGNED_REJECTED_EVENT,
    CSR_REJECTED_EVENT,
    record_issued_certificate,
)
from csms.gateway import CallContext, ChargerCall
from csms.routing import CommandError
from protocol.messages import v16, v201
from storage.errors import StorageError

__all__ = [
    "CertificateSignedPayload",
    "SigningDecision",
    "sign_certificate_v16",
    "sign_certificate_v201",
    "signing_decision",
]

log = logging.getLogger(__name__)

#: 2.0.1 statusInfo.reasonCode values (part 2 appendix "Reason codes"; at most 20 chars).
_INVALID_CSR = "InvalidCSR"
_NOT_ENABLED = "NotEnabled"
_UNSUPPORTED = "UnsupportedRequest"


@dataclass(frozen=True, slots=True)
class SigningDecision:
    """The SignCertificate answer, the same in both versions once translated."""

    accepted: bool
    #: 2.0.1 statusInfo of a refusal (reasonCode, additionalInfo).
    reason_code: str | None = None
    info: str | None = None


_ACCEPTED = SigningDecision(accepted=True)


#: The version's CertificateSigned request for a PEM chain.
CertificateSignedPayload = Callable[[str], dict[str, Any]]


async def signing_decision(
    ctx: CallContext,
    *,
    csr: str,
    certificate_type: str,
    certificate_signed: CertificateSignedPayload,
) -> SigningDecision:
    """Check and sign ``csr`` for the connection's charger; when accepted, the
    CertificateSigned (``certificate_signed`` of the chain) is left for after the answer
    (``ctx.after_answer``)."""
    charger_id = ctx.charger_id
    if certificate_type != CHARGING_STATION_CERTIFICATE:
        log.info(
            "charger %s asked to sign a %s: refused, csms's CA signs %s only",
            charger_id,
            certificate_type,
            CHARGING_STATION_CERTIFICATE,
        )
        return SigningDecision(
            False,
            _UNSUPPORTED,
            f"this CSMS signs {CHARGING_STATION_CERTIFICATE} CSRs only, not {certificate_type}",
        )
    signer, after_answer = ctx.signer, ctx.after_answer
    if signer is None or after_answer is None:
        log.warning("charger %s sent SignCertificate: this connection cannot sign", charger_id)
        return SigningDecision(False, _NOT_ENABLED, "certificate signing is not enabled")
    now = ctx.clock()
    try:
        checked = check_csr(csr, charger_id=charger_id, organization=signer.organization)
    except CsrRejected as exc:
        reason = exc.reason
        log.warning("refused the CSR of charger %s: %s", charger_id, reason)
        await ctx.db.write(
            lambda uow: uow.security_events.add(
                kind=CSR_REJECTED_EVENT,
                details={"reason": reason, "certificate_type": certificate_type},
                created_at=now,
                charger_id=charger_id,
            )
        )
        return SigningDecision(False, _INVALID_CSR, reason)

    def load_and_sign() -> IssuedCertificate | None:
        authority = signer.authority()
        if authority is None:
            return None
        return sign_csr(authority, checked, days=signer.days, now=now)

    try:
        # Reading the key and signing (RSA: milliseconds) stay off the event loop.
        issued = await asyncio.to_thread(load_and_sign)
    except CertificateAuthorityError as exc:
        log.error("cannot sign the CSR of charger %s: %s", charger_id, exc)
        return SigningDecision(False, _NOT_ENABLED, "the CSMS cannot sign certificates now")
    if issued is None:
        log.warning(
            "charger %s sent a CSR (SignCertificate) but csms has no charging-station CA: "
            "run `csms ca init`, then ask the charger again with "
            "`csms chargers certificates renew %s`",
            charger_id,
            charger_id,
        )
        return SigningDecision(False, _NOT_ENABLED, "the CSMS has no certificate authority")
    request = certificate_signed(issued.chain_pem)
    after_answer(lambda call: _send_certificate(ctx, call, issued, certificate_type, request))
    return _ACCEPTED


async def _send_certificate(
    ctx: CallContext,
    call: ChargerCall,
    issued: IssuedCertificate,
    certificate_type: str,
    request: dict[str, Any],
) -> None:
    """Keep the certificate, then send it in CertificateSigned (after the answer)."""
    charger_id = ctx.charger_id
    now = ctx.clock()
    try:
        await ctx.db.write(
            lambda uow: record_issued_certificate(
                uow,
                charger_id=charger_id,
                issued=issued,
                certificate_type=certificate_type,
                now=now,
            )
        )
    except StorageError as exc:
        log.error(
            "certificate %s for charger %s not sent: it could not be stored (%s)",
            issued.serial,
            charger_id,
            exc,
        )
        return
    try:
        answer = await call("CertificateSigned", request)
    except CommandError as exc:
        log.warning(
            "certificate %s for charger %s not delivered: %s; ask for a new CSR with "
            "`csms chargers certificates renew %s`",
            issued.serial,
            charger_id,
            exc,
            charger_id,
        )
        return
    status = answer.get("status")
    if status == "Accepted":
        log.info(
            "charger %s accepted certificate %s (not after %s)",
            charger_id,
            issued.serial,
            f"{issued.not_after:%Y-%m-%d}",
        )
        return
    details: dict[str, Any] = {"serial": issued.serial, "certificate_type": certificate_type}
    info = answer.get("statusInfo")
    if isinstance(info, dict) and isinstance(info.get("reasonCode"), str):
        details["reason_code"] = info["reasonCode"][:20]
    log.warning(
        "charger %s rejected certificate %s (CertificateSigned %s)",
        charger_id,
        issued.serial,
        status,
    )
    rejected_at = ctx.clock()
    await ctx.db.write(
        lambda uow: uow.security_events.add(
            kind=CERTIFICATE_SIGNED_REJECTED_EVENT,
            details=details,
            created_at=rejected_at,
            charger_id=charger_id,
        )
    )


async def sign_certificate_v16(
    ctx: CallContext, p: v16.SignCertificateRequest
) -> v16.SignCertificateResponse:
    """1.6 security extension A02/A03: Accepted, then CertificateSigned; or Rejected."""
    decision = await signing_decision(
        ctx,
        csr=p["csr"],
        certificate_type=CHARGING_STATION_CERTIFICATE,
        certificate_signed=lambda chain: {"certificateChain": chain},
    )
    return {"status": "Accepted" if decision.accepted else "Rejected"}


async def sign_certificate_v201(
    ctx: CallContext, p: v201.SignCertificateRequest
) -> v201.SignCertificateResponse:
    """2.0.1 A02/A03: Accepted, then CertificateSigned; or Rejected with statusInfo."""
    asked = p.get("certificateType")
    certificate_type = asked or CHARGING_STATION_CERTIFICATE

    def certificate_signed(chain: str) -> dict[str, Any]:
        request: dict[str, Any] = {"certificateChain": chain}
        if asked is not None:  # A02.FR.14: the type the request named
            request["certificateType"] = asked
        return request

    decision = await signing_decision(
        ctx, csr=p["csr"], certificate_type=certificate_type, certificate_signed=certificate_signed
    )
    if decision.accepted:
        return {"status": "Accepted"}
    answer: v201.SignCertificateResponse = {"status": "Rejected"}
    if decision.reason_code is not None:
        info: v201.StatusInfoType = {"reasonCode": decision.reason_code}
        if decision.info:
            info["additionalInfo"] = decision.info[:512]
        answer["statusInfo"] = info
    return answer
