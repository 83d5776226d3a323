"""Exactly once, in order: three worker processes, concurrent duplicated and shuffled posts,
and the analyses equal those of one sequential in-process run of the same stream."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from app.config import Settings
from app.db.session import get_sessionmaker
from app.queue import Outbox
from app.services import stream_runs
from app.services import streams as stream_service
from app.services.auth import default_tenant
from tests.conftest import alembic
from tests.e2e.conftest import Stack
from tests.e2e.test_stack import create_key
from tests.streams_support import twin

pytestmark = pytest.mark.e2e

CONFIG = {
    "name": "exactly-once",
    "dynamics": {"system": "lorenz96", "params": {"n": 40, "F": 8.0}, "dt": 0.05},
    "observation": {"indices": list(range(0, 40, 2)), "noise_std": 1.0},
    "filter": {
        "method": "enkf",
        "ensemble_size": 16,
        "inflation": 1.04,
        "localization_radius": None,
        "rotate": True,
    },
    "initial": {"mean": None, "std": 1.0},
    "t0": 0.0,
    "seed": 11,
    "qc": {"gate": 4.0},  # the API's default, so that both runs screen alike
    "gap_timeout_s": 120.0,
}
N_OBS = 120


def sequential_reference(tmp_path: object, obs: list[dict[str, object]]) -> list[dict[str, object]]:
    """The same stream assimilated by one in-process cycle over SQLite, posts in order."""
    url = f"sqlite:///{tmp_path}/ref.db"
    alembic(url, "upgrade", "head")
    factory = get_sessionmaker(url)
    with factory.begin() as session:
        tenant = default_tenant(session, Settings(database_url=url))
        stream = stream_service.create(
            session,
            Outbox(),
            Settings(),
            tenant_id=tenant.id,
            config=CONFIG,
            state_dim=40,
            obs_dim=20,
        )
        stream_id = stream.id
    with factory.begin() as session:
        stream_service.ingest(
            session,
            Outbox(),
            Settings(),
            tenant_id=tenant.id,
            stream_id=stream_id,
            observations=obs,
        )
    stream_runs.cycle(factory, stream_id)
    with factory() as session:
        rows, _ = stream_service.analyses(session, tenant.id, stream_id, 0, 10_000)
        return [{"seq": r.seq, "mean": r.mean, "spread": r.spread} for r in rows]


def test_concurrent_workers_duplicates_and_shuffles(stack: Stack, tmp_path: object) -> None:
    stack.start_worker("worker2")
    stack.start_worker("worker3")
    _, full = twin("lorenz96", {"n": 40, "F": 8.0}, 0.05, N_OBS, noise=1.0, seed=5)
    obs = [{**o, "values": o["values"][::2]} for o in full]  # every other variable observed

    auth = {"Authorization": f"Bearer {create_key(stack.env, 'exactly-once')}"}
    with httpx.Client(base_url=stack.base, headers=auth, timeout=30) as http:
        r = http.post("/v1/streams", json={k: v for k, v in CONFIG.items()})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]

        # Every observation is posted twice, in shuffled batches, from 6 threads at once.
        rng = random.Random(0)
        posts = [obs[i : i + 10] for i in range(0, N_OBS, 10)] * 2
        posts = [rng.sample(p, len(p)) for p in posts]
        rng.shuffle(posts)

        def post(batch: list[dict[str, object]]) -> dict[str, int]:
            resp = http.post(f"/v1/streams/{sid}/observations", json={"observations": batch})
            assert resp.status_code == 202, resp.text
            return dict(resp.json())

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(post, posts))
        assert sum(r["accepted"] for r in results) == N_OBS
        assert sum(r["duplicates"] for r in results) == N_OBS

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = http.get(f"/v1/streams/{sid}").json()
            if state["n_assimilated"] == N_OBS and state["pending"] == 0:
                break
            time.sleep(0.1)
        assert state["n_assimilated"] == N_OBS and state["n_skipped"] == 0, state
        got = http.get(f"/v1/streams/{sid}/analyses", params={"limit": 1000}).json()["items"]

    assert [a["seq"] for a in got] == list(range(1, N_OBS + 1))
    ref = sequential_reference(tmp_path, obs)
    assert [a["seq"] for a in ref] == list(range(1, N_OBS + 1))
    np.testing.assert_allclose(
        [a["mean"] for a in got], [a["mean"] for a in ref], rtol=0, atol=1e-9
    )
    np.testing.assert_allclose([a["spread"] for a in got], [a["spread"] for a in ref], atol=1e-9)
    # More than one worker process took part.
    workers = ("worker1", "worker2", "worker3")
    assert sum("assimilation.cycle" in stack.log(w, tail=10**7) for w in workers) >= 2
