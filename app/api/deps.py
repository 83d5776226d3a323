"""Request dependencies as Annotated aliases: settings, unit of work, tenant; and the check
that a request names no query parameter its route does not take."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.api import ratelimit
from app.config import Settings
from app.db.session import get_sessionmaker
from app.db.tables import Tenant
from app.queue import Outbox
from app.services import auth


async def get_settings_dep(request: Request) -> Settings:
    # async: FastAPI runs a plain def dependency in its thread pool, a hop (~0.16 ms of CPU
    # here) for what is one attribute read.
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


class UnitOfWork:
    """One transaction per request; queued tasks are sent only after it commits."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.outbox = Outbox()
        self._settings = settings

    def commit(self) -> None:
        self.session.commit()
        self.outbox.flush(self._settings)


async def get_uow(settings: SettingsDep) -> AsyncIterator[UnitOfWork]:
    # async, like get_settings_dep: as a plain generator it cost two thread-pool hops a
    # request, and making a session does no I/O (it connects on first use).
    session = get_sessionmaker(settings.database_url)()
    uow = UnitOfWork(session, settings)
    try:
        yield uow
    finally:
        # Anything not committed explicitly by the handler is rolled back, tasks included;
        # the rollback is a round trip, so it goes to the thread pool (closing a session
        # with no transaction open has none).
        uow.outbox.clear()
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _authenticate(request: Request, uow: UowDep, settings: SettingsDep) -> Tenant:
    header = request.headers.get("authorization")
    if header is None:
        if settings.auth == "off":
            tenant = auth.default_tenant(uow.session, settings)
            uow.session.commit()
            return tenant
        raise _unauthorized("missing Authorization: Bearer <key> header")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("Authorization header must be 'Bearer <key>'")
    found = auth.authenticate(uow.session, key.strip(), settings)
    if found is None:
        raise _unauthorized("invalid or revoked API key")
    return found


def current_tenant(request: Request, uow: UowDep, settings: SettingsDep) -> Tenant:
    """The caller's tenant, each of its requests counted against its rate limit (429)."""
    tenant = _authenticate(request, uow, settings)
    ratelimit.enforce(request.app.state.rate_limiter, tenant.id, settings)
    return tenant


TenantDep = Annotated[Tenant, Depends(current_tenant)]


async def known_query_only(request: Request) -> None:
    """A query parameter the route does not take is a 422 naming it, never silently ignored:
    a typo such as `?cusor=` would otherwise return page one again, and a client paging by
    it would loop forever."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": f"unknown query parameter; this route takes: {takes}",
                    "type": "unknown_query_parameter",
                }
                for name in unknown
            ]
        )


_QUERY_NAMES: dict[int, frozenset[str]] = {}  # by id(route): routes live as long as the app


def _query_names(route: APIRoute) -> frozenset[str]:
    def walk(d: Dependant) -> set[str]:
        return {p.alias for p in d.query_params}.union(*(walk(s) for s in d.dependencies))

    names = _QUERY_NAMES.get(id(route))
    if names is None:
        names = _QUERY_NAMES[id(route)] = frozenset(walk(route.dependant))
    return names
