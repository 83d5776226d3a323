"""The neural observer: shapes, a learned gain that beats no correction, exact round trip."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from models.artifacts import pack, read_meta
from models.assimilation import LinearObs
from models.assimilation.config import FilterConfig
from models.assimilation.filters import CycleAnalysis, ObserverFilter
from models.assimilation.observer import (
    CovarianceGain,
    DenseGain,
    NeuralObserver,
    ObserverConfig,
    evaluate,
    initial_weights,
    train_observer,
)
from models.assimilation.observer.gain import make_gain
from models.assimilation.quality import Sensors, background_check
from models.assimilation.stream import Reading, StreamModel
from models.dynamics import Lorenz63, Lorenz96, integrate

TINY = ObserverConfig(
    members=2, hidden=16, bred=4, trajectories=8, window=8, iterations=60, lr=3e-3
)


@pytest.fixture(scope="module")
def l96_observer() -> NeuralObserver:
    return train_observer(Lorenz96(n=12), LinearObs.identity(12, 1.0), 0.05, 0.05, TINY, seed=0)


def test_learned_gain_tracks_the_truth(l96_observer: NeuralObserver) -> None:
    """Well under the observation noise (1.0) and the ~3.6 climatological error."""
    score = evaluate(l96_observer, Lorenz96(n=12), 0.05, 0.05, cycles=300, burn_in=100)
    assert score.rmse < 0.7, score
    assert 0.3 < score.spread / score.rmse < 3.0, score


def test_round_trip_is_exact(l96_observer: NeuralObserver) -> None:
    again = NeuralObserver.loads(l96_observer.dumps())
    Xf = torch.randn(2, 12, dtype=torch.float64) * 3 + 2
    y = torch.randn(12, dtype=torch.float64)
    a, va, ma = l96_observer.analysis(Xf, y)
    b, vb, mb = again.analysis(Xf, y)
    assert ma is not None and mb is not None and ma.shape == (2, 12, TINY.memory + TINY.bred)
    assert torch.equal(a, b) and torch.equal(va, vb) and torch.equal(ma, mb)


def test_partial_observations_on_a_grid() -> None:
    """Unobserved points are corrected too (through their observed neighbours)."""
    obs = LinearObs.subset(12, list(range(0, 12, 2)), 1.0)
    model = train_observer(Lorenz96(n=12), obs, 0.05, 0.05, TINY, seed=1)
    Xf = torch.zeros(2, 12, dtype=torch.float64)
    Xa, var, _ = model.analysis(Xf, torch.ones(6, dtype=torch.float64))
    assert Xa.shape == var.shape == (2, 12)
    assert bool((Xa[:, 1::2] != 0).any())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("indices", [None, list(range(0, 12, 2))])
def test_training_on_cuda_matches_cpu(indices: list[int] | None) -> None:
    """Same seed, same draws: the GPU trains the same weights up to round-off, and hands
    them back on the CPU."""
    obs = LinearObs(12, indices=indices, noise_std=1.0)
    cfg = dataclasses.replace(TINY, iterations=5)
    on_cpu = train_observer(Lorenz96(n=12), obs, 0.05, 0.05, cfg, seed=2)
    on_gpu = train_observer(Lorenz96(n=12), obs, 0.05, 0.05, cfg, seed=2, device="cuda")
    for a, b in zip(on_cpu.theta, on_gpu.theta, strict=True):
        assert b.is_cpu and not b.requires_grad
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
    assert on_gpu.mean == pytest.approx(on_cpu.mean) and on_gpu.std == pytest.approx(on_cpu.std)


def test_covariance_gain_without_a_grid() -> None:
    cfg = ObserverConfig(members=2, hidden=8, trajectories=4, window=4, iterations=5)
    model = train_observer(Lorenz63(), LinearObs.subset(3, [0], 2.0), 0.25, 0.01, cfg)
    assert isinstance(model.gain, CovarianceGain)
    Xa, var, _ = model.analysis(
        torch.ones(2, 3, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    )
    assert Xa.shape == (2, 3) and bool((var > 0).all())
    again = NeuralObserver.loads(model.dumps())
    assert isinstance(again.gain, CovarianceGain)
    assert torch.equal(again.analysis(torch.ones(2, 3, dtype=torch.float64), torch.zeros(1))[0], Xa)


@pytest.mark.parametrize(
    "obs",
    [LinearObs.identity(3, [1.0, 2.0, 0.5]), LinearObs.matrix([[1.0, 2.0, 0.0]], 1.5)],
    ids=["identity", "matrix"],
)
def test_covariance_gain_is_the_kalman_gain_of_its_covariance(obs: LinearObs) -> None:
    """Any outputs, however large, give a positive semi-definite P and the correction
    P H^T (H P H^T + R)^-1 d; observed everywhere, it is never longer than d in R's metric
    (a free gain matrix amplified innovations until a Lorenz-63 filter diverged). Its
    predicted variance is the diagonal of the analysis covariance (I - K H) P."""
    gain = CovarianceGain(obs)
    g = torch.Generator().manual_seed(5)
    out = 10 * torch.randn((50, 1, gain.n_out), generator=g, dtype=torch.float64)
    d = 10 * torch.randn((50, obs.m), generator=g, dtype=torch.float64)
    A = gain.factor(out)
    P = gain.scale * (A @ A.transpose(-1, -2))  # the covariance the network gives
    assert bool((torch.linalg.eigvalsh(P) > -1e-9 * P.abs().amax()).all())
    H, R = obs.dense(), torch.diag(obs.R_diag)
    K = P @ H.T @ torch.linalg.inv(H @ P @ H.T + R)
    torch.testing.assert_close(gain.correction(out, d), (K @ d[..., None])[..., 0])
    Pa = (torch.eye(3, dtype=P.dtype) - K @ H) @ P  # the analysis covariance
    var = gain.variance(out, torch.zeros(50, 1, dtype=torch.float64), 1.0)
    torch.testing.assert_close(var, torch.diagonal(Pa, dim1=-2, dim2=-1))
    assert bool((var >= -1e-9).all() and (var <= torch.diagonal(P, dim1=-2, dim2=-1) + 1e-9).all())
    if obs.H is None:
        whiten = obs.std.reciprocal()
        assert bool(((gain.correction(out, d) * whiten).norm(dim=-1)
                     <= (d * whiten).norm(dim=-1) + 1e-9).all())  # fmt: skip


def test_an_observer_stored_with_a_free_dense_gain_still_loads() -> None:
    """Artifacts written before the gain's kind was recorded: periodic False, dense."""
    obs = LinearObs.subset(3, [0, 2], 1.0)
    cfg = ObserverConfig(members=2, hidden=8)
    gain = DenseGain(obs)
    theta = initial_weights(gain, cfg, torch.Generator().manual_seed(6))
    model = NeuralObserver(gain, theta, 1.0, 8.0, obs, cfg)
    meta = read_meta(model.dumps())
    meta = {k: v for k, v in meta.items() if k != "gain"} | {"periodic": False}
    old = pack({f"theta.{i}": p for i, p in enumerate(theta)}, meta)
    loaded = NeuralObserver.loads(old)
    assert isinstance(loaded.gain, DenseGain)
    Xf, y = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    assert torch.equal(loaded.analysis(Xf, y)[0], model.analysis(Xf, y)[0])


