"""A trained local-gain observer's analysis as compiled code, for small CPU states.

On a small grid (Lorenz-96, n = 40) an analysis is a few dozen tiny ops, ~5 us each on
torch, and inside a filter loop every Python-level call costs 2-4 us whatever it does. Here
the whole analysis is one numba kernel: the network's products go to BLAS, tanh is a
vectorised float32 rational function, and the gather before and the correction after are
plain loops. With Lorenz-96 the forecast joins it (`l96_cycle`): one call a cycle. Same
arithmetic as the torch path of `NeuralObserver.analysis` up to float32 rounding in the
network (tests compare the two).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numba
import numpy as np

from models.assimilation.observer.bred import BRED_SIZE
from models.assimilation.quality import Health, Limits, health_kernel, over_kernel, screen_kernel
from models.dynamics.base import step_plan
from models.dynamics.lorenz96 import Lorenz96, rk4_rows

F32 = np.float32


@dataclass(frozen=True, eq=False)
class HostLocalGain:
    """The local gain's weights laid out for inference (M members, hidden width h)."""

    state_idx: np.ndarray  # (n, k): each point's state patch, k = 2 patch + 1
    innov_idx: np.ndarray  # (n, o): each point's innovations within reach, o = 2 reach + 1
    mask_features: np.ndarray  # (n, o): 1 where that innovation is observed
    memory_idx: np.ndarray  # (n, q): the points whose memory each point reads
    memory: int  # the network's channels per point carried between analyses (0: none)
    bred: np.ndarray  # (n, k) the bred vectors' start (k = 0: none); channels after memory's
    H: np.ndarray  # (m, n) observation matrix
    identity: bool  # H = I: the innovation is y - x
    first: np.ndarray  # (M, k + o + 1, h): the first layer, its bias as the last row
    hidden: tuple[np.ndarray, np.ndarray]  # stacked hidden layers: W (L, M, h, h), b (L, M, 1, h)
    last: tuple[np.ndarray, np.ndarray]  # taps then variance logit: (M, h, o + 1), (M, 1, o + 1)
    mean: float
    std: float
    bound: float  # analyses are clamped to mean +- bound
    var_floor: float  # in climatological variance units

    @classmethod
    def from_weights(
        cls,
        theta: list[np.ndarray],
        state_idx: np.ndarray,
        innov_idx: np.ndarray,
        mask_features: np.ndarray,
        memory_idx: np.ndarray,
        memory: int,
        bred: np.ndarray,
        H: np.ndarray,
        *,
        mean: float,
        std: float,
        bound: float,
        var_floor: float,
    ) -> HostLocalGain:
        """From the stacked [W_0, b_0, ..., W_out, b_out, W_var, b_var] of `network.mlp`."""
        layers = theta[:-2]
        first = np.concatenate((layers[0], layers[1]), axis=1).astype(F32)
        M, h = first.shape[0], first.shape[2]
        pairs = range(2, len(layers) - 2, 2)
        hidden = (
            np.array([layers[i] for i in pairs], F32).reshape(-1, M, h, h),
            np.array([layers[i + 1] for i in pairs], F32).reshape(-1, M, 1, h),
        )
        W_last = np.concatenate((layers[-2], theta[-2]), axis=-1).astype(F32)
        b_last = np.concatenate((layers[-1], theta[-1]), axis=-1).astype(F32)
        identity = H.shape[0] == H.shape[1] and bool((H == np.eye(H.shape[0])).all())
        return cls(
            state_idx, innov_idx, mask_features.astype(F32), memory_idx, memory, bred, H,
            identity, first, hidden, (W_last, b_last), mean, std, bound, var_floor,
        )  # fmt: skip

    @cached_property
    def _args(self) -> tuple[Any, ...]:
        """`_analysis`'s arguments after (x, y, memory)."""
        return (
            self.H, self.identity, self.state_idx, self.innov_idx, self.mask_features,
            self.memory_idx, self.memory, self.first, *self.hidden, *self.last, self.mean,
            self.std, self.bound, self.var_floor,
        )  # fmt: skip

    @property
    def _breeding(self) -> tuple[int, float, np.ndarray]:
        """The L96 kernels' arguments for breeding: where the vectors' channels start, the
        perturbation per grid point and the vectors' start."""
        return self.memory, BRED_SIZE * self.std, self.bred

    def analysis(
        self, Xf: np.ndarray, y: np.ndarray, memory: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Xf (M, ..., n) float64, y (m,) or (..., m), or one per member (M, ..., m), the
        memory (M, ..., n, c; None: a start) -> analyses and predicted error variances,
        both (M, ..., n) float64, and the next memory (M, ..., n, c; None without one)."""
        M, n = Xf.shape[0], Xf.shape[-1]
        x = Xf.reshape(M, -1, n)
        Xa, var, mem = _analysis(x, _per_member(y, Xf.ndim), self._memory(memory, x), *self._args)
        return Xa.reshape(Xf.shape), var.reshape(Xf.shape), _unflat(mem, Xf.shape)

    def l96_cycle(
        self,
        dynamics: Lorenz96,
        Xa: np.ndarray,
        steps: list[float],
        y: np.ndarray,
        memory: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """A whole cycle in one compiled call: the members Xa (M, ..., n) stepped by
        Lorenz-96 (`steps`: all equal but the last, as `step_sizes` gives them), then the
        analysis with y and the memory. -> (forecast, analysis, variance, each (M, ..., n),
        next memory). One call instead of a dozen is most of the saving: on a 40-point grid
        each Python-level call in a filter loop costs 2-4 us."""
        M, n = Xa.shape[0], Xa.shape[-1]
        x, y3 = Xa.reshape(M, -1, n), _per_member(y, Xa.ndim)
        mem = self._memory(memory, x)
        out = _l96_cycle(
            x, float(dynamics.F), *_steps(steps), y3, mem, *self._breeding, *self._args
        )
        Xf, Xa_new, var = (a.reshape(Xa.shape) for a in out[:3])
        return Xf, Xa_new, var, _unflat(out[3], Xa.shape)

    def l96_screened_cycle(
        self,
        dynamics: Lorenz96,
        Xa: np.ndarray,
        steps: list[float],
        screening: tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray],
        memory: np.ndarray | None,
    ) -> tuple[Any, ...]:
        """`l96_cycle` with the background check between the forecast and the analysis (a
        stream's default: quality control on), in one compiled call: three apart cost ~5 us
        more a cycle in the Python between them. Xa (M, n); screening: (y, R, gate, exclude,
        recent) as `quality.screen_arguments` gives them; memory (M, n, c) or None. -> (H
        x_f (M, m), z, present, rejected, used, innovation, squared z before scaling (each
        (m,), as in `quality.screen`), analysis (M, n), variance (M, n), next memory). A
        reading not used reads as each member's own forecast of it: an innovation of zero."""
        x = np.ascontiguousarray(Xa, dtype=np.float64)
        y, R, gate, exclude, recent = screening
        n_steps, dt, last = _steps(steps)
        mem = self._memory(memory, x.reshape(x.shape[0], 1, -1))
        out = _l96_screened_cycle(
            x, float(dynamics.F), n_steps, dt, last, y, R, gate, exclude, recent, mem,
            *self._breeding, *self._args,
        )  # fmt: skip
        return (*out[:-1], _unflat(out[-1], Xa.shape))

    def l96_screened_run(
        self,
        dynamics: Lorenz96,
        Xa: np.ndarray,
        t0: float,
        times: np.ndarray,
        dt: float,
        Y: np.ndarray,
        screening: tuple[np.ndarray, float, Limits, Health],
        memory: np.ndarray | None,
    ) -> ScreenedRun:
        """`l96_screened_cycle` for K observations in a row (at `times` (K,), readings Y
        (K, m)) from the members Xa (M, n) at t0, in one compiled call: in a stream's loop the
        Python around each cycle cost as much as the cycle. Each cycle leaves out the
        sensors the health before it failed, and updates the health as a stream does (not
        after a diverged analysis). screening: (each observation's noise variances R (K, m),
        gate, the failure limits as `quality.kernel_limits` gives them, `Sensors.health`)."""
        R, gate, limits, health = screening
        x = np.ascontiguousarray(Xa, dtype=np.float64)
        mem = self._memory(memory, x.reshape(x.shape[0], 1, -1))
        out = _l96_screened_run(
            x, float(dynamics.F), t0, times, dt, Y, R, gate, limits, health, mem,
            *self._breeding, *self._args,
        )  # fmt: skip
        status, HE, z, present, rejected, used, d, z2, Xas, var, rms, after, updates, kept = out
        return ScreenedRun(
            status, HE, z, present, rejected, used, d, z2, Xas, var, rms, after, updates,
            _unflat(kept, Xa.shape),
        )  # fmt: skip

    def _memory(self, memory: np.ndarray | None, x: np.ndarray) -> np.ndarray:
        """The memory as the kernels read it, (M, P, n, c) float64 for x (M, P, n): at a
        start (None) zeros and the bred vectors' start; no channels without memory."""
        M, P, n = x.shape
        c = self.memory + self.bred.shape[1]
        if memory is None or not c:
            start = np.zeros((M, P, n, c))
            start[..., self.memory :] = self.bred
            return start
        return np.ascontiguousarray(memory, dtype=np.float64).reshape(M, P, n, c)


# What became of each observation of a run: its analysis kept, nothing of it used (the
# screening left no reading), or its analysis not finite (the members stay as they were).
ANALYSED, SCREENED_OUT, DIVERGED = 0, 1, 2


@dataclass(frozen=True, eq=False)
class ScreenedRun:
    """`HostLocalGain.l96_screened_run`'s outcome, per observation k of K: status (K,)
    (ANALYSED, SCREENED_OUT or DIVERGED); the screening's arrays as `quality.Screened` holds
    them (forecast (K, M, m), the others (K, m)); each cycle's analysis (K, M, n) and the
    members' mean predicted error variance (K, n); innovation_rms (K,); then the sensors'
    health after the run (`Sensors.health`), how many observations updated it, and the
    memory the last analysis kept (None: the gain carries none)."""

    status: np.ndarray
    forecast: np.ndarray
    z: np.ndarray
    present: np.ndarray
    rejected: np.ndarray
    used: np.ndarray
    innovation: np.ndarray
    z2: np.ndarray
    analysis: np.ndarray
    variance: np.ndarray
    innovation_rms: np.ndarray
    health: Health
    updates: int
    memory: np.ndarray | None


def _unflat(memory: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The kernels' memory (M, P, n, c) in the states' own shape, (*shape, c); None when
    the gain carries none."""
    return memory.reshape(*shape, memory.shape[-1]) if memory.shape[-1] else None


@dataclass(frozen=True, eq=False)
class HostCovarianceGain:
    """A trained covariance gain's analysis on float64 arrays: the network, then the Kalman
    gain of P = r A A^T, as `CovarianceGain` computes them on torch (the same arithmetic up
    to float64 rounding; tests compare the two). On Lorenz-63 the torch path's two dozen
    tiny ops cost more than the ETKF's whole analysis."""

    layers: list[np.ndarray]  # stacked [W_0, b_0, ..., W_out, b_out] of M members
    H: np.ndarray  # (m, n)
    R: np.ndarray  # (m,) noise variances the gain was trained with
    scale: float  # r
    mean: float
    std: float
    bound: float  # analyses are clamped to mean +- bound
    var_floor: float  # in climatological variance units

    def analysis(
        self, Xf: np.ndarray, y: np.ndarray, memory: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, None]:
        """Xf (M, ..., n) float64, y (m,) or (..., m), or one per member (M, ..., m) ->
        analyses and predicted error variances, both (M, ..., n) float64, and no memory (a
        whole-state gain carries none)."""
        with np.errstate(invalid="ignore", over="ignore"):  # a diverged member: NaN out
            Xa, var = self._analysis(Xf, y)
        return Xa, var, None

    def _analysis(self, Xf: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        M, n = Xf.shape[0], Xf.shape[-1]
        X = Xf.reshape(M, -1, n)
        h, W = (X - self.mean) / self.std, self.layers
        for i in range(0, len(W) - 2, 2):
            h = np.tanh(h @ W[i] + W[i + 1])
        out = h @ W[-2] + W[-1]  # (M, P, n m)
        A = out.reshape(*out.shape[:-1], n, self.H.shape[0]) + self.H.T  # (M, P, n, m)
        HA = np.einsum("mn,...nk->...mk", self.H, A)
        PHt = self.scale * (A @ np.swapaxes(HA, -1, -2))
        S = self.scale * (HA @ np.swapaxes(HA, -1, -2)) + np.diag(self.R)
        d = _per_member(y, Xf.ndim) - X @ self.H.T  # (M, P, m)
        K = np.swapaxes(np.linalg.solve(S, np.swapaxes(PHt, -1, -2)), -1, -2)  # P H^T S^-1
        Xa = np.clip(X + (K @ d[..., None])[..., 0], self.mean - self.bound, self.mean + self.bound)
        var = self.scale * (A**2).sum(axis=-1) - (K * PHt).sum(axis=-1)
        var = np.maximum(var, self.var_floor * self.std**2)
        return Xa.reshape(Xf.shape), var.reshape(Xf.shape)


def _steps(steps: list[float]) -> tuple[int, float, float]:
    """(count, dt, last) of `step_sizes`' steps (all equal but the last), as kernels take them."""
    return (len(steps), steps[0], steps[-1]) if steps else (0, 0.0, 0.0)


def _per_member(y: np.ndarray, x_ndim: int) -> np.ndarray:
    """y as the kernels read it, (1 or M, 1 or P, m): one observation for every member
    (y (m,) or (..., m)), or one per member (y (M, ..., m), as many dims as the states)."""
    m = y.shape[-1]
    return y.reshape(y.shape[0], -1, m) if y.ndim == x_ndim else y.reshape(1, -1, m)


# Reassociation (the tap sums) and a vectorised tanh, but NaN and inf keep their meaning: a
# diverged forecast must come out as one. error_model="numpy": no zero-division branches,
# which would stop the loops from vectorising.
_FAST = {"reassoc", "contract", "arcp", "nsz", "afn"}
_TANH_CLIP = 7.90531110763549805  # tanh is 1 to float32 precision beyond this


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _tanh(x: float) -> float:
    """tanh to float32 precision (max error ~2e-7), as a rational function that vectorises
    (Eigen's ptanh); the libm call does not, and costs 10x more here."""
    x = min(max(x, -_TANH_CLIP), _TANH_CLIP)
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return x * p / q  # type: ignore[return-value]  # float32 arithmetic, compiled by numba


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _bias_tanh(a: np.ndarray, b: np.ndarray) -> None:
    """a (R, h) <- tanh(a + b), b (h,)."""
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            a[i, j] = _tanh(a[i, j] + b[j])


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _analysis(
    x: np.ndarray,
    y: np.ndarray,
    memory: np.ndarray,
    H: np.ndarray,
    identity: bool,
    state_idx: np.ndarray,
    innov_idx: np.ndarray,
    mask: np.ndarray,
    memory_idx: np.ndarray,
    C: int,
    first: np.ndarray,
    hidden_W: np.ndarray,
    hidden_b: np.ndarray,
    W_last: np.ndarray,
    b_last: np.ndarray,
    mean: float,
    std: float,
    bound: float,
    var_floor: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (M, P, n), y (1 or M, 1 or P, m), memory (M, P, n, C + K: the network's C
    channels, then K bred vectors) -> x_a = clamp(x + sum_o tap_o d[i + o] + sum_j w_j
    B_j[i] (B_j . d) / n) with innovations d = H^T (y - H x) on the grid, the variance
    (softplus(logit) + floor) std^2, and the next memory. The inputs of a point: its state
    patch, the observed mask within reach, with memory (C > 0) the innovations within
    reach and the memory of its neighbours, and with bred vectors the innovations'
    projection on each, in `LocalGain.features`' order."""
    M, P, n = x.shape
    k, o = state_idx.shape[1], innov_idx.shape[1]
    K, q = memory.shape[3] - C, memory_idx.shape[1]
    width = k + o + (o + q * C if C else 0) + K
    Xa = np.empty((M, P, n))
    var = np.empty((M, P, n))
    nxt = np.empty((M, P, n, C + K))
    D = np.empty((P, n))
    proj = np.empty((P, K))  # B_j . d
    root_n = np.sqrt(n)
    Z = np.empty((P * n, width + 1), np.float32)
    zero = np.zeros(first.shape[2], np.float32)
    for m in range(M):
        for p in range(P):
            yp = np.ascontiguousarray(y[m % y.shape[0], p % y.shape[1]])
            xp = np.ascontiguousarray(x[m, p])
            D[p] = yp - xp if identity else H.T @ (yp - H @ xp)
            for j in range(K):
                proj[p, j] = 0.0
                for i in range(n):
                    proj[p, j] += memory[m, p, i, C + j] * D[p, i]
            for i in range(n):
                row = Z[p * n + i]
                for c in range(k):
                    row[c] = (x[m, p, state_idx[i, c]] - mean) / std
                row[k : k + o] = mask[i]
                if C:
                    for c in range(o):
                        row[k + o + c] = D[p, innov_idx[i, c]] / std
                    at = k + 2 * o
                    for j in range(q):
                        for c in range(C):
                            row[at + j * C + c] = memory[m, p, memory_idx[i, j], c]
                at = width - K
                for j in range(K):
                    row[at + j] = memory[m, p, i, C + j] * proj[p, j] / (std * root_n)
                row[width] = 1.0  # the first layer's bias is its last row
        a = np.dot(Z, first[m])
        _bias_tanh(a, zero)  # its bias is already in
        for layer in range(hidden_W.shape[0]):
            a = np.dot(a, hidden_W[layer, m])
            _bias_tanh(a, hidden_b[layer, m, 0])
        out = np.dot(a, W_last[m])
        b = b_last[m, 0]
        for p in range(P):
            for i in range(n):
                row = out[p * n + i]
                dx = 0.0
                for c in range(o):
                    dx += (row[c] + b[c]) * D[p, innov_idx[i, c]]
                for j in range(K):
                    w = row[o + C + j] + b[o + C + j]
                    dx += w * memory[m, p, i, C + j] * proj[p, j] / n
                v = x[m, p, i] + dx  # clamped, but a NaN (a diverged forecast) stays one
                Xa[m, p, i] = v if np.isnan(v) else min(max(v, mean - bound), mean + bound)
                for c in range(C):
                    nxt[m, p, i, c] = _tanh(row[o + c] + b[o + c])
                for j in range(K):
                    nxt[m, p, i, C + j] = memory[m, p, i, C + j]
                r = float(row[o + C + K] + b[o + C + K])
                softplus = max(r, 0.0) + np.log1p(np.exp(-abs(r)))
                var[m, p, i] = (softplus + var_floor) * std * std
    return Xa, var, nxt


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _l96_cycle(
    x: np.ndarray,
    F: float,
    n_steps: int,
    dt: float,
    last: float,
    y: np.ndarray,
    memory: np.ndarray,
    C: int,
    eps: float,
    start: np.ndarray,
    *gain: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x (M, P, n) -> the Lorenz-96 forecast (M, P, n) over n_steps steps (of dt, the last
    of `last`), its bred vectors (`_l96_breed`), then `_analysis` of it with y, the memory
    and the gain's arrays (H ... var_floor)."""
    M, P, n = x.shape
    x = np.ascontiguousarray(x)
    Xf = _l96_steps(x.reshape(M * P, n), F, n_steps, dt, last).reshape(M, P, n)
    memory = _l96_breed(x, Xf, memory, C, F, n_steps, dt, last, eps, start)
    Xa, var, nxt = _analysis(Xf, y, memory, *gain)
    return Xf, Xa, var, nxt


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _l96_screened_cycle(
    x: np.ndarray,
    F: float,
    n_steps: int,
    dt: float,
    last: float,
    y: np.ndarray,
    R: np.ndarray,
    gate: float,
    exclude: np.ndarray,
    recent: np.ndarray,
    memory: np.ndarray,
    C: int,
    eps: float,
    start: np.ndarray,
    *gain: Any,
) -> tuple[np.ndarray, ...]:
    """x (M, n): see `HostLocalGain.l96_screened_cycle`."""
    M, n = x.shape
    Xf = _l96_steps(x, F, n_steps, dt, last)
    memory = _l96_breed(
        x.reshape(M, 1, n), Xf.reshape(M, 1, n), memory, C, F, n_steps, dt, last, eps, start
    )
    H, identity = gain[0], gain[1]
    HE = Xf.copy() if identity else Xf @ H.T
    z, present, rejected, used, innovation, z2 = screen_kernel(HE, y, R, gate, exclude, recent)
    m = HE.shape[1]
    readings = np.empty((M, m))
    for k in range(M):
        for j in range(m):
            readings[k, j] = y[j] if used[j] else HE[k, j]
    Xa, var, nxt = _analysis(Xf.reshape(M, 1, n), readings.reshape(M, 1, m), memory, *gain)
    return (
        HE, z, present, rejected, used, innovation, z2, Xa.reshape(M, n), var.reshape(M, n),
        nxt,
    )  # fmt: skip


@numba.njit(cache=True)
def _l96_screened_run(
    x: np.ndarray,
    F: float,
    t: float,
    times: np.ndarray,
    dt: float,
    Y: np.ndarray,
    R: np.ndarray,
    gate: float,
    limits: Limits,
    health: Health,
    memory: np.ndarray,
    C: int,
    eps: float,
    start: np.ndarray,
    *gain: Any,
) -> tuple[Any, ...]:
    """x (M, n): see `HostLocalGain.l96_screened_run`. The members, their time, memory and
    the health move on as a stream's loop moves them after each of its cycles."""
    K, m = Y.shape
    M, n = x.shape
    status = np.zeros(K, np.int8)
    HEs = np.empty((K, M, m))
    zs, ds, z2s = np.empty((K, m)), np.empty((K, m)), np.empty((K, m))
    present_k = np.empty((K, m), np.bool_)
    rejected_k = np.empty((K, m), np.bool_)
    used_k = np.empty((K, m), np.bool_)
    Xas, var_k, rms = np.empty((K, M, n)), np.empty((K, n)), np.empty(K)
    missing, rejection, bias, last_y, repeats, recent = health
    updates = 0
    for k in range(K):
        n_steps, last = step_plan(times[k] - t, dt)
        exclude = over_kernel(rejection, bias, missing, repeats, *limits)
        HE, z, present, rejected, used, d, z2, Xa, var, nxt = _l96_screened_cycle(
            x, F, n_steps, dt, last, Y[k], R[k], gate, exclude, recent, memory, C, eps, start,
            *gain,
        )  # fmt: skip
        HEs[k], zs[k], ds[k], z2s[k], Xas[k] = HE, z, d, z2, Xa
        present_k[k], rejected_k[k], used_k[k] = present, rejected, used
        for i in range(n):
            var_k[k, i] = var[:, i].sum() / M
        d_used = d[used]
        rms[k] = np.sqrt(np.dot(d_used, d_used) / d_used.size) if d_used.size else np.nan
        if not used.any():
            status[k] = SCREENED_OUT
        elif not np.isfinite(Xa).all():
            status[k] = DIVERGED
            continue  # the health stays as it was, as after any cycle that failed
        else:
            x, memory, t = Xa, nxt, times[k]
        missing, rejection, bias, last_y, repeats, recent = health_kernel(
            missing, rejection, bias, last_y, repeats, recent, Y[k], z, rejected, z2
        )
        updates += 1
    return (
        status, HEs, zs, present_k, rejected_k, used_k, ds, z2s, Xas, var_k, rms,
        (missing, rejection, bias, last_y, repeats, recent), updates, memory,
    )  # fmt: skip


@numba.njit(cache=True)
def _l96_breed(
    x: np.ndarray,
    Xf: np.ndarray,
    memory: np.ndarray,
    C: int,
    F: float,
    n_steps: int,
    dt: float,
    last: float,
    eps: float,
    start: np.ndarray,
) -> np.ndarray:
    """The memory (M, P, n, C + K) with its K bred vectors carried from x (M, P, n) to its
    forecast Xf, as `bred.breed`: x + eps B stepped, less Xf, over eps, then Gram-Schmidt
    to unit RMS; vectors that stopped being finite start afresh (`start`, (n, K))."""
    M, P, n = x.shape
    K = memory.shape[3] - C
    if K == 0:
        return memory
    rows = np.empty((M * P * K, n))
    for m in range(M):
        for p in range(P):
            for j in range(K):
                for i in range(n):
                    rows[(m * P + p) * K + j, i] = x[m, p, i] + eps * memory[m, p, i, C + j]
    rows = _l96_steps(rows, F, n_steps, dt, last)
    out = memory.copy()
    G = np.empty((n, K))
    for m in range(M):
        for p in range(P):
            for j in range(K):
                for i in range(n):
                    G[i, j] = (rows[(m * P + p) * K + j, i] - Xf[m, p, i]) / eps
            if not _gram_schmidt(G):
                G[:] = start
            out[m, p, :, C:] = G
    return out


@numba.njit(cache=True)
def _gram_schmidt(G: np.ndarray) -> bool:
    """G (n, K) <- orthogonal columns of unit RMS, in order; False if one is not finite or
    vanishes (G is then left half done)."""
    n, K = G.shape
    for j in range(K):
        for i in range(j):
            dot = 0.0
            for t in range(n):
                dot += G[t, i] * G[t, j]
            for t in range(n):
                G[t, j] -= dot / n * G[t, i]
        norm = 0.0
        for t in range(n):
            norm += G[t, j] * G[t, j]
        if not (np.isfinite(norm) and norm > 0.0):
            return False
        scale = np.sqrt(n / norm)
        for t in range(n):
            G[t, j] *= scale
    return True


@numba.njit(cache=True)
def _l96_steps(rows: np.ndarray, F: float, n_steps: int, dt: float, last: float) -> np.ndarray:
    """Rows (N, n) stepped by Lorenz-96: n_steps steps of dt, the last of `last`."""
    for s in range(n_steps):
        rows = rk4_rows(rows, F, dt if s < n_steps - 1 else last)
    return rows
