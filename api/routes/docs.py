"""`/docs`: the OpenAPI document in Swagger UI, served from the package (`api/static/vendor/swagger-ui`, vendored
from npm by `scripts/refresh-swagger-ui.sh`), under the same Content-Security-Policy as the status page: no CDN, no
inline script (the page's one script is `/docs/swagger-init.js`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

VENDOR = "/static/vendor/swagger-ui"

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>signalight control API</title>
<link rel="stylesheet" href="{VENDOR}/swagger-ui.css">
<link rel="icon" type="image/png" href="{VENDOR}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{VENDOR}/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-init.js"></script>
</body>
</html>
"""

# validatorUrl null: the default sends the document to swagger.io for a badge, a call to another origin.
INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
});
"""


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-cache"})


@router.get("/docs/swagger-init.js")
async def swagger_init() -> Response:
    return Response(INIT, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})
