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


def upsample(z: FloatArray, factor: int) -> FloatArray:
    """z (T, d) on a grid `factor` times finer: (T - 1) factor + 1 values passing through
    every value of z, cubic Hermite segments with central-difference slopes (Catmull-Rom),
    one-sided at the ends. A segment reads the values either side of it and the next ones
    out only, so the last reads nothing after the series' end."""
    if factor <= 1 or z.shape[0] < 2:
        return z
    slope = np.empty_like(z)
    slope[1:-1] = 0.5 * (z[2:] - z[:-2])
    slope[0], slope[-1] = z[1] - z[0], z[-1] - z[-2]
    s = (np.arange(factor) / factor)[None, :, None]
    ends = z[:-1, None] * (2 * s**3 - 3 * s**2 + 1) + z[1:, None] * (3 * s**2 - 2 * s**3)
    slopes = slope[:-1, None] * (s**3 - 2 * s**2 + s) + slope[1:, None] * (s**3 - s**2)
    out: FloatArray = np.concatenate([(ends + slopes).reshape(-1, z.shape[1]), z[-1:]])
    return out


def upsampled_prefix(fine: FloatArray, n: int, factor: int) -> FloatArray:
    """The first n values of fine = upsample(z, factor) (n - 1 a multiple of factor) as
    upsampling z only up to there gives them: the last segment's end slope one-sided, not
    read from the value after it (which a forecast from there does not know)."""
    if factor <= 1 or n <= factor:
        return fine[:n]
    out = fine[:n].copy()
    out[-(factor + 1) :] = upsample(fine[:n:factor][-3:], factor)[-(factor + 1) :]
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

    def _mean_sq_distances(self, Q: FloatArray) -> FloatArray:
        """(n, windows): mean squared distance of each row of Q (n, L d) to each window."""
        d2 = self.sq[None, :] - 2.0 * (Q @ self.W.T) + np.einsum("ij,ij->i", Q, Q)[:, None]
        out: FloatArray = np.maximum(d2, 0.0) / Q.shape[1]
        return out

    def nearest(self, q: FloatArray, k: int) -> tuple[np.ndarray, FloatArray]:
        """Indices of the k windows nearest q (L d,), nearest first, and their RMS distances."""
        d2 = self._mean_sq_distances(q[None, :])[0]
        k = min(k, d2.shape[0])
        idx = np.argpartition(d2, k - 1)[:k] if k < d2.shape[0] else np.arange(d2.shape[0])
        idx = idx[np.argsort(d2[idx], kind="stable")]
        return idx, np.sqrt(d2[idx])

    def nearest_each(self, Q: FloatArray) -> np.ndarray:
        """Index of the window nearest each row of Q (n, L d)."""
        out: np.ndarray = np.argmin(self._mean_sq_distances(Q), axis=1)
        return out

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
        """The k analogs' paths (k, h, d), first-order corrected (order 1) by a fit on the
        neighbours_for(k) nearest, and their weights (k,), inversely proportional to the
        match distance."""
        paths, weights = members_of([self], [k], order)[0]
        return paths[0], weights[0]


def members_of(
    found: Sequence[Neighbours], ks: Sequence[int], order: int
) -> list[tuple[FloatArray, FloatArray]]:
    """Per k in ks: `Neighbours.members` of each of `found` (searches of several queries
    with the same number of neighbours and leads), stacked: paths (queries, k, h, d) and
    weights (queries, k). All in a few batched products (many small ones cost more)."""
    n_all = len(found[0].dist)
    if any(len(f.dist) != n_all for f in found):  # pools of different sizes: one at a time
        each = [members_of([f], ks, order) for f in found]
        return [_padded([e[j] for e in each]) for j in range(len(ks))]
    ks = [min(k, n_all) for k in ks]
    ns = [min(n_all, neighbours_for(k, True)) for k in ks]
    dist = np.stack([f.dist for f in found])
    weights = _inverse_distance(dist, [*ks, *ns])  # (queries, rows, n): per k, then per n
    paths = np.stack([f.paths for f in found])
    if order == 1:
        windows, query = np.stack([f.windows for f in found]), np.stack([f.query for f in found])
        fit = weights[:, len(ks) :]
        corrected = _first_order(paths, windows, fit, query, ks, ns)
    else:
        corrected = [paths[:, :k] for k in ks]
    return [(c, weights[:, j, :k]) for j, (c, k) in enumerate(zip(corrected, ks, strict=True))]


def _padded(members: list[tuple[FloatArray, FloatArray]]) -> tuple[FloatArray, FloatArray]:
    """Stacked (paths (1, k_i, h, d), weights (1, k_i)) of queries whose pools held fewer
    than k: members of weight zero fill each up to the largest k."""
    k = max(w.shape[1] for _, w in members)
    paths = [np.pad(p, ((0, 0), (0, k - p.shape[1]), (0, 0), (0, 0))) for p, _ in members]
    weights = [np.pad(w, ((0, 0), (0, k - w.shape[1]))) for _, w in members]
    return np.concatenate(paths), np.concatenate(weights)


