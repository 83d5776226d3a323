"""Analog matching: the k nearest windows of a library of series to the latest window of a
query, and what followed each of them.

Series here are standardised (T, d) float arrays. A window of length L is matched on the
causal moving average of width w (the mean of the last w values at each point, so a window
at the end of the query is smoothed exactly as any window of the library); what follows a
match is read from the centred moving average of the same width (the denoised series), or
from the series itself when w = 1. When a horizon runs past the end of a match's series, the
path re-matches its own latest window and carries on (recursive parroting).
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
    continue a window (centred means), indexed by source."""

    W: FloatArray
    source: np.ndarray
    end: np.ndarray
    follow: list[FloatArray]

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
        return cls(np.concatenate(Ws), np.concatenate(sources), np.concatenate(ends), follow)

    def nearest(self, q: FloatArray, k: int) -> tuple[np.ndarray, FloatArray]:
        """Indices of the k windows nearest q (L d,), nearest first, and their RMS distances."""
        d2 = np.mean((self.W - q) ** 2, axis=1)
        k = min(k, d2.shape[0])
        idx = np.argpartition(d2, k - 1)[:k] if k < d2.shape[0] else np.arange(d2.shape[0])
        idx = idx[np.argsort(d2[idx], kind="stable")]
        return idx, np.sqrt(d2[idx])

    def continuation(self, j: int, h: int) -> FloatArray:
        """Up to h values after window j."""
        z = self.follow[int(self.source[j])]
        i = int(self.end[j])
        return z[i : i + h]


def analog_paths(
    query: FloatArray, pool: Candidates, L: int, width: int, k: int, h: int, stride: int = 1
) -> tuple[FloatArray, FloatArray]:
    """The k analogs' continuations of `query`'s latest window, (k, h, d), and their weights
    (k,), inversely proportional to the match distance. A continuation shorter than h is
    carried on by re-matching the path's own latest window (its nearest one)."""
    span = (L - 1) * stride + 1
    q_recent = causal_mean(query, width)[-span:]
    idx, dist = pool.nearest(q_recent[::stride].reshape(-1), k)
    paths = np.empty((len(idx), h, query.shape[1]))
    for m, j in enumerate(idx):
        path = pool.continuation(int(j), h)
        while path.shape[0] < h:
            recent = np.vstack([q_recent, path])[-span:][::stride]
            (nxt,), _ = pool.nearest(recent.reshape(-1), 1)
            path = np.vstack([path, pool.continuation(int(nxt), h - path.shape[0])])
        paths[m] = path
    inv = 1.0 / (dist + 1e-9 + 1e-3 * float(np.median(dist)))
    return paths, inv / inv.sum()
