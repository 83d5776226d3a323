"""The dashboard at /: one static page whose scripts call the JSON API (kept out of OpenAPI)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard() -> FileResponse:
    # The page itself holds no data and needs no key: its scripts ask for one on a 401.
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def install(application: FastAPI) -> None:
    application.include_router(router)
    application.mount("/static", StaticFiles(directory=STATIC), name="static")
