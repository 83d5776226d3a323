"""One `Filter` protocol for every online corrector: the EnKF family and the neural observer.

A filter's `cycle` forecasts the members from t0 to t1 with the dynamics, screens the
observation y at t1 (missing readings, the background check, sensors left out: `quality`),
corrects the members with what passed, and says what a stream stores of the cycle
(`CycleAnalysis`). A stream (`models.assimilation.stream`) owns the dynamics and the keyed
randomness and calls one filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from models.assimilation.config import FilterConfig, analysis
from models.assimilation.observation import LinearObs
from models.assimilation.observer import NeuralObserver
from models.assimilation.observer.host import DIVERGED, SCREENED_OUT, HostLocalGain, ScreenedRun
from models.assimilation.quality import (
    FAILED,
    Screened,
    Sensors,
    background_check,
    kernel_limits,
    screen_arguments,
)
from models.dynamics.base import Dynamics, integrate, step_sizes
from models.dynamics.lorenz96 import Lorenz96
from models.host import all_finite, member_mean


@dataclass(frozen=True, eq=False)
class CycleAnalysis:
    """One cycle's outcome. E: (N, n) analysis members, or None when no reading passed the
    screening (nothing was assimilated; the caller keeps its ensemble); extra_var: (n,)
    variance the members do not show (a neural observer's predicted error variance; None for
    the EnKF family); innovation_rms: RMS of y - H mean(forecast) over the readings used;
    inflation: the factor used (mean over grid points when it varies), None where there is
    none; screened: each component's z-score and fate (None when nothing was checked);
    memory: what a recurrent observer carries to its next analysis, (N, n, c) (None for the
    EnKF family, for an observer without memory, and when nothing was assimilated)."""

    E: Tensor | None
    extra_var: Tensor | None
    innovation_rms: float
    inflation: float | None
    screened: Screened | None = None
    memory: Tensor | None = None


@runtime_checkable
class Filter(Protocol):
    @property
    def members(self) -> int:
        """Ensemble size the filter runs with."""
        ...

    @property
    def draws_random(self) -> bool:
        """Whether an analysis draws random numbers (then `cycle` needs a generator)."""
        ...

    def cycle(
        self,
        dynamics: Dynamics,
        E: Tensor,
        t0: float,
        t1: float,
        y: Tensor,
        generator: torch.Generator | None = None,
        *,
        noise_std: Tensor | None = None,
        exclude: np.ndarray | None = None,
        recent: np.ndarray | None = None,
        memory: Tensor | None = None,
    ) -> CycleAnalysis:
        """E: (N, n) analysis members at t0 -> the analysis at t1 given y: (m,) at t1 (NaN
        for missing readings). noise_std: this observation's own (m,) noise std; exclude:
        (m,) bool, components left out (failed sensors); recent: (m, RECENT) the sensors'
        last squared z-scores (`Sensors.recent`), which judge an observation of < 3 readings;
        memory: what E's analysis left a recurrent observer (`CycleAnalysis.memory`; None: a
        start)."""
        ...


def _screening_needed(y: Tensor, gate: float | None, exclude: np.ndarray | None) -> bool:
    """Whether the cycle must screen y: a check on, a missing reading, or a sensor out."""
    return gate is not None or exclude is not None or not all_finite(y)


def _innovation_rms(y: Tensor, Hx: Tensor) -> float:
    return float((y - Hx).pow(2).mean().sqrt())


@dataclass(frozen=True, eq=False)
class EnsembleFilter:
    """Stochastic EnKF, ETKF or LETKF (`FilterConfig.method`), integrating in steps of dt;
    gate: the background check's largest accepted |z| (None: no check).
    Refs: Evensen 2009; Bishop et al. 2001 (ETKF); Hunt et al. 2007 (LETKF)."""

    config: FilterConfig
    obs: LinearObs
    dt: float
    periodic: bool = False
    gate: float | None = None

    @property
    def members(self) -> int:
        return self.config.ensemble_size

    @property
    def draws_random(self) -> bool:
        return self.config.method == "enkf" or self.config.rotate

    def cycle(
        self,
        dynamics: Dynamics,
        E: Tensor,
        t0: float,
        t1: float,
        y: Tensor,
        generator: torch.Generator | None = None,
        *,
        noise_std: Tensor | None = None,
        exclude: np.ndarray | None = None,
        recent: np.ndarray | None = None,
        memory: Tensor | None = None,
    ) -> CycleAnalysis:
        Ef = integrate(dynamics, E, t0, t1, self.dt)
        obs = self.obs if noise_std is None else self.obs.with_noise(noise_std)
        screened = None
        if _screening_needed(y, self.gate, exclude):
            screened = background_check(Ef, y, obs, self.gate, exclude, recent)
            if not bool(screened.used.any()):
                return CycleAnalysis(None, None, float("nan"), None, screened)
            if not bool(screened.used.all()):  # this cycle's operator: the readings used
                keep = torch.from_numpy(screened.used)
                obs, y = obs.rows(keep), y[keep.to(y.device)]
        Ea, info = analysis(Ef, y, obs, self.config, periodic=self.periodic, generator=generator)
        infl = info.inflation if info.inflation.ndim == 0 else info.inflation.mean()
        return CycleAnalysis(Ea, None, float(info.innovation_rms), float(infl), screened)


@dataclass(frozen=True, eq=False)
class ObserverFilter:
    """A trained neural observer's members (on Lorenz-96 one compiled call per cycle, or
    three with the screening: forecast, background check, analysis). obs:
    the stream's operator, which the innovation diagnostic and the screening use. A reading
    that is missing or fails the screening gives the gain no innovation (it reads y = H x_f
    there): the observer was trained on one operator, which cannot change per cycle."""

    observer: NeuralObserver
    obs: LinearObs
    dt: float
    gate: float | None = None

    @property
    def members(self) -> int:
        return self.observer.members

    @property
    def draws_random(self) -> bool:
        return False

    def cycle(
        self,
        dynamics: Dynamics,
        E: Tensor,
        t0: float,
        t1: float,
        y: Tensor,
        generator: torch.Generator | None = None,
        *,
        noise_std: Tensor | None = None,
        exclude: np.ndarray | None = None,
        recent: np.ndarray | None = None,
        memory: Tensor | None = None,
    ) -> CycleAnalysis:
        if not _screening_needed(y, self.gate, exclude):
            Ef, Ea, var, mem = self.observer.cycle(dynamics, E, t0, t1, self.dt, y, memory)
            Hx = self.obs.H_apply(Ef.mean(0))
            return CycleAnalysis(Ea, member_mean(var), _innovation_rms(y, Hx), None, None, mem)
        obs = self.obs if noise_std is None else self.obs.with_noise(noise_std)
        host = self.observer.l96_host(dynamics, E)
        if host is not None and E.dtype == torch.float64:
            return self._screened_on_host(
                host, dynamics, E, t0, t1, y, obs, exclude, recent, memory
            )
        Ef = integrate(dynamics, E, t0, t1, self.dt)
        screened = background_check(Ef, y, obs, self.gate, exclude, recent)
        if not bool(screened.used.any()):
            return CycleAnalysis(None, None, float("nan"), None, screened)
        memory = self.observer.breed(dynamics, E, Ef, memory, t0, t1, self.dt)
        y_members = torch.from_numpy(screened.readings_or_forecast()).to(Ef)  # (M, m)
        Ea, var, mem = self.observer.analysis(Ef, y_members, memory)
        rms = screened.innovation_rms()
        return CycleAnalysis(Ea, member_mean(var), rms, None, screened, mem)

    def runs(self, dynamics: Dynamics) -> bool:
        """Whether `run` has a compiled run for these dynamics (else it gives None)."""
        return self.gate is not None and self.observer.runs_l96(dynamics)

    def run(
        self,
        dynamics: Dynamics,
        E: Tensor,
        t0: float,
        times: np.ndarray,
        Y: np.ndarray,
        noise_std: Sequence[Sequence[float] | None],
        sensors: Sensors,
        memory: Tensor | None,
    ) -> tuple[list[CycleAnalysis | None], Sensors] | None:
        """`cycle` for K observations in a row (readings Y (K, m) at `times` (K,), from t0 on,
        each with its own noise std, (m,), or None for the operator's) in one compiled call,
        where there is one: Lorenz-96 on the host with the background check on. The sensors'
        health moves between the cycles as a stream moves it, each leaving out the sensors
        failed before it. -> each cycle's result as a stream keeps it (None: the analysis was
        not finite), and the sensors after them. Only the last analysis carries the memory:
        the one the run leaves. None where no compiled run applies (call `cycle` for each)."""
        host = self.observer.l96_host(dynamics, E)
        if not self.runs(dynamics) or host is None or E.dtype != torch.float64:
            return None
        assert isinstance(dynamics, Lorenz96) and self.gate is not None  # as `runs` said
        R = np.empty_like(Y)
        R[:] = self.obs.R_diag.numpy()
        for k, std in enumerate(noise_std):  # as `cycle` screens with `obs.with_noise(std)`
            if std is not None:
                R[k] = np.square(np.asarray(std, dtype=np.float64))
        screening = (R, float(self.gate), kernel_limits(FAILED), sensors.health)
        mem = None if memory is None else memory.numpy()
        out = host.l96_screened_run(dynamics, E.numpy(), t0, times, self.dt, Y, screening, mem)
        results = [_run_result(out, k, Y[k]) for k in range(len(times))]
        analysed = [k for k, r in enumerate(results) if r is not None and r.E is not None]
        if analysed and out.memory is not None:
            last = results[analysed[-1]]
            assert last is not None  # an analysis
            results[analysed[-1]] = replace(last, memory=torch.from_numpy(out.memory))
        return results, sensors.with_health(out.health, out.updates)

    def _screened_on_host(
        self,
        host: HostLocalGain,
        dynamics: Dynamics,
        E: Tensor,
        t0: float,
        t1: float,
        y: Tensor,
        obs: LinearObs,
        exclude: np.ndarray | None,
        recent: np.ndarray | None,
        memory: Tensor | None,
    ) -> CycleAnalysis:
        """The screened cycle on arrays (Lorenz-96, CPU): forecast, background check and
        analysis in one compiled call, with no tensor between them."""
        assert isinstance(dynamics, Lorenz96)  # l96_host said so
        args = screen_arguments(y.numpy(), obs, self.gate, exclude, recent)
        steps = step_sizes(t0, t1, self.dt)
        mem = None if memory is None else memory.numpy()
        HE, z, present, rejected, used, d, z2, Ea, var, nxt = host.l96_screened_cycle(
            dynamics, E.numpy(), steps, args, mem
        )
        screened = Screened(z, present, rejected, used, args[0], d, HE, z2)
        if not bool(used.any()):
            return CycleAnalysis(None, None, float("nan"), None, screened)
        extra = member_mean(torch.from_numpy(var))
        kept = None if nxt is None else torch.from_numpy(nxt)
        rms = screened.innovation_rms()
        return CycleAnalysis(torch.from_numpy(Ea), extra, rms, None, screened, kept)


def _run_result(out: ScreenedRun, k: int, y: np.ndarray) -> CycleAnalysis | None:
    """Observation k of a compiled run as `ObserverFilter.cycle`'s result (no memory)."""
    status = out.status[k]
    if status == DIVERGED:
        return None
    screened = Screened(
        out.z[k], out.present[k], out.rejected[k], out.used[k], y, out.innovation[k],
        out.forecast[k], out.z2[k],
    )  # fmt: skip
    if status == SCREENED_OUT:
        return CycleAnalysis(None, None, float("nan"), None, screened)
    Ea, var = torch.from_numpy(out.analysis[k]), torch.from_numpy(out.variance[k])
    return CycleAnalysis(Ea, var, float(out.innovation_rms[k]), None, screened)
