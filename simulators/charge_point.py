"""What a simulated 1.6 charge point and a 2.0.1 charging station do alike.

:class:`ChargePoint` sits between :class:`~simulators.station.Station` (the connection)
and the version classes, :class:`simulators.v16.ChargePoint16` and
:class:`simulators.v201.ChargePoint201`, which build the messages and answer the CSMS.
It keeps the transactions and sessions of a run, runs the scripted session
(:meth:`ChargePoint.charge`), starts the session a remote start asked for and stops what
runs before a reboot. The functions beside it are the firmware behaviour both versions
share: ChangeAvailability (:func:`change_availability`), the connector a remote start
gets (:func:`free_target`), the one-time token of a PIN login (:func:`one_time_token`)
and the meter (:func:`reading`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from simulators.certificates import CertificateStore, HashData, StoreError
from simulators.charging import ChargingPlan, SessionKeeping, SessionResult, TxT, charge
from simulators.clock import iso_utc
from simulators.errors import SimulatorError
from simulators.station import Payload, Reply, Station
from simulators.tls import TlsClient
from simulators.transaction import Transaction

__all__ = [
    "PHASES",
    "PHASE_VOLTAGE",
    "UNITS",
    "AvailabilityTarget",
    "ChargePoint",
    "RemoteStartTarget",
    "apply_scheduled_availability",
    "change_availability",
    "free_target",
    "one_time_token",
    "reading",
]

#: The unit of each measurand the simulated meters sample.
UNITS = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Current.Import": "A",
    "Voltage": "V",
}
PHASE_VOLTAGE = 230.0
PHASES = 3


def reading(measurand: str, *, energy_wh: float, power_w: float) -> float:
    """A meter's reading of ``measurand`` (one of :data:`UNITS`): the energy register and
    the power in whole Wh and W (an ``int``), the current per phase to 0.1 A, the voltage."""
    if measurand == "Energy.Active.Import.Register":
        return round(energy_wh)
    if measurand == "Power.Active.Import":
        return round(power_w)
    if measurand == "Current.Import":
        return round(power_w / (PHASES * PHASE_VOLTAGE), 1)
    return PHASE_VOLTAGE


class AvailabilityTarget(Protocol):
    """A 1.6 connector or a 2.0.1 EVSE, as ChangeAvailability sees it."""

    operative: bool
    scheduled_operative: bool | None

    @property
    def status(self) -> str: ...

    @property
    def transaction(self) -> object | None: ...


AvailabilityT = TypeVar("AvailabilityT", bound=AvailabilityTarget)


def change_availability(
    targets: Sequence[AvailabilityT],
    *,
    operative: bool,
    report: Callable[[AvailabilityT, str], Awaitable[None]],
) -> Reply:
    """Apply ChangeAvailability the way firmware does (1.6 §5.2, 2.0.1 G03): going
    inoperative while a transaction runs is ``Scheduled`` and applied when it ends; every
    idle target then reports its new status through ``report(target, status)``."""
    busy = [t for t in targets if t.transaction is not None]
    if not operative and busy:
        for target in targets:
            if target.transaction is not None:
                target.scheduled_operative = False
            else:
                target.operative = False
        status = "Scheduled"
    else:
        for target in targets:
            target.operative = operative
            target.scheduled_operative = None
        status = "Accepted"

    async def report_statuses() -> None:
        for target in targets:
            if target.transaction is not None:
                continue
            wanted = "Available" if target.operative else "Unavailable"
            if target.status != wanted:
                await report(target, wanted)

    return Reply({"status": status}, then=report_statuses)


def apply_scheduled_availability(target: AvailabilityTarget) -> None:
    """The availability change that waited for the transaction to end takes effect."""
    if target.scheduled_operative is not None:
        target.operative = target.scheduled_operative
        target.scheduled_operative = None


class RemoteStartTarget(Protocol):
    """A 1.6 connector or a 2.0.1 EVSE, as a remote start sees it."""

    remote_start_pending: bool

    @property
    def free(self) -> bool: ...


TargetT = TypeVar("TargetT", bound=RemoteStartTarget)


def free_target(targets: Mapping[int, TargetT], requested: int | None) -> TargetT | None:
    """Where a remote start may run: the connector (EVSE) it asked for if that is free,
    without one asked for the first free one; None when there is none (Rejected)."""
    if requested is not None:
        target = targets.get(requested)
        return target if target is not None and target.free else None
    return next((target for target in targets.values() if target.free), None)


def one_time_token(answer: Mapping[str, Any]) -> str | None:
    """The idTag of an Accepted csms/PinLogin DataTransfer answer (data: the JSON string
    ``{"idTag": "...", "expiresAt": "..."}``), or None when it was refused or unreadable."""
    if answer.get("status") != "Accepted":
        return None
    data = answer.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if isinstance(data, dict) and isinstance(data.get("idTag"), str):
        return str(data["idTag"])
    return None


class ChargePoint(SessionKeeping[TxT], Station):
    """A simulated charge point of either version, short of its messages.

    Args:
        charging_plan: what the EV takes in sessions the CSMS starts remotely.
        certificates: where its keys, its signed certificate and the root certificates
            the CSMS installs are kept (None: a private temporary directory).
        organization: the O of its CSRs (1.6 ``CpoName``, 2.0.1
            ``SecurityCtrlr.OrganizationName``).
        station_options: the rest goes to :class:`~simulators.station.Station`.
    """

    #: The root certificate types whose certificates the charger trusts for the CSMS's
    #: server certificate (1.6 CentralSystemRootCertificate, 2.0.1 CSMSRootCertificate).
    csms_root_types: frozenset[str] = frozenset()
    #: SecurityEventNotification type of a certificate from CertificateSigned that does
    #: not fit (1.6 InvalidChargePointCertificate, 2.0.1 InvalidChargingStationCertificate).
    invalid_certificate_event = "InvalidChargingStationCertificate"

    def __init__(
        self,
        *,
        url: str,
        identity: str,
        charging_plan: ChargingPlan | None = None,
        certificates: CertificateStore | None = None,
        organization: str = "csms",
        **station_options: Any,
    ) -> None:
        super().__init__(url=url, identity=identity, **station_options)
        self.certificates = certificates or CertificateStore()
        self.organization = organization
        #: Set when a CertificateSigned has been accepted and installed.
        self.certificate_installed = asyncio.Event()
        self._trust_installed_roots()
        self.charging_plan = charging_plan or ChargingPlan()
        #: Every transaction of this run, oldest first.
        self.transactions: list[TxT] = []
        #: Every session run by :meth:`charge` (scripted or remote), oldest first.
        self.session_results: list[SessionResult] = []
        #: Called with each finished session (e.g. by the CLI to print it).
        self.on_session_finished: Callable[[SessionResult], None] | None = None
        self._local_ids = itertools.count(-1, -1)
        self._sessions_changed = asyncio.Event()

    # -- to implement per version (and the steps of simulators.charging.ChargingStation) --

    def deliver_energy(self, connector_id: int, energy_wh: float, power_w: float = 0.0) -> None:
        """Advance a connector's (EVSE's) energy register and set the power it draws now."""
        raise NotImplementedError

    async def stop_transaction(
        self, transaction: TxT, *, reason: str = "Local", wait: bool = True
    ) -> object:
        """Stop ``transaction`` with ``reason`` (a queued transaction message)."""
        raise NotImplementedError

    def meter_interval(self) -> float:
        raise NotImplementedError

    async def session_authorize(self, id_tag: str) -> str:
        raise NotImplementedError

    async def session_begin(self, *, id_tag: str, connector_id: int, remote: bool) -> TxT:
        raise NotImplementedError

    async def session_sample(self, transaction: Transaction) -> None:
        raise NotImplementedError

    async def session_suspend_ev(self, transaction: Transaction) -> None:
        raise NotImplementedError

    async def session_end(self, transaction: Transaction, reason: str) -> None:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------

    async def charge(
        self,
        *,
        id_tag: str,
        connector_id: int = 1,
        plan: ChargingPlan | None = None,
        authorize: bool = True,
        remote: bool = False,
    ) -> SessionResult:
        """A whole session on connector (2.0.1: EVSE) ``connector_id`` (see
        :func:`simulators.charging.charge`)."""
        return await charge(
            self,
            id_tag=id_tag,
            connector_id=connector_id,
            plan=plan or self.charging_plan,
            authorize=authorize,
            remote=remote,
        )

    def session_deliver(self, transaction: Transaction, energy_wh: float, power_w: float) -> None:
        self.deliver_energy(transaction.connector_id, energy_wh, power_w)

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None
    ) -> Any:
        """DataTransfer (``data``: a string in 1.6, any JSON value in 2.0.1); returns the
        CSMS's answer, the version's ``DataTransferResponse``."""
        payload: dict[str, Any] = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        return await self.call("DataTransfer", payload)

    async def pin_login(self, login: str, pin: str) -> str | None:
        """Touchscreen login (DataTransfer csms/PinLogin): the one-time idTag, or None."""
        response = await self.data_transfer(
            "csms", "PinLogin", json.dumps({"login": login, "pin": pin})
        )
        return one_time_token(response)

    def _remote_session(
        self,
        target: RemoteStartTarget,
        *,
        id_tag: str,
        connector_id: int,
        authorize: Callable[[], bool],
    ) -> Reply:
        """Accept a remote start on ``target``: once answered, the session runs (Authorize
        first if ``authorize()`` says so then) and ``target`` is free to start another."""
        target.remote_start_pending = True

        async def run() -> None:
            try:
                await self.charge(
                    id_tag=id_tag,
                    connector_id=connector_id,
                    authorize=authorize(),
                    remote=True,
                )
            finally:
                target.remote_start_pending = False

        return Reply({"status": "Accepted"}, then=run)

    # -- security: the charging-station certificate (1.6 security extension, 2.0.1 A02/A03) --

    def sign_certificate_request(self, csr: str) -> Payload:
        """The SignCertificate payload for ``csr`` (per version)."""
        raise NotImplementedError

    def csr_organization(self) -> str:
        """The O of the next CSR (2.0.1: SecurityCtrlr.OrganizationName)."""
        return self.organization

    async def request_certificate(self) -> str:
        """SignCertificate with a new key's CSR; the CSMS's status (``Accepted``: a
        CertificateSigned follows, :attr:`certificate_installed` is set when it fits)."""
        csr = self.certificates.new_csr(
            identity=self.identity, organization=self.csr_organization()
        )
        self.certificate_installed.clear()
        answer = await self.call("SignCertificate", self.sign_certificate_request(csr))
        return str(answer.get("status"))

    async def obtain_certificate(self, *, timeout: float = 30.0) -> None:
        """SignCertificate, then wait for the CertificateSigned that installs its chain;
        :class:`SimulatorError` saying why when the CSMS refuses or does not sign in time."""
        status = await self.request_certificate()
        if status != "Accepted":
            raise SimulatorError(
                f"{self.identity}: the CSMS answered SignCertificate with {status}: is the "
                f"charger's organization {self.csr_organization()!r} the one the CSMS signs for "
                "(--cert-org)?"
            )
        try:
            async with asyncio.timeout(timeout):
                await self.certificate_installed.wait()
        except TimeoutError:
            raise SimulatorError(
                f"{self.identity}: no CertificateSigned with a fitting certificate within "
                f"{timeout:g} s of the accepted SignCertificate"
            ) from None

    def _send_new_csr(self) -> Reply:
        """A trigger for a new certificate accepted: the CSR goes out after the answer."""

        async def send() -> None:
            status = await self.request_certificate()
            if status != "Accepted":
                self.log.warning("%s: SignCertificate answered %s", self.identity, status)

        return Reply({"status": "Accepted"}, then=send)

    def _certificate_signed(self, chain: str) -> Reply:
        """CertificateSigned: Accepted and installed when the leaf is for the pending key
        and valid now, else Rejected with a security event (2.0.1 A02, A03; 1.6 security
        whitepaper). The new certificate is presented from the next connection on."""
        problem = self.certificates.accept_signed(chain)
        if problem is not None:
            self.log.warning("%s: CertificateSigned rejected: %s", self.identity, problem)

            async def report() -> None:
                event = {"type": self.invalid_certificate_event, "timestamp": iso_utc()}
                try:
                    await self.call("SecurityEventNotification", event)
                except SimulatorError as exc:
                    self.log.info("SecurityEventNotification not delivered: %s", exc)

            return Reply({"status": "Rejected"}, then=report)
        store = self.certificates
        if self.tls is None:
            self.tls = TlsClient(cert_file=store.cert_path, key_file=store.key_path)
        else:
            self.tls.set_client_certificate(store.cert_path, store.key_path)
        self.certificate_installed.set()
        return Reply({"status": "Accepted"})

    # -- security: root certificates the CSMS manages (1.6 security extension, 2.0.1 M03-M05) --

    def new_tls_client(self) -> TlsClient:
        # The system's trust store and the CSMS root certificates installed so far.
        roots = [root.path for root in self.certificates.roots(self.csms_root_types)]
        return TlsClient(extra_roots=roots)

    def _trust_installed_roots(self) -> None:
        if self.tls is not None and self.csms_root_types:
            roots = self.certificates.roots(self.csms_root_types)
            if roots or self.tls.extra_roots:
                self.tls.set_extra_roots([root.path for root in roots])

    def _install_root(self, certificate_type: str, pem: str) -> str:
        """InstallCertificate: ``Accepted``, ``Rejected`` (not a valid CA certificate) or
        ``Failed`` (it cannot be stored). A CSMS root is trusted from the next connection."""
        try:
            problem = self.certificates.install_root(certificate_type, pem)
        except StoreError as exc:
            self.log.warning("%s: InstallCertificate failed: %s", self.identity, exc)
            return "Failed"
        if problem is not None:
            self.log.info("%s: InstallCertificate rejected: %s", self.identity, problem)
            return "Rejected"
        self._trust_installed_roots()
        return "Accepted"

    def _installed(self, types: Sequence[str] | None) -> list[tuple[str, HashData]]:
        """(type, hash data) of the installed roots of ``types`` (None: every type)."""
        return [
            (root.certificate_type, root.hash_data()) for root in self.certificates.roots(types)
        ]

    def _delete_certificate(self, wanted: Mapping[str, Any]) -> str:
        """DeleteCertificate: ``Accepted``, ``NotFound``, or ``Failed`` for the charger's
        own certificate or its chain, which must stay (2.0.1 M04)."""
        if self.certificates.names_client_certificate(wanted):
            return "Failed"
        try:
            removed = self.certificates.delete_root(wanted)
        except OSError as exc:
            self.log.warning("%s: DeleteCertificate failed: %s", self.identity, exc)
            return "Failed"
        if removed is None:
            return "NotFound"
        self._trust_installed_roots()
        return "Accepted"

    async def _stop_transactions(self, reason: str) -> None:
        """Before a reboot: every running transaction stops with ``reason`` (a session in
        progress ends its own), each waited for up to the call timeout."""
        running = [tx for tx in self.transactions if tx.active]
        for transaction in running:
            if transaction.driven:
                transaction.request_stop(reason)
            else:
                await self.stop_transaction(transaction, reason=reason, wait=False)
        for transaction in running:
            with contextlib.suppress(TimeoutError):
                await transaction.wait_stopped(timeout=self.call_timeout)
