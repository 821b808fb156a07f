"""SetNetworkProfile, the 2.0.1 command that moves a station to a new security profile
(B09, used by A05), and its absence in 1.6."""

from __future__ import annotations

from typing import Any

import pytest

from csms.adapters.v16.outbound import to_ocpp as to_v16
from csms.adapters.v201.outbound import answer_from_ocpp, to_ocpp
from csms.domain.charging.remote_commands import SetNetworkProfile, UnsupportedCommand
from csms.domain.errors import InvalidRequest
from protocol import OCPPVersion
from protocol.validation import validator_for

URL = "wss://csms.example.test:9443/ocpp"


def test_set_network_profile_carries_the_wss_url_and_profile_and_passes_the_schema() -> None:
    action, payload = to_ocpp(SetNetworkProfile(slot=2, csms_url=URL, security_profile=3))
    assert action == "SetNetworkProfile"
    assert payload == {
        "configurationSlot": 2,
        "connectionData": {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": URL,
            "messageTimeout": 30,
            "securityProfile": 3,
            "ocppInterface": "Wired0",
        },
    }
    validator_for(OCPPVersion.V201).validate_request(action, dict(payload))


def test_set_network_profile_answer_gives_status_and_reason() -> None:
    answer: dict[str, Any] = {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidSlot"}}
    command = SetNetworkProfile(slot=2, csms_url=URL, security_profile=2)
    assert answer_from_ocpp(command, answer) == {"status": "Rejected", "reason": "InvalidSlot"}


def test_a_url_longer_than_2_0_1_allows_is_refused() -> None:
    command = SetNetworkProfile(slot=1, csms_url=URL + "/" + "x" * 512, security_profile=2)
    with pytest.raises(InvalidRequest, match="512"):
        to_ocpp(command)


def test_16_has_no_set_network_profile_and_says_what_it_uses() -> None:
    with pytest.raises(UnsupportedCommand, match="SecurityProfile"):
        to_v16(SetNetworkProfile(slot=1, csms_url=URL, security_profile=2))
