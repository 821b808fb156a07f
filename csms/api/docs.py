"""``/api/docs``: the Swagger UI over ``/api/openapi.json``, served whole from this process.

FastAPI's own docs page loads Swagger UI from a CDN, so on a machine without internet (a
depot, a site LAN) it stays blank. The Swagger UI files come from the ``fastapi-swagger``
package instead (a copy of the npm ``swagger-ui-dist`` release); the page has no inline
script, so a strict Content-Security-Policy (``script-src 'self'``) lets it run.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

__all__ = ["DOCS_ASSETS", "router"]

#: The files the page loads: name → media type.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "swagger-init.js": "text/javascript; charset=utf-8",
}

_ASSETS = "/api/docs/assets"

_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>csms API</title>
<link rel="stylesheet" href="{_ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{_ASSETS}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{_ASSETS}/swagger-ui-bundle.js"></script>
<script src="{_ASSETS}/swagger-init.js"></script>
</body>
</html>
"""

# What FastAPI's get_swagger_ui_html sets up, in a file of its own (no inline script).
_INIT = """window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""

router = APIRouter(include_in_schema=False)


@router.get("/api/docs")
async def docs_page() -> HTMLResponse:
    return HTMLResponse(_PAGE)


@cache
def _asset(name: str) -> bytes:
    if name == "swagger-init.js":
        return _INIT.encode()
    return resources.files("fastapi_swagger.resources").joinpath(name).read_bytes()


@router.get(_ASSETS + "/{name}")
async def docs_asset(name: str) -> Response:
    media_type = DOCS_ASSETS.get(name)
    if media_type is None:
        return Response("not found\n", status_code=404, media_type="text/plain")
    # The files change only with the installed package: let browsers keep them a day.
    return Response(
        _asset(name), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )
