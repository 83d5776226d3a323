"""What a fresh server meets first: requests that race to create the default tenant, and a
job of another kind asked for on the forecasts route."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.db.repositories import tenants
from app.db.session import get_sessionmaker
from bench.stack import Databases, alembic


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_racing_first_requests_create_one_tenant(
    backend: str, databases: Databases, tmp_path: Path
) -> None:
    url = databases.create() if backend == "postgresql" else f"sqlite:///{tmp_path / 'k.db'}"
    alembic(url, "upgrade", "head")
    factory = get_sessionmaker(url)
    start, ids, errors = threading.Barrier(8), [], []

    def first_request() -> None:
        start.wait()
        try:
            with factory.begin() as session:
                ids.append(tenants.get_or_create(session, "default").id)
        except Exception as exc:  # the race used to end in an IntegrityError (a 500)
            errors.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(ids) == 8 and len(set(ids)) == 1


def test_the_forecasts_route_answers_for_forecasts_only(
    client: TestClient, headers: dict[str, str]
) -> None:
    series = [{"id": "s", "values": [float(i % 7) for i in range(60)]}]
    backtest = client.post(
        "/v1/backtests", json={"series": series, "horizon": 3, "folds": 2}, headers=headers
    ).json()
    for path in (f"/v1/forecasts/{backtest['id']}", f"/v1/forecasts/{backtest['id']}/input"):
        r = client.get(path, headers=headers)
        assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    assert client.get(f"/v1/backtests/{backtest['id']}", headers=headers).status_code == 200
