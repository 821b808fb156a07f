"""``csms-sim``: simulated charge points and a load generator for an OCPP central system."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from simulators.certificates import CertificateStore, default_state_dir
from simulators.charging import ChargingPlan, SessionResult
from simulators.errors import HandshakeFailed, SimulatorError
from simulators.load import LOAD_MODES, LoadConfig, run_load
from simulators.scenario import AnyChargePoint, ScriptOutcome, SessionScript
from simulators.tls import TlsClient, TlsSetupError
from simulators.v16 import ChargePoint16
from simulators.v201 import ID_TOKEN_TYPES, ChargePoint201

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_SESSION_FAILED = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_INTERRUPTED = 130

_PROTOCOLS = ("ocpp1.6", "ocpp2.0.1")

_CHARGE_EPILOG = """\
ocpp1.6 sequence: BootNotification (retried after the CSMS's interval while Pending/Rejected),
StatusNotification Available for connector 0 and each connector, Authorize, Preparing,
StartTransaction, Charging, MeterValues every --meter-interval simulated seconds,
SuspendedEV when --kwh is in, StopTransaction (reason Local), Finishing, Available.
--speed 60 runs one simulated minute per real second (message timestamps stay real).

The charger answers the CSMS's calls as 1.6 firmware does: RemoteStart/StopTransaction,
Reset, UnlockConnector, ChangeAvailability, Get/ChangeConfiguration, TriggerMessage,
ClearCache.

ocpp2.0.1 sequence: BootNotification (reason PowerUp), StatusNotification Available per
EVSE connector (--connectors is the number of EVSEs, --connector the EVSE to use),
Authorize (idToken of --id-token-type; with --keycode a KeyCode idToken holding --pin with
the login as additionalInfo), StatusNotification Occupied, TransactionEvent Started (CablePluggedIn,
EVConnected, seqNo 0), Updated ChargingStateChanged Charging, Updated MeterValuePeriodic
every --meter-interval, Updated SuspendedEV when --kwh is in, Ended (StopAuthorized,
stoppedReason Local), StatusNotification Available. It answers GetVariables/SetVariables,
GetBaseReport/GetReport (then NotifyReport), RequestStart/StopTransaction, Reset,
UnlockConnector, ChangeAvailability, TriggerMessage, ClearCache, GetTransactionStatus.

Touchscreen login (--pin-login LOGIN --pin PIN, both versions): DataTransfer vendorId csms,
messageId PinLogin with {"login": LOGIN, "pin": PIN}; the charger then starts at once with
the one-time idTag the CSMS returns (2.0.1: an idToken of type Central), no Authorize.
ocpp2.0.1 with --keycode: no DataTransfer; the PIN goes in a KeyCode idToken with the login
as additionalInfo (type Login). --login LOGIN is the earlier spelling: --pin-login LOGIN,
with --keycode on ocpp2.0.1.

Transaction messages are queued while the connection is down and replayed in order after
reconnecting (2.0.1: with offline=true, their own timestamps and seqNos).

Security profiles (1.6 security whitepaper, 2.0.1 part 2 A00):
  --profile 1   ws:// or wss://, HTTP Basic auth with --password (the default).
  --profile 2   wss:// only, with --password; --ca FILE is the CA that signed the CSMS's
                server certificate (default: the system's trust store).
  --profile 3   wss:// with a client certificate and no password: --cert FILE --key FILE,
                or the one kept in the state directory. On a first run (none there yet)
                the charger connects with profile 2 (so --password is needed once),
                makes an EC P-256 key and a CSR (CN = --id, O = --cert-org), sends
                SignCertificate, stores the chain of the CSMS's CertificateSigned, and
                reconnects with it as profile 3; later runs go straight to profile 3.
                A CSMS that still requires profile 2 of the charger (HTTP 401/403 to
                the certificate alone) keeps it on profile 2, certificate presented,
                until it raises the profile (SecurityProfile / SetNetworkProfile).
The state directory (--state-dir, default $XDG_STATE_HOME/csms-sim if XDG_STATE_HOME is
set, else ./.csms-sim) holds ID/client.pem and ID/client.key (0600), the key of a CSR
in flight, and ID/roots/ with the root certificates the CSMS installs
(InstallCertificate); an installed CentralSystemRootCertificate / CSMSRootCertificate is
trusted for the server certificate beside --ca. The charger also answers
CertificateSigned, ExtendedTriggerMessage SignChargePointCertificate (1.6) / TriggerMessage
SignChargingStationCertificate (2.0.1) with a new CSR, GetInstalledCertificateIds,
DeleteCertificate, ChangeConfiguration AuthorizationKey / SecurityProfile / CpoName (1.6),
SetVariables SecurityCtrlr.BasicAuthPassword and SetNetworkProfile (2.0.1, used after a
Reset once NetworkConfigurationPriority names its slot first).

--stay keeps the charger connected after its session (or with no --id-tag at all), idle
and ready for remote starts, until Ctrl-C or --max-sessions sessions have finished.
`csms-sim serve` is the same as `charge --stay` without a local session.

exit status: 0 done, 1 a session was refused (idTag not Accepted) or messages were not
delivered, 2 usage, 3 cannot connect (refused handshake, unreachable), 130 interrupted."""


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def _add_charger_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        required=True,
        help="CSMS endpoint prefix, e.g. ws://127.0.0.1:9000/ocpp (the charger connects to URL/ID)",
    )
    parser.add_argument("--id", required=True, dest="identity", help="charge point identity")
    parser.add_argument("--protocol", choices=_PROTOCOLS, default="ocpp1.6")
    parser.add_argument("--password", help="HTTP Basic auth password (security profiles 1, 2)")
    parser.add_argument(
        "--profile",
        type=int,
        choices=(1, 2, 3),
        help="security profile: 1 Basic auth, 2 wss + Basic auth, 3 wss + client "
        "certificate (default: 3 with --cert, else 1); see below",
    )
    _add_tls_options(parser)
    parser.add_argument(
        "--cert",
        type=Path,
        metavar="FILE",
        help="client certificate to present (PEM, leaf first; profile 3)",
    )
    parser.add_argument("--key", type=Path, metavar="FILE", help="private key of --cert (PEM)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where keys and certificates are kept, per identity "
        "(default $XDG_STATE_HOME/csms-sim, else ./.csms-sim)",
    )
    parser.add_argument(
        "--cert-org",
        default="csms",
        metavar="ORG",
        help="organization (O) of the charger's CSRs: the one the CSMS signs for (csms)",
    )
    parser.add_argument("--connectors", type=int, default=1, help="number of connectors (1)")
    parser.add_argument(
        "--kwh", type=_positive_float, default=10.0, help="energy the EV takes per session (10)"
    )
    parser.add_argument(
        "--power-kw", type=_positive_float, default=11.0, help="charging power (11)"
    )
    parser.add_argument(
        "--speed",
        type=_positive_float,
        default=60.0,
        help="time compression: simulated seconds per real second (60)",
    )
    parser.add_argument(
        "--meter-interval",
        type=_non_negative_int,
        default=60,
        help="MeterValueSampleInterval in simulated seconds (60; 0: none)",
    )
    parser.add_argument("--vendor", default="csms-sim", help="chargePointVendor / vendorName")
    parser.add_argument("--model", help="chargePointModel / model (SimCharger-16, SimCharger-201)")
    parser.add_argument("--serial", help="chargePointSerialNumber / serialNumber")
    parser.add_argument(
        "--id-token-type",
        choices=ID_TOKEN_TYPES,
        default="ISO14443",
        help="ocpp2.0.1: idToken type of --id-tag (ISO14443)",
    )
    parser.add_argument("--firmware", default="1.0.0", help="firmwareVersion")
    parser.add_argument(
        "--call-timeout",
        type=_positive_float,
        default=30.0,
        help="seconds to wait for the CSMS's answer (30)",
    )
    parser.add_argument(
        "--flush-timeout",
        type=_positive_float,
        default=60.0,
        help="seconds to wait at the end for queued messages (60)",
    )
    parser.add_argument(
        "--max-sessions", type=int, help="with --stay/serve: exit after this many sessions"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each finished session as one JSON object per line",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr (-vv: every message)"
    )


def _add_tls_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ca",
        type=Path,
        metavar="FILE",
        help="trust this CA (PEM) for the CSMS's server certificate on wss:// "
        "(default: the system's trust store)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csms-sim",
        description="Simulated OCPP charge points and a load generator.",
    )
    parser.add_argument("--version", action="version", version=f"csms-sim {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    charge = commands.add_parser(
        "charge",
        help="boot, run one charging session, exit",
        description="A charge point that boots and runs one charging session.",
        epilog=_CHARGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_charger_options(charge)
    charge.add_argument("--id-tag", help="RFID card UID to charge with")
    charge.add_argument(
        "--pin-login",
        metavar="LOGIN",
        help="touchscreen login (email or phone) instead of a card: DataTransfer PinLogin",
    )
    charge.add_argument("--pin", help="PIN for --pin-login")
    charge.add_argument(
        "--keycode",
        action="store_true",
        help="ocpp2.0.1: send the PIN as a KeyCode idToken with the login (no DataTransfer)",
    )
    charge.add_argument(
        "--login",
        metavar="LOGIN",
        help="earlier spelling of --pin-login (on ocpp2.0.1 it implies --keycode)",
    )
    charge.add_argument("--connector", type=int, default=1, help="connector to use (1)")
    charge.add_argument(
        "--stay", action="store_true", help="stay connected afterwards for remote starts"
    )

    serve = commands.add_parser(
        "serve",
        help="boot and stay connected, idle, for remote starts",
        description="A charge point that boots and waits for the CSMS "
        "(RemoteStartTransaction starts a session with --kwh/--power-kw).",
        epilog=_CHARGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_charger_options(serve)

    load = commands.add_parser(
        "load",
        help="many chargers in a closed loop: calls/s and latency",
        description="N chargers (identities PREFIX00000...) connect and boot; then each runs "
        "a closed loop with one outstanding call for --duration seconds. Only this "
        "steady-state loop is measured. Connects only to this machine.",
    )
    load.add_argument("--url", required=True, help="e.g. ws://127.0.0.1:9000/ocpp")
    load.add_argument("--chargers", type=int, required=True)
    load.add_argument("--duration", type=float, required=True, help="measured seconds")
    load.add_argument("--protocol", choices=_PROTOCOLS, default="ocpp1.6")
    load.add_argument(
        "--mode",
        choices=LOAD_MODES,
        default="heartbeat",
        help="heartbeat: Heartbeat; meter: one StartTransaction (1.6), then MeterValues "
        "with two sampled values; txevent (2.0.1): one TransactionEvent Started, then "
        "TransactionEvent Updated with two sampled values; sessions (1.6): "
        "Authorize/Start/MeterValues/Stop; idle: connect, boot and stay silent",
    )
    load.add_argument("--password", help="HTTP Basic auth password for every charger")
    _add_tls_options(load)
    load.add_argument("--id-prefix", default="LOAD")
    load.add_argument("--id-tag", default="LOADTAG", help="idTag for meter/sessions modes")
    load.add_argument("--ramp", type=float, default=0.0, help="spread connects over S seconds")
    load.add_argument("--warmup", type=float, default=0.0, help="unmeasured seconds first")
    load.add_argument("--call-timeout", type=float, default=10.0)
    load.add_argument(
        "--connect-concurrency", type=int, default=100, help="handshakes in flight at once (100)"
    )
    load.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _version() -> str:
    """The installed csms package's version (the simulators ship in it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("csms")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING
    if verbosity == 1:
        level = logging.INFO
    elif verbosity >= 2:
        level = logging.DEBUG
    logging.basicConfig(
        level=level,
        format="csms-sim: %(message)s"
        if level == logging.WARNING
        else "%(asctime)s %(name)s %(levelname)s %(message)s",
    )


def _session_line(result: SessionResult) -> str:
    energy = f"{result.energy_wh} Wh" if result.energy_wh is not None else "no energy"
    how = "remote" if result.remote else "local"
    if result.transaction_id is None and result.id_tag_status != "Accepted":
        return f"{result.charger_id}: idTag {result.id_tag} {result.id_tag_status}, no transaction"
    return (
        f"{result.charger_id}: transaction {result.transaction_id} ({how}, connector "
        f"{result.connector_id}, idTag {result.id_tag} {result.id_tag_status}): {energy}, "
        f"meter {result.meter_start_wh} -> {result.meter_stop_wh} Wh, "
        f"{result.meter_values} meter samples, stopped: {result.stop_reason}"
    )


def _print_session(result: SessionResult, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_dict()), flush=True)
    else:
        print(_session_line(result), flush=True)


def _link_printer(charge_point: AnyChargePoint, args: argparse.Namespace) -> Callable[[str], None]:
    """Lines that tell a person watching ``csms-sim serve`` that it works: connected,
    booted (Accepted), connection lost. With --json they go to stderr (stdout is JSON)."""
    stream = sys.stderr if args.json else sys.stdout
    name = charge_point.identity

    def tell(event: str) -> None:
        if event == "connected":
            text = f"{name}: connected to {charge_point.endpoint} ({args.protocol})"
        elif event == "booted":
            text = (
                f"{name}: booted (BootNotification Accepted); waiting for the CSMS, Ctrl-C to stop"
            )
        else:
            text = f"{name}: connection lost; reconnecting"
        print(text, file=stream, flush=True)

    return tell


class _Security:
    """What the security options of ``charge``/``serve`` amount to."""

    def __init__(self, args: argparse.Namespace) -> None:
        state_dir = args.state_dir or default_state_dir()
        self.store = CertificateStore.for_identity(state_dir, args.identity)
        self.profile = args.profile or (3 if args.cert is not None else 1)
        #: Profile 3 without a certificate yet: profile 2 first, then the CSR dance.
        self.get_certificate = False
        cert, key = args.cert, args.key
        if self.profile == 3 and cert is None:
            if self.store.has_client_certificate():
                cert, key = self.store.cert_path, self.store.key_path
            else:
                self.get_certificate = True
        secure = args.url.startswith("wss://")
        roots = [root.path for root in self.store.roots(_CSMS_ROOT_TYPES)]
        self.tls: TlsClient | None = None
        if secure or args.ca is not None or cert is not None:
            self.tls = TlsClient(ca_file=args.ca, cert_file=cert, key_file=key, extra_roots=roots)
        self.first_profile = 2 if self.get_certificate else self.profile


_CSMS_ROOT_TYPES = ("CentralSystemRootCertificate", "CSMSRootCertificate")


def _check_security(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors of the security options, before anything connects."""
    if (args.cert is None) != (args.key is None):
        parser.error("a client certificate needs both --cert FILE and --key FILE")
    profile = args.profile or (3 if args.cert is not None else 1)
    if profile >= 2 and not args.url.startswith("wss://"):
        parser.error(f"--profile {profile} needs a wss:// --url (TLS)")
    if profile == 2 and args.password is None:
        parser.error("--profile 2 needs --password (HTTP Basic auth over TLS)")
    if profile == 3 and args.cert is None and args.password is None:
        store = CertificateStore.for_identity(args.state_dir or default_state_dir(), args.identity)
        if not store.has_client_certificate():
            parser.error(
                f"--profile 3: no certificate in {store.directory} yet; the first run gets "
                "one signed over profile 2, so give --password too (or --cert FILE --key FILE)"
            )


def _build_charge_point(args: argparse.Namespace, security: _Security) -> AnyChargePoint:
    common: dict[str, Any] = {
        "url": args.url,
        "identity": args.identity,
        "password": args.password,
        "tls": security.tls,
        "security_profile": security.first_profile,
        "certificates": security.store,
        "organization": args.cert_org,
        "vendor": args.vendor,
        "serial_number": args.serial,
        "firmware_version": args.firmware,
        "speed": args.speed,
        "meter_interval": args.meter_interval,
        "call_timeout": args.call_timeout,
        "charging_plan": ChargingPlan(energy_wh=args.kwh * 1000.0, power_w=args.power_kw * 1000.0),
    }
    if args.protocol == "ocpp2.0.1":
        return ChargePoint201(
            evses=args.connectors,
            model=args.model or "SimCharger-201",
            id_token_type=args.id_token_type,
            **common,
        )
    return ChargePoint16(connectors=args.connectors, model=args.model or "SimCharger-16", **common)


async def _run_charger(args: argparse.Namespace, *, stay: bool) -> int:
    if args.connectors < 1:
        print("csms-sim: --connectors must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        security = _Security(args)
    except TlsSetupError as exc:
        print(f"csms-sim: {exc}", file=sys.stderr)
        return EXIT_USAGE
    charge_point = _build_charge_point(args, security)
    charge_point.on_session_finished = lambda result: _print_session(result, as_json=args.json)
    if stay:
        charge_point.on_link_event = _link_printer(charge_point, args)
    legacy_login = getattr(args, "login", None)
    keycode = getattr(args, "keycode", False) or (
        legacy_login is not None and args.protocol == "ocpp2.0.1"
    )
    script = SessionScript(
        charge_point,
        id_tag=getattr(args, "id_tag", None),
        login=getattr(args, "pin_login", None) or legacy_login,
        pin=getattr(args, "pin", None),
        keycode=keycode,
        connector_id=getattr(args, "connector", 1),
        stay=stay,
        max_sessions=args.max_sessions,
        flush_timeout=args.flush_timeout,
        get_certificate=security.get_certificate,
        certificate_timeout=args.call_timeout,
        on_progress=lambda text: print(text, file=sys.stderr, flush=True),
    )
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        if interrupted:  # second Ctrl-C: give up at once
            raise KeyboardInterrupt
        interrupted = True
        print("csms-sim: stopping (Ctrl-C again to quit at once)", file=sys.stderr)
        script.request_stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    try:
        outcome: ScriptOutcome = await script.run()
    except HandshakeFailed as exc:
        print(f"csms-sim: {exc}", file=sys.stderr)
        return EXIT_CONNECTION
    except SimulatorError as exc:
        print(f"csms-sim: {exc}", file=sys.stderr)
        return EXIT_SESSION_FAILED
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if outcome.error:
        print(f"csms-sim: {outcome.error}", file=sys.stderr)
        return EXIT_SESSION_FAILED
    if outcome.undelivered:
        print(
            f"csms-sim: {outcome.undelivered} transaction messages could not be delivered",
            file=sys.stderr,
        )
        return EXIT_SESSION_FAILED
    if interrupted and not stay:
        return EXIT_INTERRUPTED
    return EXIT_OK


async def _run_load(args: argparse.Namespace) -> int:
    try:
        config = LoadConfig(
            url=args.url,
            chargers=args.chargers,
            duration=args.duration,
            protocol=args.protocol,
            mode=args.mode,
            password=args.password,
            ca_file=args.ca,
            id_prefix=args.id_prefix,
            id_tag=args.id_tag,
            ramp=args.ramp,
            warmup=args.warmup,
            call_timeout=args.call_timeout,
            connect_concurrency=args.connect_concurrency,
        )
    except ValueError as exc:
        print(f"csms-sim load: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = await run_load(config)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_text())
    if report.booted == 0:
        return EXIT_CONNECTION
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(getattr(args, "verbose", 0))
    coroutine: Coroutine[Any, Any, int]
    if args.command == "charge":
        chosen = [
            option
            for option, value in (
                ("--id-tag", args.id_tag),
                ("--pin-login", args.pin_login),
                ("--login", args.login),
            )
            if value is not None
        ]
        if not chosen and not args.stay:
            parser.error("charge needs --id-tag (or --pin-login and --pin), or --stay")
        if len(chosen) > 1:
            parser.error(f"use one of {' / '.join(chosen)}, not several")
        login_option = next((o for o in chosen if o != "--id-tag"), None)
        if login_option is not None and args.pin is None:
            parser.error(f"{login_option} needs --pin")
        if args.pin is not None and login_option is None:
            parser.error("--pin is for a touchscreen login: add --pin-login LOGIN")
        if args.keycode and (args.protocol != "ocpp2.0.1" or login_option is None):
            parser.error(
                "--keycode is for ocpp2.0.1 with --pin-login "
                "(OCPP 1.6 has no KeyCode: it uses DataTransfer PinLogin)"
            )
        _check_security(parser, args)
        coroutine = _run_charger(args, stay=args.stay)
    elif args.command == "serve":
        _check_security(parser, args)
        coroutine = _run_charger(args, stay=True)
    else:
        coroutine = _run_load(args)
    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
