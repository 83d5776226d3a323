"""The dashboard at /: one static page whose scripts call the JSON API, and the interactive
API docs at /docs and /redoc, their scripts served from an installed package (no CDN, so
they work offline); all kept out of OpenAPI."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
# Swagger UI 5 (OpenAPI 3.1, which FastAPI writes) and ReDoc, vendored by fastapi-offline.
DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard() -> FileResponse:
    # The page itself holds no data and needs no key: its scripts ask for one on a 401.
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Kalmanac API",
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon.png",
    )


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="Kalmanac API",
        redoc_js_url="/docs-assets/redoc.standalone.js",
        redoc_favicon_url="/docs-assets/favicon.png",
        with_google_fonts=False,
    )


def install(application: FastAPI) -> None:
    application.include_router(router)
    application.mount("/static", StaticFiles(directory=STATIC), name="static")
    application.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
