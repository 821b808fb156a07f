"""Handshake: identity, subprotocol, credentials, unknown chargers, replaced connections."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from csms.adapters.v16 import inbound as v16
from csms.config import Settings
from csms.gateway import Gateway, identity_from_path
from protocol import OCPPVersion
from storage.database import Database
from tests.gateway.conftest import PASSWORD, RawCharger, basic_auth


async def _status_of(url: str, **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, **kwargs):  # type: ignore[arg-type]
            pass
    return info.value.response.status_code


async def test_unknown_charger_is_refused_with_404(ocpp_url: str) -> None:
    status = await _status_of(f"{ocpp_url}/NOPE", subprotocols=["ocpp1.6"])
    assert status == 404


async def test_missing_credentials_get_401(ocpp_url: str) -> None:
    assert await _status_of(f"{ocpp_url}/CP1", subprotocols=["ocpp1.6"]) == 401


async def test_wrong_password_gets_401(ocpp_url: str) -> None:
    headers = basic_auth("CP1", "wrong-password")
    status = await _status_of(
        f"{ocpp_url}/CP1", subprotocols=["ocpp1.6"], additional_headers=headers
    )
    assert status == 401


async def test_username_other_than_identity_gets_401(ocpp_url: str) -> None:
    headers = basic_auth("CP2", PASSWORD)
    status = await _status_of(
        f"{ocpp_url}/CP1", subprotocols=["ocpp1.6"], additional_headers=headers
    )
    assert status == 401


async def test_client_offering_no_supported_subprotocol_is_refused(ocpp_url: str) -> None:
    headers = basic_auth("CP1", PASSWORD)
    assert await _status_of(f"{ocpp_url}/CP1", additional_headers=headers) == 400
    status = await _status_of(
        f"{ocpp_url}/CP1", subprotocols=["ocpp1.5"], additional_headers=headers
    )
    assert status == 400


async def test_identity_longer_than_48_characters_is_refused(ocpp_url: str) -> None:
    assert await _status_of(f"{ocpp_url}/{'X' * 49}", subprotocols=["ocpp1.6"]) == 404


def test_identity_is_last_path_segment_percent_decoded() -> None:
    assert identity_from_path("/ocpp/CP%201") == "CP 1"
    assert identity_from_path("/any/prefix/CP1?x=1") == "CP1"
    assert identity_from_path("/ocpp/CP1/") == "CP1"


async def test_right_credentials_connect_with_negotiated_subprotocol(
    charger: RawCharger, gateway: Gateway
) -> None:
    assert charger.ws.subprotocol == "ocpp1.6"
    assert gateway.is_connected("CP1")


async def test_second_connection_replaces_the_first(ocpp_url: str, gateway: Gateway) -> None:
    headers = basic_auth("CP1", PASSWORD)
    url = f"{ocpp_url}/CP1"
    async with connect(url, subprotocols=["ocpp1.6"], additional_headers=headers) as first:  # type: ignore[list-item]
        async with connect(url, subprotocols=["ocpp1.6"], additional_headers=headers) as second:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(first.recv(), 5)
            assert first.close_code == 1000
            assert gateway.connections["CP1"].ws.remote_address is not None
            answer = await RawCharger(second).boot()
            assert answer[2]["status"] == "Accepted"
        await asyncio.sleep(0.05)
    assert not gateway.is_connected("CP1")


@pytest.mark.parametrize(("policy", "expected"), [("pending", "Pending"), ("accept", "Accepted")])
async def test_unknown_chargers_policy_registers_them(
    sqlite_db: Database, settings_factory: Callable[..., Settings], policy: str, expected: str
) -> None:
    gw = Gateway(
        db=sqlite_db,
        settings=settings_factory(unknown_chargers=policy),
        handlers={OCPPVersion.V16: v16.HANDLERS},
    )
    await gw.start()
    try:
        async with connect(
            f"ws://127.0.0.1:{gw.port}/ocpp/NEW1",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        ) as ws:
            answer = await RawCharger(ws).boot()
            assert answer[2]["status"] == expected
        charger = await sqlite_db.read(lambda uow: uow.chargers.get("NEW1"))
        assert charger is not None and charger.registration_status == expected
    finally:
        await gw.stop()


async def test_frame_over_the_maximum_size_closes_with_1009(
    sqlite_db: Database, settings_factory: Callable[..., Settings]
) -> None:
    gw = Gateway(
        db=sqlite_db,
        settings=settings_factory(unknown_chargers="accept", max_frame_bytes=1024),
        handlers={OCPPVersion.V16: v16.HANDLERS},
    )
    await gw.start()
    try:
        async with connect(
            f"ws://127.0.0.1:{gw.port}/ocpp/BIG1",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        ) as ws:
            await ws.send('[2,"1","DataTransfer",{"vendorId":"x","data":"' + "x" * 2000 + '"}]')
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1009
    finally:
        await gw.stop()
