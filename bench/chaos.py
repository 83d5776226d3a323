"""Chaotic-systems forecasting: the dysts benchmark's published track and an uncertainty track.

Published track (Gilpin 2021, "Chaos as an interpretable benchmark for forecasting and
data-driven modelling", NeurIPS datasets track): for each of the 131 scored systems fit on
test[:1000] of the 100-points-per-period univariate trajectory, forecast 200 steps and score
sMAPE (0-200) of the first 199 against test[1000:1199]; the median over systems is printed
next to the 16 published models. Hyperparameters are chosen on the train trajectories only.

Uncertainty track: trajectories generated with dysts (DOP853, 30 points per Lyapunov time),
context 512, horizon 300, clean and with 0.2 std observation noise; CRPS, 80/95% coverage (raw
and split-conformal), valid prediction time and NRMSE, ours next to statsforecast AutoARIMA and
AutoETS. Run from the repo root: `python bench/chaos.py [--quick]`.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import importlib.util
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/chaos.py` work without the install
    sys.path.insert(0, str(ROOT))

from statsforecast.models import AutoARIMA, AutoETS  # noqa: E402

from bench._common import json_safe, machine_info  # noqa: E402
from models.forecasting.analog import AnalogForecaster  # noqa: E402
from models.forecasting.backtest import Backtestable, rolling_origin  # noqa: E402
from models.forecasting.base import Forecast, summarize_samples  # noqa: E402
from models.forecasting.bayes_ar import BayesianAR  # noqa: E402
from models.forecasting.bayes_ar_bma import BayesianARAveraged  # noqa: E402
from models.forecasting.conformal import calibration_backtest, conformal_adjust  # noqa: E402
from models.metrics import (  # noqa: E402
    crps_from_samples,
    crps_gaussian,
    interval_coverage,
    nrmse,
    smape,
    valid_prediction_steps,
    winkler_score,
)

try:  # where AnchoredEnsembleAR is missing the bench runs bayes_ar alone
    from models.forecasting.ensemble import AnchoredEnsembleAR
except ImportError:  # pragma: no cover
    AnchoredEnsembleAR = None  # type: ignore[assignment,misc]

DATA = ROOT / "bench" / "data" / "chaos"
LEVELS = (80.0, 95.0)
PUB_FIT, PUB_H, PUB_SCORE = 1000, 200, 199
PUB_FILES = {  # track -> (test file, train file used for tuning; no noisy train file ships)
    "pts_per_period_100": (
        "test_univariate__pts_per_period_100__periods_12.json.gz",
        "train_univariate__pts_per_period_100__periods_12.json.gz",
    ),
    "pts_per_period_100_noise": (
        "test_univariate__pts_per_period_100__periods_12_noise.json.gz",
        "train_univariate__pts_per_period_100__periods_12.json.gz",
    ),
    "pts_per_period_15": (
        "test_univariate__pts_per_period_15__periods_12.json.gz",
        "train_univariate__pts_per_period_15__periods_12.json.gz",
    ),
}
# (fit on y[:fit], forecast h, score the first `scored` against y[fit:]) per track
PUB_PROTOCOL = {"pts_per_period_15": (150, 30, 29)}
# The kinds run on the 15-point track: the others' settings (thinning strides, lags) are tuned
# for 100 points per period; analog chooses its own on each series.
TRACK_15_KINDS = ("analog",)
TUNE_ORIGINS = (600, 800, 1000)  # train windows: fit y[:o], score y[o:o+199]
TUNE_GRID = [{"stride": s, "max_lag": p} for s in (1, 4, 10, 16, 20, 25) for p in (8, 32)]
QUICK_GRID = [{"stride": s, "max_lag": 8} for s in (1, 20)]
_ENS = {"members": 8, "epochs": 200, "patience": 20}
ENSEMBLE_GRID = [{"stride": 5, "lags": 32} | _ENS, {"stride": 10, "lags": 16} | _ENS]
QUICK_ENSEMBLE_GRID = ENSEMBLE_GRID[1:]
ENSEMBLE_TUNE_ORIGINS = (800, 1000)  # fewer than bayes_ar's: each fit takes ~0.5 s
UQ_BAYES_AR = {"max_lag": 32}
UQ_ENSEMBLE = {"lags": 16} | _ENS
UQ_SYSTEMS = (
    "Lorenz",
    "Rossler",
    "Chen",
    "Thomas",
    "Halvorsen",
    "Aizawa",
    "SprottB",
    "Dadras",
    "Arneodo",
    "Rucklidge",
    "GenesioTesi",
    "Chua",
)
UQ_ICS, UQ_CONTEXT, UQ_H, UQ_PPL, UQ_NOISE = 5, 512, 300, 30, 0.2
UQ_BURN, UQ_SPACING = 300, 1000  # window i starts at BURN + i * SPACING (33 Lyapunov times apart)
UQ_CAL_FOLDS = 20  # conformal scores: folds of the fitted model, origins spread over the context
UQ_REFIT_FOLDS, UQ_CAL_STEP = 6, 12  # refit folds (AutoETS) inside the context: origins 152..212


# ---------------------------------------------------------------------------------------------
# Forecaster adapters (bench-side): thinning, and statsforecast behind the Forecaster interface
# ---------------------------------------------------------------------------------------------


@dataclass
class Thinned:
    """Fit `inner` on every `stride`-th point (ending at the last one), forecast ceil(h/stride)
    coarse steps and interpolate each sample path linearly back to the fine grid.

    At 100 points per period an AR on the raw grid only extrapolates local derivatives; on a
    coarser grid the same lag order spans a period. The summary is recomputed from the
    interpolated paths (so its epistemic/aleatoric split is not meaningful).
    """

    inner: Callable[[], Backtestable]
    stride: int = 1

    def fit(self, y: Any) -> Self:
        Y = np.asarray(y, dtype=np.float64)
        self.last = Y[-1].reshape(-1)
        self.model = self.inner().fit(Y[::-1][:: self.stride][::-1])
        return self

    def predict(
        self,
        horizon: int,
        *,
        levels: Sequence[float] = LEVELS,
        quantiles: Sequence[float] = (),
        num_samples: int = 1000,
        seed: int = 0,
        return_samples: bool = False,
    ) -> Forecast:
        k = self.stride
        n = -(-horizon // k)
        f = self.model.predict(
            n, levels=levels, num_samples=num_samples, seed=seed, return_samples=True
        )
        assert f.samples is not None
        if k == 1:
            P = f.samples
        else:
            S, _, d = f.samples.shape
            coarse = np.concatenate([np.broadcast_to(self.last, (S, 1, d)), f.samples], axis=1)
            xs, xf = k * np.arange(n + 1), np.arange(1, horizon + 1)
            j = np.minimum(xf // k, n - 1)  # interval [xs[j], xs[j+1]] holding each fine step
            w = ((xf - xs[j]) / k)[None, :, None]
            P = (1 - w) * coarse[:, j] + w * coarse[:, j + 1]
        return summarize_samples(P, P, levels, quantiles, return_samples)

    @property
    def params_(self) -> dict[str, Any]:
        return {"stride": self.stride, "inner": self.model.params_}


@dataclass
class StatsForecastModel:
    """A statsforecast model (AutoARIMA, AutoETS, SeasonalNaive) as a univariate Forecaster.

    Intervals are statsforecast's own; mean = median = its point forecast. Its predictive is
    Gaussian, so "samples" are S evenly spaced quantiles of N(mean, sigma^2), sigma from the
    widest requested interval: CRPS from them matches the closed form within ~1e-5.
    """

    cls: Any
    season_length: int = 1

    def fit(self, y: Any) -> Self:
        Y = np.asarray(y, dtype=np.float64)
        if Y.ndim == 2 and Y.shape[1] == 1:
            Y = Y[:, 0]
        if Y.ndim != 1:
            raise ValueError(f"statsforecast models are univariate; got shape {Y.shape}")
        self.model = self.cls(season_length=self.season_length).fit(Y)
        return self

    def predict(
        self,
        horizon: int,
        *,
        levels: Sequence[float] = LEVELS,
        quantiles: Sequence[float] = (),
        num_samples: int = 1000,
        seed: int = 0,
        return_samples: bool = False,
    ) -> Forecast:
        lv = sorted({float(L) for L in levels} | {95.0})
        out = self.model.predict(h=horizon, level=[_lvl(L) for L in lv])
        mean = np.asarray(out["mean"], dtype=np.float64)[:, None]
        top = lv[-1]
        hi = np.asarray(out[f"hi-{_lvl(top)}"])[:, None]
        sigma = np.maximum((hi - mean) / norm.ppf(0.5 + top / 200), 0.0)
        grid = norm.ppf((np.arange(num_samples) + 0.5) / num_samples)[:, None, None]
        P = mean + sigma * grid
        zero = np.zeros_like(mean)
        return Forecast(
            mean=mean,
            median=mean,
            std=sigma,
            epistemic_std=zero,
            aleatoric_std=sigma,
            intervals={
                float(L): (
                    np.asarray(out[f"lo-{_lvl(L)}"])[:, None],
                    np.asarray(out[f"hi-{_lvl(L)}"])[:, None],
                )
                for L in levels
            },
            quantiles={q: mean + sigma * norm.ppf(q) for q in quantiles},
            samples=P if return_samples else None,
        )

    @property
    def params_(self) -> dict[str, Any]:
        return {"model": self.cls.__name__, "season_length": self.season_length}


def _lvl(L: float) -> int | float:
    return int(L) if float(L).is_integer() else float(L)


def make_kind(kind: str, cfg: dict[str, Any]) -> Callable[[], Backtestable]:
    """Factory of a fresh forecaster of `kind` (bayes_ar[_bma], ensemble, AutoARIMA, AutoETS) with
    the hyperparameters `cfg` ("stride" thins the series first, see `Thinned`)."""
    params = {k: v for k, v in cfg.items() if k != "stride"}
    stride = int(cfg.get("stride", 1))
    if kind in ("AutoARIMA", "AutoETS"):
        sf = {"AutoARIMA": AutoARIMA, "AutoETS": AutoETS}[kind]
        return lambda: StatsForecastModel(sf, **params)
    if kind == "ensemble" and AnchoredEnsembleAR is None:
        raise RuntimeError("AnchoredEnsembleAR is not importable")
    cls = {
        "bayes_ar": BayesianAR,
        "bayes_ar_bma": BayesianARAveraged,
        "ensemble": AnchoredEnsembleAR,
        "analog": AnalogForecaster,
    }[kind]
    if stride == 1:
        return lambda: cls(**params)
    return lambda: Thinned(lambda: cls(**params), stride)


def pmap(fn: Callable[..., Any], tasks: list[tuple], jobs: int) -> list[Any]:
    """[fn(*t) for t in tasks], on `jobs` spawned processes (one BLAS/torch thread each)."""
    if jobs <= 1:
        return [fn(*t) for t in tasks]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_one_thread) as ex:
        return list(ex.map(fn, *zip(*tasks, strict=True)))


def _one_thread() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# Published track
# ---------------------------------------------------------------------------------------------


@functools.cache
def load_track(path: Path) -> dict[str, np.ndarray]:
    with gzip.open(path, "rt") as fh:
        raw = json.load(fh)
    return {k: np.asarray(v["values"], dtype=np.float64) for k, v in raw.items()}


def point_forecast(make: Callable[[], Backtestable], y: np.ndarray, h: int) -> np.ndarray:
    """Median of 200 sample paths (the point forecast of the published track): (h,)."""
    return make().fit(y).predict(h, num_samples=200, seed=0).median[:, 0]


def _tune_system(
    path: Path, system: str, kind: str, grid: list[dict], origins: Sequence[int]
) -> list[list[float]]:
    """sMAPE of each config on each train window of one system: (configs, origins)."""
    y = load_track(path)[system]
    return [
        [
            smape(
                y[o : o + PUB_SCORE], point_forecast(make_kind(kind, cfg), y[:o], PUB_H)[:PUB_SCORE]
            )
            for o in origins
        ]
        for cfg in grid
    ]


def tune(
    kind: str,
    grid: list[dict[str, Any]],
    path: Path,
    systems: list[str],
    jobs: int,
    origins: Sequence[int] = TUNE_ORIGINS,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The config with the lowest median sMAPE over (system, train window y[:o], o in origins)."""
    tasks = [(path, s, kind, grid, origins) for s in systems]
    per = pmap(_tune_system, tasks, jobs)  # (system, config, origin)
    rows = [
        {"config": cfg, "median_smape_train": float(np.median([p[i] for p in per]))}
        for i, cfg in enumerate(grid)
    ]
    return min(rows, key=lambda r: r["median_smape_train"])["config"], rows


