"""Setups, runners and scores for bench/assimilation.py (ours vs DAPPER on the same data).

Each setup is one of DAPPER's published HMMs (its dynamics, observation operator, noise,
initial-condition distribution X0, time step and observation interval), shortened to
`cycles` analyses. For every seed, DAPPER's `HMM.simulate()` draws the truth and the
observations once; both implementations then filter exactly those arrays, starting from
the same initial ensemble (one draw from the HMM's X0 per seed and method).

DAPPER is run through its own `assimilate` code with a light recorder in place of its
`Stats` object (`Stats` recomputes many diagnostics at every model step, which would
swamp its timings); the recorder keeps the analysis ensembles and times the span from the
forecast assessment to the analysis assessment (DAPPER's analysis + post_process).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

os.environ.setdefault("MPLBACKEND", "Agg")  # nothing here plots
with contextlib.redirect_stdout(io.StringIO()):  # dapper prints a liveplotting note on import
    import dapper
    import dapper.da_methods.ensemble as dens
    import dapper.tools.progressbar as dprogbar
    from dapper.dpr_config import rc as dapper_rc
    from dapper.tools.seeding import set_seed as dapper_set_seed

from models.assimilation import FilterConfig, LinearObs, analysis  # noqa: E402
from models.dynamics import integrate, make_dynamics  # noqa: E402
from models.metrics import crps_from_samples  # noqa: E402

dapper_rc.liveplotting = False
dprogbar.disable_progbar = True  # no tqdm: no output, no per-step overhead in the timings

DAPPER_VERSION = getattr(dapper, "__version__", "unknown")
DIVERGENCE_WINDOW = 100  # cycles: a window whose mean analysis RMSE exceeds sigma_obs diverged


@dataclass(frozen=True)
class Method:
    """One filter, in our FilterConfig and as DAPPER's xp (None: no DAPPER counterpart)."""

    label: str
    ours: FilterConfig
    dapper: Callable[[], Any] | None
    dapper_repr: str = ""
    listed_rmse: float | None = None  # rmse.a listed in DAPPER's module for this method
    dapper_seeds: int | None = None  # run DAPPER on the first this many seeds only (cost)


