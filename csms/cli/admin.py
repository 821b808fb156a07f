"""Running and looking after csms: ``csms serve``, ``db upgrade`` and ``token`` (these
work on the database directly, without a running server), and the personal-data chores
``csms retention run`` and ``csms keys`` (through the API, admin token)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from csms.cli.client import EXIT_OK, CliError, segment
from csms.cli.context import Context
from csms.cli.options import CommandTree, epilog, port, token_lifetime
from csms.cli.output import Column, field, time_field, when
from csms.config import Settings

__all__ = ["register_personal_data", "register_server"]


def _redacted(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _iso(value: Any) -> str | None:
    """A stored timestamp as the API writes them: ISO 8601 UTC with ``Z``."""
    if value is None:
        return None
    return str(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))


def _run_db(settings: Settings, fn: Callable[[Any], Any], *, doing: str) -> Any:
    """Run one unit of work on the configured database, outside any server. A domain
    refusal becomes a CliError with its message; a storage failure one that says what
    it was ``doing`` and that a new database needs ``csms db upgrade``."""
    import asyncio

    from csms.domain.errors import DomainError
    from storage.database import Database
    from storage.errors import StorageError

    async def run() -> Any:
        db = Database(settings.database.url, keys=settings.key_ring())
        try:
            return await db.write(fn)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        raise CliError(str(exc)) from None
    except StorageError as exc:
        raise CliError(
            f"cannot {doing} in {_redacted(settings.database.url)}: {exc}; "
            "if the database is new, run `csms db upgrade` first"
        ) from None


# -- serve, db ------------------------------------------------------------------------


def cmd_serve(ctx: Context) -> int:
    args = ctx.args
    settings = ctx.settings.with_overrides(
        ocpp_port=args.ocpp_port,
        api_port=args.api_port,
        database_url=args.database_url,
        tls_port=args.ocpp_tls_port,
    )
    from csms.server import run
    from storage.errors import StorageError

    try:
        run(settings)
    except KeyboardInterrupt:
        return EXIT_OK
    except StorageError as exc:
        raise CliError(f"cannot start the server: {exc}") from None
    except OSError as exc:
        raise CliError(
            f"cannot start the server: {exc} (is another csms using the ports? "
            "choose others with --ocpp-port/--ocpp-tls-port/--api-port)"
        ) from None
    return EXIT_OK


def cmd_db_upgrade(ctx: Context) -> int:
    from sqlalchemy.engine import make_url

    from storage.migrate import head_revision, upgrade

    url = ctx.settings.database.url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(url, keys=ctx.settings.key_ring())
    except Exception as exc:
        raise CliError(
            f"cannot upgrade the database at {_redacted(url)}: {exc}; "
            "check CSMS_DATABASE_URL and that the database server is running"
        ) from None
    revision = head_revision()
    return ctx.result(
        {"database": _redacted(url), "revision": revision},
        lambda _: f"database {_redacted(url)} is at revision {revision}",
    )


# -- token ----------------------------------------------------------------------------

_TOKEN_COLUMNS: list[Column] = [
    ("NAME", field("name")),
    ("ROLE", field("role")),
    ("OWNER", field("owner")),
    ("CREATED", time_field("created_at")),
    ("LAST USED", time_field("last_used_at")),
    ("EXPIRES", time_field("expires_at")),
    ("REVOKED", time_field("revoked_at")),
    ("STATUS", field("status")),
]


def cmd_token_create(ctx: Context) -> int:
    from csms.domain.security.tokens import create_token

    args = ctx.args
    now = datetime.now(UTC)
    expires_at = None if args.expires is None else now + args.expires
    record, token = _run_db(
        ctx.settings,
        lambda uow: create_token(
            uow,
            name=args.name,
            role=args.role,
            owner=args.owner,
            now=now,
            expires_at=expires_at,
        ),
        doing="create the token",
    )
    if ctx.out.json:
        ctx.out.data(
            {
                "name": record.name,
                "role": record.role,
                "owner": args.owner,
                "expires_at": _iso(record.expires_at),
                "token": token,
            }
        )
    else:
        expiry = f", expires {when(_iso(expires_at))}" if expires_at else ""
        ctx.out.note(f"created {record.role} token {record.name!r}{expiry}; it is shown only now:")
        ctx.out.line(token)
    return EXIT_OK


def cmd_token_list(ctx: Context) -> int:
    from csms.domain.security.tokens import list_tokens

    now = datetime.now(UTC)
    views = _run_db(ctx.settings, lambda uow: list_tokens(uow, now=now), doing="read the tokens")
    rows = [
        {
            "name": v.name,
            "role": v.role,
            "owner": v.owner,
            "created_at": _iso(v.created_at),
            "last_used_at": _iso(v.last_used_at),
            "expires_at": _iso(v.expires_at),
            "revoked_at": _iso(v.revoked_at),
            "status": v.status,
        }
        for v in views
    ]
    return ctx.rows(rows, _TOKEN_COLUMNS, "no API tokens: create one with `csms token create NAME`")


def cmd_token_revoke(ctx: Context) -> int:
    from csms.domain.security.tokens import revoke_token

    name = ctx.args.name
    now = datetime.now(UTC)
    record = _run_db(
        ctx.settings, lambda uow: revoke_token(uow, name=name, now=now), doing="read the tokens"
    )
    return ctx.result(
        {"name": record.name, "role": record.role, "revoked_at": _iso(record.revoked_at)},
        lambda _: f"revoked {record.role} token {record.name!r}: it is refused from now on",
    )


def register_server(tree: CommandTree) -> None:
    """``csms serve``, ``db`` and ``token``: the commands without a running server."""
    serve = tree.verb(None, "serve", cmd_serve, "run the server (OCPP endpoint and HTTP API)")
    serve.add_argument("--ocpp-port", type=port, help="OCPP port (default 9000)")
    serve.add_argument("--api-port", type=port, help="HTTP API port (default 8080)")
    serve.add_argument(
        "--ocpp-tls-port", type=port, help="OCPP wss port (default 9443; with a certificate)"
    )
    serve.add_argument("--database-url", help="sqlite+aiosqlite:///PATH or postgresql+asyncpg://…")

    db = tree.noun("db", "database maintenance")
    tree.verb(db, "upgrade", cmd_db_upgrade, "create or migrate the database schema")

    token = tree.noun("token", "API tokens (works on the database directly)")
    p = tree.verb(token, "create", cmd_token_create, "create an API token (printed once)")
    p.add_argument("name", help="who or what uses the token")
    p.add_argument("--role", choices=["admin", "operator", "owner"], default="operator")
    p.add_argument("--owner", help="the owner an owner token is for")
    p.add_argument(
        "--expires",
        type=token_lifetime,
        metavar="DURATION",
        help="refuse the token after this long: 90s, 10m, 24h, 30d (default: never)",
    )
    tree.verb(token, "list", cmd_token_list, "list API tokens (never the tokens themselves)")
    p = tree.verb(token, "revoke", cmd_token_revoke, "revoke an API token: refused from now on")
    p.add_argument("name", help="the token's name (`csms token list`)")


# -- retention, keys ------------------------------------------------------------------

_KEY_COLUMNS: list[Column] = [
    ("KEY", field("key_id")),
    ("NEWEST", field("newest")),
    ("VALUES", field("values")),
]


def cmd_retention_run(ctx: Context) -> int:
    report = ctx.post("/api/retention/run")

    def show(report: dict[str, Any]) -> None:
        sessions_before = (report.get("session_cutoff") or "")[:10]
        events_before = (report.get("event_cutoff") or "")[:10]
        ctx.out.fields(
            [
                (
                    "charger connections deleted (older than 21 days)",
                    report["connection_log_deleted"],
                ),
                (
                    "app login addresses cleared (older than 21 days)",
                    report["login_addresses_cleared"],
                ),
                ("expired app logins deleted", report["app_logins_deleted"]),
                ("expired one-time tokens deleted", report["login_tokens_deleted"]),
                (
                    f"sessions anonymized (ended before {sessions_before})",
                    report["sessions_anonymized"],
                ),
                (
                    f"security events deleted (before {events_before})",
                    report["security_events_deleted"],
                ),
                (
                    f"charger events deleted (before {events_before})",
                    report["charger_events_deleted"],
                ),
                (
                    f"unreconciled messages deleted (before {events_before})",
                    report["unreconciled_deleted"],
                ),
                ("tables vacuumed", ", ".join(report.get("vacuumed") or []) or "none (SQLite)"),
            ]
        )

    return ctx.result(report, show)


def cmd_keys_list(ctx: Context) -> int:
    def show(keys: list[dict[str, Any]]) -> None:
        ctx.out.table(keys, _KEY_COLUMNS, "no data keys")
        if keys:
            ctx.out.line()
            ctx.out.line(f"keys from {keys[0]['source']}; a key with 0 values can be retired")

    return ctx.result(ctx.get("/api/keys"), show)


def cmd_keys_rotate(ctx: Context) -> int:
    def show(report: dict[str, Any]) -> None:
        out = ctx.out
        newest = report["newest_key_id"]
        if report.get("new_key_id"):
            out.line(
                f"new data key {newest}, first in $CSMS_HOME/data.keys: back that file up now "
                "(apart from the database backups)"
            )
        else:
            out.line(f"re-encrypted under data key {newest}, the newest in CSMS_DATA_KEYS")
        counts = ", ".join(f"{table} {n}" for table, n in report["reencrypted"].items())
        out.line(f"re-encrypted rows: {counts}")
        older = [k for k in report["key_ids"] if k != newest]
        if older:
            out.line(
                f"older keys: {', '.join(older)}: `csms keys retire KEYID` once no backup you "
                "may restore still needs them"
            )

    return ctx.result(ctx.post("/api/keys/rotate"), show)


def cmd_keys_retire(ctx: Context) -> int:
    key_id = ctx.args.key_id
    return ctx.result(
        ctx.post(f"/api/keys/{segment(key_id)}/retire"),
        lambda r: f"retired data key {key_id}; keys left: {', '.join(r['key_ids'])}",
    )


_ROTATE_HELP = """\
With the keys in $CSMS_HOME/data.keys, a new key is generated and written first in that
file, then every encrypted value is re-encrypted under it; back the file up afterwards.
With CSMS_DATA_KEYS, csms cannot add the key: put a new KEYID:KEY entry first in the
variable and restart (a refused rotate prints a freshly generated one), then rotate."""

_RETIRE_HELP = """\
A retired key cannot decrypt anything any more, including database backups made before
the last rotation: keep it until no backup you may restore needs it."""


def register_personal_data(tree: CommandTree) -> None:
    """``csms retention`` and ``keys``: looking after the personal data held."""
    retention = tree.noun("retention", "personal data retention (the server also runs it daily)")
    tree.verb(
        retention,
        "run",
        cmd_retention_run,
        "purge connection addresses older than 21 days and expired logins; anonymize "
        "sessions past CSMS_RETENTION_YEARS",
    )

    keys = tree.noun("keys", "the data keys that encrypt personal data (admin token)")
    tree.verb(keys, "list", cmd_keys_list, "data keys, newest first, and the values each protects")
    p = tree.verb(
        keys,
        "rotate",
        cmd_keys_rotate,
        "encrypt all personal data under a new key (CSMS_DATA_KEYS: its newest key)",
    )
    epilog(p, _ROTATE_HELP)
    p = tree.verb(keys, "retire", cmd_keys_retire, "remove a data key that no stored value uses")
    p.add_argument("key_id", metavar="KEYID", help="from `csms keys list`")
    epilog(p, _RETIRE_HELP)
