"""``/api/docs`` works offline: the page and every file it loads come from csms itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.api.conftest import Api


class _References(HTMLParser):
    """Every URL a page loads (script src, link href, img src) and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(str(values[name]))
        self._in_script_without_src = tag == "script" and not values.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script_without_src = False


async def test_docs_page_loads_only_local_assets_and_they_are_served(api: Api) -> None:
    page = await api.anonymous.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refs = _References()
    refs.feed(page.text)
    assert len(refs.urls) >= 3
    assert refs.inline_scripts == 0  # a CSP of script-src 'self' lets it run
    for url in refs.urls:
        assert url.startswith("/api/docs/assets/"), url  # no CDN, no other host
        asset = await api.anonymous.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
    bundle = await api.anonymous.get("/api/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.content and len(bundle.content) > 500_000
    css = await api.anonymous.get("/api/docs/assets/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")
    # Swagger UI 5 (OpenAPI 3.1, which FastAPI writes) over the API's own description.
    assert re.search(rb'"5\.\d+\.\d+"', bundle.content)
    init = (await api.anonymous.get("/api/docs/assets/swagger-init.js")).text
    assert 'url: "/api/openapi.json"' in init
    spec = await api.anonymous.get("/api/openapi.json")
    assert spec.status_code == 200 and spec.json()["openapi"].startswith("3.1")
    assert "http" not in init


async def test_docs_assets_other_than_the_page_s_are_404(api: Api) -> None:
    for name in ("index.html", "..%2F..%2Fapp.py", "swagger-ui-bundle.js.map"):
        response = await api.anonymous.get(f"/api/docs/assets/{name}")
        assert response.status_code == 404, name