def _published_system(
    path: Path, system: str, kind: str, cfg: dict, track: str
) -> tuple[float, float]:
    """(sMAPE, seconds) of one kind on one system under the published protocol."""
    fit, h, scored = PUB_PROTOCOL.get(track, (PUB_FIT, PUB_H, PUB_SCORE))
    y = load_track(path)[system]
    t0 = time.perf_counter()
    pred = point_forecast(make_kind(kind, cfg), y[:fit], h)
    sec = time.perf_counter() - t0
    return smape(y[fit : fit + scored], pred[:scored]), sec


def run_published(
    kinds: dict[str, dict[str, Any]], systems: list[str], data: Path, pub: dict, jobs: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for track, (test_file, _) in PUB_FILES.items():
        rows: dict[str, Any] = {}
        for kind, cfg in kinds.items():
            if track in PUB_PROTOCOL and kind not in TRACK_15_KINDS:
                continue
            tasks = [(data / test_file, s, kind, cfg, track) for s in systems]
            res = dict(zip(systems, pmap(_published_system, tasks, jobs), strict=True))
            per = {s: r[0] for s, r in res.items()}
            ref = pub[f"{track}_per_system"]
            wins = [per[s] < ref[s]["AutoARIMA"] for s in systems if "AutoARIMA" in ref[s]]
            rows[kind] = {
                "config": cfg,
                "median_smape": statistics.median(per.values()),
                "n_systems": len(per),
                "beats_autoarima_on": f"{sum(wins)}/{len(wins)}",
                "fit_predict_seconds": sum(r[1] for r in res.values()),
                "per_system": per,
            }
        out[track] = rows
    return out


def print_published(res: dict[str, Any], pub: dict) -> None:
    tracks = list(res)
    ours = {
        k: {t: res[t][k]["median_smape"] for t in tracks if k in res[t]} for k in res[tracks[0]]
    }
    theirs = {
        m: {t: pub[t][m]["median_smape"] for t in tracks if m in pub[t]} for m in pub[tracks[0]]
    }
    rows = [(f"* {k} (ours)", v) for k, v in ours.items()] + list(theirs.items())
    rows.sort(key=lambda r: r[1][tracks[0]])
    head = f"{'model':<28}" + "".join(f"{t.replace('pts_per_period_', 'ppp '):>16}" for t in tracks)
    print("\nPublished track: median sMAPE over systems (0-200, lower is better)")
    print(head + "\n" + "-" * len(head))
    for name, v in rows:
        print(f"{name:<28}" + "".join(f"{v.get(t, math.nan):>16.2f}" for t in tracks))
    n = res[tracks[0]][next(iter(ours))]["n_systems"]
    print(f"ours on {n} systems; published models on 131 (Gilpin 2021, darts defaults)")
    for k in ours:
        print(
            f"{k}: beats AutoARIMA per system on "
            + ", ".join(f"{t}: {res[t][k]['beats_autoarima_on']}" for t in tracks if k in res[t])
        )


# ---------------------------------------------------------------------------------------------
# Uncertainty track
# ---------------------------------------------------------------------------------------------


def trajectory(name: str, n_ic: int, cache: Path) -> np.ndarray:
    """Clean first coordinate of one long dysts trajectory (DOP853, UQ_PPL points per Lyapunov
    time), cached under `cache`."""
    n = UQ_BURN + (n_ic - 1) * UQ_SPACING + UQ_CONTEXT + UQ_H
    path = cache / f"{name}_n{n}_ppl{UQ_PPL}_DOP853.npz"
    if path.exists():
        return np.asarray(np.load(path)["x"])
    import dysts.flows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sys_ = getattr(dysts.flows, name)()
        X = sys_.make_trajectory(n, timescale="Lyapunov", pts_per_period=UQ_PPL, method="DOP853")
    if X is None or not np.all(np.isfinite(X)):
        raise RuntimeError(f"dysts could not integrate {name}")
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x=X[:, 0], lyapunov=sys_.maximum_lyapunov_estimated)
    return np.asarray(X[:, 0])