@dataclass(frozen=True)
class Setup:
    """A DAPPER HMM shortened to `cycles` analyses, and the methods run on it."""

    name: str
    module: str  # DAPPER module holding HMM
    system: str  # our make_dynamics name
    params: dict
    cycles: int  # number of analyses (DAPPER Ko + 1)
    burn_in: float  # model time units discarded before averaging
    seeds: int  # default number of seeds
    methods: tuple[Method, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def hmm(self, cycles: int | None = None, burn_in: float | None = None) -> Any:
        """A deep copy of DAPPER's HMM with the shortened chronology."""
        HMM = copy.deepcopy(importlib.import_module(self.module).HMM)
        cyc = self.cycles if cycles is None else cycles
        bi = self.burn_in if burn_in is None else burn_in
        t = HMM.tseq
        dapper_tseq = type(t)(t.dt, dko=t.dko, Ko=cyc - 1, BurnIn=bi, Tplot=t.Tplot)
        HMM.tseq = dapper_tseq
        return HMM


def _etkf(N: int, infl: float | str, rot: bool = True) -> FilterConfig:
    return FilterConfig(method="etkf", ensemble_size=N, inflation=infl, rotate=rot)


def _letkf(N: int, infl: float | str, radius: float, rot: bool = True) -> FilterConfig:
    return FilterConfig(
        method="letkf", ensemble_size=N, inflation=infl, localization_radius=radius, rotate=rot
    )


def build_setups() -> dict[str, Setup]:
    """The three setups with the hyperparameters of DAPPER's 'suggested tuning' listings."""
    EnKF, EnKF_N, LETKF = dens.EnKF, dens.EnKF_N, dens.LETKF
    ks_rad = 51 / 1.82  # bocquet2019.py: LETKF(N=16, loc_rad=51/1.82, infl=1.02, rot=True)
    return {
        "L96": Setup(
            name="L96",
            module="dapper.mods.Lorenz96.sakov2008",
            system="lorenz96",
            params={"n": 40, "F": 8.0},
            cycles=2_000,
            burn_in=20.0,  # sakov2008: BurnIn = 2 * Tplot = 20 (400 cycles)
            seeds=10,
            methods=(
                Method(
                    "ETKF N=24 infl=1.013",
                    _etkf(24, 1.013),
                    lambda: EnKF("Sqrt", N=24, infl=1.013, rot=True),
                    "EnKF('Sqrt', N=24, infl=1.013, rot=True)",
                    0.18,
                ),
                Method(
                    "ETKF N=24 enkf_n",
                    _etkf(24, "enkf_n"),
                    lambda: EnKF_N(N=24, rot=True),
                    "EnKF_N(N=24, rot=True)",
                    0.21,
                ),
                Method(
                    "ETKF N=24 adaptive",
                    _etkf(24, "adaptive"),
                    lambda: EnKF_N(N=24, rot=True, xN=2.0),
                    "EnKF_N(N=24, rot=True, xN=2)",
                    0.18,
                ),
                Method(
                    "LETKF N=7 infl=1.04 r=4",
                    _letkf(7, 1.04, 4.0),
                    lambda: LETKF(N=7, rot=True, infl=1.04, loc_rad=4),
                    "LETKF(N=7, rot=True, infl=1.04, loc_rad=4)",
                    0.22,
                ),
                Method(
                    "LETKF N=7 adaptive r=4",
                    _letkf(7, "adaptive", 4.0),
                    lambda: LETKF(N=7, rot=True, loc_rad=4, xN=1.0),
                    "LETKF(N=7, rot=True, loc_rad=4, xN=1)",
                    None,
                    3,  # DAPPER's local EnKF-N: ~9 ms/cycle
                ),
            ),
            notes=(
                "DAPPER's LETKF analyses batches of 2 grid points (sakov2008's "
                "nd_Id_localization((40,), (2,))) with the batch-mean distance and drops "
                "observations whose taper < 1e-3; ours analyses each grid point",
            ),
        ),
        "L63": Setup(
            name="L63",
            module="dapper.mods.Lorenz63.sakov2012",
            system="lorenz63",
            params={},
            cycles=1_000,
            burn_in=16.0,  # sakov2012: BurnIn = 4 * Tplot = 16 (64 cycles)
            seeds=10,
            methods=(
                Method(
                    "ETKF N=10 infl=1.02",
                    _etkf(10, 1.02),
                    lambda: EnKF("Sqrt", N=10, infl=1.02, rot=True),
                    "EnKF('Sqrt', N=10, infl=1.02, rot=True)",
                    0.60,
                ),
                Method(
                    "ETKF N=10 enkf_n",
                    _etkf(10, "enkf_n"),
                    lambda: EnKF_N(N=10, rot=True),
                    "EnKF_N(N=10, rot=True)",
                    0.54,
                ),
                Method(
                    "ETKF N=10 adaptive",
                    _etkf(10, "adaptive"),
                    lambda: EnKF_N(N=10, rot=True, xN=2.0),
                    "EnKF_N(N=10, rot=True, xN=2)",
                ),
            ),
        ),
        "KS": Setup(
            name="KS",
            module="dapper.mods.KS.bocquet2019",
            system="ks",
            params={"n": 128, "L": 32 * math.pi},
            cycles=500,
            burn_in=100.0,  # bocquet2019 uses 2,000 (of 20,000); shortened with the run
            seeds=3,
            methods=(
                Method(
                    "LETKF N=16 infl=1.02 r=28",
                    _letkf(16, 1.02, ks_rad),
                    lambda: LETKF(N=16, loc_rad=ks_rad, infl=1.02, rot=True),
                    "LETKF(N=16, loc_rad=51/1.82, infl=1.02, rot=True)",
                    0.11,
                ),
                Method(
                    "LETKF N=16 adaptive r=28",
                    _letkf(16, "adaptive", ks_rad),
                    lambda: LETKF(N=16, loc_rad=ks_rad, rot=True, xN=1.0),
                    "LETKF(N=16, loc_rad=51/1.82, rot=True, xN=1)",
                    None,
                ),
            ),
            notes=(
                "DAPPER's KS keeps the Nyquist mode neutral (wavenumber set to 0); ours "
                "damps it (L(k) = k^2 - k^4 at k = 4): a model difference of ~3e-3 in the "
                "truth's Nyquist component, otherwise the steps agree to 1e-14",
                "DAPPER's LETKF analyses batches of 4 grid points (bocquet2019's "
                "nd_Id_localization((128,), (4,))); ours analyses each grid point",
            ),
        ),
    }


# --------------------------------------------------------------------------- DAPPER side
class _FixedX0:
    """Stands in for HMM.X0 so that DAPPER starts from a given ensemble."""

    def __init__(self, E0: np.ndarray) -> None:
        self.E0 = E0

    def sample(self, N: int) -> np.ndarray:
        assert N == len(self.E0)
        return self.E0.copy()


class _Series(dict):
    """Accepts `series[ko] = value` like DAPPER's stats series."""


class _Recorder:
    """Minimal stand-in for dapper.stats.Stats: keeps analysis ensembles, times analyses."""

    def __init__(self, n_obs: int, N: int, Nx: int) -> None:
        self.Ea = np.full((n_obs, N, Nx), np.nan)
        self.t_analysis = 0.0
        self.n_analysis = 0
        self._t0: float | None = None
        self.trHK, self.infl = _Series(), _Series()

    def assess(self, k: int, ko: int | None = None, faus: str | None = None, E=None, **_):
        if ko is None:
            return
        if faus == "f":
            self._t0 = time.perf_counter()
            return
        if self._t0 is not None:
            self.t_analysis += time.perf_counter() - self._t0
            self.n_analysis += 1
            self._t0 = None
        self.Ea[ko] = E

    def new_series(self, *args, **kwargs) -> None:
        pass

    def write(self, *args, **kwargs) -> None:
        pass


def run_dapper(method: Method, HMM: Any, xx: np.ndarray, yy: Any, E0: np.ndarray, seed: int):
    """DAPPER's `assimilate` (unwrapped: no Stats) from E0; returns (Ea, t_total, t_analysis)."""
    assert method.dapper is not None
    xp = method.dapper()
    H = copy.copy(HMM)
    H.X0 = _FixedX0(E0)
    rec = _Recorder(H.tseq.Ko + 1, *E0.shape)
    xp.stats = rec
    dapper_set_seed(seed)  # DAPPER's rotations
    raw = type(xp).assimilate.__wrapped__
    t0 = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            raw(xp, H, xx, yy)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        pass  # crashed: the analyses not reached stay NaN, which counts as diverged
    total = time.perf_counter() - t0
    return rec.Ea, total, rec.t_analysis


# ---------------------------------------------------------------------------- ours side
def run_ours(
    method: Method,
    setup: Setup,
    HMM: Any,
    yy: np.ndarray,
    E0: np.ndarray,
    seed: int,
):
    """Our cycle (the loop of models.assimilation.assimilate, with the analysis timed)."""
    model = make_dynamics(setup.system, setup.params)
    t = HMM.tseq
    Nx = HMM.Dyn.M
    Op = HMM.Obs(0)
    assert np.array_equal(Op(np.eye(Nx)), np.eye(Nx)), "all setups observe every component"
    obs = LinearObs.identity(Nx, torch.as_tensor(np.sqrt(Op.noise.C.diag)))
    ys = torch.as_tensor(np.stack(list(yy)), dtype=torch.float64)
    times = [float(x) for x in t.tto]
    gen = torch.Generator().manual_seed(seed)
    cfg = method.ours
    E = torch.as_tensor(E0, dtype=torch.float64).clone()
    Ea = torch.full((len(times), *E.shape), float("nan"), dtype=torch.float64)
    t_an, tk_prev = 0.0, 0.0
    start = time.perf_counter()
    try:
        for k, tk in enumerate(times):
            E = integrate(model, E, tk_prev, tk, t.dt)
            tk_prev = tk
            a0 = time.perf_counter()
            E, _ = analysis(E, ys[k], obs, cfg, periodic=model.periodic, generator=gen)
            t_an += time.perf_counter() - a0
            Ea[k] = E
    except (torch.linalg.LinAlgError, RuntimeError, ValueError):
        pass  # crashed (NaN/inf ensemble): the rest stays NaN, counts as diverged
    total = time.perf_counter() - start
    return Ea.numpy(), total, t_an


# ------------------------------------------------------------------------------ scores
def score(Ea: np.ndarray, truth: np.ndarray, keep: np.ndarray, sigma_obs: float) -> dict[str, Any]:
    """Scores of analysis ensembles Ea (K, N, n) against truth (K, n) on cycles `keep`."""
    E, x = Ea[keep], truth[keep]
    N = E.shape[1]
    with np.errstate(all="ignore"):
        err = E.mean(axis=1) - x
        rmse_t = np.sqrt(np.mean(err**2, axis=-1))
        spread_t = np.sqrt(np.mean(E.var(axis=1, ddof=1), axis=-1))
    finite = bool(np.all(np.isfinite(rmse_t)))
    w = min(DIVERGENCE_WINDOW, len(rmse_t))
    if finite:
        c = np.cumsum(np.r_[0.0, rmse_t])
        worst_window = float(np.max((c[w:] - c[:-w]) / w))
    else:
        worst_window = float("inf")
    out: dict[str, Any] = {
        "rmse": float(np.mean(rmse_t)),
        "spread": float(np.mean(spread_t)),
        "worst_window_rmse": worst_window,
        "diverged": (not finite) or worst_window > sigma_obs,
    }
    if finite:
        out["crps"] = float(np.mean(crps_from_samples(np.moveaxis(E, 1, 0), x)))
        ranks = np.sum(E < x[:, None, :], axis=1).ravel()
        counts = np.bincount(ranks, minlength=N + 1)
        rel = counts / (counts.sum() / (N + 1))
        out["rank_hist"] = counts.tolist()
        out["rank_hist_dev"] = float(np.sqrt(np.mean((rel - 1.0) ** 2)))
    else:
        out["crps"] = out["rank_hist_dev"] = float("nan")
        out["rank_hist"] = None
    return out


def run_seed(
    setup: Setup,
    HMM: Any,
    seed: int,
    methods: tuple[Method, ...] | None = None,
    *,
    seed_index: int = 0,
    impls: tuple[str, ...] = ("ours", "dapper"),
) -> list[dict[str, Any]]:
    """Simulate one truth + observations with DAPPER, run every method in both implementations.

    Both start from the same initial ensemble (one X0 draw per seed and method); DAPPER's
    rotations use its seeded generator, ours a seeded torch.Generator.
    """
    dapper_set_seed(1_000 + seed)
    xx, yy = HMM.simulate()
    truth = xx[HMM.tseq.kko]
    keep = HMM.tseq.masko
    sigma_obs = float(np.sqrt(np.mean(HMM.Obs(0).noise.C.diag)))
    records = []
    for j, method in enumerate(methods or setup.methods):
        dapper_set_seed(100_000 + 100 * seed + j)
        E0 = HMM.X0.sample(method.ours.ensemble_size)
        for impl in impls:
            if impl == "dapper" and (
                method.dapper is None
                or (method.dapper_seeds is not None and seed_index >= method.dapper_seeds)
            ):
                continue
            run_seed_ = 10_000 * seed + 10 * j + 1
            if impl == "ours":
                Ea, total, t_an = run_ours(method, setup, HMM, yy, E0, run_seed_)
            else:
                Ea, total, t_an = run_dapper(method, HMM, xx, yy, E0, run_seed_)
            K = len(truth)
            records.append(
                {
                    "setup": setup.name,
                    "method": method.label,
                    "impl": impl,
                    "seed": seed,
                    "cycles": K,
                    "cycles_scored": int(keep.sum()),
                    "ms_per_cycle": 1e3 * total / K,
                    "ms_per_analysis": 1e3 * t_an / K,
                }
                | score(Ea, truth, keep, sigma_obs)
            )
    return records


def warm_up(setup: Setup, methods: tuple[Method, ...]) -> None:
    """A few cycles of every method in both implementations, so first-call costs
    (imports, torch's lazy initialisation, KS coefficient tables) stay out of the timings."""
    HMM = setup.hmm(cycles=5, burn_in=0.0)
    run_seed(setup, HMM, 999, methods)
