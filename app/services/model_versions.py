"""Model versions as the API sees them: train one (a job), list, read, alias, resolve.

Imports no numerics; training itself runs on workers (app.services.model_version_runs).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.db.repositories import model_versions as repo
from app.db.tables import Job, ModelVersion
from app.queue import Outbox, queue_for
from app.services import jobs as job_service
from app.services.errors import InputError, NotFound
from app.services.posted import as_modelled, check_kind_takes_drivers


def check_series_length(
    series: list[dict[str, Any]],
    min_length: Callable[[int], int],
    field: str = "series",
    purpose: str = "for this model",
) -> None:
    for i, s in enumerate(series):
        values = s["values"]
        d = len(values[0]) if isinstance(values[0], list) else 1
        need = min_length(d)
        if len(values) < need:
            raise InputError(
                f"{field}.{i}.values",
                f"{len(values)} points is too short {purpose}; it needs at least {need}",
            )
        rows = values if d > 1 else [[v] for v in values]
        observed = min(sum(r[j] is not None for r in rows) for j in range(d))
        if observed < need:
            raise InputError(
                f"{field}.{i}.values",
                f"{observed} observed values (the rest are null) is too few {purpose}; it "
                f"needs at least {need} observed",
            )


def submit_training(
    session: Session,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant_id: str,
    request: dict[str, Any],
    min_length: Callable[[int], int],
    idempotency_key: str | None = None,
) -> Job:
    series = request["series"]
    if series is not None:  # None: an observer, trained on simulations
        if len(series) > settings.max_series:
            raise InputError("series", f"{len(series)} series; the limit is {settings.max_series}")
        for i, s in enumerate(series):
            if len(s["values"]) > settings.max_series_length:
                raise InputError(
                    f"series.{i}.values", f"longer than {settings.max_series_length} points"
                )
        check_series_length(as_modelled(series, settings.max_series_length), min_length)
        check_kind_takes_drivers(series, request["model"])
    job, _ = job_service.submit(
        session,
        outbox,
        tenant_id=tenant_id,
        kind="train",
        queue=queue_for(request["model"]["kind"]),
        request=request,
        model={**request["model"], "name": request["name"]},
        seed=request["seed"],
        idempotency_key=idempotency_key,
        max_active_jobs=settings.max_active_jobs,
    )
    return job


def resolve(session: Session, tenant_id: str, ref: dict[str, Any]) -> ModelVersion:
    """The version a {"name", "version" | "alias"} reference points to, or NotFound."""
    name = ref["name"]
    if ref.get("alias") is not None:
        found = repo.resolve_alias(session, tenant_id, name, ref["alias"])
        what = f"model {name!r} alias {ref['alias']!r}"
    else:
        found = repo.get(session, tenant_id, name, ref["version"])
        what = f"model {name!r} version {ref['version']}"
    if found is None:
        raise NotFound(what)
    return found


def resolve_as(
    session: Session,
    tenant_id: str,
    ref: dict[str, Any],
    field: str,
    kinds: Collection[str],
    noun: str,
) -> ModelVersion:
    """`resolve` for a reference inside a request: a missing version, or one of another kind,
    is an InputError naming the request's field (the request is what is wrong, not the URL)."""
    try:
        version = resolve(session, tenant_id, ref)
    except NotFound as exc:
        raise InputError(field, f"{exc} was not found") from exc
    if version.kind not in kinds:
        raise InputError(
            field,
            f"model {version.name!r} version {version.version} is a {version.kind}, not {noun}",
        )
    return version


def stored_spec(version: ModelVersion) -> dict[str, Any]:
    """What a job records about the stored version it uses."""
    return {
        "name": version.name,
        "version": version.version,
        "kind": version.kind,
        "version_id": version.id,
        "params": version.params,
    }


@dataclass(frozen=True)
class VersionView:
    version: ModelVersion
    parent_version: int | None
    aliases: list[str]


def _view(session: Session, v: ModelVersion, aliases: dict[str, int]) -> VersionView:
    parent = repo.get_by_id(session, v.parent_id) if v.parent_id else None
    return VersionView(
        v, parent.version if parent else None, [a for a, n in aliases.items() if n == v.version]
    )


def get_version(session: Session, tenant_id: str, name: str, version: int) -> VersionView:
    found = repo.get(session, tenant_id, name, version)
    if found is None:
        raise NotFound(f"model {name!r} version {version}")
    return _view(session, found, repo.aliases(session, tenant_id, name))


@dataclass(frozen=True)
class ModelView:
    name: str
    latest_version: int
    aliases: dict[str, int]
    versions: list[VersionView]


def get_model(session: Session, tenant_id: str, name: str) -> ModelView:
    versions = repo.versions(session, tenant_id, name)
    if not versions:
        raise NotFound(f"model {name!r}")
    aliases = repo.aliases(session, tenant_id, name)
    return ModelView(
        name, versions[0].version, aliases, [_view(session, v, aliases) for v in versions]
    )


def list_models(
    session: Session, tenant_id: str, limit: int, cursor: str | None
) -> tuple[list[ModelView], str | None]:
    rows = repo.names(session, tenant_id, limit + 1, cursor)
    more = len(rows) > limit
    rows = rows[:limit]
    views = [ModelView(n, v, repo.aliases(session, tenant_id, n), []) for n, v in rows]
    return views, (rows[-1][0] if more else None)


def set_alias(session: Session, tenant_id: str, name: str, alias: str, version: int) -> ModelView:
    found = repo.get(session, tenant_id, name, version)
    if found is None:
        raise NotFound(f"model {name!r} version {version}")
    repo.set_alias(session, found, alias)
    return get_model(session, tenant_id, name)