def uq_windows(name: str, n_ic: int, cache: Path, data: Path | None) -> tuple[np.ndarray, float]:
    """Clean (n_ic, context + horizon) windows and the VPT unit in steps.

    data None: dysts trajectories, windows UQ_SPACING steps apart after UQ_BURN; the unit is
    the Lyapunov time (UQ_PPL steps). Otherwise the fallback without dysts: the first
    context + horizon points of the shared test and train trajectories (two initial
    conditions at most); the unit is the dominant period (100 steps).
    """
    L = UQ_CONTEXT + UQ_H
    if data is None:
        x = trajectory(name, n_ic, cache)
        starts = [UQ_BURN + i * UQ_SPACING for i in range(n_ic)]
        return np.stack([x[a : a + L] for a in starts]), float(UQ_PPL)
    files = [data / PUB_FILES["pts_per_period_100"][i] for i in (0, 1)][:n_ic]
    return np.stack([load_track(f)[name][:L] for f in files]), 100.0


def _uq_system(
    name: str,
    n_ic: int,
    cache: Path,
    data: Path | None,
    kinds: dict[str, dict],
    cal: dict[str, str],
    folds: int,
    S: int,
) -> list[dict[str, Any]]:
    """Records of every (noise, initial condition, kind) of one system."""
    W, unit = uq_windows(name, n_ic, cache, data)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    noisy = W + UQ_NOISE * W.std() * rng.standard_normal(W.shape)
    records = []
    for noise, obs in (("clean", W), ("noisy", noisy)):
        for i, w in enumerate(obs):
            ctx, fut = w[:UQ_CONTEXT], w[UQ_CONTEXT:]
            for kind, cfg in kinds.items():
                rec = {"system": name, "noise": noise, "ic": i, "method": kind}
                make = make_kind(kind, cfg)
                records.append(rec | score_uq(make, ctx, fut, unit, cal.get(kind), folds, S))
    return records


