"""Analog forecasting: what followed the closest matches of the latest window, in the series'
own history and in a library of other series (`analog_match`).

The k closest analogs, weighted by inverse distance, are the members: their continuations
are the conditional means, so their disagreement is the epistemic part; the aleatoric part
is what the series' own validation forecasts erred by that the analogs' disagreement does
not account for, per setting and lead (sqrt(max(0, MSE(h) - mean analog variance(h))),
non-decreasing in h, held beyond the validation horizon), drawn as Gaussian noise around
each member's path.
Continuations read from a noisy series as it is (w = 1, chosen where many analogs average
its noise out better than smoothing does) carry that noise: their disagreement is then
measured on their smoothed paths, and the noise each carries counts as aleatoric.

The window length L, the smoothing width w (w > 1 matches denoised windows and reads
denoised continuations, for noisy series), the order (1: first-order analogs, each
continuation corrected for its window's mismatch; see `analog_match`) and the number of
analogs k are chosen on the series itself by time-ordered validation: forecasts from origins
in its last part, each matched against the history before it only, scored by the CRPS of a
Gaussian with the analogs' weighted mean and spread over the first `val_horizon` (16) leads.
Short leads are where settings differ: further ahead every setting's error saturates and
only adds noise to the ranking, and a short series fits more origins (on the train
trajectories of bench/chaos.py, 16 leads against 32 took the median sMAPE from 38.7 to
36.4 at 100 points per period and from 70.0 to 56.4 at 15). A proper score weighs how close the
analogs come against how honestly they spread: few analogs where the near ones follow the
series, more where they disagree. Not one setting is kept but the best few (each with its
best k; by default the square root of the number of settings scored, the rule of multiview
embedding, Ye & Sugihara 2016): their analogs are pooled, each setting weighing alike. One
setting's ranking on a few validation origins is noisy, and settings that all forecast well
err differently, so the pool is both surer and more honest about its spread. Every series
(library and query) is standardised by its own mean and std, so a library series matches
whatever its scale.

A short, smooth series (fewer than `interpolate_to` values; `_interpolable`) is matched on a
grid up to MAX_FACTOR times finer, interpolated through its values (`analog_match.upsample`):
windows then start between two of its values as well as at them, and what follows a match
is read at the series' own steps. A setting keeps its meaning in the series' steps (a window
spans, and a smoothing averages over, the same time either way); validation forecasts start
only where the series has a value, from the history as interpolated up to there.

A library version (`fit_library`) stores many series as float32; a forecast with it matches
a short posted series against the library as well as against itself. A library series that
the posted one starts like (or that starts like it) is not matched as it is. Where the
posted series is the start of a training series (a forecast from one of its points, as
conformal calibration folds make), only the part of that series after the forecast's
horizon is matched: no forecast reads its own future, or the same windows twice.
That later record is what the forecast itself will match against: without it, folds near
the start of a series forecast from a sliver of history, err far more than the forecast
they calibrate, and conformal intervals come out too wide (on bench/chaos.py's uncertainty
track, 80/95% coverage 0.897/0.985 with the history alone, 0.874/0.974 with it). It is what
the conditioned calibration of a parametric kind sees too: parameters fitted on the folds'
futures (`conformal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from typing import Any, Self

import numpy as np
import torch
from numpy.typing import ArrayLike

from models.forecasting.analog_match import (
    Candidates,
    analog_paths,
    centred_mean,
    members_of,
    neighbours,
    neighbours_for,
    upsample,
    upsampled_prefix,
)
from models.forecasting.base import (
    FloatArray,
    Forecast,
    NotFittedError,
    Progress,
    SeriesTooShort,
    allocate_samples,
    as_series,
    check_context,
    check_predict_args,
    column_scale,
    hyperparameters,
    no_covariates,
    summarize_samples,
)
from models.metrics import crps_gaussian

MIN_WINDOW = 4
MAX_ORIGINS = 8  # validation origins per candidate setting
MAX_FACTOR = 8  # most a short series is interpolated by
INTERPOLABLE = 0.5  # see _interpolable
SIGMA_FLOOR = 1e-3  # in standard deviations of the series


def standardise(y: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(z, mean, std) of y (T, d), by `column_scale`."""
    mu, sd = column_scale(y)
    return (y - mu) / sd, mu, sd


