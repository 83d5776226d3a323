"""A stream's numerics: its dynamics, one filter, and randomness keyed by (stream seed, seq).

Everything a stream computes between reading its state and storing the outcome: the initial
ensemble, one cycle per observation, mean and spread, and forecasts from the latest analysis
with their epistemic/aleatoric split. Every random number is drawn from a generator keyed by
(seed, seq) (`models.seeding`), so any batching of the observations, any number of workers
and any redelivery give the same numbers as one sequential run.

A learned surrogate's randomness has its own third key word per use: its parameter draws
(DRAWS), the step noise up to observation seq (STEP_NOISE), and a forecast's noise
(FORECAST_NOISE), each independent of the analysis's (seed, seq) generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from models.artifacts import pack, unpack
from models.assimilation.config import FilterConfig
from models.assimilation.cycle import ensemble_init
from models.assimilation.filters import CycleAnalysis, EnsembleFilter, Filter, ObserverFilter
from models.assimilation.observation import LinearObs
from models.assimilation.observer import (
    LocalGain,
    NeuralObserver,
    ObserverConfig,
    initial_weights,
)
from models.assimilation.observer.gain import make_gain
from models.assimilation.quality import Sensors
from models.dynamics.base import Dynamics, integrate
from models.dynamics.lorenz96 import Lorenz96
from models.dynamics.surrogate import SurrogateDynamics, WindowForecaster
from models.forecasting.base import Forecast, summarize_samples
from models.host import all_finite
from models.seeding import derived_generator, derived_seed63

DTYPE = torch.float64
DRAWS, STEP_NOISE, FORECAST_NOISE = 1, 2, 3
SINGLE_DRAWS = 64  # forecast paths of a one-member (single observer) stream
# A cold start's free run (steps of the system's default dt): 10 time units of Lorenz-63,
# 50 of Lorenz-96, 250 of KS, each several Lyapunov times, onto the attractor.
SPIN_UP_STEPS = 1000

Ensemble = Tensor  # (N, n) members, float64; opaque to the service that stores it
Memory = Tensor  # (N, n, c): what a recurrent observer's last analysis left; opaque too


def surrogate(forecaster: WindowForecaster, members: int, seed: int) -> SurrogateDynamics:
    """A stored forecaster as a stream's dynamics: one parameter draw per member, keyed by
    the stream's seed."""
    return SurrogateDynamics.of(forecaster, members, derived_seed63(seed, 0, DRAWS))


def to_bytes(E: Ensemble, memory: Memory | None = None) -> bytes:
    """The members and, for a recurrent observer, the memory their analysis left."""
    return pack({"E": E} if memory is None else {"E": E, "memory": memory})


def from_bytes(data: bytes) -> tuple[Ensemble, Memory | None]:
    """`to_bytes`' members and memory (None when it had none: an EnKF's, or stored before
    observers had memory, which then starts afresh)."""
    tensors = unpack(data)
    return tensors["E"], tensors.get("memory")


def _moments(E: Tensor, extra_var: Tensor | None, dim: int) -> tuple[Tensor, Tensor]:
    var = E.var(dim, unbiased=True) if E.shape[dim] > 1 else torch.zeros_like(E.select(dim, 0))
    if extra_var is not None:
        var = var + extra_var
    return E.mean(dim), var.sqrt()


def summarize(E: Tensor, extra_var: Tensor | None = None) -> tuple[list[Any], list[Any]]:
    """Ensemble mean and spread over members, as lists: the spread is the std over members
    (unbiased) plus any variance the members do not show (`extra_var`)."""
    mean, spread = _moments(E, extra_var, 0)
    return mean.tolist(), spread.tolist()


