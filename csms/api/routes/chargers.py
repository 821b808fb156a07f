"""``/api/chargers``: provisioning, live status, commands."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status

from csms.adapters.password_delivery import deliver_password
from csms.api.command_answers import command_answer
from csms.api.command_bodies import (
    AvailabilityCommand,
    CommandAnswer,
    ConfigGetCommand,
    ConfigSetCommand,
    ReportCommand,
    ResetCommand,
    TriggerCommand,
    UnlockCommand,
)
from csms.api.context import AnyRoleContext, ApiContext, OperatorContext
from csms.api.errors import ApiError
from csms.api.password_config import password_config_set
from csms.api.schemas import (
    ChargerAccept,
    ChargerAccepted,
    ChargerCreate,
    ChargerCreated,
    ChargerOut,
    Removed,
)
from csms.domain.charging.device_model import device_model_summary
from csms.domain.charging.remote_commands import (
    ChangeAvailability,
    ChangeConfiguration,
    ClearCache,
    Command,
    GetBaseReport,
    GetConfiguration,
    GetReport,
    GetTransactionStatus,
    Reset,
    TriggerMessage,
    UnlockConnector,
)
from csms.domain.charging.stations import (
    accept_charger,
    add_charger,
    archive_charger,
    issue_password,
    remove_charger,
    unarchive_charger,
)
from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.views import charger_view
from storage.ports import UnitOfWork
from storage.records import ChargerRecord, ConnectorRecord

__all__ = ["load_charger", "router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/chargers", tags=["chargers"])

_Loaded = tuple[ChargerRecord, list[ConnectorRecord], str | None]
#: Running sessions per charger.
_Active = dict[str, int]


def _active_sessions(uow: UnitOfWork, charger_id: str | None = None) -> _Active:
    counts: _Active = {}
    for tx in uow.transactions.list(charger_id=charger_id, active=True, limit=100_000):
        counts[tx.charger_id] = counts.get(tx.charger_id, 0) + 1
    return counts


def _not_found(charger_id: str) -> NotFound:
    return NotFound(f"charger {charger_id} not found: see `csms chargers list`")


def _view(
    ctx: ApiContext,
    loaded: _Loaded,
    *,
    device_model: dict[str, Any] | None = None,
    active: _Active | None = None,
) -> dict[str, Any]:
    charger, connectors, owner = loaded
    connected = ctx.router.is_connected(charger.id)
    return charger_view(
        charger,
        connectors,
        connected=connected,
        ocpp_version=ctx.router.ocpp_version(charger.id) if connected else None,
        owner=owner,
        device_model=device_model,
        active_sessions=(active or {}).get(charger.id, 0),
    )


async def load_charger(ctx: ApiContext, charger_id: str) -> _Loaded:
    """The charger, its connectors and owner name; NotFound also when the caller (an owner
    token) may not see it, so that other owners' charger ids are not revealed."""
    caller = ctx.caller

    def load(uow: UnitOfWork) -> _Loaded:
        charger = uow.chargers.get(charger_id)
        if charger is None or not caller.sees_owner(charger.owner_id):
            raise _not_found(charger_id)
        owner = uow.owners.get(charger.owner_id) if charger.owner_id is not None else None
        return charger, uow.connectors.for_charger(charger_id), owner.name if owner else None

    return await ctx.db.read(load)


@router.get("", response_model=list[ChargerOut])
async def list_chargers(
    ctx: AnyRoleContext,
    archived: Annotated[
        Literal["hide", "only", "include"],
        Query(description="archived chargers: hide (default), only them, or include them"),
    ] = "hide",
) -> list[dict[str, Any]]:
    owner_id = ctx.caller.owner_id if ctx.caller.is_owner else None

    def load(uow: UnitOfWork) -> tuple[list[_Loaded], _Active]:
        chargers = uow.chargers.list(owner_id=owner_id)
        connectors: dict[str, list[ConnectorRecord]] = {}
        for connector in uow.connectors.list(owner_id=owner_id):
            connectors.setdefault(connector.charger_id, []).append(connector)
        owners = {o.id: o.name for o in uow.owners.list()}
        return [
            (c, connectors.get(c.id, []), owners.get(c.owner_id) if c.owner_id else None)
            for c in chargers
        ], _active_sessions(uow)

    loaded, active = await ctx.db.read(load)
    if archived != "include":
        loaded = [one for one in loaded if (one[0].archived_at is not None) == (archived == "only")]
    return [_view(ctx, one, active=active) for one in loaded]


