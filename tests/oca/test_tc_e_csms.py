"""E. Transactions, CSMS side: the station's TransactionEvents against the running server.

Tests are named for the 2.0.1 use case they exercise (E01–E15) and, for the sequence
number case, for its OCTT test case id (TC_E_53_CSMS). Whatever the order in which a
transaction's events arrive, the stored session ends up the same.
"""

from __future__ import annotations

from typing import Any

from storage.records import TransactionRecord
from tests.oca.conftest import (
    STATION,
    T0,
    Station,
    add_card,
    connect_station,
    energy,
    event,
)


async def _tx(server: Any, transaction_id: str) -> TransactionRecord:
    tx = await server.db.read(
        lambda uow: uow.transactions.by_station_transaction_id(STATION, transaction_id)
    )
    assert tx is not None, f"transaction {transaction_id} not stored"
    return tx


async def _event_count(server: Any, transaction_id: str) -> int:
    events = await server.db.read(
        lambda uow: uow.transaction_events.for_transaction(STATION, transaction_id)
    )
    return len(events)


async def _samples(server: Any, tx: TransactionRecord) -> list[tuple[str, str | None]]:
    samples = await server.db.read(lambda uow: uow.meter_samples.for_transaction(tx.id))
    return [(s.value, s.context) for s in samples]


def _card_token(uid: str = "CARD1") -> dict[str, str]:
    return {"idToken": uid, "type": "ISO14443"}


def _full_session(tx: str) -> list[dict[str, Any]]:
    """Started (10 000 Wh) → Updated (12 500) → Updated charging done (15 000) → Ended
    (15 500): 5 500 Wh from 10:00 to 11:00."""
    return [
        event(
            "Started",
            tx,
            0,
            "Authorized",
            idToken=_card_token(),
            charging_state="Charging",
            meter=[energy(10_000, "Transaction.Begin")],
        ),
        event(
            "Updated", tx, 1, "MeterValuePeriodic", minutes=15, meter=[energy(12_500, minutes=15)]
        ),
        event(
            "Updated",
            tx,
            2,
            "ChargingStateChanged",
            minutes=30,
            charging_state="SuspendedEV",
            meter=[energy(15_000, minutes=30)],
        ),
        event(
            "Ended",
            tx,
            3,
            "EVDeparted",
            minutes=60,
            stopped_reason="EVDisconnected",
            meter=[energy(15_500, "Transaction.End", minutes=60)],
        ),
    ]


def _assert_completed_session(tx: TransactionRecord) -> None:
    assert tx.status == "completed"
    assert tx.started_at == T0
    assert tx.stopped_at is not None and tx.stopped_at.isoformat() == "2026-11-22T11:00:00+00:00"
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (10_000, 15_500, 5_500)
    assert tx.stop_reason == "EVDisconnected"
    assert tx.id_tag == "CARD1" and tx.auth_method == "card" and tx.auth_status == "Accepted"
    assert tx.charging_done_at is not None
    assert tx.charging_done_at.isoformat() == "2026-11-22T10:30:00+00:00"
    assert tx.connector_id == 1 and tx.evse_connector_id == 1


# -- start options ----------------------------------------------------------------------


async def test_tc_e_01_csms_transaction_started_on_ev_connected_without_id_token(
    station: Station, server: Any
) -> None:
    """2.0.1 E01 (TxStartPoint EVConnected): Started without idToken gets no idTokenInfo;
    the transaction is stored on EVSE 1 with the station's transactionId."""
    answer = await station.transaction(
        event("Started", "tx-e01", 0, "CablePluggedIn", charging_state="EVConnected")
    )
    assert answer == {}
    tx = await _tx(server, "tx-e01")
    assert (tx.status, tx.connector_id, tx.started_at, tx.charging_state) == (
        "active",
        1,
        T0,
        "EVConnected",
    )
    assert tx.id_tag is None and 1 <= tx.transaction_id < 2**31