def neighbours(
    query: FloatArray,
    pool: Candidates,
    L: int,
    width: int,
    n: int,
    h: int,
    stride: int = 1,
    factor: int = 1,
) -> Neighbours:
    """The n analogs nearest `query`'s latest window, with h values after each. A
    continuation shorter than h is carried on by re-matching the path's own latest window
    (its nearest one). factor: the series are on a grid this many times finer than their
    own (`upsample`); h counts their own steps, and the paths hold every factor-th value."""
    span = (L - 1) * stride + 1
    q_recent = causal_mean(query, width)[-span:]
    q = q_recent[::stride].reshape(-1)
    idx, dist = pool.nearest(q, n)
    steps, lead = h * factor, np.arange(factor - 1, h * factor, factor)
    paths = np.empty((len(idx), h, query.shape[1]))
    short = []
    for s in np.unique(pool.source[idx]):  # whole continuations in one gather per series
        z, rows = pool.follow[int(s)], np.flatnonzero(pool.source[idx] == s)
        whole = pool.end[idx[rows]] + steps <= z.shape[0]
        paths[rows[whole]] = z[pool.end[idx[rows[whole]]][:, None] + lead]
        short += rows[~whole].tolist()
    if short:
        paths[short] = _continued(pool, q_recent, idx[short], steps, span, stride)[:, lead]
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
    factor: int = 1,
) -> tuple[FloatArray, FloatArray]:
    """The k analogs' continuations of `query`'s latest window, (k, h, d), and their weights
    (k,); order 1: first-order analogs (see the module docstring); factor: as `neighbours`."""
    n = neighbours_for(k, order == 1)
    return neighbours(query, pool, L, width, n, h, stride, factor).members(k, order)


def _continued(
    pool: Candidates, q_recent: FloatArray, js: np.ndarray, h: int, span: int, stride: int
) -> FloatArray:
    """h values after each window of js, (len(js), h, d): where a continuation ends early,
    the path re-matches its own latest window and carries on from there (all such paths at
    once, each round)."""
    paths = [pool.continuation(int(j), h) for j in js]
    while todo := [m for m, p in enumerate(paths) if p.shape[0] < h]:
        tails = [paths[m][-span:] for m in todo]  # with the query before: the latest span
        recent = [np.concatenate([q_recent[t.shape[0] :], t])[::stride] for t in tails]
        nearest = pool.nearest_each(np.stack(recent).reshape(len(todo), -1))
        for m, nxt in zip(todo, nearest, strict=True):
            more = pool.continuation(int(nxt), h - paths[m].shape[0])
            paths[m] = np.concatenate([paths[m], more])
    return np.stack(paths)


def _inverse_distance(dist: FloatArray, sizes: Sequence[int]) -> FloatArray:
    """dist (..., n) sorted ascending -> (..., len(sizes), n): per size m, the weights of the
    m nearest (zero past m), inversely proportional to the distance, kept finite by a
    thousandth of their median (read, not computed)."""
    m = np.asarray(sizes)
    median = 0.5 * (dist[..., (m - 1) // 2] + dist[..., m // 2])  # (..., sizes)
    inv = 1.0 / (dist[..., None, :] + 1e-9 + 1e-3 * median[..., None])
    inv[..., np.arange(dist.shape[-1])[None, :] >= m[:, None]] = 0.0
    out: FloatArray = inv / inv.sum(axis=-1, keepdims=True)
    return out


def _first_order(
    paths: FloatArray,
    windows: FloatArray,
    W: FloatArray,
    q: FloatArray,
    ks: Sequence[int],
    ns: Sequence[int],
) -> list[FloatArray]:
    """Per (k, n), for each of Q queries: the first k of paths (Q, n_all, h, d) corrected by
    (q - window) B, B the weighted ridge regression of the n nearest paths on LINEAR_FEATURES
    values spread over each window (windows: (Q, n_all, L d), q: (Q, L d)); the fits are
    one batch, weights W (Q, J, n_all) zero past each n. Where n <= k there is nothing to fit
    beyond the members: left as they are. Each (Q, k, h, d)."""
    nb, n_all, h, d = paths.shape
    L, p = windows.shape[-1] // d, min(LINEAR_FEATURES, windows.shape[-1] // d)
    at = np.arange(p) * (L - 1) // max(p - 1, 1)  # p positions spread from first to last
    cols = (at[:, None] * d + np.arange(d)).reshape(-1)
    X, xq = windows[..., cols], q[:, cols]  # (B, n_all, P), (B, P)
    Xc = X[:, None] - (W @ X)[:, :, None]  # (B, J, n_all, P): centred by each fit's weights
    WXc = (W[..., None] * Xc).swapaxes(-1, -2)
    gram = WXc @ Xc
    # X's weighted deviations sum to zero: the paths need no centring
    rhs = WXc @ paths.reshape(nb, 1, n_all, h * d)
    diag = np.einsum("bjpp->bjp", gram)  # a view: the ridge is added in place
    diag += LINEAR_RIDGE * np.maximum(diag.sum(axis=-1, keepdims=True) / len(cols), 1e-12)
    coef = np.linalg.solve(gram, rhs)  # (B, J, P, h d)
    shift = ((xq[:, None, None, :] - X[:, None, : max(ks)]) @ coef).reshape(nb, len(ks), -1, h, d)
    return [
        paths[:, :k] + shift[:, j, :k] if n > k else paths[:, :k]
        for j, (k, n) in enumerate(zip(ks, ns, strict=True))
    ]