def test_a_local_observer_stored_before_memory_loads_without_one() -> None:
    """An artifact whose config has no `memory` nor `bred` (written before they existed) is
    a memoryless local gain: its weights fit that layout, and its analyses carry nothing
    forward."""
    obs = LinearObs.identity(12, 1.0)
    model = _random_observer(obs, depth=2, memory=0, bred=0)
    meta = read_meta(model.dumps())
    meta["config"] = {k: v for k, v in meta["config"].items() if k not in ("memory", "bred")}
    old = pack({f"theta.{i}": p for i, p in enumerate(model.theta)}, meta)
    loaded = NeuralObserver.loads(old)
    assert loaded.config.memory == loaded.config.bred == 0
    assert loaded.gain.memory == loaded.gain.channels == 0
    Xf, y = torch.randn(3, 12, dtype=torch.float64), torch.randn(12, dtype=torch.float64)
    got, want = loaded.analysis(Xf, y), model.analysis(Xf, y)
    assert torch.equal(got[0], want[0]) and got[2] is None


def test_lorenz63_observer_filters_below_the_observation_noise() -> None:
    """A short training on Lorenz-63 (no grid) tracks a truth it never saw."""
    cfg = ObserverConfig(members=1, hidden=16, trajectories=8, window=4, iterations=60)
    obs = LinearObs.identity(3, 2.0)
    model = train_observer(Lorenz63(), obs, 0.1, 0.01, cfg, seed=3)
    score = evaluate(model, Lorenz63(), 0.1, 0.01, cycles=300, burn_in=100)
    assert score.rmse < 1.5, score
    assert 0.5 < score.spread / score.rmse < 2.0, score  # the analysis covariance's spread


