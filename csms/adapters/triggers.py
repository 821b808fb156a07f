"""The messages a charger can be asked to send (TriggerMessage), under each version's name.

Names that differ are mapped: 1.6 ``DiagnosticsStatusNotification`` is 2.0.1
``LogStatusNotification`` and back. Names only 2.0.1 has (TransactionEvent,
SignChargingStationCertificate, …) are refused for 1.6 chargers.
"""

from __future__ import annotations

from csms.domain.errors import InvalidRequest

__all__ = ["V16_TRIGGERS", "V201_TRIGGERS", "trigger_name"]

#: 1.6 §7.27 MessageTrigger.
V16_TRIGGERS = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)
#: 2.0.1 MessageTriggerEnumType.
V201_TRIGGERS = (
    "BootNotification",
    "LogStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "SignChargingStationCertificate",
    "SignV2GCertificate",
    "StatusNotification",
    "TransactionEvent",
    "SignCombinedCertificate",
    "PublishFirmwareStatusNotification",
)
# The same message under each version's name.
_TRIGGER_EQUIVALENTS = {
    "DiagnosticsStatusNotification": "LogStatusNotification",
    "LogStatusNotification": "DiagnosticsStatusNotification",
}


def _squash(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def trigger_name(message: str, *, version: str) -> str:
    """``message`` (any case, ``_``/``-`` ignored, either version's name) as the
    requestedMessage that OCPP ``version`` (``"1.6"`` or ``"2.0.1"``) knows; raises
    InvalidRequest, listing the valid names, for a message that version has not."""
    own, other = (
        (V16_TRIGGERS, V201_TRIGGERS) if version == "1.6" else (V201_TRIGGERS, V16_TRIGGERS)
    )
    wanted = _squash(message)
    for name in own:
        if _squash(name) == wanted:
            return name
    for name in other:
        if _squash(name) == wanted:
            equivalent = _TRIGGER_EQUIVALENTS.get(name)
            if equivalent is not None and equivalent in own:
                return equivalent
            raise InvalidRequest(
                f"cannot trigger {name} on an OCPP {version} charger (it has no such "
                f"message): use one of {', '.join(own)}"
            )
    raise InvalidRequest(f"cannot trigger {message!r}: use one of {', '.join(own)}")