@router.post("", response_model=ChargerCreated, status_code=status.HTTP_201_CREATED)
async def create_charger(body: ChargerCreate, ctx: OperatorContext) -> dict[str, Any]:
    """Provision a charger. The answer holds its password: the only time it is shown."""
    now = ctx.now()
    record, password = await ctx.db.write(
        lambda uow: add_charger(
            uow,
            charger_id=body.id,
            now=now,
            password=body.password,
            security_profile=body.security_profile,
            owner=body.owner,
            name=body.name,
        )
    )
    return {**_view(ctx, (record, [], body.owner)), "password": password}


@router.get("/{charger_id}", response_model=ChargerOut)
async def show_charger(charger_id: str, ctx: AnyRoleContext) -> dict[str, Any]:
    loaded = await load_charger(ctx, charger_id)
    summary = await ctx.db.read(lambda uow: device_model_summary(uow, charger_id))
    active = await ctx.db.read(lambda uow: _active_sessions(uow, charger_id))
    return _view(ctx, loaded, device_model=summary, active=active)


@router.delete("/{charger_id}", response_model=Removed)
async def delete_charger(charger_id: str, ctx: OperatorContext) -> dict[str, Any]:
    try:
        await ctx.db.write(lambda uow: remove_charger(uow, charger_id))
    except InvalidRequest as exc:
        # The only refusal: the charger has sessions whose billing history must stay.
        raise ApiError(409, str(exc)) from None
    return {"id": charger_id, "removed": True}


@router.post("/{charger_id}/accept", response_model=ChargerAccepted)
async def accept(
    charger_id: str, ctx: OperatorContext, body: ChargerAccept | None = None
) -> dict[str, Any]:
    """Accept a charger registered as Pending: its next BootNotification is Accepted.

    A charger without a password is issued one (``password`` in the answer, shown only
    this once; ``body.password`` chooses it) and sent it: 1.6 AuthorizationKey, 2.0.1
    BasicAuthPassword, now if it is connected, else at its next connection
    (``password_delivery``). Once the charger has confirmed it or connected with it, Basic
    auth is enforced. Accepting again a charger whose password is not confirmed sends it
    again.

    A connected charger is asked to boot again right away (TriggerMessage
    BootNotification) instead of at its next retry (one that took its new password
    reconnects with it and boots then); if it will not, it retries anyway.
    """
    now = ctx.now()
    chosen = body.password if body is not None else None

    def run(uow: UnitOfWork) -> str | None:
        accept_charger(uow, charger_id)
        return issue_password(uow, charger_id, now=now, password=chosen)

    password = await ctx.db.write(run)
    loaded = await load_charger(ctx, charger_id)
    delivery = None
    if loaded[0].pending_password_hash is not None:
        delivery = await deliver_password(ctx.db, ctx.router, charger_id)
    if ctx.router.is_connected(charger_id) and (delivery is None or delivery.status != "accepted"):
        try:
            await command_answer(ctx.router, charger_id, TriggerMessage("BootNotification"))
        except (ApiError, InvalidRequest) as exc:
            log.info("charger %s accepted; boot trigger not taken (%s)", charger_id, exc)
    answer = _view(ctx, await load_charger(ctx, charger_id))
    answer["password"] = password
    answer["password_delivery"] = (
        {"status": delivery.status, "detail": delivery.detail, "answer": delivery.answer}
        if delivery is not None
        else None
    )
    return answer


@router.post("/{charger_id}/archive", response_model=ChargerOut)
async def archive(charger_id: str, ctx: OperatorContext) -> dict[str, Any]:
    """Archive a charger (one with history, that ``DELETE`` refuses): hidden from the list
    (``?archived=only`` or ``include`` shows it), its connections refused at the handshake
    with 404 like an unknown charger's; its sessions and reports stay. A connected charger
    is disconnected."""
    await load_charger(ctx, charger_id)
    now = ctx.now()
    await ctx.db.write(lambda uow: archive_charger(uow, charger_id, now=now))
    disconnect = getattr(ctx.router, "disconnect", None)
    if disconnect is not None:
        disconnect(charger_id, reason="charger archived")
    return _view(ctx, await load_charger(ctx, charger_id))


@router.post("/{charger_id}/unarchive", response_model=ChargerOut)
async def unarchive(charger_id: str, ctx: OperatorContext) -> dict[str, Any]:
    """Undo an archive: the charger is listed and may connect again."""
    await load_charger(ctx, charger_id)
    await ctx.db.write(lambda uow: unarchive_charger(uow, charger_id))
    return _view(ctx, await load_charger(ctx, charger_id))