async def test_tc_e_02_csms_cable_plugged_in_first_then_authorized(
    station: Station, server: Any
) -> None:
    """2.0.1 E02: the cable comes first (Started, no idToken), the driver authorizes later
    (Updated, triggerReason Authorized, with idToken): answered with idTokenInfo, and the
    session is the driver's."""
    await add_card(server.db, "CARD1")
    await station.transaction(event("Started", "tx-e02", 0, "CablePluggedIn"))
    answer = await station.transaction(
        event("Updated", "tx-e02", 1, "Authorized", minutes=1, idToken=_card_token())
    )
    assert answer["idTokenInfo"]["status"] == "Accepted"
    tx = await _tx(server, "tx-e02")
    assert (tx.id_tag, tx.id_token_type, tx.auth_method, tx.auth_status) == (
        "CARD1",
        "ISO14443",
        "card",
        "Accepted",
    )


async def test_tc_e_03_csms_id_token_first_transaction_started_with_accepted_token(
    station: Station, server: Any
) -> None:
    """2.0.1 E03: Started carries the idToken (triggerReason Authorized): Accepted, with a
    cacheExpiryDateTime; the card is not ConcurrentTx with its own transaction."""
    await add_card(server.db, "CARD1")
    answer = await station.transaction(
        event("Started", "tx-e03", 0, "Authorized", idToken=_card_token())
    )
    assert answer["idTokenInfo"]["status"] == "Accepted"
    assert "cacheExpiryDateTime" in answer["idTokenInfo"]
    again = await station.transaction(
        event("Updated", "tx-e03", 1, "Authorized", minutes=1, idToken=_card_token())
    )
    assert again["idTokenInfo"]["status"] == "Accepted"


async def test_tc_e_04_csms_transaction_started_while_offline_is_billed_by_its_own_times(
    station: Station, server: Any
) -> None:
    """2.0.1 E04: events queued offline arrive later with offline=true; the session keeps
    the station's timestamps (yesterday here), never the time they were received."""
    await add_card(server.db, "CARD1")
    start = event(
        "Started",
        "tx-e04",
        0,
        "Authorized",
        minutes=-24 * 60,
        offline=True,
        idToken=_card_token(),
        meter=[energy(500, "Transaction.Begin", minutes=-24 * 60)],
    )
    end = event(
        "Ended",
        "tx-e04",
        1,
        "StopAuthorized",
        minutes=-23 * 60,
        offline=True,
        stopped_reason="Local",
        meter=[energy(7_500, "Transaction.End", minutes=-23 * 60)],
    )
    assert (await station.transaction(start))["idTokenInfo"]["status"] == "Accepted"
    await station.transaction(end)
    tx = await _tx(server, "tx-e04")
    assert tx.offline is True
    assert tx.started_at.isoformat() == "2026-11-21T10:00:00+00:00"
    assert tx.stopped_at is not None and tx.stopped_at.isoformat() == "2026-11-21T11:00:00+00:00"
    assert tx.energy_wh == 7_000


async def test_tc_e_05_csms_start_with_invalid_id_token_is_answered_invalid_and_kept(
    station: Station, server: Any
) -> None:
    """2.0.1 E05: an unknown idToken is answered Invalid, the transaction is kept (the
    station stops it, stoppedReason DeAuthorized) and billed."""
    answer = await station.transaction(
        event(
            "Started",
            "tx-e05",
            0,
            "Authorized",
            idToken=_card_token("UNKNOWN"),
            meter=[energy(100, "Transaction.Begin")],
        )
    )
    assert answer["idTokenInfo"]["status"] == "Invalid"
    await station.transaction(
        event(
            "Ended",
            "tx-e05",
            1,
            "Deauthorized",
            minutes=1,
            stopped_reason="DeAuthorized",
            meter=[energy(104, "Transaction.End", minutes=1)],
        )
    )
    tx = await _tx(server, "tx-e05")
    assert (tx.auth_status, tx.status, tx.stop_reason, tx.energy_wh) == (
        "Invalid",
        "completed",
        "DeAuthorized",
        4,
    )


# -- stop options -----------------------------------------------------------------------


