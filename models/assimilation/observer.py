"""Neural observer: a learned, state-dependent gain on the innovation, trained offline.

Prediction by the system's own dynamics, correction by a learned gain (Singh et al. 2024,
"Learning Semilinear Neural Operators: A Unified Recursive Framework for Prediction and
Data Assimilation", ICLR; the Luenberger form of an observer):
    x_f = M(x_a, previous),   x_a = x_f + K_theta(x_f) (y - H x_f).
The gain is a small MLP of the standardised forecast. On a periodic grid it is local and
shared by every grid point (the dynamics are translation invariant there): point i's
correction is sum_o g_o(x_f[i-p..i+p]) d[i+o] over innovations d (zero where a component is
not observed) within `reach` points, which keeps it cheap and lets one network serve any n.
Elsewhere (e.g. Lorenz-63) it is a dense (n, m) matrix of the whole state.

Uncertainty: M observers (independent initialisations, batched as stacked weights) run side
by side, each with a head predicting its own analysis-error variance. As for the deep
ensemble forecaster, the spread of their analyses is the epistemic part and the mean of
their predicted variances the aleatoric part (Lakshminarayanan et al. 2017).

Training (truncated back-propagation through time): B truth trajectories of the dynamics
with simulated noisy observations; every member filters all of them from a perturbed
start, and the loss over each window of cycles is the mean squared analysis error (in
climatological units), plus the Gaussian NLL of the variance head on the detached error.
Filter states carry over between windows, so the gain learns the filter's own steady
state; a few are reset to far-off starts each window, so it also learns to converge.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import Tensor

from models.assimilation.observation import LinearObs
from models.assimilation.observer_host import HostLocalGain
from models.dynamics.base import Dynamics, integrate, step_sizes
from models.dynamics.lorenz96 import Lorenz96

Progress = Callable[[float], object]
META_KEY = "kalmanac"
VAR_FLOOR = 1e-6  # in climatological variance units
STATE_BOUND = 8.0  # analyses are kept within this many climatological stds of the mean


@dataclass(frozen=True)
class ObserverConfig:
    """Architecture and training settings of a neural observer."""

    members: int = 4  # observers in the ensemble
    hidden: int = 32
    depth: int = 2  # hidden layers
    patch: int = 4  # grid points on each side the local gain looks at in x_f
    reach: int = 3  # grid points on each side whose innovations the local gain uses
    trajectories: int = 32  # truth runs per training batch
    window: int = 8  # analysis cycles per back-propagation window
    iterations: int = 600
    lr: float = 1e-3
    reset_fraction: float = 0.1  # filter states restarted far off after each window
    reset_std: float = 0.5  # their error, in climatological stds

    def __post_init__(self) -> None:
        for name in ("members", "hidden", "depth", "trajectories", "window", "iterations"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.patch < 0 or self.reach < 0:
            raise ValueError("patch and reach must be >= 0")
        if not (0 < self.lr < 1) or not (0 <= self.reset_fraction <= 1):
            raise ValueError("lr must lie in (0, 1) and reset_fraction in [0, 1]")


def _periodic_index(n: int, radius: int) -> Tensor:
    """(n, 2 radius + 1) indices of each point's neighbours i - radius .. i + radius mod n."""
    offsets = torch.arange(-radius, radius + 1)
    return (torch.arange(n)[:, None] + offsets[None, :]) % n


class LocalGain:
    """Gain shared by the points of a periodic grid, from each point's neighbourhood."""

    def __init__(self, obs: LinearObs, patch: int, reach: int) -> None:
        n = obs.n
        self.n, self.patch, self.reach = n, patch, reach
        self.state_idx = _periodic_index(n, patch)
        self.innov_idx = _periodic_index(n, reach)
        self.scatter = obs.dense().T.contiguous()  # (n, m): H^T puts innovations on the grid
        mask = self.scatter.sum(dim=1)  # 1 where observed
        self.mask_features = mask[self.innov_idx]  # (n, 2 reach + 1)
        self.n_in = 2 * patch + 1 + 2 * reach + 1
        self.n_out = 2 * reach + 1  # one tap per innovation within reach

    def features(self, z: Tensor) -> Tensor:
        """(..., n) standardised forecast -> (..., n, n_in) per-point inputs."""
        mask = self.mask_features.to(z).expand(*z.shape[:-1], -1, -1)
        return torch.cat((z[..., self.state_idx], mask), dim=-1)

    def correction(self, out: Tensor, d: Tensor) -> Tensor:
        """Taps (..., n, n_out) and innovations d (..., m) -> the correction (..., n)."""
        d_grid = d @ self.scatter.to(d).T  # (..., n)
        return (out * d_grid[..., self.innov_idx]).sum(dim=-1)

    def variance(self, rho: Tensor) -> Tensor:
        return rho  # one per grid point already


class DenseGain:
    """A full (n, m) gain matrix from the whole state (systems without a periodic grid)."""

    def __init__(self, obs: LinearObs) -> None:
        self.n, self.m = obs.n, obs.m
        self.n_in = obs.n
        self.n_out = obs.n * obs.m

    def features(self, z: Tensor) -> Tensor:
        return z[..., None, :]  # one "point": the whole state

    def correction(self, out: Tensor, d: Tensor) -> Tensor:
        K = out[..., 0, :].unflatten(-1, (self.n, self.m))
        return (K @ d[..., None])[..., 0]

    def variance(self, rho: Tensor) -> Tensor:
        return rho.expand(*rho.shape[:-1], self.n)  # one shared level for the whole state


def _init_theta(sizes: list[int], M: int, generator: torch.Generator) -> list[Tensor]:
    """Stacked [W_0, b_0, ..., W_out, b_out, W_var, b_var] for M members.

    He-scaled hidden layers; a small output layer, so training starts near a zero gain.
    """
    theta: list[Tensor] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        scale = math.sqrt(2.0 / a) if i < len(sizes) - 2 else 0.01 / math.sqrt(a)
        theta += [scale * torch.randn((M, a, b), generator=generator), torch.zeros((M, 1, b))]
    hidden = sizes[-2]
    return [*theta, torch.zeros((M, hidden, 1)), torch.zeros((M, 1, 1))]


def _mlp(theta: list[Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """Stacked members: x (M, P, n_in) -> gain outputs (M, P, n_out), variance logits (M, P).

    The variance head reads the last hidden layer but does not train it (detached), so the
    trunk is shaped by the analysis error alone.
    """
    h = x
    layers = theta[:-2]
    last = len(layers) // 2 - 1
    for i in range(last):
        h = torch.tanh(torch.baddbmm(layers[2 * i + 1], h, layers[2 * i]))
    out = torch.baddbmm(layers[-1], h, layers[-2])
    rho = torch.baddbmm(theta[-1], h.detach(), theta[-2])[..., 0]
    return out, rho


@dataclass(frozen=True, eq=False)
class NeuralObserver:
    """A trained observer: its gain layout, stacked weights and climatological scaling."""

    gain: LocalGain | DenseGain
    theta: list[Tensor]
    mean: float
    std: float
    obs: LinearObs
    config: ObserverConfig

    @property
    def members(self) -> int:
        return int(self.theta[0].shape[0])

    def analysis(self, Xf: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Forecasts Xf (M, ..., n) of the M members, observation y (m,) or (..., m) ->
        analyses Xa (M, ..., n) and each member's predicted error variance (M, ..., n).

        Inference on CPU (nothing to differentiate) of a local gain runs compiled on NumPy
        arrays (`observer_host`); training, dense gains and GPUs take the torch path."""
        host = self._on_host(Xf)
        if host is not None:
            Xa, var = host.analysis(_float64(Xf), _float64(y))
            return _as_tensor(Xa, Xf.dtype), _as_tensor(var, Xf.dtype)
        theta = [p.to(Xf) for p in self.theta]
        d = y.to(Xf) - self.obs.H_apply(Xf)
        feats = self.gain.features((Xf - self.mean) / self.std)
        out, rho = _mlp(theta, feats.flatten(1, -2))
        dx = self.gain.correction(out.view(*feats.shape[:-1], -1), d)
        rho = self.gain.variance(rho.view(feats.shape[:-1]))
        # A state far off the attractor can blow up within a step (L96's quadratic term):
        # a wild correction, early in training or from an outlier, is bounded instead.
        bound = STATE_BOUND * self.std
        Xa = torch.clamp(Xf + dx, self.mean - bound, self.mean + bound)
        return Xa, (F.softplus(rho) + VAR_FLOOR) * self.std**2

    def cycle(
        self, dynamics: Dynamics, Xa: Tensor, t0: float, t1: float, dt: float, y: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One filter cycle: the members Xa (M, ..., n) integrated from t0 to t1 (steps of
        dt), then the analysis with y at t1. -> (forecast, analysis, predicted variance).

        Lorenz-96 on CPU with a local gain runs as one compiled call (`observer_host`);
        anything else is `integrate` then `analysis`, with the same result."""
        host = self._on_host(Xa)
        if host is not None and isinstance(dynamics, Lorenz96):
            dtype, steps = Xa.dtype, step_sizes(t0, t1, dt)
            f, a, v = host.l96_cycle(dynamics, _float64(Xa), steps, _float64(y))
            return _as_tensor(f, dtype), _as_tensor(a, dtype), _as_tensor(v, dtype)
        Xf = integrate(dynamics, Xa, t0, t1, dt)
        return (Xf, *self.analysis(Xf, y))

    def cycle_arrays(
        self, dynamics: Dynamics, Xa: np.ndarray, t0: float, t1: float, dt: float, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`cycle` on float64 arrays, for tight CPU loops: on Lorenz-96, one compiled call
        without the tensor conversions around it (a third of `cycle`'s time there)."""
        host = self._host
        if host is not None and isinstance(dynamics, Lorenz96) and not self.theta[0].requires_grad:
            return host.l96_cycle(dynamics, Xa, step_sizes(t0, t1, dt), y)
        out = self.cycle(dynamics, torch.from_numpy(Xa), t0, t1, dt, torch.from_numpy(y))
        Xf, Xa_new, var = (t.detach().numpy() for t in out)
        return Xf, Xa_new, var

    def _on_host(self, X: Tensor) -> HostLocalGain | None:
        """The NumPy inference path, when it applies: a local gain, CPU, no gradients."""
        if not X.is_cpu or X.requires_grad or self.theta[0].requires_grad:
            return None
        return self._host

    @cached_property
    def _host(self) -> HostLocalGain | None:
        if not isinstance(self.gain, LocalGain):
            return None
        g = self.gain
        return HostLocalGain.from_weights(
            [p.detach().cpu().numpy() for p in self.theta],
            g.state_idx.numpy(),
            g.innov_idx.numpy(),
            g.mask_features.numpy(),
            self.obs.dense().numpy(),
            mean=self.mean,
            std=self.std,
            bound=STATE_BOUND * self.std,
            var_floor=VAR_FLOOR,
        )

    def dumps(self) -> bytes:
        """safetensors bytes: weights as tensors, everything else as JSON metadata."""
        idx = self.obs.indices
        meta = {
            "kind": "observer",
            "config": asdict(self.config),
            "mean": self.mean,
            "std": self.std,
            "periodic": isinstance(self.gain, LocalGain),
            "obs": {
                "n": self.obs.n,
                "indices": None if idx is None else idx.tolist(),
                "noise_std": self.obs.std.tolist(),
            },
        }
        tensors = {f"theta.{i}": p.detach().cpu().contiguous() for i, p in enumerate(self.theta)}
        return bytes(safetensors.torch.save(tensors, metadata={META_KEY: json.dumps(meta)}))

    @classmethod
    def loads(cls, data: bytes) -> NeuralObserver:
        """The observer written by `dumps` (safetensors: no code runs on load)."""
        tensors = safetensors.torch.load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(json.loads(data[8 : 8 + header_len])["__metadata__"][META_KEY])
        if meta.get("kind") != "observer":
            raise ValueError("not a neural observer artifact")
        o = meta["obs"]
        obs = LinearObs(o["n"], indices=o["indices"], noise_std=o["noise_std"])
        config = ObserverConfig(**meta["config"])
        theta = [tensors[f"theta.{i}"] for i in range(len(tensors))]
        gain = _gain(obs, bool(meta["periodic"]), config)
        return cls(gain, theta, float(meta["mean"]), float(meta["std"]), obs, config)


# On a 40-point grid a cycle is ~20 us: the conversions below skip every call they can.
def _float64(t: Tensor) -> np.ndarray:
    a = t.numpy() if t.is_cpu and not t.requires_grad else t.detach().cpu().numpy()
    return a if a.dtype == np.float64 else a.astype(np.float64)


def _as_tensor(a: np.ndarray, dtype: torch.dtype) -> Tensor:
    t = torch.from_numpy(a)
    return t if dtype == torch.float64 else t.to(dtype)


def _gain(obs: LinearObs, periodic: bool, cfg: ObserverConfig) -> LocalGain | DenseGain:
    return LocalGain(obs, cfg.patch, cfg.reach) if periodic else DenseGain(obs)


def climatology(
    dynamics: Dynamics, B: int, dt: float, generator: torch.Generator, spinup: float
) -> Tensor:
    """B states on the attractor (float64, (B, n)): random starts integrated for `spinup`."""
    x = 1.0 + 0.5 * torch.randn((B, dynamics.n), generator=generator, dtype=torch.float64)
    return integrate(dynamics, x, 0.0, spinup, dt)


def train_observer(
    dynamics: Dynamics,
    obs: LinearObs,
    interval: float,
    dt: float,
    cfg: ObserverConfig,
    seed: int = 0,
    progress: Progress | None = None,
    spinup: float = 20.0,
) -> NeuralObserver:
    """Train on simulated truth and observations every `interval` time units (steps of dt)."""
    g = torch.Generator().manual_seed(seed)
    B, M = cfg.trajectories, cfg.members
    truth = climatology(dynamics, B, dt, g, spinup)
    mean, std = float(truth.mean()), float(truth.std())
    gain = _gain(obs, dynamics.periodic, cfg)
    sizes = [gain.n_in, *([cfg.hidden] * cfg.depth), gain.n_out]
    theta = _init_theta(sizes, M, g)
    # Start the variance head at half the observation noise variance (in climatological
    # units): about where a working filter's error lands, so few steps are spent getting there.
    start = 0.5 * float(obs.std.pow(2).mean()) / std**2
    theta[-1].fill_(math.log(math.expm1(max(start, 1e-4))))  # softplus^-1
    theta = [p.requires_grad_(True) for p in theta]
    model = NeuralObserver(gain, theta, mean, std, obs, cfg)
    opt = torch.optim.Adam(theta, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.iterations)
    noise = obs.std.to(torch.float64)

    def far_off(k: int) -> Tensor:  # restart errors, a fraction of the climatological spread
        return (
            cfg.reset_std * std * torch.randn((M, k, dynamics.n), generator=g, dtype=torch.float64)
        )

    Xa = truth.expand(M, -1, -1) + far_off(B)
    for it in range(cfg.iterations):
        loss = torch.zeros((), dtype=torch.float64)
        for _ in range(cfg.window):
            truth = integrate(dynamics, truth, 0.0, interval, dt)
            y = obs.H_apply(truth) + noise * torch.randn(
                (B, obs.m), generator=g, dtype=torch.float64
            )
            Xf = integrate(dynamics, Xa, 0.0, interval, dt)
            Xa, var = model.analysis(Xf, y)
            err = Xa - truth
            loss = loss + (err / std).pow(2).mean() + _nll(err.detach(), var).mean()
        opt.zero_grad(set_to_none=True)
        (loss / cfg.window).backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(theta, 1.0)
        if all(bool(torch.isfinite(p.grad).all()) for p in theta if p.grad is not None):
            opt.step()  # a non-finite window (a state that blew up) teaches nothing
        sched.step()
        Xa = Xa.detach()
        k = int(cfg.reset_fraction * B)
        if k:
            Xa[:, :k] = truth[:k] + far_off(k)
            truth, Xa = truth.roll(k, 0), Xa.roll(k, 1)  # a different slice next time
        # A filter that lost track (error at climatological level) restarts: its windows
        # would only teach the gain about hopeless states.
        lost = (Xa - truth).pow(2).mean(dim=-1).sqrt() > std
        Xa = torch.where(lost[..., None], truth + far_off(B), Xa)
        if progress is not None:
            progress((it + 1) / cfg.iterations)
    return NeuralObserver(gain, [p.detach() for p in theta], mean, std, obs, cfg)


def _nll(err: Tensor, var: Tensor) -> Tensor:
    return 0.5 * (torch.log(var) + err.pow(2) / var)


@dataclass(frozen=True)
class ObserverScore:
    """Twin-experiment scores, averaged over the cycles after burn-in (as DAPPER does): RMSE
    of the members' mean analysis and the total spread, sqrt(member variance + mean
    predicted variance), each first over the state then over cycles."""

    rmse: float
    spread: float
    cycles: int


def evaluate(
    model: NeuralObserver,
    dynamics: Dynamics,
    interval: float,
    dt: float,
    cycles: int = 1000,
    burn_in: int = 200,
    seed: int = 12345,
) -> ObserverScore:
    """Filter one fresh truth run (its own seed) from a climatological start."""
    g = torch.Generator().manual_seed(seed)
    truth = climatology(dynamics, 1, dt, g, spinup=20.0)[0]
    Xa = truth + model.std * torch.randn(
        (model.members, dynamics.n), generator=g, dtype=truth.dtype
    )
    noise = model.obs.std.to(truth.dtype)
    se, spread = [], []
    with torch.no_grad():
        for k in range(burn_in + cycles):
            truth = integrate(dynamics, truth, 0.0, interval, dt)
            y = model.obs.H_apply(truth) + noise * torch.randn(
                model.obs.m, generator=g, dtype=truth.dtype
            )
            _, Xa, var = model.cycle(dynamics, Xa, 0.0, interval, dt, y)
            if k >= burn_in:
                se.append(float((Xa.mean(0) - truth).pow(2).mean().sqrt()))
                spread.append(float((Xa.var(0, unbiased=False) + var.mean(0)).mean().sqrt()))
    return ObserverScore(rmse=sum(se) / cycles, spread=sum(spread) / cycles, cycles=cycles)