def _random_observer(
    obs: LinearObs, depth: int, kind: str = "local", memory: int = 4, bred: int = 3
) -> NeuralObserver:
    """Untrained, with weights of order one, so every part of the gain shapes the result."""
    cfg = ObserverConfig(
        members=3, hidden=16, depth=depth, patch=2, reach=3, memory=memory, bred=bred
    )
    gain = make_gain(obs, kind, cfg)
    g = torch.Generator().manual_seed(3)
    sizes = [gain.n_in, *[cfg.hidden] * depth, gain.n_out]
    theta = [
        0.3 * torch.randn(shape, generator=g, dtype=torch.float64)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        for shape in ((3, a, b), (3, 1, b))
    ]
    theta += [
        torch.randn((3, cfg.hidden, 1), generator=g, dtype=torch.float64),
        torch.zeros(3, 1, 1),
    ]
    return NeuralObserver(gain, theta, 2.0, 3.5, obs, cfg)


@pytest.mark.parametrize(
    "obs",
    [
        LinearObs.identity(12, 1.0),
        LinearObs.subset(12, [0, 3, 4, 8, 11], 1.0),
        LinearObs.matrix(torch.eye(12)[::3] + 0.5 * torch.eye(12)[1::3], 1.0),
    ],
    ids=["identity", "subset", "matrix"],
)
@pytest.mark.parametrize("batch", [(), (5,)], ids=["ensemble", "batched"])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("per_member", [False, True], ids=["shared-y", "y-per-member"])
@pytest.mark.parametrize("kind", ["local", "local-memoryless", "local-bred", "covariance"])
def test_cpu_inference_matches_the_torch_path(
    obs: LinearObs, batch: tuple[int, ...], depth: int, per_member: bool, kind: str
) -> None:
    """The NumPy path (CPU, no gradient) agrees with the differentiable torch path to the
    float32 rounding of its network; also with an observation per member (a screened
    stream's: each member's own forecast where a reading was not used), a memory, and bred
    vectors with it or without ("local-bred")."""
    memory = 4 if kind == "local" else 0
    bred = 0 if kind == "local-memoryless" else 3
    model = _random_observer(obs, depth, kind.split("-")[0], memory, bred)
    g = torch.Generator().manual_seed(4)
    Xf = 2 + 3.5 * torch.randn((3, *batch, 12), generator=g, dtype=torch.float64)
    members = (3,) if per_member else ()
    y = 2 + 3.5 * torch.randn((*members, *batch, obs.m), generator=g, dtype=torch.float64)
    start = model.start_memory(Xf)
    mem = None if start is None else torch.rand(start.shape, generator=g, dtype=torch.float64)
    got, got_var, got_mem = model.analysis(Xf, y, mem)
    want, want_var, want_mem = model.analysis(Xf.clone().requires_grad_(True), y, mem)
    assert got.shape == got_var.shape == Xf.shape and got.dtype == torch.float64
    torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_var, want_var.detach(), rtol=1e-5, atol=1e-6)
    if kind in ("local", "local-bred"):
        assert got_mem is not None and want_mem is not None
        assert got_mem.shape == (*Xf.shape, memory + bred)
        torch.testing.assert_close(got_mem, want_mem.detach(), rtol=1e-5, atol=1e-5)
        again = model.analysis(Xf, y, None)  # no memory: a start
        assert float((again[0] - got).abs().max()) > 1e-3  # the memory shapes the analysis
    else:
        assert got_mem is None and want_mem is None
    assert float((got - Xf).abs().max()) > 0.5  # the correction is not negligible
    Xf[0, ..., 0] = float("nan")  # a diverged member stays diverged, on both paths
    assert not bool(torch.isfinite(model.analysis(Xf, y)[0][0]).all())


