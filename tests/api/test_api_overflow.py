"""An id no row can have is not found, not a 500 (issue 18, item 7).

``/api/sessions/99999999999999999999999`` used to reach the database driver, overflow
there (SQLite: OverflowError; PostgreSQL: beyond INTEGER) and answer 500 with a
traceback in the log. Over real HTTP, on both databases.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from csms.config import Settings
from csms.server import running_server

HUGE = "99999999999999999999999"


@pytest.fixture
async def admin(
    database_url: str, settings_factory: Callable[..., Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_server(settings_factory(database_url=database_url)) as server:
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        async with httpx.AsyncClient(base_url=server.api_url, headers=headers) as client:
            yield client


@pytest.mark.parametrize(
    "path",
    [
        f"/api/sessions/{HUGE}",
        "/api/sessions/3000000000",  # beyond PostgreSQL's INTEGER, within BIGINT
        f"/api/sessions/-{HUGE}",
        f"/api/invoices/{HUGE}",
        f"/api/customers/{HUGE}",
        "/api/customers/99999999999999999999",  # beyond BIGINT
    ],
)
async def test_an_id_beyond_storage_is_not_found_and_logs_no_error(
    admin: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.INFO)
    answer = await admin.get(path)
    assert answer.status_code == 404, answer.text
    assert "error" in answer.json()
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


async def test_a_query_number_beyond_storage_is_unprocessable(
    admin: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answer = await admin.get("/api/sessions", params={"customer": HUGE})
    assert answer.status_code == 422, answer.text
    assert "customer" in answer.json()["error"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_ids_within_range_are_looked_up_as_before(admin: httpx.AsyncClient) -> None:
    missing = await admin.get("/api/sessions/2147483647")
    assert missing.status_code == 404
    assert "out of range" not in missing.json()["error"]
    assert (await admin.get("/api/sessions/abc")).status_code == 422
