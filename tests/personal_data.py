"""One customer's personal data in every place csms stores such data, for the tests that
check it is encrypted (at rest, through key rotation): the customer's identity and PIN,
a card, a transaction started and stopped with the card, a 2.0.1 TransactionEvent
carrying it (with a signed meter value naming it, as OCMF records do), a 1.6 signed meter
value naming it, an unreconciled message naming it, a station's report about the
customer (a charger event), and a payment card at the processor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from csms.domain.people.customers import add_customer
from storage.ports import UnitOfWork
from storage.records import (
    ChargerEventRecord,
    ChargerRecord,
    CustomerRecord,
    PaymentMethodRecord,
    SampledValue,
    TransactionEventRecord,
    TransactionRecord,
    UnreconciledRecord,
)

__all__ = ["Person", "write_person_everywhere"]


def _ocmf(card: str) -> str:
    """A signed meter value as a station sends it (2.0.1 signedMeterValue, JSON text): an
    OCMF record, whose identification data is the card UID."""
    return (
        '{"signedMeterData": "OCMF|{\\"ID\\":\\"' + card + '\\",\\"RD\\":[{\\"RV\\":0}]}'
        '|{\\"SD\\":\\"3045\\"}", "signingMethod": "", "encodingMethod": "OCMF"}'
    )


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str
    phone: str
    address: str
    vehicle: str
    card: str
    pin: str
    password: str | None = None
    payment_token: str = "pm_person_card_0001"
    processor_customer: str = "cus_person_0001"


def write_person_everywhere(
    uow: UnitOfWork, person: Person, *, charger_id: str, station_transaction_id: str, now: datetime
) -> CustomerRecord:
    customer = add_customer(
        uow,
        name=person.name,
        email=person.email,
        phone=person.phone,
        address=person.address,
        vehicle=person.vehicle,
        notify=["email", "sms"],
        pin=person.pin,
        password=person.password,
        now=now,
    )
    uow.id_tags.add(uid=person.card, status="active", created_at=now, customer_id=customer.id)
    uow.chargers.add(ChargerRecord(id=charger_id, registration_status="Accepted", created_at=now))
    tx = uow.transactions.add(
        TransactionRecord(
            id=0,
            transaction_id=7001,
            charger_id=charger_id,
            connector_id=1,
            start_key=f"{charger_id}|1|start",
            started_at=now,
            meter_start_wh=0,
            status="active",
            created_at=now,
            updated_at=now,
            id_tag=person.card,
            stop_id_tag=person.card,
            customer_id=customer.id,
            # (so that the TransactionEvent's meter values read back with the transaction)
            station_transaction_id=station_transaction_id,
        )
    )
    uow.transaction_events.add(
        TransactionEventRecord(
            charger_id=charger_id,
            station_transaction_id=station_transaction_id,
            seq_no=0,
            transaction_pk=tx.id,
            event_type="Started",
            trigger_reason="Authorized",
            timestamp=now,
            offline=False,
            received_at=now,
            id_token=person.card,
            samples=[SampledValue(now, "0", signed_meter_value=_ocmf(person.card))],
        )
    )
    uow.meter_samples.add_many(
        [SampledValue(now, "1000", signed_meter_value=_ocmf(person.card))],
        charger_id=charger_id,
        connector_id=1,
        transaction_pk=tx.id,
        reported_transaction_id=7001,
        source="MeterValues",
        received_at=now,
    )
    uow.unreconciled.add(
        UnreconciledRecord(
            charger_id=charger_id,
            action="StopTransaction",
            reason="unknown transaction",
            payload={"transactionId": 99, "idTag": person.card},
            received_at=now,
        )
    )
    uow.charger_events.add(
        ChargerEventRecord(
            charger_id=charger_id,
            kind="NotifyCustomerInformation",
            payload={
                "requestId": 1,
                "seqNo": 0,
                "data": f"customer {person.name} <{person.email}>, card {person.card}",
            },
            received_at=now,
        )
    )
    uow.payment_methods.add(
        PaymentMethodRecord(
            id=0,
            customer_id=customer.id,
            token=person.payment_token,
            customer_ref=person.processor_customer,
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2031,
            status="active",
            created_at=now,
        )
    )
    return customer
