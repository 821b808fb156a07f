"""The configuration keys of the simulated 1.6 charge point (OCPP 1.6 §9.1, Core profile)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from protocol.messages import v16

__all__ = ["SUPPORTED_MEASURANDS", "ConfigKey", "Configuration16"]

Kind = Literal["int", "bool", "csl", "str"]

#: Measurands the simulated meter can sample.
SUPPORTED_MEASURANDS = frozenset(
    {"Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage"}
)


@dataclass(slots=True)
class ConfigKey:
    name: str
    value: str
    readonly: bool = False
    kind: Kind = "str"
    #: For comma-separated lists: the allowed items (None: anything).
    allowed: frozenset[str] | None = None

    def accepts(self, value: str) -> bool:
        if len(value) > 500:
            return False
        if self.kind == "int":
            try:
                return int(value) >= 0
            except ValueError:
                return False
        if self.kind == "bool":
            return value.lower() in ("true", "false")
        if self.kind == "csl" and self.allowed is not None:
            items = [item.strip() for item in value.split(",") if item.strip()]
            return all(item in self.allowed for item in items)
        return True


class Configuration16:
    """Key/value store answering GetConfiguration and ChangeConfiguration."""

    def __init__(
        self,
        *,
        connectors: int,
        heartbeat_interval: int,
        meter_interval: int,
        security_profile: int = 1,
        cpo_name: str = "csms",
    ) -> None:
        measurands = SUPPORTED_MEASURANDS
        keys = [
            # 1.6 security whitepaper: AuthorizationKey is write-only (handled by the
            # charge point, never reported); SecurityProfile is changed through the charge
            # point too, which checks it has what the new profile needs.
            ConfigKey("AdditionalRootCertificateCheck", "false", readonly=True, kind="bool"),
            ConfigKey("CertificateSignedMaxChainSize", "10000", readonly=True, kind="int"),
            ConfigKey("CertificateStoreMaxLength", "20", readonly=True, kind="int"),
            ConfigKey("CpoName", cpo_name),
            ConfigKey("SecurityProfile", str(security_profile), kind="int"),
            ConfigKey("AllowOfflineTxForUnknownId", "false", kind="bool"),
            ConfigKey("AuthorizationCacheEnabled", "true", kind="bool"),
            ConfigKey("AuthorizeRemoteTxRequests", "false", kind="bool"),
            ConfigKey("ClockAlignedDataInterval", "0", kind="int"),
            ConfigKey("ConnectionTimeOut", "60", kind="int"),
            ConfigKey("ConnectorPhaseRotation", "0.RST,1.RST", kind="csl"),
            ConfigKey("GetConfigurationMaxKeys", "50", readonly=True, kind="int"),
            ConfigKey("HeartbeatInterval", str(heartbeat_interval), kind="int"),
            ConfigKey("LocalAuthorizeOffline", "true", kind="bool"),
            ConfigKey("LocalPreAuthorize", "false", kind="bool"),
            ConfigKey(
                "MeterValuesAlignedData",
                "Energy.Active.Import.Register",
                kind="csl",
                allowed=measurands,
            ),
            ConfigKey(
                "MeterValuesSampledData",
                "Energy.Active.Import.Register,Power.Active.Import",
                kind="csl",
                allowed=measurands,
            ),
            ConfigKey("MeterValuesSampledDataMaxLength", "4", readonly=True, kind="int"),
            ConfigKey("MeterValueSampleInterval", str(meter_interval), kind="int"),
            ConfigKey("NumberOfConnectors", str(connectors), readonly=True, kind="int"),
            ConfigKey("ResetRetries", "3", kind="int"),
            ConfigKey("StopTransactionOnEVSideDisconnect", "true", kind="bool"),
            ConfigKey("StopTransactionOnInvalidId", "true", kind="bool"),
            ConfigKey("StopTxnAlignedData", "", kind="csl", allowed=measurands),
            ConfigKey(
                "StopTxnSampledData",
                "Energy.Active.Import.Register",
                kind="csl",
                allowed=measurands,
            ),
            ConfigKey(
                "SupportedFeatureProfiles",
                "Core,RemoteTrigger",
                readonly=True,
                kind="csl",
            ),
            ConfigKey("TransactionMessageAttempts", "3", kind="int"),
            ConfigKey("TransactionMessageRetryInterval", "60", kind="int"),
            ConfigKey("UnlockConnectorOnEVSideDisconnect", "true", kind="bool"),
            ConfigKey("WebSocketPingInterval", "20", kind="int"),
        ]
        self._keys: dict[str, ConfigKey] = {key.name: key for key in keys}

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __getitem__(self, name: str) -> str:
        return self._keys[name].value

    def keys(self) -> list[str]:
        return list(self._keys)

    def int_value(self, name: str) -> int:
        return int(self._keys[name].value)

    def bool_value(self, name: str) -> bool:
        return self._keys[name].value.lower() == "true"

    def list_value(self, name: str) -> list[str]:
        return [item.strip() for item in self._keys[name].value.split(",") if item.strip()]

    def set(self, name: str, value: str) -> None:
        """Set a value from inside the charge point (readonly keys included)."""
        self._keys[name].value = value

    def get_configuration(self, names: Iterable[str] | None) -> v16.GetConfigurationResponse:
        """The GetConfiguration.conf payload for ``names`` (None or empty: every key)."""
        wanted = list(names or [])
        if not wanted:
            chosen = list(self._keys.values())
            unknown: list[str] = []
        else:
            chosen = [self._keys[name] for name in wanted if name in self._keys]
            unknown = [name for name in wanted if name not in self._keys]
        payload: v16.GetConfigurationResponse = {
            "configurationKey": [
                {"key": key.name, "readonly": key.readonly, "value": key.value} for key in chosen
            ]
        }
        if unknown:
            payload["unknownKey"] = unknown
        return payload

    def change(self, name: str, value: str) -> v16.ChangeConfigurationStatus:
        """ChangeConfiguration: NotSupported for unknown keys, Rejected for readonly keys and
        invalid values, else Accepted (the value is stored)."""
        key = self._keys.get(name)
        if key is None:
            return "NotSupported"
        if key.readonly or not key.accepts(value):
            return "Rejected"
        key.value = value.lower() if key.kind == "bool" else value
        return "Accepted"
