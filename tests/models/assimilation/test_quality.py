"""Quality control: the background check's z-scores, analyses with readings missing or
rejected (exactly the analysis of the readings used), and sensor health in a twin run."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from models.assimilation.config import FilterConfig
from models.assimilation.filters import EnsembleFilter
from models.assimilation.observation import LinearObs
from models.assimilation.quality import (
    CHI2_1_MEDIAN,
    EXCLUDED,
    MISSING,
    REJECTED,
    USED,
    Sensors,
    background_check,
)
from models.assimilation.stream import StreamModel
from models.dynamics import Lorenz96, integrate
from models.dynamics.registry import make_dynamics

F64 = torch.float64
ROOT = Path(__file__).resolve().parents[3]


def members(N: int = 20, n: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 3.0 + torch.randn((N, n), generator=g, dtype=F64)


def test_z_scores_use_the_spread_and_the_noise() -> None:
    E = members()
    obs = LinearObs.subset(8, [0, 3, 5, 6, 7], noise_std=[1.0, 2.0, 0.5, 1.0, 1.0])
    HE = obs.H_apply(E)
    raw_ok = torch.tensor([0.3, math.nan, 0.0, -0.5, 0.6], dtype=F64)  # in units of the sd
    sd = torch.sqrt(HE.var(0) + obs.R_diag)
    y = HE.mean(0) + raw_ok * sd
    y[2] = HE.mean(0)[2] + 40.0 * sd[2]  # far off
    s = background_check(E, y, obs, gate=4.0)
    z = ((y - HE.mean(0)) / sd).numpy()
    present = ~np.isnan(z)
    scale = max(1.0, math.sqrt(np.median(z[present] ** 2) / CHI2_1_MEDIAN))
    np.testing.assert_allclose(s.z[present], z[present] / scale)
    assert math.isnan(s.z[1]) and scale == 1.0  # one wild reading does not move the scale
    assert s.codes() == [USED, MISSING, REJECTED, USED, USED]
    out = background_check(
        E, y, obs, gate=4.0, exclude=np.array([True, False, False, False, False])
    )
    assert out.codes() == [EXCLUDED, MISSING, REJECTED, USED, USED]


def test_a_forecast_off_everywhere_is_not_starved_of_readings() -> None:
    """Every reading far from a poor forecast (a stream's start): the robust scale keeps
    them all; a check on the raw z-scores would reject every one and never converge."""
    E = members()
    obs = LinearObs.identity(8, 1.0)
    y = obs.H_apply(E).mean(0) + 9.0 * torch.linspace(-1, 1, 8, dtype=F64)
    assert background_check(E, y, obs, gate=4.0).codes() == [USED] * 8


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


def test_a_lone_sensor_is_judged_by_its_own_recent_readings() -> None:
    """With fewer than three readings there are no others to judge one by: a spike, or two
    in a row, is rejected against the sensor's recent innovations; an offset that lasts
    three cycles (a poor start, a model that is off) is taken as the ensemble's error."""
    E = members(n=1)  # forecast mean ~3, spread ~1; noise 1: z = (y - 3) / ~1.4
    obs = LinearObs.identity(1, 1.0)
    sensors = Sensors.new(1)

    def check(y: float) -> bool:
        nonlocal sensors
        s = background_check(E, torch.tensor([y], dtype=F64), obs, 4.0, None, sensors.recent)
        sensors = sensors.update(s)
        return bool(s.rejected[0])

    calm = [3.5, 2.2, 3.9, 2.8, 3.1]  # between the faults: the record forgets in RECENT
    assert [check(y) for y in calm] == [False] * 5
    assert [check(y) for y in (40.0, 3.3)] == [True, False]  # one spike
    assert [check(y) for y in calm] == [False] * 5
    assert [check(y) for y in (40.0, 41.0, 3.0)] == [True, True, False]  # two in a row
    assert [check(y) for y in calm] == [False] * 5
    assert [check(40.0) for _ in range(4)] == [True, True, False, False]  # it lasts: the error
    assert sensors.to_json()[0]["recent_z2"] == sensors.recent[0].tolist()
    assert Sensors.from_json(sensors.to_json()).recent.tolist() == sensors.recent.tolist()


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
    sensors = Sensors.new(len(idx))
    stuck_from, stuck_to, first_failed = 100, 200, None
    spread: list[float] = []
    for k in range(1, 401):
        x = integrate(model, x, (k - 1) * dt, k * dt, dt)
        y = (x[idx] + torch.randn(len(idx), generator=g, dtype=F64)).tolist()
        if stuck_from <= k < stuck_to:
            y[sensor] = 2.5
        result = stream.cycle(E, (k - 1) * dt, k * dt, y, k, exclude=sensors.failed)
        assert result is not None and result.E is not None and result.screened is not None
        E, sensors = result.E, sensors.update(result.screened)
        if sensors.failed[sensor] and first_failed is None:
            first_failed = k
        spread.append(float(E[:, component].std()))
    assert first_failed is not None and first_failed - stuck_from <= 20
    assert set(sensors.statuses) == {"ok"}  # it recovered, and nobody else failed
    before = sum(spread[40:100]) / 60
    during = sum(spread[120:200]) / 80
    after = sum(spread[220:400]) / 180
    assert during > 1.3 * before and after < 0.8 * during


def test_a_cold_start_is_on_the_attractor_so_the_first_readings_are_used() -> None:
    """No initial mean: a climatological ensemble (members run onto the attractor), not a
    cloud at the origin, where Lorenz-63 never goes and its first readings (z near 20) were
    rejected as 14 sd off."""
    model = make_dynamics("lorenz63")
    cfg = FilterConfig(method="etkf", ensemble_size=20, inflation="adaptive")
    stream = StreamModel.build(model, cfg, indices=[0, 2], noise_std=1.0, dt=0.01, seed=0, gate=4.0)
    E = stream.initial_ensemble(None, 1.0)
    assert float(E[:, 2].mean()) > 15.0 and float(E[:, 0].std()) > 3.0  # z about 23.5
    result = stream.cycle(E, 0.0, 0.05, [1.9, 21.4], 1)
    assert result is not None and result.screened is not None
    assert result.screened.used.tolist() == [True, True]
    given = stream.initial_ensemble([1.0, 1.0, 20.0], 2.0)  # a given mean is kept
    assert abs(float(given[:, 2].mean()) - 20.0) < 2.0


WARM_UP = """
from models.assimilation import quality
from models.assimilation.observer import host
from models.assimilation.stream import warm_up
from models.dynamics import lorenz96

kernels = (quality.screen_kernel, quality.health_kernel, lorenz96.rk4_rows)
observer = (host._analysis, host._l96_cycle, host._l96_screened_cycle, host._l96_screened_run)
before = [len(k.signatures) for k in kernels + observer]
warm_up()
print(before, [len(k.signatures) for k in kernels], min(len(k.signatures) for k in observer))
"""


def test_warm_up_compiles_the_stream_kernels() -> None:
    """A worker's warm-up (in a fresh process, as at its start) leaves every compiled kernel
    of a stream's cycle ready for the first observation, an ensemble filter's or an
    observer's."""
    out = subprocess.run(
        [sys.executable, "-c", WARM_UP], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # every kernel of the ETKF's and the neural observer's cycles (the observer's are also
    # called from one another, so they may hold more than one signature)
    assert out.stdout.split() == [
        "[0,",
        "0,",
        "0,",
        "0,",
        "0,",
        "0,",
        "0]",
        "[1,",
        "1,",
        "1]",
        "1",
    ], out.stdout
