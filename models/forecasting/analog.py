"""Analog forecasting: what followed the closest matches of the latest window, in the series'
own history and in a library of other series (`analog_match`).

The k closest analogs, weighted by inverse distance, are the members: their continuations
are the conditional means, so their disagreement is the epistemic part; the aleatoric part
is what the series' own validation forecasts erred by that the analogs' disagreement does
not account for, per lead (sqrt(max(0, MSE(h) - mean analog variance(h))), non-decreasing in
h, held beyond the validation horizon), drawn as Gaussian noise around each member's path.

The window length L, the smoothing width w (w > 1 matches denoised windows and reads
denoised continuations, for noisy series) and the order (1: first-order analogs, each
continuation corrected for its window's mismatch; see `analog_match`) are chosen on the
series itself by time-ordered validation: forecasts from origins in its last part, each
matched against the history before it only. Every series (library and query) is
standardised by its own mean and std, so a library series matches whatever its scale.

A library version (`fit_library`) stores many series as float32; a forecast with it matches
a short posted series against the library as well as against itself. A library series that
the posted one starts like (or that starts like it: a forecast from a point of the training
series, as backtests and conformal calibration make) is left out, so that no forecast can
read its own future, or the same windows twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import torch
from numpy.typing import ArrayLike

from models.forecasting.analog_match import (
    Candidates,
    analog_paths,
    centred_mean,
    neighbours,
    neighbours_for,
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
    hyperparameters,
    no_covariates,
    summarize_samples,
)

MIN_WINDOW = 4
MAX_ORIGINS = 8  # validation origins per candidate setting
SIGMA_ORIGINS = 32  # validation origins the aleatoric scale per lead is measured on
SIGMA_FLOOR = 1e-3  # in standard deviations of the series


def standardise(y: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(z, mean, std) of y (T, d); a constant column keeps std 1."""
    mu = y.mean(axis=0)
    sd = y.std(axis=0)
    sd = np.where(sd > 1e-12 * np.maximum(1.0, np.abs(mu)), sd, 1.0)
    return (y - mu) / sd, mu, sd


@dataclass(frozen=True, eq=False)
class _Fitted:
    library: list[FloatArray]  # standardised series, float32 values held as float64
    means: FloatArray  # (series, d): what each was standardised by
    stds: FloatArray
    window: int
    width: int
    stride: int
    order: int  # 0: analogs' continuations as they are; 1: first-order corrected
    sigma: FloatArray  # (leads, d) aleatoric std per lead, standardised units
    validation: dict[str, float]

    @property
    def span(self) -> int:
        """Steps a window covers."""
        return (self.window - 1) * self.stride + 1

    def overlaps(self, i: int, series: FloatArray) -> bool:
        """Whether library series i and `series` (data units) start alike: one is the start
        of the other, to the float32 precision the library is kept at."""
        raw = self.library[i] * self.stds[i] + self.means[i]
        n = min(raw.shape[0], series.shape[0])
        tol = 1e-5 * self.stds[i] + 1e-6 * np.abs(series[:n])
        return bool(np.all(np.abs(raw[:n] - series[:n]) <= tol))


