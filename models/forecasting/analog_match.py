"""Analog matching: the k nearest windows of a library of series to the latest window of a
query, and what followed each of them.

Series here are standardised (T, d) float arrays. A window of length L is matched on the
causal moving average of width w (the mean of the last w values at each point, so a window
at the end of the query is smoothed exactly as any window of the library); what follows a
match is read from the centred moving average of the same width (the denoised series), or
from the series itself when w = 1. When a horizon runs past the end of a match's series, the
path re-matches its own latest window and carries on (recursive parroting).

First-order analogs (order 1) correct each continuation for how its window differs from the
query's: over the LINEAR_NEIGHBOURS x k nearest windows, a weighted ridge regression of the
continuations on LINEAR_FEATURES values spread over each window gives, per lead, the
continuation's local sensitivity B to the window; member m's path becomes
continuation_m + (q - window_m) B. A zeroth-order analog carries its whole mismatch to the
query into the forecast; the first-order one removes the part that is linear near the
query (local linear prediction: Farmer & Sidorowich 1987, "Predicting chaotic time series").
Refs: Lorenz 1969 ("Atmospheric predictability as revealed by naturally occurring
analogues"); Delle Monache et al. 2013 (analog ensembles); Zhang & Gilpin 2025 ("Context
parroting: a simple but tough-to-beat baseline for foundation models in scientific ML").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from models.forecasting.base import FloatArray

LINEAR_NEIGHBOURS = 4  # windows the first-order correction is fitted on, per analog
LINEAR_FEATURES = 4  # values of each window (spread over it) it regresses on, per dimension
LINEAR_RIDGE = 1e-2  # ridge, relative to the features' mean weighted variance


def causal_mean(z: FloatArray, width: int) -> FloatArray:
    """Mean of z[t - width + 1 .. t] at each t (fewer at the start); width 1: z itself."""
    if width <= 1:
        return z
    c = np.vstack([np.zeros((1, z.shape[1])), np.cumsum(z, axis=0)])
    t = np.arange(1, z.shape[0] + 1)
    lo = np.maximum(t - width, 0)
    out: FloatArray = (c[t] - c[lo]) / (t - lo)[:, None]
    return out


def centred_mean(z: FloatArray, width: int) -> FloatArray:
    """Mean of z over width values centred at each t (fewer at the ends); width 1: z."""
    if width <= 1:
        return z
    c = np.vstack([np.zeros((1, z.shape[1])), np.cumsum(z, axis=0)])
    T, r = z.shape[0], width // 2
    lo = np.clip(np.arange(T) - r, 0, T)
    hi = np.clip(np.arange(T) + r + 1, 0, T)
    out: FloatArray = (c[hi] - c[lo]) / (hi - lo)[:, None]
    return out


@dataclass(frozen=True, eq=False)
class Candidates:
    """Every window of length L of some series that has at least one value after it.

    W: (M, L d) windows (causal means); source: (M,) series index; end: (M,) index just
    after each window (where its continuation starts); follow: the series whose values
    continue a window (centred means), indexed by source; sq: (M,) each window's squared
    norm (distances then cost one matrix-vector product)."""

    W: FloatArray
    source: np.ndarray
    end: np.ndarray
    follow: list[FloatArray]
    sq: FloatArray

    @classmethod
    def of(
        cls,
        series: Sequence[FloatArray],
        L: int,
        width: int,
        exclude_last: Sequence[int] = (),
        stride: int = 1,
    ) -> Candidates:
        """Windows of L values `stride` apart (a delay embedding spanning (L - 1) stride + 1
        steps). exclude_last[s]: how many windows at the end of series s to leave out (those
        of the query's own series that overlap its latest window: trivial matches)."""
        Ws, sources, ends, follow = [], [], [], []
        span = (L - 1) * stride + 1
        for s, z in enumerate(series):
            follow.append(centred_mean(z, width))
            n_win = z.shape[0] - span - (exclude_last[s] if s < len(exclude_last) else 0)
            if n_win < 1:
                continue
            view = sliding_window_view(causal_mean(z, width), span, axis=0)[..., ::stride]
            Ws.append(view[:n_win].transpose(0, 2, 1).reshape(n_win, -1))
            sources.append(np.full(n_win, s))
            ends.append(np.arange(span, span + n_win))
        if not Ws:
            raise ValueError(f"no window of {L} values with a continuation to match against")
        W = np.concatenate(Ws)
        return cls(
            W, np.concatenate(sources), np.concatenate(ends), follow, np.einsum("ij,ij->i", W, W)
        )

    def cut_first(self, n: int, follow: FloatArray) -> Candidates:
        """These candidates with only the first n windows of series 0 (whose windows come
        first), continued by `follow`: what `of` gives for series 0 known up to a cut,
        without building the windows again (a window is a causal mean, the same either way;
        a centred mean near the cut is not, so the caller passes series 0's as known)."""
        n0, total = int(np.count_nonzero(self.source == 0)), len(self.source)
        n = min(max(n, 0), n0)
        if n == 0 and n0 == total:
            raise ValueError("no window with a continuation to match against before the cut")
        keep = slice(0, n) if n0 == total else np.r_[0:n, n0:total]
        return Candidates(
            self.W[keep], self.source[keep], self.end[keep], [follow, *self.follow[1:]],
            self.sq[keep],
        )  # fmt: skip

    def nearest(self, q: FloatArray, k: int) -> tuple[np.ndarray, FloatArray]:
        """Indices of the k windows nearest q (L d,), nearest first, and their RMS distances."""
        d2 = np.maximum(self.sq - 2.0 * (self.W @ q) + q @ q, 0.0) / q.shape[0]
        k = min(k, d2.shape[0])
        idx = np.argpartition(d2, k - 1)[:k] if k < d2.shape[0] else np.arange(d2.shape[0])
        idx = idx[np.argsort(d2[idx], kind="stable")]
        return idx, np.sqrt(d2[idx])

    def continuation(self, j: int, h: int) -> FloatArray:
        """Up to h values after window j."""
        z = self.follow[int(self.source[j])]
        i = int(self.end[j])
        return z[i : i + h]


@dataclass(frozen=True, eq=False)
class Neighbours:
    """The n windows of a pool nearest a query's latest window, nearest first: what followed
    each (paths (n, h, d)), the windows (n, L d), their RMS distances (n,) and the query's
    window (L d,)."""

    paths: FloatArray
    windows: FloatArray
    dist: FloatArray
    query: FloatArray

    def members(self, k: int, order: int) -> tuple[FloatArray, FloatArray]:
        """The k analogs' paths (k, h, d), first-order corrected (order 1) by a fit on all n
        of them, and their weights (k,), inversely proportional to the match distance."""
        paths = self.paths
        if order == 1 and len(self.dist) > k:
            paths = _first_order(paths, self.windows, self.dist, self.query)
        return paths[:k], _inverse_distance(self.dist[:k])


def neighbours(
    query: FloatArray, pool: Candidates, L: int, width: int, n: int, h: int, stride: int = 1
) -> Neighbours:
    """The n analogs nearest `query`'s latest window, with h values after each. A
    continuation shorter than h is carried on by re-matching the path's own latest window
    (its nearest one)."""
    span = (L - 1) * stride + 1
    q_recent = causal_mean(query, width)[-span:]
    q = q_recent[::stride].reshape(-1)
    idx, dist = pool.nearest(q, n)
    paths = np.empty((len(idx), h, query.shape[1]))
    for s in np.unique(pool.source[idx]):  # whole continuations in one gather per series
        z, rows = pool.follow[int(s)], np.flatnonzero(pool.source[idx] == s)
        whole = rows[pool.end[idx[rows]] + h <= z.shape[0]]
        paths[whole] = z[pool.end[idx[whole]][:, None] + np.arange(h)]
        for m in np.setdiff1d(rows, whole):
            paths[m] = _continued(pool, q_recent, int(idx[m]), h, span, stride)
    return Neighbours(paths, pool.W[idx], dist, q)


def neighbours_for(k: int, first_order: bool) -> int:
    """Windows to search for k analogs: the first-order fit reads LINEAR_NEIGHBOURS x k."""
    return k * LINEAR_NEIGHBOURS if first_order else k


def analog_paths(
    query: FloatArray,
    pool: Candidates,
    L: int,
    width: int,
    k: int,
    h: int,
    stride: int = 1,
    order: int = 0,
) -> tuple[FloatArray, FloatArray]:
    """The k analogs' continuations of `query`'s latest window, (k, h, d), and their weights
    (k,); order 1: first-order analogs (see the module docstring)."""
    n = neighbours_for(k, order == 1)
    return neighbours(query, pool, L, width, n, h, stride).members(k, order)


def _continued(
    pool: Candidates, q_recent: FloatArray, j: int, h: int, span: int, stride: int
) -> FloatArray:
    """h values after window j, re-matching the path's own latest window past its end."""
    path = pool.continuation(j, h)
    while path.shape[0] < h:
        recent = np.vstack([q_recent, path])[-span:][::stride]
        (nxt,), _ = pool.nearest(recent.reshape(-1), 1)
        path = np.vstack([path, pool.continuation(int(nxt), h - path.shape[0])])
    return path


def _inverse_distance(dist: FloatArray) -> FloatArray:
    """Weights of distances sorted ascending (their median is read, not computed)."""
    median = 0.5 * float(dist[(len(dist) - 1) // 2] + dist[len(dist) // 2])
    inv = 1.0 / (dist + 1e-9 + 1e-3 * median)
    out: FloatArray = inv / inv.sum()
    return out


def _first_order(
    paths: FloatArray, windows: FloatArray, dist: FloatArray, q: FloatArray
) -> FloatArray:
    """paths (n, h, d) corrected by (q - window) B, B the weighted ridge regression of the
    paths on LINEAR_FEATURES values spread over each window (windows: (n, L d))."""
    n, h, d = paths.shape
    L, p = windows.shape[1] // d, min(LINEAR_FEATURES, windows.shape[1] // d)
    at = np.arange(p) * (L - 1) // max(p - 1, 1)  # p positions spread from first to last
    cols = (at[:, None] * d + np.arange(d)).reshape(-1)
    X, xq, w = windows[:, cols], q[cols], _inverse_distance(dist)
    Xc = X - w @ X
    Y = paths.reshape(n, h * d)
    Yc = Y - w @ Y
    gram = Xc.T @ (w[:, None] * Xc)
    ridge = LINEAR_RIDGE * max(float(np.trace(gram)) / len(cols), 1e-12)
    B = np.linalg.solve(gram + ridge * np.eye(len(cols)), Xc.T @ (w[:, None] * Yc))
    out: FloatArray = paths + ((xq - X) @ B).reshape(n, h, d)
    return out
