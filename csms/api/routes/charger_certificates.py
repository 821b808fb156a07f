"""``/api/chargers/{id}/certificates``: the certificates installed on a charger (list,
install, delete by serial) and asking it to renew its own (1.6 Security Whitepaper and
2.0.1 functional block M; renewal A02)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from csms.adapters.certificates import Send, delete_certificate, installed_certificates
from csms.api.command_answers import command_answer
from csms.api.command_bodies import CommandAnswer
from csms.api.context import ApiContext, OperatorContext
from csms.api.routes.chargers import load_charger
from csms.domain.charging.remote_commands import Command, InstallCertificate, RenewCertificate
from csms.domain.security.charger_certificates import (
    CERTIFICATE_TYPES,
    INSTALLABLE_TYPES,
    MAX_CERTIFICATE_LENGTH,
    certificate_type,
    checked_certificate,
)

__all__ = [
    "CertificateDeleted",
    "CertificateInstall",
    "InstalledCertificate",
    "InstalledCertificates",
    "router",
]

router = APIRouter(prefix="/api/chargers", tags=["chargers"])


class CertificateInstall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        min_length=1, description=f"one of {', '.join(INSTALLABLE_TYPES)} (1.6: the first two)"
    )
    # A PEM of 5500 characters at most, with some room for text around it in the file.
    pem: str = Field(
        min_length=1,
        max_length=4 * MAX_CERTIFICATE_LENGTH,
        description="one X.509 CA certificate, PEM",
    )


class InstalledCertificate(BaseModel):
    """An installed certificate as the charger names it (CertificateHashDataType)."""

    certificate_type: str | None
    serial: str | None
    hash_algorithm: str | None
    issuer_name_hash: str | None
    issuer_key_hash: str | None
    child_of: str | None = Field(
        default=None, description="2.0.1: the serial of the chain's certificate"
    )


class InstalledCertificates(BaseModel):
    """What GetInstalledCertificateIds found (a 1.6 charger is asked once per type)."""

    charger_id: str
    action: str
    ocpp_version: str | None
    status: str | None = Field(description="Accepted when any was found, else NotFound")
    reason: str | None = None
    certificates: list[InstalledCertificate]
    responses: list[dict[str, Any]] = Field(description="the charger's raw answers")


class CertificateDeleted(CommandAnswer):
    certificate: InstalledCertificate


def _sender(ctx: ApiContext, charger_id: str) -> Send:
    async def send(command: Command) -> dict[str, Any]:
        return await command_answer(ctx.router, charger_id, command)

    return send


@router.get("/{charger_id}/certificates", response_model=InstalledCertificates)
async def list_installed(
    charger_id: str,
    ctx: OperatorContext,
    type: Annotated[
        list[str] | None,
        Query(description=f"only these types ({', '.join(CERTIFICATE_TYPES)}); default all"),
    ] = None,
) -> dict[str, Any]:
    """Ask the charger which certificates it has installed (GetInstalledCertificateIds)."""
    await load_charger(ctx, charger_id)
    types = tuple(certificate_type(t) for t in type or ())
    return await installed_certificates(
        _sender(ctx, charger_id), ocpp_version=ctx.router.ocpp_version(charger_id), types=types
    )


@router.post("/{charger_id}/certificates", response_model=CommandAnswer)
async def install(
    charger_id: str, body: CertificateInstall, ctx: OperatorContext
) -> dict[str, Any]:
    """Install a root certificate on the charger (InstallCertificate). The PEM is checked
    first (one CA certificate, valid now); a bad one is refused with 400, nothing sent."""
    await load_charger(ctx, charger_id)
    kind = certificate_type(body.type, installable=True)
    pem = checked_certificate(body.pem, now=ctx.now())
    return await command_answer(ctx.router, charger_id, InstallCertificate(kind, pem))


@router.post("/{charger_id}/certificates/renew", response_model=CommandAnswer)
async def renew(charger_id: str, ctx: OperatorContext) -> dict[str, Any]:
    """Ask the charger for a new CSR for its own certificate (1.6 ExtendedTriggerMessage
    SignChargePointCertificate, 2.0.1 TriggerMessage SignChargingStationCertificate); the
    SignCertificate it sends next is signed by csms's CA."""
    await load_charger(ctx, charger_id)
    return await command_answer(ctx.router, charger_id, RenewCertificate())


@router.delete("/{charger_id}/certificates/{serial}", response_model=CertificateDeleted)
async def delete(charger_id: str, serial: str, ctx: OperatorContext) -> dict[str, Any]:
    """Delete the installed certificate with this serial number (hex): csms lists the
    charger's certificates for its hash data, then sends DeleteCertificate. 404, listing
    the serials the charger has, when none has it."""
    await load_charger(ctx, charger_id)
    return await delete_certificate(
        _sender(ctx, charger_id), ocpp_version=ctx.router.ocpp_version(charger_id), serial=serial
    )
