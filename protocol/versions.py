"""OCPP versions spoken by csms, named by their WebSocket subprotocol."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OCPPVersion"]


class OCPPVersion(StrEnum):
    """An OCPP-J version; the value is the WebSocket subprotocol that selects it."""

    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"