async def test_tc_e_06_csms_stop_reason_local_when_omitted(station: Station, server: Any) -> None:
    """2.0.1 E06 / TransactionType.stoppedReason: it may only be omitted when it is Local."""
    await station.transaction(event("Started", "tx-e06", 0, "CablePluggedIn"))
    await station.transaction(event("Ended", "tx-e06", 1, "EVDeparted", minutes=5))
    tx = await _tx(server, "tx-e06")
    assert (tx.status, tx.stop_reason) == ("completed", "Local")


async def test_tc_e_07_csms_transaction_ended_by_local_stop(station: Station, server: Any) -> None:
    """2.0.1 E07: the driver presents the card again to stop; Ended carries it
    (triggerReason StopAuthorized) and is answered Accepted, not ConcurrentTx."""
    await add_card(server.db, "CARD1")
    await station.transaction(event("Started", "tx-e07", 0, "Authorized", idToken=_card_token()))
    answer = await station.transaction(
        event(
            "Ended",
            "tx-e07",
            1,
            "StopAuthorized",
            minutes=20,
            stopped_reason="Local",
            idToken=_card_token(),
        )
    )
    assert answer["idTokenInfo"]["status"] == "Accepted"
    tx = await _tx(server, "tx-e07")
    assert (tx.status, tx.stop_reason, tx.stop_id_tag) == ("completed", "Local", "CARD1")


async def test_tc_e_08_csms_transaction_stopped_while_offline(
    station: Station, server: Any
) -> None:
    """2.0.1 E08: the stop happened offline; Ended arrives later with offline=true and the
    station's stop time."""
    await station.transaction(
        event("Started", "tx-e08", 0, "CablePluggedIn", meter=[energy(0, "Transaction.Begin")])
    )
    await station.transaction(
        event(
            "Ended",
            "tx-e08",
            1,
            "EVDeparted",
            minutes=45,
            offline=True,
            stopped_reason="EVDisconnected",
            meter=[energy(9_000, "Transaction.End", minutes=45)],
        )
    )
    tx = await _tx(server, "tx-e08")
    assert tx.offline and tx.energy_wh == 9_000
    assert tx.stopped_at is not None and tx.stopped_at.isoformat() == "2026-11-22T10:45:00+00:00"


async def test_tc_e_09_csms_ev_side_disconnect_ends_transaction(
    station: Station, server: Any
) -> None:
    """2.0.1 E09: the cable is unplugged on the EV side and the transaction ends."""
    await station.transaction(event("Started", "tx-e09", 0, "CablePluggedIn"))
    await station.transaction(
        event(
            "Ended", "tx-e09", 1, "EVCommunicationLost", minutes=3, stopped_reason="EVDisconnected"
        )
    )
    tx = await _tx(server, "tx-e09")
    assert (tx.status, tx.stop_reason) == ("completed", "EVDisconnected")


async def test_tc_e_10_csms_ev_side_disconnect_suspends_transaction(
    station: Station, server: Any
) -> None:
    """2.0.1 E10: with StopTxOnEVSideDisconnect false the transaction only goes Idle and
    resumes: it stays active and follows the chargingState."""
    await station.transaction(
        event("Started", "tx-e10", 0, "CablePluggedIn", charging_state="Charging")
    )
    await station.transaction(
        event("Updated", "tx-e10", 1, "EVCommunicationLost", minutes=2, charging_state="Idle")
    )
    assert (await _tx(server, "tx-e10")).charging_state == "Idle"
    await station.transaction(
        event("Updated", "tx-e10", 2, "ChargingStateChanged", minutes=4, charging_state="Charging")
    )
    tx = await _tx(server, "tx-e10")
    assert (tx.status, tx.charging_state) == ("active", "Charging")


async def test_tc_e_11_csms_connection_loss_events_replayed_after_reconnect(
    station: Station, server: Any
) -> None:
    """2.0.1 E11: the connection drops mid-transaction; on a new connection the queued
    events arrive (offline=true), and the session is complete and correct."""
    await add_card(server.db, "CARD1")
    queued = _full_session("tx-e11")
    await station.transaction(queued[0])
    await station.ws.close()
    ws = await connect_station(server.ocpp_url)
    try:
        again = Station(ws)
        for payload in queued[1:]:
            await again.transaction({**payload, "offline": True})
    finally:
        await ws.close()
    tx = await _tx(server, "tx-e11")
    _assert_completed_session(tx)
    assert tx.offline and tx.seq_no_gaps == 0