def summarize_cycles(results: Sequence[CycleAnalysis]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread (K, n) of K analyses at once (per-analysis calls add up), float64."""
    extra = [r.extra_var for r in results]
    extra_var = None if extra[0] is None else torch.stack(extra)  # type: ignore[arg-type]  # all or none
    members = [r.E for r in results if r.E is not None]  # analyses: all have members
    mean, spread = _moments(torch.stack(members), extra_var, 1)
    return mean.cpu().double().numpy(), spread.cpu().double().numpy()


# An observation as `StreamModel.run` takes it: its time, its values (None: missing), and
# its own noise std (m,), or None for the stream's.
Reading = tuple[float, Sequence[float | None], Sequence[float] | None]


@dataclass(frozen=True, eq=False)
class StreamForecast:
    """A forecast from a stream's state: per step (h, d) summaries, the times they are at,
    whether the series is univariate (a surrogate's series of one value per step), and
    what it was made from."""

    forecast: Forecast
    times: list[float]
    univariate: bool
    fitted: dict[str, Any]


@dataclass(frozen=True, eq=False)
class StreamState:
    """Where a forecast starts: the latest analysis members E at time t (of observation
    last_seq), and their stored spread (a single observer's predicted analysis error)."""

    E: Ensemble
    spread: Sequence[float] | None
    t: float
    last_seq: int


@dataclass(frozen=True, eq=False)
class StreamModel:
    """dynamics: a system or a learned surrogate; dt: its integration step."""

    dynamics: Dynamics
    filter: Filter
    dt: float
    seed: int

    @classmethod
    def build(
        cls,
        dynamics: Dynamics,
        method: FilterConfig | NeuralObserver,
        *,
        indices: Sequence[int] | None,
        noise_std: float,
        dt: float,
        seed: int,
        gate: float | None = None,
    ) -> StreamModel:
        """The stream observing components `indices` (None: all) with noise std `noise_std`,
        filtered by the EnKF family (`FilterConfig`) or a trained observer, each reading
        screened by the background check at `gate` (None: off). A surrogate's indices are
        those of its series' newest value, within its window state."""
        if isinstance(dynamics, SurrogateDynamics):
            indices = dynamics.newest_indices(None if indices is None else list(indices))
        idx = None if indices is None else torch.tensor(list(indices))
        obs = LinearObs(dynamics.n, indices=idx, noise_std=noise_std)
        flt: Filter
        if isinstance(method, NeuralObserver):
            flt = ObserverFilter(method, obs, dt, gate)
        else:
            flt = EnsembleFilter(method, obs, dt, dynamics.periodic, gate)
        return cls(dynamics, flt, dt, seed)

    def dynamics_up_to(self, seq: int) -> Dynamics:
        """The dynamics of the steps up to observation seq: a surrogate's step noise is keyed
        by (seed, seq), so batching never changes it."""
        if isinstance(self.dynamics, SurrogateDynamics):
            return self.dynamics.seeded(derived_generator(self.seed, seq, STEP_NOISE))
        return self.dynamics

    def initial_ensemble(
        self,
        mean: Sequence[float] | None,
        std: float,
        start: np.ndarray | None = None,
    ) -> Ensemble:
        """Members around `mean` with `std`, drawn with key (seed, 0); with no mean, a
        climatological ensemble: members drawn around zero, then run freely for
        SPIN_UP_STEPS onto the system's attractor (a cold start at the origin, which no
        trajectory of Lorenz-63 visits, had the quality control reject the first readings
        as 14 sd off and then pull the state far off the attractor); or, for a surrogate
        given the series up to t0, the members' windows `start` (N, n) from
        `surrogate_start.starting_windows` (the forecaster supplies the spread)."""
        N = self.filter.members
        if start is not None:
            if start.shape != (N, self.dynamics.n):
                raise ValueError(f"start must be ({N}, {self.dynamics.n}), got {start.shape}")
            return torch.tensor(start, dtype=DTYPE)
        m = torch.tensor(mean if mean is not None else [0.0] * self.dynamics.n, dtype=DTYPE)
        E = ensemble_init(m, float(std), N, derived_generator(self.seed, 0))
        if mean is not None or isinstance(self.dynamics, SurrogateDynamics):
            return E
        dt = self.dynamics.default_dt
        return integrate(self.dynamics, E, 0.0, SPIN_UP_STEPS * dt, dt)

    def cycle(
        self,
        E: Ensemble,
        t0: float,
        t1: float,
        values: Sequence[float | None],
        seq: int,
        noise_std: Sequence[float] | None = None,
        exclude: np.ndarray | None = None,
        recent: np.ndarray | None = None,
        memory: Memory | None = None,
    ) -> CycleAnalysis | None:
        """Forecast E from t0 to t1 and assimilate observation seq (`values` at t1, None or
        NaN where a reading is missing; `noise_std` its own, scalar or per component;
        `exclude` (m,) bool, the components of failed sensors; `recent`, the sensors' last
        squared z-scores, `Sensors.recent`; `memory`, what E's analysis left a recurrent
        observer). None when the forecast or analysis overflowed
        (an observation far off the model's scale): the caller keeps the previous ensemble;
        a result without E when no reading passed the screening."""
        y = torch.from_numpy(np.array(values, dtype=np.float64)).to(E.dtype)  # None: NaN
        std = None if noise_std is None else torch.tensor(noise_std, dtype=torch.float64)
        out = exclude if exclude is not None and exclude.any() else None
        gen = derived_generator(self.seed, seq) if self.filter.draws_random else None
        try:  # an overflowed forecast gives a non-finite analysis, or fails to decompose
            dynamics = self.dynamics_up_to(seq)
            result = self.filter.cycle(
                dynamics, E, t0, t1, y, gen, noise_std=std, exclude=out, recent=recent,
                memory=memory,
            )  # fmt: skip
            if result.E is not None and not all_finite(result.E):
                raise OverflowError("analysis")
        except (OverflowError, torch.linalg.LinAlgError):  # type: ignore[attr-defined]  # not in the stubs
            return None
        return result

    @property
    def runs(self) -> bool:
        """Whether `run` may take many observations in one call (`ObserverFilter.runs`: a
        neural observer with a compiled cycle and the background check on); else it gives
        None."""
        return isinstance(self.filter, ObserverFilter) and self.filter.runs(self.dynamics)

    def run(
        self,
        E: Ensemble,
        t0: float,
        observations: Sequence[Reading],
        sensors: Sensors,
        memory: Memory | None = None,
    ) -> tuple[list[CycleAnalysis | None], Sensors] | None:
        """`cycle` for observations in a row, each (t, values, noise_std), the times
        non-decreasing from t0, the sensors' health carried from one to the next:
        each one's result, as `cycle` gives it, and the sensors after them, in one compiled
        call where the filter has one (`ObserverFilter.run`). None where it has none: call
        `cycle` for each."""
        if not self.runs:
            return None
        assert isinstance(self.filter, ObserverFilter)  # as `runs` said
        times = np.array([t for t, _, _ in observations], dtype=np.float64)
        Y = np.array([values for _, values, _ in observations], dtype=np.float64)  # None: NaN
        noise = [std for _, _, std in observations]
        return self.filter.run(self.dynamics, E, t0, times, Y, noise, sensors, memory)

    def forecast(
        self,
        start: StreamState,
        horizon: int,
        levels: Sequence[float],
        quantiles: Sequence[float],
        progress: Callable[[float], object],
    ) -> StreamForecast:
        """`horizon` steps past the latest analysis, every member integrated; the
        epistemic/aleatoric split is `_surrogate_paths`' or `_system_paths`'."""
        if isinstance(self.dynamics, SurrogateDynamics):
            paths, means = self._surrogate_paths(self.dynamics, start, horizon, progress)
            times = [start.t + k + 1 for k in range(horizon)]
            fitted = {"t0": start.t, "dt": 1.0, "lags": self.dynamics.p}
            univariate = self.dynamics.d == 1
        else:
            paths, means = self._system_paths(start, horizon, progress)
            times = [start.t + self.dt * (k + 1) for k in range(horizon)]
            fitted, univariate = {"t0": start.t, "dt": self.dt}, False
        forecast = summarize_samples(paths, means, levels, quantiles)
        return StreamForecast(forecast, times, univariate, fitted)

    def _system_paths(
        self, start: StreamState, horizon: int, progress: Callable[[float], object]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(paths, conditional means), each (S, h, n). Deterministic dynamics: the members'
        spread is all the uncertainty there is (epistemic; the means are the paths). A
        single member (one neural observer) starts SINGLE_DRAWS paths from draws of its
        predicted analysis error (the stream's spread, keyed by (seed, last_seq)); with no
        members to disagree, that spread is aleatoric around the member's own path."""
        E = start.E
        single = E.shape[0] == 1
        if single:
            noise = torch.randn(
                (SINGLE_DRAWS, E.shape[1]),
                generator=derived_generator(self.seed, start.last_seq),
                dtype=E.dtype,
            )
            E = torch.cat((E, E + torch.tensor(start.spread, dtype=E.dtype) * noise))
        path = torch.empty((E.shape[0], horizon, E.shape[1]), dtype=E.dtype)
        for k in range(horizon):
            E = self.dynamics.step(E, self.dt)
            path[:, k] = E
            progress((k + 1) / horizon)
        X = path.numpy()
        if single:
            return X[1:], np.broadcast_to(X[:1], X[1:].shape)
        return X, X

    def _surrogate_paths(
        self,
        dynamics: SurrogateDynamics,
        start: StreamState,
        horizon: int,
        progress: Callable[[float], object],
    ) -> tuple[np.ndarray, np.ndarray]:
        """(paths, conditional means) of the series, each (N, h, d), one per member: its
        noisy path and its noiseless twin (same parameter draw). Epistemic = spread of the
        noiseless paths over members (state and parameter uncertainty), aleatoric = the
        noise on top (exact for a linear AR, as in its predict). The noise is keyed by
        (seed, last_seq, FORECAST_NOISE)."""
        noisy = dynamics.seeded(derived_generator(self.seed, start.last_seq, FORECAST_NOISE))
        mean = dynamics.noiseless()
        X, Xm = start.E, start.E
        paths = torch.empty((2, X.shape[0], horizon, dynamics.d), dtype=X.dtype)
        for k in range(horizon):
            X, Xm = noisy.step(X, 1.0), mean.step(Xm, 1.0)
            paths[0, :, k], paths[1, :, k] = dynamics.newest(X), dynamics.newest(Xm)
            progress((k + 1) / horizon)
        Y = paths.numpy()
        return Y[0], Y[1]


def warm_up() -> None:
    """A few cycles of a small Lorenz-96 twin through a stream's compiled kernels (RK4, the
    ETKF's analysis, a neural observer's and its runs, the background check, the sensors'
    health; numba
    compiles them, or loads them from its cache, on their first call) and torch's first
    linear algebra, so that the first stream a worker serves after it starts runs at full
    speed: on a fresh install the compiling alone took seconds of the first stream's
    observations (4.5 s of an observer stream's first cycle)."""
    observer = _untrained_observer(8)
    for method, gate in (
        (FilterConfig("etkf", 4, "adaptive"), 4.0),
        (observer, 4.0),  # quality control on: forecast, check and analysis in one call
        (observer, None),  # off: one compiled call a cycle while every reading is there
    ):
        model = StreamModel.build(
            Lorenz96(n=8), method, indices=None, noise_std=1.0, dt=0.05, seed=0, gate=gate
        )
        E, sensors = model.initial_ensemble(None, 1.0, None), Sensors.new(8)
        memory = None
        for seq in (1, 2, 3):  # the last with a reading missing: the screening's path
            values: list[float | None] = [1.0] * 7 + [None] if seq == 3 else [1.0] * 8
            t0, t1 = 0.05 * (seq - 1), 0.05 * seq
            result = model.cycle(
                E, t0, t1, values, seq, None, sensors.failed, sensors.recent, memory
            )
            if result is not None and result.screened is not None:
                sensors = sensors.update(result.screened)
            if result is not None and result.E is not None:
                E, memory = result.E, result.memory
        if model.runs:  # a backlog's observations in one call
            readings: list[Reading] = [
                (0.2, [1.0] * 7 + [None], None),
                (0.25, [1.0] * 8, [0.5] * 8),
            ]
            model.run(E, 0.15, readings, sensors, memory)
    # The analysis alone, as an observer of other dynamics than Lorenz-96 calls it.
    observer.analysis(torch.zeros((1, 8), dtype=torch.float64), torch.ones(8, dtype=torch.float64))


def _untrained_observer(n: int) -> NeuralObserver:
    """A small local-gain observer with random weights: the arrays a trained one holds, of
    the same types, for the kernels' sake."""
    obs = LinearObs.identity(n, 1.0)
    cfg = ObserverConfig(hidden=4, patch=1, reach=1, memory=2, bred=2)
    gain = make_gain(obs, LocalGain.kind, cfg)
    theta = initial_weights(gain, cfg, torch.Generator().manual_seed(0))
    return NeuralObserver(gain, theta, 0.0, 1.0, obs, cfg)