async def _command(ctx: ApiContext, charger_id: str, command: Command) -> dict[str, Any]:
    await load_charger(ctx, charger_id)
    return await command_answer(ctx.router, charger_id, command)


@router.post("/{charger_id}/reset", response_model=CommandAnswer)
async def reset(charger_id: str, body: ResetCommand, ctx: OperatorContext) -> dict[str, Any]:
    """1.6 Reset Soft/Hard; 2.0.1 Reset OnIdle/Immediate (of the station or one EVSE)."""
    return await _command(ctx, charger_id, Reset(hard=body.type == "hard", evse_id=body.evse_id))


@router.post("/{charger_id}/unlock", response_model=CommandAnswer)
async def unlock(charger_id: str, body: UnlockCommand, ctx: OperatorContext) -> dict[str, Any]:
    command = UnlockConnector(connector_id=body.connector_id, evse_id=body.evse_id)
    return await _command(ctx, charger_id, command)


@router.post("/{charger_id}/availability", response_model=CommandAnswer)
async def availability(
    charger_id: str, body: AvailabilityCommand, ctx: OperatorContext
) -> dict[str, Any]:
    command = ChangeAvailability(
        operative=body.state == "operative", connector_id=body.connector_id, evse_id=body.evse_id
    )
    return await _command(ctx, charger_id, command)


@router.post("/{charger_id}/config/get", response_model=CommandAnswer)
async def config_get(
    charger_id: str, body: ConfigGetCommand, ctx: OperatorContext
) -> dict[str, Any]:
    """1.6 GetConfiguration; 2.0.1 GetVariables (keys as ``Component.Variable``)."""
    command = GetConfiguration(keys=tuple(body.keys), attribute=body.attribute)
    return await _command(ctx, charger_id, command)


@router.post("/{charger_id}/config/set", response_model=CommandAnswer)
async def config_set(
    charger_id: str, body: ConfigSetCommand, ctx: OperatorContext
) -> dict[str, Any]:
    """1.6 ChangeConfiguration; 2.0.1 SetVariables (key as ``Component.Variable``).
    The Basic auth password (1.6 AuthorizationKey, 2.0.1 SecurityCtrlr.BasicAuthPassword)
    goes through the password rotation (csms/api/password_config.py)."""
    password_answer = await password_config_set(
        ctx, charger_id, key=body.key, value=body.value, attribute=body.attribute
    )
    if password_answer is not None:
        return password_answer
    command = ChangeConfiguration(key=body.key, value=body.value, attribute=body.attribute)
    return await _command(ctx, charger_id, command)


@router.post("/{charger_id}/trigger", response_model=CommandAnswer)
async def trigger(charger_id: str, body: TriggerCommand, ctx: OperatorContext) -> dict[str, Any]:
    command = TriggerMessage(
        message=body.message, connector_id=body.connector_id, evse_id=body.evse_id
    )
    return await _command(ctx, charger_id, command)


@router.post("/{charger_id}/transaction-status", response_model=CommandAnswer)
async def transaction_status(charger_id: str, ctx: OperatorContext) -> dict[str, Any]:
    """Ask a 2.0.1 station whether it still holds transaction messages it has not
    delivered, whatever their transaction (GetTransactionStatus without a transactionId,
    2.0.1 E14.FR.06): ``messages_in_queue`` answers it. For one session, see
    ``POST /api/sessions/{id}/status``."""
    return await _command(ctx, charger_id, GetTransactionStatus())


@router.post("/{charger_id}/clear-cache", response_model=CommandAnswer)
async def clear_cache(charger_id: str, ctx: OperatorContext) -> dict[str, Any]:
    return await _command(ctx, charger_id, ClearCache())


@router.post("/{charger_id}/report", response_model=CommandAnswer)
async def report(charger_id: str, body: ReportCommand, ctx: OperatorContext) -> dict[str, Any]:
    """Ask a 2.0.1 station for a device model report (GetBaseReport, or GetReport for some
    components or criteria). The station answers at once and then sends the report in
    NotifyReport messages carrying the answer's ``request_id``."""
    command: Command
    if body.names or body.criteria:
        if body.type is not None:
            raise InvalidRequest(
                "a report is either a base report (type) or one of some components or "
                "criteria (names, criteria), not both"
            )
        command = GetReport(names=tuple(body.names), criteria=tuple(body.criteria))
    else:
        command = GetBaseReport(report=body.type or "full")
    return await _command(ctx, charger_id, command)
