"""Security events a charger reports: 1.6 security extension ``SecurityEventNotification``
(OCPP 1.6 Security Whitepaper, use case N02) and 2.0.1 A04.

Each event is kept as a charger event (kind ``SecurityEventNotification``) with the
charger's own payload. The events the specifications mark *critical* (the Security Events
list of the 1.6 whitepaper's appendix and of 2.0.1 part 2, appendix 1: a charger pushes
those to the CSMS at once) also get a WARNING log line that names the charger and the event
type; ``techInfo`` is free text from the charger and stays out of the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from csms.domain.charging.stations import record_charger_event
from storage.ports import UnitOfWork

__all__ = ["CRITICAL_SECURITY_EVENTS", "SECURITY_EVENT_KIND", "record_security_event"]

log = logging.getLogger(__name__)

#: ``charger_events.kind`` of a reported security event.
SECURITY_EVENT_KIND = "SecurityEventNotification"

#: The security event types both specifications mark critical.
CRITICAL_SECURITY_EVENTS = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
    }
)


def record_security_event(
    uow: UnitOfWork, *, charger_id: str, payload: Mapping[str, Any], now: datetime
) -> bool:
    """Keep a charger's security event; True when its type is a critical one.

    The payload is kept as the charger sent it (``type``, ``timestamp``, optional
    ``techInfo``, 2.0.1 ``customData``): what happened is the charger's word, and an
    unknown type is kept like a known one (both lists say "non-exhaustive")."""
    event_type = str(payload["type"])
    record_charger_event(
        uow, charger_id=charger_id, kind=SECURITY_EVENT_KIND, payload=dict(payload), now=now
    )
    critical = event_type in CRITICAL_SECURITY_EVENTS
    if critical:
        log.warning("charger %s reports the critical security event %s", charger_id, event_type)
    return critical
