"""Certificate commands that take more than one CALL, the same for every OCPP version.

* **Listing.** An OCPP 1.6 charger lists the certificates of one type per
  GetInstalledCertificateIds (1.6 Security Whitepaper M03); csms asks for each type in
  turn and merges the answers. A 2.0.1 station lists all types in one answer (2.0.1 M03).
* **Deleting by serial.** DeleteCertificate names the certificate by its hash data as the
  charger computed it (1.6 and 2.0.1 M04: with the hash algorithm the charger used), so
  csms first lists the installed certificates and takes the hash data of the one with
  that serial number.

``send`` is how one command reaches the charger and its answer comes back (the API's
:func:`csms.api.command_answers.command_answer`, which maps failures to HTTP errors).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from csms.domain.charging.remote_commands import (
    CertificateHashData,
    Command,
    DeleteCertificate,
    GetInstalledCertificateIds,
)
from csms.domain.errors import InvalidRequest
from csms.domain.security.charger_certificates import (
    V16_CERTIFICATE_TYPES,
    find_by_serial,
)
from csms.domain.views import normalize_ocpp_version

__all__ = ["Send", "delete_certificate", "installed_certificates"]

#: Sends one command to the charger and returns its version-neutral answer.
Send = Callable[[Command], Awaitable[dict[str, Any]]]


async def installed_certificates(
    send: Send, *, ocpp_version: str | None, types: Sequence[str] = ()
) -> dict[str, Any]:
    """The certificates installed on the charger, of ``types`` (none: every type its
    version has): ``status`` (``Accepted`` when any was found, else the charger's
    ``NotFound``), ``certificates`` (each ``certificate_type``, ``serial``,
    ``hash_algorithm``, ``issuer_name_hash``, ``issuer_key_hash``, ``child_of``) and
    ``responses``, the charger's raw answers."""
    if (normalize_ocpp_version(ocpp_version) or "1.6") != "1.6":
        answer = await send(GetInstalledCertificateIds(types=tuple(types)))
        return {**answer, "responses": [answer.pop("response")]}
    wanted = tuple(dict.fromkeys(types)) or V16_CERTIFICATE_TYPES
    unknown = [t for t in wanted if t not in V16_CERTIFICATE_TYPES]
    if unknown:
        raise InvalidRequest(
            f"OCPP 1.6 chargers have no {unknown[0]} (that is OCPP 2.0.1 / ISO 15118): "
            f"use {' or '.join(V16_CERTIFICATE_TYPES)}"
        )
    answers = [await send(GetInstalledCertificateIds(types=(t,))) for t in wanted]
    found = [a for a in answers if a.get("status") == "Accepted"]
    first = answers[0]
    return {
        "charger_id": first.get("charger_id"),
        "action": first.get("action"),
        "ocpp_version": first.get("ocpp_version"),
        "status": "Accepted" if found else answers[-1].get("status"),
        "certificates": [c for a in answers for c in a.get("certificates") or []],
        "responses": [a.get("response") for a in answers],
    }


async def delete_certificate(
    send: Send, *, ocpp_version: str | None, serial: str
) -> dict[str, Any]:
    """Delete the installed certificate whose serial number is ``serial`` (hex, any case,
    leading zeros ignored): the charger's answer to DeleteCertificate, with the deleted
    ``certificate`` as listed. NotFound, listing the serials the charger has, when it has
    none with that serial; nothing is deleted then."""
    listed = await installed_certificates(send, ocpp_version=ocpp_version)
    entry = find_by_serial(listed["certificates"], serial)
    hash_data = CertificateHashData(
        hash_algorithm=str(entry.get("hash_algorithm")),
        issuer_name_hash=str(entry.get("issuer_name_hash")),
        issuer_key_hash=str(entry.get("issuer_key_hash")),
        serial=str(entry.get("serial")),
    )
    answer = await send(DeleteCertificate(hash_data=hash_data))
    return {**answer, "certificate": dict(entry)}