async def test_tc_e_12_csms_transaction_that_happened_offline_is_reported_afterwards(
    station: Station, server: Any
) -> None:
    """2.0.1 E12: a whole transaction happened offline and is reported in one go."""
    await add_card(server.db, "CARD1")
    for payload in _full_session("tx-e12"):
        await station.transaction({**payload, "offline": True})
    tx = await _tx(server, "tx-e12")
    _assert_completed_session(tx)
    assert tx.offline


async def test_tc_e_13_csms_retried_transaction_event_is_stored_once_and_answered_alike(
    station: Station, server: Any
) -> None:
    """2.0.1 E13: a station that got no answer sends the same TransactionEvent again (same
    seqNo): one event, one set of samples, the same answer."""
    await add_card(server.db, "CARD1")
    started = event(
        "Started",
        "tx-e13",
        0,
        "Authorized",
        idToken=_card_token(),
        meter=[energy(1_000, "Transaction.Begin")],
    )
    updated = event(
        "Updated", "tx-e13", 1, "MeterValuePeriodic", minutes=5, meter=[energy(2_000, minutes=5)]
    )
    first = await station.transaction(started)
    again = await station.transaction(started)
    assert again["idTokenInfo"]["status"] == first["idTokenInfo"]["status"] == "Accepted"
    await station.transaction(updated)
    await station.transaction(updated)
    tx = await _tx(server, "tx-e13")
    assert await _event_count(server, "tx-e13") == 2
    assert await _samples(server, tx) == [
        ("1000", "Transaction.Begin"),
        ("2000", "Sample.Periodic"),
    ]


async def test_tc_e_15_csms_end_of_charging_is_the_last_stop_and_is_announced_once(
    station: Station, server: Any
) -> None:
    """2.0.1 E15 / issue point 5: the EV stops drawing energy while plugged in
    (chargingState Charging → SuspendedEV). When it draws again and stops again, "charging
    done" is the station's time of the last stop (the idle fee counts from there); the
    driver is told once, at the first (tests/domain/test_outbox_events.py)."""
    await station.transaction(
        event("Started", "tx-e15", 0, "CablePluggedIn", charging_state="Charging")
    )
    await station.transaction(
        event(
            "Updated", "tx-e15", 1, "ChargingStateChanged", minutes=50, charging_state="SuspendedEV"
        )
    )
    first = await _tx(server, "tx-e15")
    assert first.charging_done_at is not None
    assert first.charging_done_at.isoformat() == "2026-11-22T10:50:00+00:00"
    await station.transaction(
        event("Updated", "tx-e15", 2, "ChargingStateChanged", minutes=55, charging_state="Charging")
    )
    assert (await _tx(server, "tx-e15")).charging_done_at is None  # it was not done
    await station.transaction(
        event(
            "Updated", "tx-e15", 3, "ChargingStateChanged", minutes=58, charging_state="EVConnected"
        )
    )
    tx = await _tx(server, "tx-e15")
    assert tx.charging_done_at is not None
    assert tx.charging_done_at.isoformat() == "2026-11-22T10:58:00+00:00"
    assert tx.status == "active"


async def test_tc_e_53_csms_accepts_seq_no_restarting_at_zero_for_each_transaction(
    station: Station, server: Any
) -> None:
    """OCTT TC_E_53_CSMS (2.0.1 E01.FR.07): each new transaction starts at seqNo 0."""
    for n, tx_id in enumerate(("tx-a", "tx-b")):
        base = n * 60
        await station.transaction(event("Started", tx_id, 0, "CablePluggedIn", minutes=base))
        await station.transaction(event("Ended", tx_id, 1, "EVDeparted", minutes=base + 30))
    for tx_id in ("tx-a", "tx-b"):
        tx = await _tx(server, tx_id)
        assert (tx.status, tx.seq_no_gaps) == ("completed", 0)
        assert await _event_count(server, tx_id) == 2


# -- order, gaps and duplicates ---------------------------------------------------------