@dataclass(frozen=True)
class Setting:
    """How analogs are found and read: window length, smoothing width, stride (spacing of a
    window's values), order (0: continuations as they are; 1: first-order corrected) and k."""

    window: int
    width: int
    stride: int
    order: int
    k: int

    @property
    def span(self) -> int:
        """Steps a window covers."""
        return (self.window - 1) * self.stride + 1

    @property
    def key(self) -> str:
        """Its name in the validation scores."""
        return f"L={self.window},w={self.width},s={self.stride},order={self.order},k={self.k}"

    def describe(self) -> dict[str, int]:
        """As `params_` reports it."""
        return {"window": self.window, "stride": self.stride, "smoothing": self.width,
                "order": self.order, "k": self.k}  # fmt: skip


@dataclass(frozen=True)
class _Validation:
    """Validation forecasts of one (window, smoothing, stride), every order and k: per
    (origin, setting, lead, dim) the analogs' weighted mean and variance; per (origin, 1,
    lead, dim) the truth and whether the lead lies inside the series (1) or past it (0,
    forecast but not scored). The origins and leads depend on the series' length only, so
    they are the same for every setting."""

    settings: list[Setting]
    mean: FloatArray
    var: FloatArray
    y: FloatArray
    valid: FloatArray

    def crps(self) -> list[float]:
        """Per setting: the CRPS of its analogs' ensemble taken as Gaussian, over origins and
        leads."""
        crps = crps_gaussian(self.mean, np.sqrt(self.var), self.y) * self.valid  # one call
        per_origin = crps.sum(axis=(2, 3)) / self.valid.sum(axis=(2, 3))
        scores: list[float] = per_origin.mean(axis=0).tolist()
        return scores


@dataclass(frozen=True, eq=False)
class _Fitted:
    library: list[FloatArray]  # standardised series, float32 values held as float64
    factor: int  # how much finer the grid the series are matched on is (`interpolate_to`)
    means: FloatArray  # (series, d): what each was standardised by
    stds: FloatArray
    settings: tuple[Setting, ...]  # pooled, best first
    sigma: FloatArray  # (settings, leads, d) aleatoric std per lead, standardised units
    validation: dict[str, float]

    def overlaps(self, i: int, series: FloatArray) -> bool:
        """Whether library series i and `series` (data units) start alike: one is the start
        of the other, to the float32 precision the library is kept at."""
        raw = self.library[i] * self.stds[i] + self.means[i]
        n = min(raw.shape[0], series.shape[0])
        tol = 1e-5 * self.stds[i] + 1e-6 * np.abs(series[:n])
        return bool(np.all(np.abs(raw[:n] - series[:n]) <= tol))

    def library_for(
        self, C: FloatArray, h: int, mu: FloatArray, sd: FloatArray
    ) -> list[FloatArray]:
        """What a forecast of h steps from context C (data units, standardised by mu and sd)
        matches against besides C itself: every library series C does not start like, and of
        one it does start like (C ends at a point of a training series, as calibration folds
        do) the part after C's h steps, on C's scale (the same record, a gap left out)."""
        out = []
        for i, z in enumerate(self.library):
            if not self.overlaps(i, C):
                out.append(z)
            elif z.shape[0] > C.shape[0] + h:
                later = z[C.shape[0] + h :] * self.stds[i] + self.means[i]
                out.append((later - mu) / sd)
        return out


