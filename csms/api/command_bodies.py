"""Request and answer bodies of the charger command endpoints (pydantic).

Commands work on OCPP 1.6 and 2.0.1 chargers alike; see
:mod:`csms.domain.charging.remote_commands` and :mod:`csms.adapters.outbound` for how
``connector_id``/``evse_id``, configuration keys and reset types map onto each version.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AvailabilityCommand",
    "CommandAnswer",
    "ConfigGetCommand",
    "ConfigSetCommand",
    "ConfigurationValue",
    "RejectedKey",
    "ReportCommand",
    "ResetCommand",
    "SessionStartCommand",
    "TriggerCommand",
    "UnlockCommand",
]

Attribute = Literal["Actual", "Target", "MinSet", "MaxSet"]
TokenType = Literal[
    "Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"
]

_EVSE = "OCPP 2.0.1 only: the EVSE (connector_id then names a connector of it)"


class _Request(BaseModel):
    # A misspelt field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class ResetCommand(_Request):
    type: Literal["soft", "hard"] = Field(
        default="soft", description="1.6 Soft/Hard; 2.0.1 OnIdle/Immediate"
    )
    evse_id: int | None = Field(default=None, ge=1, description="OCPP 2.0.1 only: reset one EVSE")


class UnlockCommand(_Request):
    connector_id: int = Field(ge=1, description="1.6 connector; alone on 2.0.1: EVSE N")
    evse_id: int | None = Field(default=None, ge=1, description=_EVSE)


class AvailabilityCommand(_Request):
    state: Literal["operative", "inoperative"]
    connector_id: int = Field(default=0, ge=0, description="0: the whole charger")
    evse_id: int | None = Field(default=None, ge=1, description=_EVSE)


class ConfigGetCommand(_Request):
    keys: list[str] = Field(
        default_factory=list,
        description="1.6 keys (empty: all) or 2.0.1 Component.Variable names",
    )
    attribute: Attribute = Field(default="Actual", description="OCPP 2.0.1 only")


class ConfigSetCommand(_Request):
    key: str = Field(min_length=1, description="1.6 key or 2.0.1 Component.Variable")
    value: str
    attribute: Attribute = Field(default="Actual", description="OCPP 2.0.1 only")


class TriggerCommand(_Request):
    message: str = Field(min_length=1, description="e.g. Heartbeat, StatusNotification")
    connector_id: int | None = Field(default=None, ge=1)
    evse_id: int | None = Field(default=None, ge=1, description=_EVSE)


class ReportCommand(_Request):
    """A device model report (OCPP 2.0.1). Without ``names`` and ``criteria`` it is a
    GetBaseReport of ``type``; with either, a GetReport."""

    type: Literal["full", "config", "summary"] | None = Field(
        default=None, description="base report (default full)"
    )
    names: list[str] = Field(default_factory=list, description="Component or Component.Variable")
    criteria: list[Literal["active", "available", "enabled", "problem"]] = Field(
        default_factory=list, max_length=4
    )


class SessionStartCommand(_Request):
    charger_id: str = Field(min_length=1)
    id_tag: str = Field(min_length=1, description="1.6 idTag or 2.0.1 idToken")
    connector_id: int | None = Field(default=None, ge=1)
    evse_id: int | None = Field(default=None, ge=1, description="OCPP 2.0.1 only")
    token_type: TokenType = Field(
        default="Central", description="OCPP 2.0.1 idToken type (Central: an app start)"
    )


class ConfigurationValue(BaseModel):
    key: str
    value: str | None = None
    readonly: bool | None = Field(default=None, description="not reported by 2.0.1 stations")


class RejectedKey(BaseModel):
    key: str
    status: str | None = None
    reason: str | None = None


class CommandAnswer(BaseModel):
    """The charger's answer to a command, the same for both OCPP versions: ``status`` as
    the charger sent it (e.g. ``Accepted``, ``Rejected``), ``response`` the raw payload."""

    charger_id: str
    action: str
    ocpp_version: str | None
    status: str | None = None
    reason: str | None = Field(default=None, description="2.0.1 statusInfo, when given")
    configuration: list[ConfigurationValue] | None = None
    unknown_keys: list[str] | None = None
    rejected_keys: list[RejectedKey] | None = None
    request_id: int | None = Field(default=None, description="2.0.1 report requestId")
    remote_start_id: int | None = Field(default=None, description="2.0.1 remoteStartId")
    station_transaction_id: str | None = None
    ongoing: bool | None = Field(default=None, description="GetTransactionStatus")
    messages_in_queue: bool | None = Field(default=None, description="GetTransactionStatus")
    response: dict[str, Any]
