"""Tenants and their API keys."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db.base import new_id, utcnow
from app.db.tables import ApiKey, Tenant

TENANTS = cast(Table, Tenant.__table__)  # for the Core insert (typed as a FromClause)


def get_by_name(session: Session, name: str) -> Tenant | None:
    return session.scalars(select(Tenant).where(Tenant.name == name)).one_or_none()


def get_or_create(session: Session, name: str) -> Tenant:
    """The tenant called `name`, created if need be. Safe when requests race to create it
    (the first requests to a fresh server): the insert yields to one already there."""
    tenant = get_by_name(session, name)
    if tenant is not None:
        return tenant
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(TENANTS)
        .values(id=new_id(), name=name, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    found = get_by_name(session, name)
    assert found is not None  # inserted now, or by the request that won the race
    return found


def add_key(session: Session, tenant: Tenant, prefix: str, key_hash: str) -> ApiKey:
    key = ApiKey(tenant_id=tenant.id, prefix=prefix, key_hash=key_hash)
    session.add(key)
    session.flush()
    return key


def active_key_by_prefix(session: Session, prefix: str) -> tuple[ApiKey, Tenant] | None:
    row = session.execute(
        select(ApiKey, Tenant)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def revoke_key(session: Session, prefix: str) -> bool:
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's CursorResult; typed as Result


def lock(session: Session, tenant_id: str) -> None:
    """Row-lock the tenant until the transaction ends, serialising its job submissions
    (PostgreSQL; SQLite ignores FOR UPDATE and serialises writers itself)."""
    session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