@pytest.mark.parametrize("batch", [(), (5,)], ids=["ensemble", "batched"])
@pytest.mark.parametrize("span", [0.0, 0.05, 0.12])
@pytest.mark.parametrize("bred", [0, 3])
def test_a_fused_cycle_is_integrate_then_analysis(
    batch: tuple[int, ...], span: float, bred: int
) -> None:
    """Lorenz-96's one-call cycle gives the forecast, the bred vectors and the analysis of
    the generic path (to rounding: its Gram-Schmidt is torch's QR, and the network reads
    the vectors in float32)."""
    obs = LinearObs.subset(12, list(range(0, 12, 2)), 1.0)
    model, l96 = _random_observer(obs, depth=2, bred=bred), Lorenz96(n=12)
    g = torch.Generator().manual_seed(5)
    Xa = 2 + 3.5 * torch.randn((3, *batch, 12), generator=g, dtype=torch.float64)
    y = 2 + 3.5 * torch.randn((*batch, obs.m), generator=g, dtype=torch.float64)
    mem = torch.rand((3, *batch, 12, 4 + bred), generator=g, dtype=torch.float64)
    Xf, got, var, got_mem = model.cycle(l96, Xa, 1.0, 1.0 + span, 0.05, y, mem)
    want_f = integrate(l96, Xa, 1.0, 1.0 + span, 0.05)
    bred_mem = model.breed(l96, Xa, want_f, mem, 1.0, 1.0 + span, 0.05)
    want, want_var, want_mem = model.analysis(want_f, y, bred_mem)
    tol = 1e-12 if bred == 0 else 1e-6
    torch.testing.assert_close(Xf, want_f, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    torch.testing.assert_close(var, want_var, rtol=tol, atol=tol)
    torch.testing.assert_close(got_mem, want_mem, rtol=tol, atol=tol)
    # with gradients: the generic torch path, to float32 rounding of the compiled network
    grad = Xa.clone().requires_grad_(True)
    _, got_torch, _, mem_torch = model.cycle(l96, grad, 1.0, 1.0 + span, 0.05, y, mem)
    torch.testing.assert_close(got_torch.detach(), got, rtol=1e-5, atol=1e-5)
    assert mem_torch is not None and got_mem is not None
    torch.testing.assert_close(mem_torch.detach(), got_mem, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad", [{"members": 0}, {"patch": -1}, {"lr": 2.0}])
def test_config_is_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ObserverConfig(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("members", [1, 3])
def test_a_screened_cycle_on_arrays_is_the_generic_one(members: int) -> None:
    """The observer's screened Lorenz-96 cycle on arrays (forecast, background check and
    analysis in one compiled call) gives what integrate, background_check and analysis give,
    with a missing reading, a rejected one and a sensor left out."""
    obs = LinearObs.subset(12, list(range(0, 12, 2)), 1.0)
    model, l96 = _random_observer(obs, depth=2), Lorenz96(n=12)
    model = dataclasses.replace(model, theta=[p[:members] for p in model.theta])
    flt = ObserverFilter(model, obs, 0.05, gate=3.0)
    g = torch.Generator().manual_seed(6)
    E = 2 + 3.5 * torch.randn((members, 12), generator=g, dtype=torch.float64)
    y = integrate(l96, E, 0.0, 0.12, 0.05).mean(0)[::2] + torch.randn(6, generator=g)
    y[1], y[4] = float("nan"), y[4] + 40.0
    exclude = np.zeros(6, dtype=bool)
    exclude[5] = True
    mem = torch.rand((members, 12, 7), generator=g, dtype=torch.float64)
    got = flt.cycle(l96, E, 0.0, 0.12, y, exclude=exclude, memory=mem)

    Ef = integrate(l96, E, 0.0, 0.12, 0.05)
    screened = background_check(Ef, y, obs, 3.0, exclude)
    readings = torch.from_numpy(screened.readings_or_forecast())
    bred_mem = model.breed(l96, E, Ef, mem, 0.0, 0.12, 0.05)
    want, want_var, want_mem = model.analysis(Ef, readings, bred_mem)
    assert got.memory is not None and want_mem is not None
    torch.testing.assert_close(got.memory, want_mem, rtol=1e-6, atol=1e-6)
    assert got.screened is not None and got.E is not None and got.extra_var is not None
    assert got.screened.codes() == screened.codes() == [0, 1, 0, 0, 2, 3]
    np.testing.assert_allclose(got.screened.z, screened.z, rtol=1e-12, equal_nan=True)
    torch.testing.assert_close(got.E, want, rtol=1e-6, atol=1e-6)  # bred: QR against G-S
    torch.testing.assert_close(got.extra_var, want_var.mean(0), rtol=1e-6, atol=1e-6)
    assert got.innovation_rms == pytest.approx(screened.innovation_rms(), rel=1e-12)


def _one_by_one(
    model: StreamModel,
    E: torch.Tensor,
    t: float,
    observations: list[Reading],
    sensors: Sensors,
) -> tuple[list[CycleAnalysis | None], Sensors, torch.Tensor | None]:
    """`StreamModel.cycle` for each observation, as a stream's loop moves on after it."""
    results: list[CycleAnalysis | None] = []
    memory = None
    for seq, (t1, values, std) in enumerate(observations, 1):
        result = model.cycle(E, t, t1, values, seq, std, sensors.failed, sensors.recent, memory)
        results.append(result)
        if result is not None and result.screened is not None:
            sensors = sensors.update(result.screened)
        if result is not None and result.E is not None:
            E, memory, t = result.E, result.memory, t1
    return results, sensors, memory


@pytest.mark.parametrize(
    "case",
    [((4, 3), 0.15), ((0, 0), 0.15), ((4, 3), 1.0)],
    ids=["recurrent", "memoryless", "diverging"],
)
@pytest.mark.parametrize("members", [1, 3])
def test_a_run_of_cycles_is_the_cycles_one_by_one(
    members: int, case: tuple[tuple[int, int], float]
) -> None:
    """A compiled run of many observations gives each cycle's result as the cycles one by
    one do: through irregular intervals (a repeated time among them), missing readings, an
    observation with none, a spike the check rejects, a stuck sensor that fails and is then
    left out, observations with their own noise, and (the random gain at full strength)
    analyses that may diverge after a long interval."""
    obs = LinearObs.subset(12, list(range(0, 12, 2)), 1.0)
    (memory, bred), scale = case
    observer, l96 = _random_observer(obs, 2, memory=memory, bred=bred), Lorenz96(n=12)
    # at 0.15 of full strength the random gain keeps the members on the attractor (|x| < 18
    # here); at full strength it drives them off, and the forecast over the long interval
    # overflows. At half strength one member was driven to the clamp on one CPU and
    # overflowed there, not on another
    observer = dataclasses.replace(observer, theta=[scale * p[:members] for p in observer.theta])
    model = StreamModel.build(
        l96, observer, indices=list(range(0, 12, 2)), noise_std=1.0, dt=0.05, seed=0, gate=3.0
    )
    g = torch.Generator().manual_seed(7)
    x = 2 + 3.5 * torch.randn(12, generator=g, dtype=torch.float64)
    times = np.cumsum(np.r_[[0.05] * 10, 0.12, 0.0, [0.05] * 28, 0.2, [0.05] * 9])
    observations: list[Reading] = []
    t = 0.0
    for k, t1 in enumerate(times):
        x = integrate(l96, x, t, float(t1), 0.05)
        t = float(t1)
        y: list[float | None] = (x[::2] + torch.randn(6, generator=g)).tolist()
        if k % 7 == 3:
            y[2] = None
        if k == 15:
            y = [None] * 6  # nothing to assimilate: screened out
        if k == 20:
            # far beyond the gate however the random observer spreads the ensemble: +40 was
            # rejected on one CPU and not on another (rounding grows in the chaotic run)
            y[4] = float(y[4]) + 400.0  # type: ignore[arg-type]
        if k >= 25:
            y[1] = 1.234  # stuck from here on: fails after ten repeats
        std = [2.0] * 6 if k == 5 else [0.5, 1.0, 1.5, 0.5, 1.0, 1.5] if k == 30 else None
        observations.append((t, y, std))
    E = model.initial_ensemble(x.tolist(), 1.0)
    want, want_sensors, want_memory = _one_by_one(model, E, 0.0, observations, Sensors.new(6))
    ran = model.run(E, 0.0, observations, Sensors.new(6))
    assert ran is not None
    got, got_sensors = ran

    assert [r is None or r.E is None for r in got] == [r is None or r.E is None for r in want]
    assert sum(r is not None and r.E is None for r in got) == 1  # the one with no reading
    # Diverged analyses only at full strength; whether it diverges there turns on rounding
    # (thread counts, kernels), which grows in the chaotic run: the comparison below holds
    # either way.
    assert scale == 1.0 or None not in got
    codes = [r.screened.codes() for r in got if r is not None and r.screened is not None]
    assert any(3 in c for c in codes)  # the stuck sensor excluded
    assert scale == 1.0 or any(2 in c for c in codes)  # the spike rejected (on the attractor)
    for a, b in zip(got, want, strict=True):
        if a is None:  # diverged
            assert b is None
            continue
        assert b is not None and a.screened is not None and b.screened is not None
        assert a.screened.codes() == b.screened.codes()
        np.testing.assert_allclose(a.screened.z, b.screened.z, rtol=1e-12, equal_nan=True)
        if a.E is None:
            continue
        assert b.E is not None and a.extra_var is not None and b.extra_var is not None
        torch.testing.assert_close(a.E, b.E, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(a.extra_var, b.extra_var, rtol=1e-12, atol=1e-12)
        assert a.innovation_rms == pytest.approx(b.innovation_rms, rel=1e-12)
    last = next(r for r in reversed(got) if r is not None and r.E is not None)
    if memory + bred:
        assert last.memory is not None and want_memory is not None
        torch.testing.assert_close(last.memory, want_memory, rtol=1e-12, atol=1e-12)
    else:
        assert last.memory is None and want_memory is None
    assert got_sensors.statuses == want_sensors.statuses and "failed" in got_sensors.statuses
    for a_col, b_col in zip(got_sensors.health, want_sensors.health, strict=True):
        np.testing.assert_allclose(a_col, b_col, rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(got_sensors.cycles, want_sensors.cycles)


def test_a_run_skips_a_diverged_analysis_as_a_stream_does() -> None:
    """Members that are not finite give no analysis, in a run as one by one; the sensors'
    health stays as it was."""
    obs = LinearObs.identity(12, 1.0)
    model = StreamModel.build(
        Lorenz96(n=12), _random_observer(obs, depth=1), indices=None, noise_std=1.0, dt=0.05,
        seed=0, gate=3.0,
    )  # fmt: skip
    E = torch.full((3, 12), float("nan"), dtype=torch.float64)
    observations: list[Reading] = [(0.05 * k, [1.0] * 12, None) for k in (1, 2, 3)]
    ran = model.run(E, 0.0, observations, Sensors.new(12))
    assert ran is not None and ran[0] == [None, None, None]
    assert _one_by_one(model, E, 0.0, observations, Sensors.new(12))[0] == [None, None, None]
    assert (ran[1].cycles == 0).all()


def test_only_a_checked_compiled_observer_runs_many_cycles_in_one_call() -> None:
    """Without the background check, off Lorenz-96 (a covariance gain on Lorenz-63), or with
    an ensemble filter there is no compiled run: `run` says so and the stream cycles one by
    one."""
    l96, l63 = LinearObs.identity(12, 1.0), LinearObs.identity(3, 1.0)
    cases: list[tuple[Any, NeuralObserver | FilterConfig, float | None]] = [
        (Lorenz96(n=12), _random_observer(l96, depth=1), None),
        (Lorenz63(), _random_observer(l63, depth=1, kind="covariance"), 3.0),
        (Lorenz96(n=12), FilterConfig("etkf", 4, "adaptive"), 3.0),
    ]
    for dynamics, method, gate in cases:
        model = StreamModel.build(
            dynamics, method, indices=None, noise_std=1.0, dt=0.01, seed=0, gate=gate
        )
        E, y = model.initial_ensemble(None, 1.0), [1.0] * dynamics.n
        assert not model.runs
        readings: list[Reading] = [(0.05, y, None), (0.1, y, None)]
        assert model.run(E, 0.0, readings, Sensors.new(dynamics.n)) is None
    assert StreamModel.build(
        Lorenz96(n=12), _random_observer(l96, depth=1), indices=None, noise_std=1.0, dt=0.05,
        seed=0, gate=3.0,
    ).runs  # fmt: skip