def run_uncertainty(
    kinds: dict[str, dict[str, Any]],
    calibrated: dict[str, str],
    systems: Sequence[str],
    n_ic: int,
    cache: Path,
    data: Path | None,
    cal_folds: int,
    num_samples: int,
    jobs: int,
) -> list[dict[str, Any]]:
    """data None: dysts trajectories (generated here, so workers only read the cache);
    otherwise the shared-trajectory fallback."""
    if data is None:
        for name in systems:
            trajectory(name, n_ic, cache)
    tasks = [(s, n_ic, cache, data, kinds, calibrated, cal_folds, num_samples) for s in systems]
    return [r for recs in pmap(_uq_system, tasks, jobs) for r in recs]


def score_uq(
    make: Callable[[], Backtestable],
    ctx: np.ndarray,
    fut: np.ndarray,
    vpt_unit: float,
    calibrate: str | None,
    cal_folds: int,
    num_samples: int,
) -> dict[str, Any]:
    """Scores of one forecast of `fut` from `ctx`; calibrate: None, "conditioned" (the fitted
    model forecasts every fold from its own history, `conformal.calibration_backtest`) or
    "refit" (a fresh model per fold, spaced UQ_CAL_STEP apart)."""
    t0 = time.perf_counter()
    model = make().fit(ctx)
    f = model.predict(UQ_H, levels=LEVELS, num_samples=num_samples, seed=0, return_samples=True)
    sec = time.perf_counter() - t0
    y = fut[:, None]
    scale = float(ctx.std())
    if isinstance(model, StatsForecastModel):  # Gaussian: closed form
        crps = crps_gaussian(f.median, f.std, y)
    else:
        crps = crps_from_samples(f.samples, y)
    res: dict[str, Any] = {
        "crps": float(crps.mean() / scale),
        "nrmse": nrmse(y, f.median, scale),
        "vpt": valid_prediction_steps(y, f.median) / vpt_unit,
        "seconds": sec,
    }
    for L in LEVELS:
        res[f"cov{L:g}"] = interval_coverage(*f.intervals[L], y)
        res[f"is{L:g}"] = float(winkler_score(*f.intervals[L], y, L).mean() / scale)
    if calibrate:
        t0 = time.perf_counter()
        if calibrate == "conditioned":  # what the service does
            bt = calibration_backtest(
                model,
                ctx,
                horizon=UQ_H,
                folds=cal_folds,
                levels=LEVELS,
                num_samples=num_samples,
            )
        else:  # statsforecast models forecast only from their training data: refit per fold
            bt = rolling_origin(
                ctx,
                make,
                horizon=UQ_H,
                folds=min(cal_folds, UQ_REFIT_FOLDS),
                step=UQ_CAL_STEP,
                levels=LEVELS,
                num_samples=num_samples,
            )
        for tag, hw in (("cf", None), ("ncf", bt.half_widths)):
            adj = conformal_adjust(f, bt.scores, half_widths=hw)
            for L in LEVELS:
                res[f"cov{L:g}_{tag}"] = interval_coverage(*adj[L], y)
                res[f"is{L:g}_{tag}"] = float(winkler_score(*adj[L], y, L).mean() / scale)
        res["calibration_seconds"] = time.perf_counter() - t0
    return res


