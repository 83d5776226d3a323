"""Quality control: the background check's z-scores, analyses with readings missing or
rejected (exactly the analysis of the readings used), and sensor health in a twin run."""

from __future__ import annotations

import math

import torch

from models.assimilation.config import FilterConfig
from models.assimilation.filters import EnsembleFilter
from models.assimilation.observation import LinearObs
from models.assimilation.quality import (
    EXCLUDED,
    MISSING,
    REJECTED,
    USED,
    SensorHealth,
    background_check,
    failed,
    update_sensors,
)
from models.assimilation.stream import StreamModel
from models.dynamics import Lorenz96, integrate

F64 = torch.float64


def members(N: int = 20, n: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 3.0 + torch.randn((N, n), generator=g, dtype=F64)


def test_z_scores_use_the_spread_and_the_noise() -> None:
    E = members()
    obs = LinearObs.subset(8, [0, 3, 5], noise_std=[1.0, 2.0, 0.5])
    y = torch.tensor([3.0, math.nan, 40.0], dtype=F64)
    s = background_check(E, y, obs, gate=4.0)
    HE = obs.H_apply(E)
    expect = (y - HE.mean(0)) / torch.sqrt(HE.var(0) + obs.R_diag)
    assert torch.allclose(s.z[[0, 2]], expect[[0, 2]]) and math.isnan(float(s.z[1]))
    assert s.codes() == [USED, MISSING, REJECTED]
    out = background_check(E, y, obs, gate=4.0, exclude=torch.tensor([True, False, False]))
    assert out.codes() == [EXCLUDED, MISSING, REJECTED]


def test_an_analysis_uses_exactly_the_readings_that_pass() -> None:
    model, E = Lorenz96(n=8), members()
    cfg = FilterConfig(method="etkf", ensemble_size=20, inflation=1.02)
    obs = LinearObs.identity(8, 1.0)
    y = integrate(model, E.mean(0), 0.0, 0.05, 0.05) + 0.3
    bad = y.clone()
    bad[2], bad[6] = math.nan, 50.0  # a missing reading, and one far off
    screened = EnsembleFilter(cfg, obs, 0.05, periodic=True, gate=4.0)
    out = screened.cycle(model, E, 0.0, 0.05, bad)
    keep = torch.tensor([i not in (2, 6) for i in range(8)])
    ref = EnsembleFilter(cfg, obs.rows(keep), 0.05, periodic=True).cycle(
        model, E, 0.0, 0.05, y[keep]
    )
    assert out.E is not None and ref.E is not None and torch.equal(out.E, ref.E)
    assert out.screened is not None and out.screened.codes()[2] == MISSING
    assert out.screened.codes()[6] == REJECTED
    # Nothing rejected: the same numbers as without the check.
    plain = EnsembleFilter(cfg, obs, 0.05, periodic=True).cycle(model, E, 0.0, 0.05, y)
    checked = screened.cycle(model, E, 0.0, 0.05, y)
    assert plain.E is not None and checked.E is not None and torch.equal(plain.E, checked.E)
    nothing = screened.cycle(model, E, 0.0, 0.05, torch.full((8,), math.nan, dtype=F64))
    assert nothing.E is None


def test_a_stuck_sensor_fails_its_components_spread_rises_and_recovers() -> None:
    """Lorenz-96 observed at every other point (LETKF): sensor 3 (component 6) sticks from
    cycle 100 to 200 at a value near the climatological mean, which passes the check."""
    n, dt, N, sensor, component = 40, 0.05, 24, 3, 6
    model = Lorenz96(n=n)
    idx = list(range(0, n, 2))
    cfg = FilterConfig(method="letkf", ensemble_size=N, inflation=1.02, localization_radius=4)
    stream = StreamModel.build(model, cfg, indices=idx, noise_std=1.0, dt=dt, seed=0, gate=4.0)
    g = torch.Generator().manual_seed(3)
    x = integrate(model, 3 + torch.randn(n, generator=g, dtype=F64), 0.0, 20.0, dt)
    E = stream.initial_ensemble(x.tolist(), 1.0)
    sensors = [SensorHealth(i) for i in range(len(idx))]
    stuck_from, stuck_to, first_failed = 100, 200, None
    spread: list[float] = []
    for k in range(1, 401):
        x = integrate(model, x, (k - 1) * dt, k * dt, dt)
        y = (x[idx] + torch.randn(len(idx), generator=g, dtype=F64)).tolist()
        if stuck_from <= k < stuck_to:
            y[sensor] = 2.5
        result = stream.cycle(E, (k - 1) * dt, k * dt, y, k, exclude=failed(sensors))
        assert result is not None and result.E is not None and result.screened is not None
        E, sensors = result.E, update_sensors(sensors, result.screened)
        if sensors[sensor].status == "failed" and first_failed is None:
            first_failed = k
        spread.append(float(E[:, component].std()))
    assert first_failed is not None and first_failed - stuck_from <= 20
    assert all(h.status == "ok" for h in sensors)  # it recovered, and nobody else failed
    before = sum(spread[40:100]) / 60
    during = sum(spread[120:200]) / 80
    after = sum(spread[220:400]) / 180
    assert during > 1.3 * before and after < 0.8 * during
