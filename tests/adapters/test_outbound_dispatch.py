"""The version dispatch of outbound commands and sending them through the command router
(csms.adapters.outbound)."""

from __future__ import annotations

import pytest

from csms.adapters.outbound import answer_from_ocpp, send_command, to_ocpp
from csms.domain.charging.remote_commands import (
    GetBaseReport,
    GetConfiguration,
    RemoteStart,
    Reset,
    UnsupportedCommand,
)
from csms.domain.errors import InvalidRequest
from csms.routing import ChargerNotConnected, CommandError, CommandTimeout
from tests.fakes.router import RecordingRouter


@pytest.mark.parametrize(
    ("version", "payload"),
    [
        ("ocpp1.6", {"type": "Soft"}),
        ("1.6", {"type": "Soft"}),
        ("OCPP1.6J", {"type": "Soft"}),
        (None, {"type": "Soft"}),  # a version not known yet is taken as 1.6
        ("ocpp2.0.1", {"type": "OnIdle"}),
        ("2.0.1", {"type": "OnIdle"}),
    ],
)
def test_command_is_translated_for_the_chargers_version(
    version: str | None, payload: dict[str, str]
) -> None:
    assert to_ocpp(Reset(), version) == ("Reset", payload)


def test_answer_is_read_the_way_the_chargers_version_writes_it() -> None:
    payload = {"status": "Rejected", "statusInfo": {"reasonCode": "Busy"}}
    assert answer_from_ocpp(Reset(), "ocpp1.6", payload) == {"status": "Rejected"}
    assert answer_from_ocpp(Reset(), "ocpp2.0.1", payload) == {
        "status": "Rejected",
        "reason": "Busy",
    }


def test_a_version_without_translation_is_unsupported() -> None:
    with pytest.raises(UnsupportedCommand, match=r"OCPP 2\.1 chargers are not supported"):
        to_ocpp(Reset(), "ocpp2.1")
    with pytest.raises(UnsupportedCommand, match=r"only OCPP 1\.6 and 2\.0\.1"):
        answer_from_ocpp(Reset(), "2.1", {})


async def test_answer_names_the_action_the_version_and_keeps_the_raw_response(
    router: RecordingRouter,
) -> None:
    router.connected["CP1"] = "ocpp2.0.1"
    router.answer = {"status": "Accepted", "transactionId": "tx-1"}
    answer = await send_command(router, "CP1", RemoteStart(id_tag="T", remote_start_id=3))
    assert router.sent == [
        (
            "CP1",
            "RequestStartTransaction",
            {"idToken": {"idToken": "T", "type": "Central"}, "remoteStartId": 3},
        )
    ]
    assert answer == {
        "charger_id": "CP1",
        "action": "RequestStartTransaction",
        "ocpp_version": "2.0.1",
        "status": "Accepted",
        "remote_start_id": 3,
        "station_transaction_id": "tx-1",
        "response": {"status": "Accepted", "transactionId": "tx-1"},
    }


async def test_offline_charger_is_not_connected_and_nothing_is_sent(
    router: RecordingRouter,
) -> None:
    with pytest.raises(ChargerNotConnected, match="charger CP1 is not connected: commands reach"):
        await send_command(router, "CP1", Reset())
    assert router.sent == []


async def test_charger_leaving_during_the_command_is_not_connected(
    router: RecordingRouter,
) -> None:
    router.connected["CP1"] = "ocpp1.6"
    router.error = ChargerNotConnected("CP1 disconnected before answering Reset")
    with pytest.raises(ChargerNotConnected, match="check `csms chargers show CP1`"):
        await send_command(router, "CP1", Reset())


async def test_no_answer_in_time_names_the_action(router: RecordingRouter) -> None:
    router.connected["CP1"] = "ocpp1.6"
    router.error = CommandTimeout("CP1 did not answer Reset within 30 s")
    with pytest.raises(CommandTimeout, match="charger CP1 did not answer Reset in time"):
        await send_command(router, "CP1", Reset())


async def test_callerror_names_the_action_and_keeps_its_code(router: RecordingRouter) -> None:
    router.connected["CP1"] = "ocpp1.6"
    router.error = CommandError(
        "CP1 answered Reset with NotSupported: no", error_code="NotSupported"
    )
    with pytest.raises(CommandError) as raised:
        await send_command(router, "CP1", Reset())
    assert str(raised.value) == (
        "charger CP1 answered Reset with an error NotSupported: CP1 answered Reset with "
        "NotSupported: no (the charger may not support this command or value)"
    )
    assert raised.value.error_code == "NotSupported"


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (GetBaseReport(), UnsupportedCommand),  # 2.0.1 only
        (GetConfiguration(attribute="Target"), InvalidRequest),
    ],
)
async def test_untranslatable_command_is_refused_before_sending(
    router: RecordingRouter, command: GetBaseReport | GetConfiguration, error: type[Exception]
) -> None:
    router.connected["CP1"] = "ocpp1.6"
    with pytest.raises(error):
        await send_command(router, "CP1", command)
    assert router.sent == []