def summarise_uq(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    keys = tuple(
        f"{m}{L}{tag}" for m in ("cov", "is") for L in (80, 95) for tag in ("", "_cf", "_ncf")
    )
    keys = ("crps", "nrmse", "vpt", *keys)
    for noise in ("clean", "noisy"):
        for method in dict.fromkeys(r["method"] for r in records):
            sel = [r for r in records if r["noise"] == noise and r["method"] == method]
            if not sel:
                continue
            row: dict[str, Any] = {"noise": noise, "method": method, "n": len(sel)}
            for k in keys:
                if k in sel[0]:
                    row[k] = float(np.mean([r[k] for r in sel]))
            row["crps_median"] = float(np.median([r["crps"] for r in sel]))
            row["seconds"] = float(
                np.sum([r["seconds"] + r.get("calibration_seconds", 0) for r in sel])
            )
            rows.append(row)
    return rows


def print_uq(rows: list[dict[str, Any]], vpt_unit: str) -> None:
    print(f"\nUncertainty track (first coordinate; context {UQ_CONTEXT}, horizon {UQ_H})")
    cols = [f"{m}{tag}" for tag in ("", "_cf", "_ncf") for m in ("cov80", "cov95", "is95")]
    head = (
        f"{'noise':<6} {'method':<10} {'n':>3} {'CRPS/sd':>8} {'med':>6} {'NRMSE':>6} {'VPT':>5} "
        + " ".join(f"{c:>9}" for c in cols)
    )
    print(head + "\n" + "-" * len(head))

    def f(r: dict, k: str) -> str:
        return f"{r[k]:.3f}" if k in r else "-"

    for r in rows:
        print(
            f"{r['noise']:<6} {r['method']:<10} {r['n']:>3} {r['crps']:>8.3f} "
            f"{r['crps_median']:>6.3f} {r['nrmse']:>6.3f} {r['vpt']:>5.2f} "
            + " ".join(f"{f(r, c):>9}" for c in cols)
        )
    print(
        "CRPS/sd: mean over series of the mean CRPS / context std (med: median over series); "
        f"NRMSE of the median / context std; VPT: {vpt_unit} to sMAPE > 30; is95: 95% "
        "interval (Winkler) score / context std, mean over series; _cf: split-conformal CQR "
        "intervals, _ncf: the same with width-normalised scores (calibrated on backtest folds "
        "inside the context)"
    )


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few systems, small grids (< 60 s)")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of the dysts data files")
    ap.add_argument(
        "--cache",
        type=Path,
        default=ROOT / "bench/results/cache",
        help="where generated dysts trajectories are kept",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/chaos.json")
    ap.add_argument(
        "--uq-source",
        choices=("auto", "dysts", "shared"),
        default="auto",
        help="uncertainty-track data: dysts trajectories, or the shared test/train ones "
        "(auto: dysts when installed)",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes (default: 1 with --quick, else min(2, usable CPUs))",
    )
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = args.jobs or (1 if args.quick else min(2, cpus or 1))
    pub = json.loads((args.data / "published_smape.json").read_text())
    systems = sorted(pub["pts_per_period_100_per_system"])
    if args.quick:
        systems, grid, ens_grid = systems[:6], QUICK_GRID, QUICK_ENSEMBLE_GRID
        uq_systems, n_ic, cal_folds, S = UQ_SYSTEMS[:2], 1, 3, 200
    else:
        grid, ens_grid = TUNE_GRID, ENSEMBLE_GRID
        uq_systems, n_ic, cal_folds, S = UQ_SYSTEMS, UQ_ICS, UQ_CAL_FOLDS, 500
    has_ens = AnchoredEnsembleAR is not None
    notes = [
        f"{jobs} worker process(es); with more than one, each uses one BLAS/torch thread",
        "published track: point forecast = median of 200 sample paths; hyperparameters "
        "(thinning stride and max_lag / lags) chosen by the median sMAPE over the train "
        f"trajectories (windows fit y[:o], o in {TUNE_ORIGINS} for bayes_ar, "
        f"{ENSEMBLE_TUNE_ORIGINS} for the ensemble, scored on the next 199 points); the noisy "
        "track reuses the clean choice (no noisy train file ships); bayes_ar_bma reuses "
        "bayes_ar's choice; analog runs with its defaults (it chooses its window, "
        "smoothing, order and number of analogs on each series by time-ordered validation, "
        "and pools the analogs of the best few settings); "
        "the 15 points/period track "
        f"(fit 150, forecast 30, score 29) runs {', '.join(TRACK_15_KINDS)} only",
    ]

    # Published track
    phase = {"start": time.perf_counter()}
    train = args.data / PUB_FILES["pts_per_period_100"][1]
    best, tuning = tune("bayes_ar", grid, train, systems, jobs)
    pub_kinds: dict[str, dict[str, Any]] = {"bayes_ar": best, "bayes_ar_bma": best}
    tuning_ens: list[dict[str, Any]] = []
    if has_ens:
        pub_kinds["ensemble"], tuning_ens = tune(
            "ensemble", ens_grid, train, systems, jobs, ENSEMBLE_TUNE_ORIGINS
        )
    else:
        notes.append("AnchoredEnsembleAR is not importable: bayes_ar only")
    pub_kinds["analog"] = {}  # chooses and pools settings (window, smoothing, order, k) per series
    phase["tuned"] = time.perf_counter()
    published = run_published(pub_kinds, systems, args.data, pub, jobs)
    phase["published"] = time.perf_counter()
    print_published(published, pub)
    for kind, cfg in pub_kinds.items():
        print(f"{kind} chosen on train: {cfg}")

    # Uncertainty track
    fallback = None
    no_dysts = importlib.util.find_spec("dysts") is None
    if args.uq_source == "shared" or (args.uq_source == "auto" and no_dysts):
        fallback, n_ic = args.data, min(n_ic, 2)
        why = "dysts is not installed" if no_dysts else "--uq-source shared"
        notes.append(
            f"{why}: the uncertainty track uses the shared 100 points/period test and train "
            "trajectories (<= 2 initial conditions per system) instead of dysts, and VPT is "
            "in dominant periods, not Lyapunov times"
        )
    else:
        notes.append(
            f"uncertainty track: {len(uq_systems)} systems x {n_ic} initial conditions, the "
            f"windows of one dysts {_version('dysts')} DOP853 trajectory {UQ_SPACING} steps "
            f"({UQ_SPACING // UQ_PPL} Lyapunov times) apart after {UQ_BURN} burn-in steps"
        )
    vpt_unit = "periods (100 steps)" if fallback else f"Lyapunov times ({UQ_PPL} steps)"
    uq_kinds = {"bayes_ar": UQ_BAYES_AR} | ({"ensemble": UQ_ENSEMBLE} if has_ens else {})
    uq_kinds |= {"analog": {}, "AutoARIMA": {}, "AutoETS": {}}
    calibrated = {k: "conditioned" for k in uq_kinds if k in ("bayes_ar", "ensemble", "analog")}
    calibrated["AutoETS"] = "refit"
    notes += [
        f"uncertainty track: first coordinate; noisy = + N(0, ({UQ_NOISE} std)^2), scored "
        "against the noisy future",
        f"uncertainty track kinds (not tuned): bayes_ar {UQ_BAYES_AR}, ensemble {UQ_ENSEMBLE}, "
        "analog defaults, "
        "both on the raw grid; statsforecast season_length=1, CRPS from its Gaussian predictive "
        "(sigma from the 95% interval, closed form)",
        f"conformal: CQR scores from backtests on the context, neighbouring steps pooled to "
        f">= 19 scores at 95%; bayes_ar and the ensemble: {cal_folds} folds of horizon {UQ_H} "
        "of the fitted model itself, origins evenly spaced from its window to the context's "
        "end, each forecast from its own history without refitting (what the service does, "
        "`conformal.calibration_backtest`); AutoETS (no conditioning): "
        f"{min(cal_folds, UQ_REFIT_FOLDS)} refits spaced by {UQ_CAL_STEP}; not run for "
        "AutoARIMA (cost)",
    ]
    records = run_uncertainty(
        uq_kinds, calibrated, uq_systems, n_ic, args.cache, fallback, cal_folds, S, jobs
    )
    phase["uncertainty"] = time.perf_counter()
    uq_rows = summarise_uq(records)
    print_uq(uq_rows, vpt_unit)

    machine = machine_info(
        scipy=_version("scipy"), statsforecast=_version("statsforecast"), torch=_version("torch")
    )
    total = time.perf_counter() - t_start
    print("notes:\n" + "\n".join(f"  - {n}" for n in notes))
    print(f"total {total:.0f} s with {jobs} job(s)")
    result = {
        "config": {
            "quick": args.quick,
            "jobs": jobs,
            "levels": list(LEVELS),
            "published": {
                "fit": PUB_FIT,
                "horizon": PUB_H,
                "scored": PUB_SCORE,
                "systems": len(systems),
                "tune_origins": {"bayes_ar": TUNE_ORIGINS, "ensemble": ENSEMBLE_TUNE_ORIGINS},
                "grid": {"bayes_ar": grid, "ensemble": ens_grid if has_ens else []},
            },
            "uncertainty": {
                "systems": list(uq_systems),
                "initial_conditions": n_ic,
                "context": UQ_CONTEXT,
                "horizon": UQ_H,
                "source": "shared trajectories" if fallback else "dysts",
                "vpt_unit": vpt_unit,
                "points_per_lyapunov_time": None if fallback else UQ_PPL,
                "noise_std_fraction": UQ_NOISE,
                "kinds": uq_kinds,
                "calibrated": calibrated,
                "calibration_folds": cal_folds,
                "refit_calibration_folds": min(cal_folds, UQ_REFIT_FOLDS),
                "refit_calibration_step": UQ_CAL_STEP,
                "num_samples": S,
            },
        },
        "machine": machine | {"dysts": _version("dysts")},
        "notes": notes,
        "total_seconds": total,
        "phase_seconds": {
            "tuning": phase["tuned"] - phase["start"],
            "published": phase["published"] - phase["tuned"],
            "uncertainty": phase["uncertainty"] - phase["published"],
        },
        "published": {
            "tuning": {"bayes_ar": tuning, "ensemble": tuning_ens},
            "chosen": pub_kinds,
            "ours": published,
            "reference": {t: pub[t] for t in PUB_FILES},
        },
        "uncertainty": {"summary": uq_rows, "records": records},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(json_safe(result), indent=2, allow_nan=False))
    print(f"\nwrote {args.out}")
    return result


def _version(pkg: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