@dataclass
class AnalogForecaster:
    """max_window: longest window tried (4, 8, ... up to it); k: most analogs (members): k,
    k/2 and k/4 are tried;
    denoise: also try matching on smoothed windows (width `smoothing`); first_order: also try
    first-order analogs (`analog_match`), corrected for their windows' mismatch; pooled: how
    many of the best settings pool their analogs (None: the square root of the number of
    settings scored; 1: the best alone); val_fraction: the part of the series validation
    forecasts start in; val_horizon: their length (in steps of the grid matched on);
    interpolate_to: a series shorter than this is matched on a grid about interpolate_to /
    its length times finer (at most MAX_FACTOR; 0: never), see `_factor`."""

    max_window: int = 64
    max_stride: int = 1
    k: int = 40
    denoise: bool = True
    smoothing: int = 5
    first_order: bool = True
    pooled: int | None = None
    val_fraction: float = 0.2
    val_horizon: int = 16
    interpolate_to: int = 600
    _fit: _Fitted | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_window < MIN_WINDOW:
            raise ValueError(f"max_window must be >= {MIN_WINDOW}, got {self.max_window}")
        if self.k < 1 or self.val_horizon < 1 or self.smoothing < 1:
            raise ValueError("k, val_horizon and smoothing must be >= 1")
        if self.pooled is not None and self.pooled < 1:
            raise ValueError(f"pooled must be >= 1 or None, got {self.pooled}")
        if self.interpolate_to < 0:
            raise ValueError(f"interpolate_to must be >= 0, got {self.interpolate_to}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1), got {self.val_fraction!r}")

    @staticmethod
    def min_length() -> int:
        """Shortest series fit() accepts: a smallest window, its continuation and room for
        a validation origin."""
        return 4 * MIN_WINDOW

    def fit(
        self,
        y: ArrayLike,
        *,
        progress: Progress | None = None,
        covariates: ArrayLike | None = None,
    ) -> Self:
        """Choose the settings on y: (T,) or (T, d); y is its own library."""
        no_covariates("analog", covariates)
        return self.fit_library([y], progress=progress)

    def fit_library(self, series: Sequence[ArrayLike], *, progress: Progress | None = None) -> Self:
        """Store `series` as the library; the settings are chosen on the first one (the
        query of a plain `predict`), matched against all of them."""
        Ys = [as_series(s, f"series {i}") for i, s in enumerate(series)]
        if not Ys or any(Y.shape[1] != Ys[0].shape[1] for Y in Ys):
            raise ValueError("the library needs one or more series of the same dimension")
        T = Ys[0].shape[0]
        if T < self.min_length():
            raise SeriesTooShort(T, self.min_length())
        scaled = [standardise(Y) for Y in Ys]
        Zs = [z.astype(np.float32).astype(np.float64) for z, _, _ in scaled]
        means = np.stack([mu for _, mu, _ in scaled])
        stds = np.stack([sd for _, _, sd in scaled])
        orders = (0, 1) if self.first_order else (0,)
        factor = self._factor(Zs[0])
        fine = [upsample(z, factor) for z in Zs]
        ks = self._member_counts(T)  # interpolated windows hold no more distinct analogs
        runs = [self._validate(fine, s, orders, ks, MAX_ORIGINS, factor) for s in self._settings(T)]
        scores = {s: c for v in runs for s, c in zip(v.settings, v.crps(), strict=True)}
        chosen = self._pool(scores)
        sigma = self._noise_by_lead(runs, chosen)
        if progress is not None:
            progress(1.0)
        validation = {s.key: c for s, c in scores.items()}
        self._fit = _Fitted(Zs, factor, means, stds, chosen, sigma, validation)
        return self

    def _factor(self, z: FloatArray) -> int:
        """How much finer a grid the series z (T, d) is matched on: about interpolate_to /
        T, and 1 for a long or a rough one (`_interpolable`). On a short record's coarse
        grid even the nearest window meets the query's phase only to within half a step;
        interpolated, windows start between the values too (bench/chaos.py train, 15 points
        per period: median sMAPE 56.4 -> 48.5). Rough series are left alone: interpolating
        them made real series (Nile, inflation) forecast worse."""
        if not _interpolable(z):
            return 1
        return max(1, min(MAX_FACTOR, round(self.interpolate_to / int(z.shape[0]))))

    def _pool(self, scores: dict[Setting, float]) -> tuple[Setting, ...]:
        """The best settings by validation CRPS, each (window, smoothing, stride, order) with
        its best k, `pooled` of them (by default the square root of how many were scored)."""
        best: dict[tuple[int, int, int, int], Setting] = {}
        for s in sorted(scores, key=lambda s: scores[s]):
            best.setdefault((s.window, s.width, s.stride, s.order), s)
        n = self.pooled or max(1, round(np.sqrt(len(best))))
        return tuple(best.values())[:n]

    def _settings(self, T: int) -> list[tuple[int, int, int]]:
        """(window, smoothing width, stride) candidates whose span fits the history."""
        room = int(T * (1 - self.val_fraction)) // 3
        widths = [1, self.smoothing] if self.denoise and self.smoothing > 1 else [1]
        strides = [t for t in (1, 2, 4, 8, 16) if t <= self.max_stride]
        found = [
            (L, w, t)
            for L in (4, 8, 16, 32, 64, 128, 256)
            for t in strides
            for w in widths
            if L <= self.max_window and (L - 1) * t + 1 <= room
        ]
        return found or [(MIN_WINDOW, 1, 1)]

    def _member_counts(self, T: int) -> list[int]:
        """The numbers of analogs validation tries: k, k/2 and k/4 (at least one); on a short
        series none over a quarter of the history validation matches against, but k/4 (more
        would average most of it: its climatology, not its analogs)."""
        cap = max(1, int(T * (1 - self.val_fraction)) // 4, self.k // 4)
        return sorted({min(c, cap) for c in (max(1, self.k // 4), max(1, self.k // 2), self.k)})

    def _origins(self, T: int, n: int, h: int, factor: int) -> np.ndarray:
        """Up to n indices of the first forecast value, the value before each one of the
        series' own (not interpolated: on a grid `factor` times finer, 1 past a multiple)."""
        cut = max(int(T * (1 - self.val_fraction)), 3 * MIN_WINDOW)
        last = max(cut, T - h)
        spread = np.round(np.linspace(cut, last, min(n, last - cut + 1))).astype(int)
        return np.unique((spread - 1) // factor * factor + 1)

    def _validate(
        self,
        Zs: list[FloatArray],
        setting: tuple[int, int, int],
        orders: Sequence[int],
        ks: Sequence[int],
        n_origins: int,
        factor: int,
    ) -> _Validation:
        """Validation forecasts of Zs[0] with (window, smoothing, stride) = setting, every
        order and k, from up to n_origins origins, each matched on the history before it
        only (the windows of all of Zs, cut there; on an interpolated grid, `factor` times
        finer, the history as interpolated up to there). One search per origin serves every
        order and k."""
        L, w, t, span = _on_grid(*setting, factor)
        T, d = Zs[0].shape
        h = min(self.val_horizon, max(1, int(T * self.val_fraction)))
        every = Candidates.of(Zs, L, w, stride=t)
        origins = self._origins(T, n_origins, h, factor)
        n = neighbours_for(max(ks), 1 in orders)
        found = []
        y, valid = np.zeros((len(origins), 1, h, d)), np.zeros((len(origins), 1, h, d))
        for i, o in enumerate(origins):
            known = upsampled_prefix(Zs[0], o, factor)
            pool = every.cut_first(o - 2 * span, centred_mean(known, w))
            found.append(neighbours(known, pool, L, w, n, h, stride=t))
            truth = Zs[0][o : o + h]
            y[i, 0, : len(truth)], valid[i, 0, : len(truth)] = truth, 1.0
        settings, means, variances = [], [], []
        for order in orders:
            for k, (paths, weights) in zip(ks, members_of(found, ks, order), strict=True):
                mean = np.einsum("bk,bkhd->bhd", weights, paths)
                settings.append(Setting(*setting, order, k))
                means.append(mean)
                variances.append(np.einsum("bk,bkhd->bhd", weights, (paths - mean[:, None]) ** 2))
        return _Validation(settings, np.stack(means, axis=1), np.stack(variances, axis=1), y, valid)

    @staticmethod
    def _noise_by_lead(runs: list[_Validation], pooled: Sequence[Setting]) -> FloatArray:
        """(settings, leads, d): per pooled setting and lead, the validation error its
        analogs' spread leaves unexplained (see the module docstring), on the forecasts that
        scored it. Each setting keeps its own: raw continuations carry the series' noise in
        their paths, denoised ones do not."""
        where = {s: (v, j) for v in runs for j, s in enumerate(v.settings)}
        out = []
        for s in pooled:
            v, j = where[s]
            err = ((v.mean[:, j] - v.y[:, 0]) ** 2 - v.var[:, j]) * v.valid[:, 0]
            excess = err.sum(axis=0) / np.maximum(v.valid[:, 0].sum(axis=0), 1.0)
            noise = np.sqrt(np.maximum(excess, SIGMA_FLOOR**2))
            out.append(np.maximum.accumulate(noise, axis=0))  # no less sure further ahead
        return np.stack(out)

    def _state(self) -> _Fitted:
        if self._fit is None:
            raise NotFittedError("AnalogForecaster is not fitted; call fit(y) first")
        return self._fit

    @property
    def params_(self) -> dict[str, Any]:
        st = self._state()
        return {
            "model": "analog",
            **st.settings[0].describe(),  # the best
            # per setting, the aleatoric std its paths get at lead 1: raw continuations carry
            # the series' noise already and get little
            "pooled_settings": [
                s.describe() | {"added_noise_std": (sig[0] * st.stds[0]).tolist()}
                for s, sig in zip(st.settings, st.sigma, strict=True)
            ],
            "library_series": len(st.library),
            "interpolated": st.factor,  # matched on a grid this many times finer
            "dim": int(st.library[0].shape[1]),
            "validation_crps": st.validation,
        }

    @property
    def window_shape_(self) -> tuple[int, int]:
        """(p, d): the shortest context a forecast can match, that of the best setting (see
        `_context_need`; a context too short for another pooled setting's window is
        forecast by those it holds). Not the shortest pooled window's: calibration folds
        forecast from contexts this long, and ones shorter still err more than the forecast
        they calibrate does."""
        st = self._state()
        return self._context_need(st.settings[0]), int(st.library[0].shape[1])

    def _context_need(self, s: Setting) -> int:
        """The shortest context setting s can forecast from: a window and one value after it
        where a library of other series holds the analogs; twice that (its own history to
        match against) where the training series is the whole library."""
        return s.span + 1 if len(self._state().library) > 1 else 2 * s.span + 1

    def predict(
        self,
        horizon: int,
        *,
        levels: Sequence[float] = (80, 95),
        quantiles: Sequence[float] = (),
        num_samples: int = 1000,
        seed: int = 0,
        return_samples: bool = False,
        context: ArrayLike | None = None,
        covariates: ArrayLike | None = None,
    ) -> Forecast:
        """Sampled paths: each a member's continuation (drawn by weight) plus Gaussian noise
        of the aleatoric scale. context: (n,) or (n, d), n >= the window: forecast from its
        end, matching it against itself and the library (no refit), with the pooled settings
        whose windows it can hold."""
        no_covariates("analog", covariates)
        st = self._state()
        check_predict_args(horizon, num_samples, levels, quantiles)
        h, S, d = int(horizon), int(num_samples), st.library[0].shape[1]
        query, mu, sd, library = st.library[0], st.means[0], st.stds[0], st.library[1:]
        use = list(range(len(st.settings)))
        if context is not None:
            C = check_context(context, d, self.window_shape_[0])
            query, mu, sd = standardise(C)
            query = query.astype(np.float32).astype(np.float64)  # as the library was stored
            library = st.library_for(C, h, mu, sd)
            use = [i for i, s in enumerate(st.settings) if len(C) >= self._context_need(s)]
        f = st.factor  # interpolated once, matched by every pooled setting
        fine, fine_library = upsample(query, f), [upsample(z, f) for z in library]
        found = [self._analogs(fine, fine_library, st.settings[i], h) for i in use]
        paths, signal = (np.concatenate([f[i] for f in found]) for i in (0, 2))
        weights = np.concatenate([f[1] for f in found]) / len(found)  # each setting alike
        # sigma is per step of the grid matched on: the series' steps are every factor-th
        lead = np.minimum(np.arange(1, h + 1) * st.factor - 1, st.sigma.shape[1] - 1)
        setting = np.repeat(use, [len(f[1]) for f in found])
        sigma = st.sigma[:, lead][setting]  # (members, h, d)
        member = np.repeat(np.arange(len(weights)), allocate_samples(weights, S))
        rng = np.random.default_rng(seed)
        noisy = paths[member] + sigma[member] * rng.standard_normal((S, h, d))
        return summarize_samples(
            mu + sd * noisy, mu + sd * signal[member], levels, quantiles, return_samples
        )

    def _analogs(
        self, query: FloatArray, library: list[FloatArray], s: Setting, h: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """One setting's analogs of the query's end: paths (k, h, d) at the series' own
        steps, weights (k,) and the paths without the series' own noise (`_signal`). The
        query and library are standardised and on the grid matched on (`_factor`)."""
        f = self._state().factor
        L, w, t, span = _on_grid(s.window, s.width, s.stride, f)
        pool = Candidates.of([query, *library], L, w, [span], t)
        paths, weights = analog_paths(query, pool, L, w, s.k, h, t, s.order, f)
        return paths, weights, self._signal(query[::f], paths, weights, s.width)

    def _signal(
        self, query: FloatArray, paths: FloatArray, weights: FloatArray, width: int
    ) -> FloatArray:
        """The members' paths (k, h, d) without the series' own noise: their disagreement is
        the epistemic part. Continuations read from the raw series (width 1) carry its noise
        (many analogs average it out of the mean, but not out of their spread): then each
        path is smoothed as denoised continuations are (after the query's latest values),
        keeping what the smoothing takes from all alike (a curve's bend), not noise."""
        if width > 1 or not self.denoise or self.smoothing <= 1:
            return paths
        r = self.smoothing // 2
        k, h, d = paths.shape
        lead_in = np.broadcast_to(query[-r:], (k, r, d)) if r else paths[:, :0]
        joined = np.concatenate([lead_in, paths], axis=1).transpose(1, 0, 2).reshape(-1, k * d)
        smooth = centred_mean(joined, self.smoothing)[r:].reshape(h, k, d).transpose(1, 0, 2)
        out: FloatArray = smooth + np.einsum("k,khd->hd", weights, paths - smooth)
        return out

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Hyperparameters, the chosen settings and the library (float32, concatenated)."""
        st = self._state()
        meta = {
            "kind": "analog",
            "hyperparameters": hyperparameters(self),
            "settings": [list(astuple(s)) for s in st.settings],
            "factor": st.factor,
            "sigma": st.sigma.tolist(),
            "validation": st.validation,
        }
        tensors = {
            "library": torch.from_numpy(np.concatenate(st.library).astype(np.float32)),
            "lengths": torch.tensor([z.shape[0] for z in st.library], dtype=torch.int64),
            "means": torch.from_numpy(st.means),
            "stds": torch.from_numpy(st.stds),
        }
        return meta, tensors

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        model = cls(**meta["hyperparameters"])
        flat = tensors["library"].numpy().astype(np.float64)
        bounds = np.cumsum([0, *tensors["lengths"].tolist()])
        library = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        model._fit = _Fitted(
            library,
            int(meta.get("factor", 1)),  # versions stored before interpolation: 1
            tensors["means"].numpy().astype(np.float64),
            tensors["stds"].numpy().astype(np.float64),
            tuple(Setting(*map(int, s)) for s in meta.get("settings") or [_single(meta)]),
            np.asarray(meta["sigma"], dtype=np.float64).reshape(-1, *np.shape(meta["sigma"])[-2:]),
            dict(meta["validation"]),
        )
        return model


def _interpolable(z: FloatArray) -> bool:
    """Whether z (T, d) is a smooth signal that its values pin down between them: a cubic
    through the two values either side of each predicts it with at most INTERPOLABLE times
    the error of the last step (medians of the absolute errors, so that a few jumps do not
    decide; a smooth curve sampled 10 times a cycle: about 0.4, a random walk 0.75, white
    noise 1). Interpolating anything rougher invents values no analog has."""
    if z.shape[0] < 5:
        return False
    guess = (4 * (z[1:-3] + z[3:-1]) - z[:-4] - z[4:]) / 6
    err, step = np.median(np.abs(z[2:-2] - guess)), np.median(np.abs(np.diff(z, axis=0)))
    return bool(err <= INTERPOLABLE * step)


def _on_grid(window: int, width: int, stride: int, factor: int) -> tuple[int, int, int, int]:
    """A setting's (window, smoothing width, stride, span) on a grid `factor` times finer
    than the series': the same stretch of time, smoothed over the same time."""
    stride *= factor
    return window, width * factor if width > 1 else 1, stride, (window - 1) * stride + 1


def _single(meta: dict[str, Any]) -> list[int]:
    """The one setting of a version stored before settings were pooled."""
    return [
        int(meta["window"]),
        int(meta["width"]),
        int(meta["stride"]),
        int(meta.get("order", 0)),  # versions stored before first-order analogs: 0
        int(meta.get("k", meta["hyperparameters"]["k"])),  # before k was chosen: all k
    ]
