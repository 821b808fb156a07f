"""Simulated OCPP charge points (the charge-point side of :mod:`protocol`) and a load generator.

- :class:`ChargePoint16`: a 1.6J charge point with an async Python API (boot, statuses,
  Authorize, Start/StopTransaction, MeterValues, offline queue, go_offline/go_online) that
  answers the CSMS's calls as firmware does.
- :func:`run_session` / :class:`SessionScript`: the scripted charger of ``csms-sim charge``.
- :class:`LoadGenerator` / :func:`run_load`: ``csms-sim load``.

Version-neutral parts live in :mod:`simulators.station` (connection, reconnects, call
serialisation, transaction queue), :mod:`simulators.charging` (the session an EV makes)
and :mod:`simulators.transaction`, so that a 2.0.1 station can sit beside the 1.6 one.
"""

from simulators.charging import ChargingPlan, ChargingStation, SessionResult, charge
from simulators.clock import SimClock
from simulators.errors import (
    CallErrorResponse,
    CallTimeout,
    ConnectionLost,
    HandshakeFailed,
    SimulatorError,
    StationOffline,
)
from simulators.load import LoadConfig, LoadGenerator, LoadReport, run_load
from simulators.scenario import ScriptOutcome, SessionScript, run_session
from simulators.station import MessageRecord, Reply, Station
from simulators.stats import LatencySummary, percentile, summarize_latencies
from simulators.transaction import Transaction
from simulators.v16 import ChargePoint16, Connector16

__all__ = [
    "CallErrorResponse",
    "CallTimeout",
    "ChargePoint16",
    "ChargingPlan",
    "ChargingStation",
    "ConnectionLost",
    "Connector16",
    "HandshakeFailed",
    "LatencySummary",
    "LoadConfig",
    "LoadGenerator",
    "LoadReport",
    "MessageRecord",
    "Reply",
    "ScriptOutcome",
    "SessionResult",
    "SessionScript",
    "SimClock",
    "SimulatorError",
    "Station",
    "StationOffline",
    "Transaction",
    "charge",
    "percentile",
    "run_load",
    "run_session",
    "summarize_latencies",
]