async def test_transaction_ended_before_its_updates_gives_the_same_final_session(
    station: Station, server: Any
) -> None:
    """Events out of order (Ended before the Updates): same final state; the late Updates
    never reopen the completed transaction."""
    await add_card(server.db, "CARD1")
    started, periodic, done, ended = _full_session("tx-late")
    del ended["meterValue"]  # no Transaction.End value: the end is the latest register
    for payload in (started, ended, done, periodic):
        await station.transaction(payload)
    tx = await _tx(server, "tx-late")
    assert tx.status == "completed"
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (10_000, 15_000, 5_000)
    assert tx.charging_done_at is not None and tx.seq_no_gaps == 0


async def test_updated_and_ended_before_started_give_the_same_final_session(
    station: Station, server: Any
) -> None:
    """Started arrives last (its answer was lost and it was replayed behind the others)."""
    await add_card(server.db, "CARD1")
    started, periodic, done, ended = _full_session("tx-first")
    for payload in (periodic, ended, done, started):
        await station.transaction(payload)
    _assert_completed_session(await _tx(server, "tx-first"))


async def test_missing_seq_nos_are_accepted_and_counted(station: Station, server: Any) -> None:
    """A gap in seqNo (a message the station dropped) is accepted and flagged."""
    await station.transaction(event("Started", "tx-gap", 0, "CablePluggedIn"))
    await station.transaction(event("Updated", "tx-gap", 2, "MeterValuePeriodic", minutes=5))
    await station.transaction(event("Ended", "tx-gap", 5, "EVDeparted", minutes=9))
    tx = await _tx(server, "tx-gap")
    assert (tx.status, tx.seq_no_gaps) == ("completed", 3)


async def test_energy_in_kwh_with_multiplier_is_converted_to_wh(
    station: Station, server: Any
) -> None:
    """UnitOfMeasureType: value × 10^multiplier in the unit (kWh here)."""
    kwh = {"unitOfMeasure": {"unit": "kWh", "multiplier": -1}}
    await station.transaction(
        event(
            "Started",
            "tx-kwh",
            0,
            "CablePluggedIn",
            meter=[energy(123, "Transaction.Begin", **kwh)],
        )
    )
    await station.transaction(
        event(
            "Ended",
            "tx-kwh",
            1,
            "EVDeparted",
            minutes=30,
            meter=[energy(456.7, "Transaction.End", minutes=30, **kwh)],
        )
    )
    tx = await _tx(server, "tx-kwh")
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (12_300, 45_670, 33_370)


async def test_stop_by_remote_request_while_charging_is_not_charging_done(
    station: Station, server: Any
) -> None:
    """After a stop (RequestStop, a card, a deauthorization) the state is EVConnected too;
    that is not the EV finishing, and must not tell the driver "your EV is done"."""
    await station.transaction(
        event(
            "Started",
            "tx-stop",
            0,
            "RemoteStart",
            charging_state="Charging",
            meter=[energy(1000, "Transaction.Begin")],
        )
    )
    await station.transaction(
        event(
            "Ended",
            "tx-stop",
            1,
            "RemoteStop",
            minutes=10,
            charging_state="EVConnected",
            stopped_reason="Remote",
            meter=[energy(2000, "Transaction.End", minutes=10)],
        )
    )
    tx = await _tx(server, "tx-stop")
    assert tx.status == "completed" and tx.energy_wh == 1000
    assert tx.charging_done_at is None


async def test_only_a_closing_reading_leaves_the_energy_unknown_not_zero(
    station: Station, server: Any
) -> None:
    """Started lost (or no start measurand): the Transaction.End register alone says nothing
    about the energy delivered; 0 Wh would bill a real session as free."""
    await station.transaction(
        event(
            "Ended",
            "tx-end-only",
            3,
            "EVDeparted",
            minutes=60,
            stopped_reason="EVDisconnected",
            meter=[energy(15_500, "Transaction.End", minutes=60)],
        )
    )
    tx = await _tx(server, "tx-end-only")
    assert tx.status == "completed"
    assert tx.meter_stop_wh == 15_500
    assert tx.meter_start_wh is None and tx.energy_wh is None