@dataclass
class AnalogForecaster:
    """max_window: longest window tried (4, 8, ... up to it); k: analogs (members);
    denoise: also try matching on smoothed windows (width `smoothing`); first_order: also try
    first-order analogs (`analog_match`), corrected for their windows' mismatch; val_fraction: the
    part of the series validation forecasts start in; val_horizon: their length."""

    max_window: int = 64
    max_stride: int = 1
    k: int = 10
    denoise: bool = True
    smoothing: int = 5
    first_order: bool = True
    val_fraction: float = 0.2
    val_horizon: int = 32
    _fit: _Fitted | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_window < MIN_WINDOW:
            raise ValueError(f"max_window must be >= {MIN_WINDOW}, got {self.max_window}")
        if self.k < 1 or self.val_horizon < 1 or self.smoothing < 1:
            raise ValueError("k, val_horizon and smoothing must be >= 1")
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
        """Choose the window and smoothing on y: (T,) or (T, d); y is its own library."""
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
        scores, settings = {}, []
        for L, w, t in self._settings(T):
            for o, score in self._score(Zs, L, w, t, orders).items():
                scores[f"L={L},w={w},s={t},order={o}"] = score
                settings.append((L, w, t, o))
        best = min(scores, key=lambda s: scores[s])
        L, w, t, o = settings[list(scores).index(best)]
        sigma = self._noise_by_lead(Zs, L, w, t, o)
        if progress is not None:
            progress(1.0)
        self._fit = _Fitted(Zs, means, stds, L, w, t, o, sigma, scores)
        return self

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

    def _origins(self, T: int, n: int, h: int) -> np.ndarray:
        cut = max(int(T * (1 - self.val_fraction)), 3 * MIN_WINDOW)
        last = max(cut, T - h)
        return np.unique(np.round(np.linspace(cut, last, min(n, last - cut + 1))).astype(int))

    def _forecast_at(
        self,
        Zs: list[FloatArray],
        every: Candidates,
        o: int,
        L: int,
        w: int,
        t: int,
        orders: Sequence[int],
        h: int,
    ) -> dict[int, tuple[FloatArray, FloatArray]]:
        """Per order: the weighted analog mean of Zs[0] from origin o (matched on its past
        only) and the analogs' weighted variance about it, each (h, d). every: the windows
        of all of Zs (setting L, w, t), cut here at o. The orders share one search for the
        nearest windows."""
        span = (L - 1) * t + 1
        pool = every.cut_first(o - 2 * span, centred_mean(Zs[0][:o], w))
        found = neighbours(Zs[0][:o], pool, L, w, neighbours_for(self.k, 1 in orders), h, stride=t)
        out = {}
        for order in orders:
            paths, weights = found.members(self.k, order)
            mean: FloatArray = np.einsum("k,khd->hd", weights, paths)
            var: FloatArray = np.einsum("k,khd->hd", weights, (paths - mean) ** 2)
            out[order] = (mean, var)
        return out

    def _score(
        self, Zs: list[FloatArray], L: int, w: int, t: int, orders: Sequence[int]
    ) -> dict[int, float]:
        """Per order: the mean squared error of the weighted mean over the validation
        origins and leads."""
        T = Zs[0].shape[0]
        h = min(self.val_horizon, max(1, int(T * self.val_fraction)))
        errors: dict[int, list[float]] = {order: [] for order in orders}
        every = Candidates.of(Zs, L, w, stride=t)
        for o in self._origins(T, MAX_ORIGINS, h):
            n = min(h, T - o)
            for order, (mean, _) in self._forecast_at(Zs, every, o, L, w, t, orders, n).items():
                errors[order].append(float(np.mean((mean - Zs[0][o : o + n]) ** 2)))
        return {order: float(np.mean(e)) for order, e in errors.items()}

    def _noise_by_lead(
        self, Zs: list[FloatArray], L: int, w: int, t: int, order: int
    ) -> FloatArray:
        """(leads, d): per lead, the validation error the analogs' spread leaves unexplained
        (see the module docstring), over SIGMA_ORIGINS origins."""
        T, d = Zs[0].shape
        H = min(self.val_horizon, max(1, int(T * self.val_fraction)))
        sq, var, count = np.zeros((H, d)), np.zeros((H, d)), np.zeros((H, 1))
        every = Candidates.of(Zs, L, w, stride=t)
        for o in self._origins(T, SIGMA_ORIGINS, H):
            n = min(H, T - o)
            mean, spread = self._forecast_at(Zs, every, o, L, w, t, [order], n)[order]
            sq[:n] += (mean - Zs[0][o : o + n]) ** 2
            var[:n] += spread
            count[:n] += 1
        excess = (sq - var) / np.maximum(count, 1)
        noise = np.sqrt(np.maximum(excess, SIGMA_FLOOR**2))
        out: FloatArray = np.maximum.accumulate(noise, axis=0)  # no less sure further ahead
        return out

    def _state(self) -> _Fitted:
        if self._fit is None:
            raise NotFittedError("AnalogForecaster is not fitted; call fit(y) first")
        return self._fit

    @property
    def params_(self) -> dict[str, Any]:
        st = self._state()
        return {
            "model": "analog",
            "window": st.window,
            "stride": st.stride,
            "smoothing": st.width,
            "order": st.order,
            "k": self.k,
            "library_series": len(st.library),
            "dim": int(st.library[0].shape[1]),
            "noise_std": (st.sigma[0] * st.stds[0]).tolist(),  # at lead 1
            "validation_mse": st.validation,
        }

    @property
    def window_shape_(self) -> tuple[int, int]:
        """(p, d): the shortest context a forecast can match: a window and one value after
        it where a library of other series holds the analogs; twice that (its own history
        to match against) where the training series is the whole library."""
        st = self._state()
        p = st.span + 1 if len(st.library) > 1 else 2 * st.span + 1
        return p, int(st.library[0].shape[1])

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
        end, matching it against itself and the library (no refit)."""
        no_covariates("analog", covariates)
        st = self._state()
        check_predict_args(horizon, num_samples, levels, quantiles)
        h, S, d = int(horizon), int(num_samples), st.library[0].shape[1]
        query, mu, sd, library = st.library[0], st.means[0], st.stds[0], st.library[1:]
        if context is not None:
            C = check_context(context, d, self.window_shape_[0])
            query, mu, sd = standardise(C)
            query = query.astype(np.float32).astype(np.float64)  # as the library was stored
            library = [z for i, z in enumerate(st.library) if not st.overlaps(i, C)]
        L, w, t = st.window, st.width, st.stride
        pool = Candidates.of([query, *library], L, w, exclude_last=[st.span], stride=t)
        paths, weights = analog_paths(query, pool, L, w, self.k, h, stride=t, order=st.order)
        member = np.repeat(np.arange(len(weights)), allocate_samples(weights, S))
        rng = np.random.default_rng(seed)
        cond = paths[member]
        sigma = st.sigma[np.minimum(np.arange(h), st.sigma.shape[0] - 1)]  # (h, d)
        noisy = cond + sigma * rng.standard_normal(cond.shape)
        return summarize_samples(mu + sd * noisy, mu + sd * cond, levels, quantiles, return_samples)

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Hyperparameters, the chosen settings and the library (float32, concatenated)."""
        st = self._state()
        meta = {
            "kind": "analog",
            "hyperparameters": hyperparameters(self),
            "window": st.window,
            "width": st.width,
            "stride": st.stride,
            "order": st.order,
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
            tensors["means"].numpy().astype(np.float64),
            tensors["stds"].numpy().astype(np.float64),
            int(meta["window"]),
            int(meta["width"]),
            int(meta["stride"]),
            int(meta.get("order", 0)),  # versions stored before first-order analogs: 0
            np.asarray(meta["sigma"], dtype=np.float64),
            dict(meta["validation"]),
        )
        return model
