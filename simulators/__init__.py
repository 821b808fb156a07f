"""Simulated OCPP charge points (the charge-point side of :mod:`protocol`) and a load generator.

- :class:`ChargePoint16`: a 1.6J charge point with an async Python API (boot, statuses,
  Authorize, Start/StopTransaction, MeterValues, offline queue, go_offline/go_online) that
  answers the CSMS's calls as firmware does.
- :class:`ChargePoint201`: the same for a 2.0.1 charging station (TransactionEvent with
  seqNo and chargingState, a device model behind Get/SetVariables and NotifyReport).
- :func:`run_session` / :class:`SessionScript`: the scripted charger of ``csms-sim charge``.
- :class:`LoadGenerator` / :func:`run_load`: ``csms-sim load``.
- :class:`TlsClient` (:mod:`simulators.tls`): ``wss://``, the trusted CA, the client
  certificate of security profile 3, TLS session resumption on reconnect;
  :class:`CertificateStore` (:mod:`simulators.certificates`): a charger's keys, CSRs, signed
  certificate and installed root certificates in its state directory.

Version-neutral parts live in :mod:`simulators.station` (connection, reconnects, call
serialisation, transaction queue), :mod:`simulators.charge_point` (what both versions do
alike: sessions kept, remote starts, ChangeAvailability, PIN login, meter readings),
:mod:`simulators.charging` (the session an EV makes) and :mod:`simulators.transaction`.
The 2.0.1 station's device-model side is :mod:`simulators.v201_device`. Payloads are
annotated with the generated types of :mod:`protocol.messages`.
"""

from simulators.certificates import CertificateStore
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
from simulators.tls import TlsClient, TlsSetupError
from simulators.transaction import Transaction
from simulators.v16 import ChargePoint16, Connector16
from simulators.v201 import ChargePoint201, Evse201, NotAccepted, Transaction201

__all__ = [
    "CallErrorResponse",
    "CallTimeout",
    "CertificateStore",
    "ChargePoint16",
    "ChargePoint201",
    "ChargingPlan",
    "ChargingStation",
    "ConnectionLost",
    "Connector16",
    "Evse201",
    "HandshakeFailed",
    "LatencySummary",
    "LoadConfig",
    "LoadGenerator",
    "LoadReport",
    "MessageRecord",
    "NotAccepted",
    "Reply",
    "ScriptOutcome",
    "SessionResult",
    "SessionScript",
    "SimClock",
    "SimulatorError",
    "Station",
    "StationOffline",
    "TlsClient",
    "TlsSetupError",
    "Transaction",
    "Transaction201",
    "charge",
    "percentile",
    "run_load",
    "run_session",
    "summarize_latencies",
]
