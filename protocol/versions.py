"""OCPP versions spoken by csms, named by their WebSocket subprotocol."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ID_TOKEN_TYPES", "OCPPVersion"]


class OCPPVersion(StrEnum):
    """An OCPP-J version; the value is the WebSocket subprotocol that selects it."""

    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"


#: 2.0.1 IdTokenEnumType: how a station identified the driver (``Central``: a token the
#: CSMS issued, e.g. for an app start; ``NoAuthorization``: free charging).
ID_TOKEN_TYPES = (
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
)
