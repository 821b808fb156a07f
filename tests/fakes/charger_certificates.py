"""A command router double whose 1.6 charger answers GetInstalledCertificateIds per type,
from the certificates it has, as a 1.6 charger does (OCPP 1.6 Security Whitepaper M03)."""

from __future__ import annotations

from typing import Any

from csms.routing import CommandResult
from tests.fakes.router import RecordingRouter

__all__ = ["ChargerWithCertificates", "hash_data"]


def hash_data(serial: str, name_hash: str = "aa11") -> dict[str, str]:
    """OCPP CertificateHashDataType of a certificate with ``serial``."""
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": name_hash,
        "issuerKeyHash": "bb22",
        "serialNumber": serial,
    }


class ChargerWithCertificates(RecordingRouter):
    """:class:`RecordingRouter` with ``CP1`` connected as ``version``; as a 1.6 charger it
    has ``installed`` (1.6 certificate type → hash data list) and lists them per type."""

    def __init__(
        self, version: str = "ocpp1.6", installed: dict[str, list[dict[str, str]]] | None = None
    ) -> None:
        super().__init__()
        self.connected["CP1"] = version
        self.installed = installed or {}

    async def send(
        self, charger_id: str, action: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> CommandResult:
        if action != "GetInstalledCertificateIds" or self.connected[charger_id] != "ocpp1.6":
            return await super().send(charger_id, action, payload, timeout=timeout)
        self.sent.append((charger_id, action, payload))
        if self.error is not None:
            raise self.error
        found = self.installed.get(payload["certificateType"], [])
        answer: dict[str, Any] = {"status": "Accepted" if found else "NotFound"}
        if found:
            answer["certificateHashData"] = found
        return CommandResult(charger_id=charger_id, action=action, payload=answer)
