"""Version-neutral domain values, modelled on OCPP 2.0.1 concepts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Literal, get_args

from csms.domain.errors import InvalidRequest
from storage.records import SampledValue

#: One sampled value (defined with the storage records, which persist it as it is).
MeterSample = SampledValue

__all__ = [
    "CHARGING_DONE_STATES",
    "PAYMENT_STATUSES",
    "AuthMethod",
    "AuthorizationStatus",
    "BootInfo",
    "IdTokenInfo",
    "MeterSample",
    "PaymentStatusName",
    "RegistrationStatus",
    "StartResult",
    "TransactionStatus",
    "is_charging_done",
    "parse_moment",
]

#: An invoice's ``payment_status`` (csms.domain.billing.invoices.PaymentStatus): the API's
#: filter and field and the CLI's ``--status`` choices.
PaymentStatusName = Literal[
    "not_required",
    "pending",
    "no_payment_method",
    "processing",
    "paid",
    "declined",
    "failed",
    "held",
]
PAYMENT_STATUSES: tuple[str, ...] = get_args(PaymentStatusName)


class RegistrationStatus(StrEnum):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class AuthorizationStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class AuthMethod(StrEnum):
    CARD = "card"
    TOUCHSCREEN = "touchscreen"
    APP = "app"
    #: The vehicle identified itself (2.0.1 eMAID, i.e. ISO 15118 Plug & Charge, or
    #: MacAddress, i.e. Autocharge).
    VEHICLE = "vehicle"
    #: An id the charging station generated itself (2.0.1 Local).
    LOCAL = "local"
    #: No authorization at all (2.0.1 NoAuthorization: free charging).
    NONE = "none"


class TransactionStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"


#: Charging states in which a connected EV draws no energy although it may (1.6
#: StatusNotification SuspendedEV; 2.0.1 chargingState SuspendedEV or EVConnected).
CHARGING_DONE_STATES = frozenset({"SuspendedEV", "EVConnected"})


def is_charging_done(previous: str | None, current: str | None) -> bool:
    """True when a connected EV has stopped drawing energy while still plugged in: the state
    goes from ``Charging`` to one of :data:`CHARGING_DONE_STATES`. The rule is the same for
    a 1.6 connector status and a 2.0.1 chargingState."""
    return previous == "Charging" and current in CHARGING_DONE_STATES


@dataclass(frozen=True, slots=True)
class IdTokenInfo:
    status: AuthorizationStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What a charger says about itself at boot (1.6 BootNotification / 2.0.1 chargingStation)."""

    vendor: str
    model: str
    ocpp_version: str
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class StartResult:
    transaction_id: int
    id_token_info: IdTokenInfo
    created: bool


def parse_moment(text: str, *, day: Callable[[date], datetime], example: str) -> datetime:
    """A moment an operator typed, in UTC: ``YYYY-MM-DD`` (``day`` says which moment of that
    date it means) or an ISO 8601 date-time (no time zone means UTC).

    Anything else raises :class:`InvalidRequest`, showing ``example`` as a date-time to type.
    """
    text = text.strip()
    try:
        if len(text) == 10:
            return day(date.fromisoformat(text))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"{text!r} is not a date: use YYYY-MM-DD or an ISO 8601 date-time such as {example}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
