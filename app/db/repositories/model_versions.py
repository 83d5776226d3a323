"""Model versions and their aliases, per tenant and model name."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.tables import ModelAlias, ModelVersion


def latest(session: Session, tenant_id: str, name: str) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion)
        .where(ModelVersion.tenant_id == tenant_id, ModelVersion.name == name)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    ).one_or_none()


def get(session: Session, tenant_id: str, name: str, version: int) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion).where(
            ModelVersion.tenant_id == tenant_id,
            ModelVersion.name == name,
            ModelVersion.version == version,
        )
    ).one_or_none()


def get_by_id(session: Session, version_id: str) -> ModelVersion | None:
    return session.get(ModelVersion, version_id)


def by_job(session: Session, job_id: str) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(ModelVersion.job_id == job_id)).one_or_none()


def add(session: Session, version: ModelVersion) -> ModelVersion:
    session.add(version)
    session.flush()
    return version


def versions(session: Session, tenant_id: str, name: str) -> list[ModelVersion]:
    return list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.tenant_id == tenant_id, ModelVersion.name == name)
            .order_by(ModelVersion.version.desc())
        )
    )


def names(session: Session, tenant_id: str, limit: int, after: str | None) -> list[tuple[str, int]]:
    """(name, latest version) for each model of the tenant, by name."""
    query = (
        select(ModelVersion.name, func.max(ModelVersion.version))
        .where(ModelVersion.tenant_id == tenant_id)
        .group_by(ModelVersion.name)
        .order_by(ModelVersion.name)
        .limit(limit)
    )
    if after is not None:
        query = query.where(ModelVersion.name > after)
    return [(n, int(v)) for n, v in session.execute(query)]


def aliases(session: Session, tenant_id: str, name: str) -> dict[str, int]:
    rows = session.execute(
        select(ModelAlias.alias, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .where(ModelAlias.tenant_id == tenant_id, ModelAlias.name == name)
        .order_by(ModelAlias.alias)
    )
    return {alias: int(version) for alias, version in rows}


def resolve_alias(session: Session, tenant_id: str, name: str, alias: str) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion)
        .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
        .where(
            ModelAlias.tenant_id == tenant_id, ModelAlias.name == name, ModelAlias.alias == alias
        )
    ).one_or_none()


def set_alias(session: Session, version: ModelVersion, alias: str) -> None:
    row = session.scalars(
        select(ModelAlias).where(
            ModelAlias.tenant_id == version.tenant_id,
            ModelAlias.name == version.name,
            ModelAlias.alias == alias,
        )
    ).one_or_none()
    if row is None:
        session.add(
            ModelAlias(
                tenant_id=version.tenant_id, name=version.name, alias=alias, version_id=version.id
            )
        )
    else:
        row.version_id = version.id
        row.updated_at = utcnow()
    session.flush()
