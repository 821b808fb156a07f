"""``config set`` of a charger's Basic auth password: through the rotation, never a lock-out.

Setting 1.6 ``AuthorizationKey`` (the hexadecimal form of the password's bytes) or 2.0.1
``SecurityCtrlr.BasicAuthPassword`` changes what the charger sends at its next handshake.
Sent as a plain configuration change, csms would not know the new password and the
charger would be refused with 401 from its next connection on (OCTT TC_A_09). So such a
``config set`` is a password rotation (``stations.rotate_password``) with the operator's
value: stored as the new password (hashed) before it is sent, the current one valid until
the charger connects with the new one, dropped again if the charger refuses it. The
answer is the charger's, as for any ``config set``.
"""

from __future__ import annotations

from typing import Any

from csms.adapters.password_delivery import deliver_password
from csms.api.context import ApiContext
from csms.api.errors import ApiError
from csms.domain.charging.remote_commands import UnsupportedCommand, parse_variable_name
from csms.domain.charging.stations import rotate_password
from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.views import normalize_ocpp_version
from csms.routing import ChargerNotConnected, CommandError, CommandTimeout

__all__ = ["is_password_key", "password_config_set"]


def is_password_key(key: str, ocpp_version: str | None) -> bool:
    """Whether ``key`` is the Basic auth password of a charger of ``ocpp_version`` (a
    charger of unknown version is taken as 1.6, as commands to it are)."""
    if normalize_ocpp_version(ocpp_version) == "2.0.1":
        try:
            name = parse_variable_name(key)
        except InvalidRequest:
            return False
        return (
            name.component.lower() == "securityctrlr"
            and (name.variable or "").lower() == "basicauthpassword"
            and name.component_instance is None
            and name.variable_instance is None
            and name.evse_id is None
        )
    return key.strip().lower() == "authorizationkey"


def _password_of(value: str, ocpp_version: str | None, attribute: str) -> str:
    """The password a config value stands for: 2.0.1 the value itself, 1.6 the text the
    hexadecimal AuthorizationKey encodes (security whitepaper: the charger sends those
    bytes in its Basic auth header; csms checks passwords as UTF-8 text)."""
    if normalize_ocpp_version(ocpp_version) == "2.0.1":
        if attribute != "Actual":
            raise InvalidRequest(
                "SecurityCtrlr.BasicAuthPassword has only an Actual value: leave out --attribute"
            )
        return value
    try:
        raw = bytes.fromhex(value.strip())
    except ValueError:
        raise InvalidRequest(
            "AuthorizationKey is the hexadecimal form of the password's bytes (e.g. "
            f"{b'my-new-password-1'.hex().upper()}); to set a password as text use "
            "`csms chargers rotate-password ID --password PW`"
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(
            "this AuthorizationKey is not the hexadecimal form of UTF-8 text, and csms "
            "checks passwords as text: choose a password of printable characters, or let "
            "csms generate one (`csms chargers rotate-password ID`)"
        ) from None


async def password_config_set(
    ctx: ApiContext, charger_id: str, *, key: str, value: str, attribute: str
) -> dict[str, Any] | None:
    """Set the charger's password by ``config set`` through the rotation (module doc);
    None when ``key`` is not the password of the connected charger's version. Answers
    as ``config set`` does (503 offline: nothing stored; 504/502 no answer or an error:
    the new password stays valid and is sent again at the next connection)."""
    version = ctx.router.ocpp_version(charger_id) if ctx.router.is_connected(charger_id) else None
    if version is None:
        stored = await ctx.db.read(lambda uow: uow.chargers.get(charger_id))
        if stored is None or not ctx.caller.sees_owner(stored.owner_id):
            raise NotFound(f"charger {charger_id} not found: see `csms chargers list`")
        if not is_password_key(key, stored.ocpp_version):
            return None
        raise ApiError(
            503,
            f"charger {charger_id} is not connected: nothing was changed. To give it a new "
            f"password now that it gets at its next connection, run `csms chargers "
            f"rotate-password {charger_id}`",
        )
    if not is_password_key(key, version):
        return None
    password = _password_of(value, version, attribute)
    now = ctx.now()
    await ctx.db.write(lambda uow: rotate_password(uow, charger_id, now=now, password=password))
    delivery = await deliver_password(ctx.db, ctx.router, charger_id)
    if delivery.command is not None:
        return delivery.command
    failure = delivery.failure
    kept = (
        "; the new password stays valid beside the current one and is sent again at the "
        "charger's next connection"
    )
    if isinstance(failure, UnsupportedCommand):
        raise ApiError(501, f"{failure}{kept}")
    if isinstance(failure, ChargerNotConnected):
        raise ApiError(503, f"{failure}{kept}")
    if isinstance(failure, CommandTimeout):
        raise ApiError(504, f"{failure}{kept}")
    if isinstance(failure, CommandError):
        raise ApiError(502, f"{failure}{kept}")
    if isinstance(failure, InvalidRequest):
        raise InvalidRequest(f"{failure}{kept}")
    raise ApiError(502, f"{delivery.detail}{kept}")
