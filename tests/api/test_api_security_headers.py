"""Security headers (issue 18, item 9), over real HTTP: nosniff on every answer,
no framing and a restrictive CSP on HTML; /api/docs keeps working."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from csms.config import Settings
from csms.server import running_server


@pytest.fixture
async def client(settings_factory: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running_server(settings_factory(api_max_body=1024)) as server,
        httpx.AsyncClient(base_url=server.api_url) as http,
    ):
        yield http


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/health", 200),
        ("GET", "/api/chargers", 401),
        ("GET", "/api/no-such-thing", 404),
        ("GET", "/api/openapi.json", 200),
        ("POST", "/api/app/login", 413),
    ],
)
async def test_every_api_answer_says_nosniff(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    answer = await client.request(method, path, content=b"x" * 2048 if method == "POST" else None)
    assert answer.status_code == status
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in answer.headers  # JSON: nothing to frame


async def test_html_pages_cannot_be_framed_and_have_a_restrictive_csp(
    client: httpx.AsyncClient,
) -> None:
    docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert docs.headers["X-Frame-Options"] == "DENY"
    assert docs.headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(
        part.strip().split(" ", 1) for part in docs.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    # What the docs page loads is allowed, so the page keeps working.
    assert "swagger-ui" in docs.text and "/api/docs/assets/swagger-init.js" in docs.text
    init = await client.get("/api/docs/assets/swagger-init.js")
    assert init.status_code == 200 and "/api/openapi.json" in init.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        src = docs.text.split(asset)[0].rsplit('"', 1)[-1]
        origin = "/".join(src.split("/")[:3]) if src.startswith("http") else "'self'"
        directive = "script-src" if asset.endswith(".js") else "style-src"
        assert origin in policy[directive], (asset, src, policy[directive])
    assert "connect-src" in policy and "'self'" in policy["connect-src"]
    # Nothing from elsewhere, and no inline script (the docs are served offline).
    assert policy["script-src"] == "'self'"
    assert "http" not in docs.headers["Content-Security-Policy"]
