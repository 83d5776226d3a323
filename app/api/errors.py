"""One error shape for every 4xx: {"error": code, "detail": [{loc, field, msg, type}] | str}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.schemas.model_specs import MODEL_TAGS
from app.api.schemas.stream_specs import DYNAMICS_TAGS
from app.services.errors import Conflict, InputError, LimitExceeded, NotFound

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or revoked API key"},
    413: {"description": "Request body over KALMANAC_MAX_BODY_BYTES"},
    422: {"description": "Invalid input; `detail` names each field and the reason"},
    429: {"description": "A per-tenant limit (request rate, active jobs); see Retry-After"},
}


def _field(loc: list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


# Tagged unions put the chosen tag into error paths ("model.ensemble.params.lags"); a client
# wrote "model.params.lags", so the tag is dropped where it follows its union's field.
UNION_TAGS = {"model": MODEL_TAGS, "dynamics": DYNAMICS_TAGS}


def _client_loc(loc: tuple[Any, ...]) -> list[str | int]:
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue  # pydantic's union-branch names, e.g. "list[float]"
        if out and isinstance(out[-1], str) and part in UNION_TAGS.get(out[-1], ()):
            continue
        out.append(part)
    return out


def _validation_items(errors: list[Any]) -> list[dict[str, Any]]:
    items = []
    for e in errors:
        loc = _client_loc(e["loc"])
        if e["type"] == "unknown_model_kind":
            loc.append("kind")  # the union's tag is what is wrong
        msg = str(e["msg"]).removeprefix("Value error, ")
        items.append({"loc": loc, "field": _field(loc), "msg": msg, "type": e["type"]})
    return items


def error_response(
    status: int, code: str, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "validation_error", _validation_items(list(exc.errors())))

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        # The loc of a validation error: where, then the path, list indices as numbers.
        path = [int(p) if p.isdigit() else p for p in exc.field.split(".")]
        item = {
            "loc": [exc.source, *path],
            "field": exc.field,
            "msg": exc.reason,
            "type": "value_error",
        }
        return error_response(exc.status_code, "validation_error", [item])

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(LimitExceeded)
    async def _limited(_: Request, exc: LimitExceeded) -> JSONResponse:
        item = {"loc": [exc.limit], "field": exc.limit, "msg": exc.reason, "type": exc.code}
        headers = {"Retry-After": str(exc.retry_after_s)}
        return error_response(429, exc.code, [item], headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, f"http_{exc.status_code}", exc.detail, headers)

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        return error_response(
            503,
            "database_unavailable",
            "the database is unreachable; retry later",
            {"Retry-After": "5"},
        )
