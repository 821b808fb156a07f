"""Is a completed session's energy one the connector could have delivered? (issue 18 item 1)

A meter register that jumps (a 1.6 meterStop of 2147483647 after an hour), a meter that
was reset or replaced (meterStop below meterStart) or a station clock that jumped back
(stopped before it started) gives a session whose energy or duration nobody can bill.
Such a session is completed and kept as it is, meter values and all; billing holds its
invoice for an operator instead of charging the card (csms.domain.billing.invoices).

The rule, pure (no clock, no database): the energy must not exceed

    max power × duration × ``MARGIN`` + ``ALLOWANCE_WH``

where max power is the charger's own (its 2.0.1 device model's ``EVSE``/``ChargingStation``
``Power`` maxLimit) when csms knows it, else the configured ceiling
(``CSMS_MAX_CHARGER_KW``, default 350 kW, more than any charger sold today delivers).
``MARGIN`` (10 %) absorbs a meter that runs slightly ahead of the rated power and a
station clock a little off; ``ALLOWANCE_WH`` (1 kWh) keeps very short sessions and
meters that count in whole kWh from being held for their rounding.

``CSMS_MAX_CHARGER_KW=off`` leaves out the power check (the signs are still checked): for
test benches whose simulated chargers compress time (``csms-sim --speed``) but report
real timestamps, so that 5 kWh arrive in seconds; never for chargers that bill people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

__all__ = [
    "ALLOWANCE_WH",
    "DEFAULT_MAX_CHARGER_KW",
    "MARGIN",
    "Implausible",
    "check_session_energy",
]

DEFAULT_MAX_CHARGER_KW = Decimal(350)
MARGIN = Decimal("1.1")
ALLOWANCE_WH = 1000


@dataclass(frozen=True, slots=True)
class Implausible:
    """Why a session cannot be billed as it is: a short reason for people and logs (no
    personal data: energies, durations and powers only)."""

    reason: str


def check_session_energy(
    *,
    energy_wh: int | None,
    meter_start_wh: int | None,
    meter_stop_wh: int | None,
    started_at: datetime,
    stopped_at: datetime,
    max_power_w: Decimal | None,
    power_source: str = "ceiling",
) -> Implausible | None:
    """None when the session is plausible; else why not.

    ``power_source`` says where ``max_power_w`` came from (``charger`` or ``ceiling``), for
    the reason's text. ``max_power_w`` None (``CSMS_MAX_CHARGER_KW=off``) checks signs only.
    """
    if meter_start_wh is not None and meter_stop_wh is not None and meter_stop_wh < meter_start_wh:
        return Implausible(
            f"meter stop {meter_stop_wh} Wh is below meter start {meter_start_wh} Wh"
        )
    if energy_wh is not None and energy_wh < 0:
        return Implausible(f"negative energy {energy_wh} Wh")
    seconds = Decimal(str((stopped_at - started_at).total_seconds()))
    if seconds < 0:
        return Implausible(f"stopped {-seconds} s before it started (clock jump)")
    if energy_wh is None or max_power_w is None:
        return None
    limit = max_power_w * seconds / 3600 * MARGIN + ALLOWANCE_WH
    if energy_wh > limit:
        kw = format((max_power_w / 1000).normalize(), "f")
        return Implausible(
            f"{energy_wh} Wh in {int(seconds)} s exceeds what {kw} kW ({power_source}) "
            f"can deliver: at most {int(limit)} Wh"
        )
    return None
