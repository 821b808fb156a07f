"""SmsSender against a real HTTP gateway in Twilio's shape on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from notify.errors import DeliveryError
from notify.sms import SmsSender, SmsSettings
from tests.fakes.sms_gateway import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeSmsGateway

FROM = "+15005550006"
TO = "+4915112345678"
BODY = "Your car is charged: 23.4 kWh at CP-7. Merci!"


@pytest.fixture
def gateway() -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway() as fake:
        yield fake


@pytest.fixture
async def sms(gateway: FakeSmsGateway) -> AsyncIterator[SmsSender]:
    async with SmsSender(SmsSettings.from_url(gateway.url_for(timeout=0.5), sender=FROM)) as s:
        yield s


async def send(sender: SmsSender, *, key: str = "outbox-17.sms", to: str = TO) -> str:
    return await sender.send(to=to, body=BODY, idempotency_key=key)


async def test_success_returns_the_sid_and_the_gateway_has_the_message_once(
    gateway: FakeSmsGateway, sms: SmsSender
) -> None:
    sid = await send(sms)

    [message] = gateway.messages
    assert sid == message.sid
    assert sid.startswith("SM")
    assert (message.to, message.from_, message.body) == (TO, FROM, BODY)
    assert message.account_sid == DEFAULT_ACCOUNT_SID
    assert message.idempotency_key == "outbox-17.sms"
    assert gateway.requests_seen == 1


async def test_same_idempotency_key_twice_is_recorded_once_with_the_same_sid(
    gateway: FakeSmsGateway, sms: SmsSender
) -> None:
    first = await send(sms)
    second = await send(sms)
    third = await send(sms, key="outbox-18.sms")

    assert first == second != third
    assert gateway.requests_seen == 3
    assert [m.sid for m in gateway.messages] == [first, third]


@pytest.mark.parametrize("status", [500, 503, 429, 408])
async def test_server_errors_and_rate_limits_are_transient(
    gateway: FakeSmsGateway, sms: SmsSender, status: int
) -> None:
    gateway.fail_next(status=status)
    with pytest.raises(DeliveryError) as caught:
        await send(sms)

    assert caught.value.permanent is False
    assert str(status) in str(caught.value)
    assert gateway.messages == []
    await send(sms)  # the retry goes through
    assert len(gateway.messages) == 1


async def test_invalid_number_is_permanent_and_names_the_twilio_code_not_the_number(
    gateway: FakeSmsGateway, sms: SmsSender
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await send(sms, to="015112345678")

    assert caught.value.permanent is True
    assert "400" in str(caught.value)
    assert "21211" in str(caught.value)
    assert "015112345678" not in str(caught.value)
    assert gateway.messages == []


async def test_other_client_errors_are_permanent(gateway: FakeSmsGateway, sms: SmsSender) -> None:
    gateway.fail_next(status=400, code=21610)  # "unsubscribed recipient"
    with pytest.raises(DeliveryError) as caught:
        await send(sms)

    assert caught.value.permanent is True
    assert "21610" in str(caught.value)


async def test_wrong_credentials_are_permanent_and_hide_the_token(
    gateway: FakeSmsGateway,
) -> None:
    url = gateway.url_for(token="not-the-token", timeout=0.5)
    async with SmsSender(SmsSettings.from_url(url, sender=FROM)) as sender:
        with pytest.raises(DeliveryError) as caught:
            await send(sender)

    assert caught.value.permanent is True
    assert "401" in str(caught.value)
    assert "20003" in str(caught.value)
    assert "not-the-token" not in str(caught.value)
    assert gateway.messages == []


async def test_gateway_down_is_transient_and_sending_works_once_it_is_back(
    gateway: FakeSmsGateway, sms: SmsSender
) -> None:
    gateway.stop()
    with pytest.raises(DeliveryError) as caught:
        await send(sms)
    assert caught.value.permanent is False

    gateway.restart()
    await send(sms)
    assert len(gateway.messages) == 1


async def test_slow_gateway_times_out_as_transient(gateway: FakeSmsGateway, sms: SmsSender) -> None:
    gateway.delay_next(3.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DeliveryError) as caught:
        await send(sms)

    assert caught.value.permanent is False
    assert "in time" in str(caught.value)
    assert loop.time() - started < 2.5


async def test_no_answer_after_recording_is_transient_and_the_redelivery_is_deduplicated(
    gateway: FakeSmsGateway, sms: SmsSender
) -> None:
    gateway.hold()
    with pytest.raises(DeliveryError) as caught:
        await send(sms)
    assert caught.value.permanent is False
    assert "unknown" in str(caught.value)
    assert gateway.wait_held(0)
    gateway.release()

    sid = await send(sms)  # the outbox retries with the same key
    [message] = gateway.messages
    assert message.sid == sid
    assert gateway.requests_seen == 2


async def test_error_messages_carry_neither_number_nor_body_nor_token(
    gateway: FakeSmsGateway, sms: SmsSender
) -> None:
    errors: list[DeliveryError] = []
    for status in (500, 429, 400):
        gateway.fail_next(status=status)
        with pytest.raises(DeliveryError) as caught:
            await send(sms)
        errors.append(caught.value)
    with pytest.raises(DeliveryError) as invalid:
        await send(sms, to="+0000")
    errors.append(invalid.value)

    for error in errors:
        assert f"127.0.0.1:{gateway.port}" in str(error)
        for secret in (TO, "+0000", BODY, "CP-7", DEFAULT_AUTH_TOKEN):
            assert secret not in str(error)


# -- CSMS_SMS_URL and CSMS_SMS_FROM --------------------------------------------------------


def test_url_parsing() -> None:
    settings = SmsSettings.from_url(
        "https://AC123:s%2Fcr%40t@api.twilio.com/proxy/?timeout=2", sender=FROM
    )

    assert settings.account_sid == "AC123"
    assert settings.auth_token == "s/cr@t"
    assert settings.base_url == "https://api.twilio.com/proxy"
    assert settings.messages_url == (
        "https://api.twilio.com/proxy/2010-04-01/Accounts/AC123/Messages.json"
    )
    assert settings.timeout == 2
    assert SmsSettings.from_url("https://AC1:t@api.twilio.com", sender=FROM).timeout == 15
    assert "s/cr@t" not in repr(settings)
    assert "cr%40t" not in repr(settings)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.twilio.com",
        "https://AC123@api.twilio.com",
        "https://:tok3n-secret@api.twilio.com",
        "ftp://AC123:tok3n-secret@api.twilio.com",
        "https://AC123:tok3n-secret@",
        "https://AC123:tok3n-secret@api.twilio.com:http",
        "https://AC123:tok3n-secret@api.twilio.com?timeout=-1",
        "https://AC123:tok3n-secret@api.twilio.com?region=ie1",
        "api.twilio.com",
    ],
)
def test_invalid_url_names_the_key_and_hides_the_token(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        SmsSettings.from_url(url, sender=FROM)

    assert str(caught.value).startswith("CSMS_SMS_URL")
    assert "ACCOUNT_SID:AUTH_TOKEN" in str(caught.value)
    assert "tok3n-secret" not in str(caught.value)


@pytest.mark.parametrize("sender", ["", "015112345678", "+0123456", "+1 415 555 0100", "csms"])
def test_sender_must_be_e164(sender: str) -> None:
    with pytest.raises(ValueError, match="CSMS_SMS_FROM"):
        SmsSettings.from_url("https://AC1:tok3n-secret@api.twilio.com", sender=sender)
