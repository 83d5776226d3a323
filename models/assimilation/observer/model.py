"""A trained neural observer: inference (the analysis), its cycle, and its artifact."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

from models.artifacts import pack, read_meta, unpack
from models.assimilation.observation import LinearObs
from models.assimilation.observer.bred import BRED_SIZE, breed, start_vectors
from models.assimilation.observer.gain import (
    VAR_FLOOR,
    CovarianceGain,
    DenseGain,
    Gain,
    LocalGain,
    make_gain,
)
from models.assimilation.observer.host import HostCovarianceGain, HostLocalGain
from models.assimilation.observer.network import mlp
from models.dynamics.base import Dynamics, integrate, step_sizes
from models.dynamics.lorenz96 import Lorenz96
from models.observer_config import ObserverConfig

STATE_BOUND = 8.0  # analyses are kept within this many climatological stds of the mean


@dataclass(frozen=True, eq=False)
class NeuralObserver:
    """A trained observer: its gain layout, stacked weights and climatological scaling."""

    gain: Gain
    theta: list[Tensor]
    mean: float
    std: float
    obs: LinearObs
    config: ObserverConfig
    # The torch path's network precision. Training runs it in float32 (the dynamics, the
    # innovations and the update stay float64): the network is most of a training step,
    # and float32 halves it on a CPU at the same twin RMSE. Inference keeps float64, the
    # precision of the compiled path it must match.
    network_dtype: torch.dtype = torch.float64

    @property
    def members(self) -> int:
        return int(self.theta[0].shape[0])

    def analysis(
        self, Xf: Tensor, y: Tensor, memory: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Forecasts Xf (M, ..., n) of the M members, observation y (m,) or (..., m), the
        memory the last analysis left (M, ..., n, c; None: a start, zeros) -> analyses Xa
        (M, ..., n), each member's predicted error variance (M, ..., n) and the memory for
        the next analysis (None when the gain carries none).

        Inference on CPU (nothing to differentiate) of a local or covariance gain runs on
        NumPy arrays (`observer_host`); training, dense gains and GPUs take the torch path."""
        host = self._on_host(Xf)
        if host is not None:
            a, v, r = host.analysis(_float64(Xf), _float64(y), _memory_array(memory))
            return _as_tensor(a, Xf.dtype), _as_tensor(v, Xf.dtype), _memory_tensor(r, Xf)
        memory = self.start_memory(Xf) if memory is None else memory
        theta = [p.to(Xf.device, self.network_dtype) for p in self.theta]
        d = y.to(Xf) - self.obs.H_apply(Xf)
        feats = self.gain.features((Xf - self.mean) / self.std, d / self.std, memory)
        out, rho = mlp(theta, feats.flatten(1, -2).to(self.network_dtype))
        out, rho = out.to(Xf.dtype), rho.to(Xf.dtype)
        out = out.view(*feats.shape[:-1], -1)
        dx = self.gain.correction(out, d, memory)
        # A state far off the attractor can blow up within a step (L96's quadratic term):
        # a wild correction, early in training or from an outlier, is bounded instead.
        bound = STATE_BOUND * self.std
        Xa = torch.clamp(Xf + dx, self.mean - bound, self.mean + bound)
        var = self.gain.variance(out, rho.view(feats.shape[:-1]), self.std)
        return Xa, var, self.gain.next_memory(out, memory)

    def start_memory(self, X: Tensor) -> Tensor | None:
        """The memory of members X (M, ..., n) that have not been analysed yet (M, ...,
        n, c): zeros, and the bred vectors' start; None when the gain carries none."""
        g = self.gain
        return g.start_memory(X) if isinstance(g, LocalGain) and g.channels else None

    def breed(
        self,
        dynamics: Dynamics,
        Xa: Tensor,
        Xf: Tensor,
        memory: Tensor | None,
        t0: float,
        t1: float,
        dt: float,
    ) -> Tensor | None:
        """The memory of analyses Xa with its bred vectors (`bred`) carried to their
        forecasts Xf (from t0 to t1, steps of dt); as it is when the gain breeds none."""
        g = self.gain
        if not isinstance(g, LocalGain) or not g.bred:
            return memory
        memory = self.start_memory(Xa) if memory is None else memory
        assert memory is not None
        eps = BRED_SIZE * self.std
        B = breed(dynamics, Xa, Xf, memory[..., g.memory :], t0, t1, dt, eps)
        return torch.cat((memory[..., : g.memory], B), dim=-1)

    def cycle(
        self,
        dynamics: Dynamics,
        Xa: Tensor,
        t0: float,
        t1: float,
        dt: float,
        y: Tensor,
        memory: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """One filter cycle: the members Xa (M, ..., n) integrated from t0 to t1 (steps of
        dt), then the analysis with y at t1 and the memory Xa's analysis left (None: a
        start). -> (forecast, analysis, predicted variance, next memory).

        Lorenz-96 on CPU with a local gain runs as one compiled call (`observer_host`);
        anything else is `integrate` then `analysis`, with the same result."""
        host = self.l96_host(dynamics, Xa)
        if host is not None and isinstance(dynamics, Lorenz96):
            dtype, steps = Xa.dtype, step_sizes(t0, t1, dt)
            mem = _memory_array(memory)
            f, a, v, r = host.l96_cycle(dynamics, _float64(Xa), steps, _float64(y), mem)
            f_t, a_t, v_t = (_as_tensor(x, dtype) for x in (f, a, v))
            return f_t, a_t, v_t, _memory_tensor(r, Xa)
        Xf = integrate(dynamics, Xa, t0, t1, dt)
        memory = self.breed(dynamics, Xa, Xf, memory, t0, t1, dt)
        return (Xf, *self.analysis(Xf, y, memory))

    def cycle_arrays(
        self,
        dynamics: Dynamics,
        Xa: np.ndarray,
        t0: float,
        t1: float,
        dt: float,
        y: np.ndarray,
        memory: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """`cycle` on float64 arrays, for tight CPU loops: on Lorenz-96, one compiled call
        without the tensor conversions around it (a third of `cycle`'s time there)."""
        host = self._host
        if (
            isinstance(host, HostLocalGain)
            and isinstance(dynamics, Lorenz96)
            and not self.theta[0].requires_grad
        ):
            return host.l96_cycle(dynamics, Xa, step_sizes(t0, t1, dt), y, memory)
        mem = None if memory is None else torch.from_numpy(memory)
        out = self.cycle(dynamics, torch.from_numpy(Xa), t0, t1, dt, torch.from_numpy(y), mem)
        Xf, Xa_new, var = (t.detach().numpy() for t in out[:3])
        return Xf, Xa_new, var, None if out[3] is None else out[3].detach().numpy()

    def runs_l96(self, dynamics: Dynamics) -> bool:
        """Whether CPU states' cycles of these dynamics compile whole: Lorenz-96 and a local
        gain (`l96_host`)."""
        return isinstance(dynamics, Lorenz96) and isinstance(self._host, HostLocalGain)

    def l96_host(self, dynamics: Dynamics, X: Tensor) -> HostLocalGain | None:
        """The compiled path of a whole cycle of X, when it applies: Lorenz-96 and the local
        gain's host path (`_on_host`)."""
        host = self._on_host(X) if self.runs_l96(dynamics) else None
        return host if isinstance(host, HostLocalGain) else None  # as runs_l96 said

    def _on_host(self, X: Tensor) -> HostLocalGain | HostCovarianceGain | None:
        """The NumPy inference path, when it applies: a local or covariance gain, CPU, no
        gradients."""
        if not X.is_cpu or X.requires_grad or self.theta[0].requires_grad:
            return None
        return self._host

    @cached_property
    def _host(self) -> HostLocalGain | HostCovarianceGain | None:
        if isinstance(self.gain, CovarianceGain):
            return HostCovarianceGain(
                [p.detach().cpu().numpy().astype(np.float64) for p in self.theta[:-2]],
                self.gain.H.numpy(),
                self.gain.R.diagonal().numpy(),
                self.gain.scale,
                self.mean,
                self.std,
                STATE_BOUND * self.std,
                VAR_FLOOR,
            )
        if not isinstance(self.gain, LocalGain):
            return None
        g = self.gain
        return HostLocalGain.from_weights(
            [p.detach().cpu().numpy() for p in self.theta],
            g.state_idx.numpy(),
            g.innov_idx.numpy(),
            g.mask_features.numpy(),
            g.memory_idx.numpy(),
            g.memory,
            start_vectors(g.n, g.bred),
            self.obs.dense().numpy(),
            mean=self.mean,
            std=self.std,
            bound=STATE_BOUND * self.std,
            var_floor=VAR_FLOOR,
        )

    def dumps(self) -> bytes:
        """Artifact bytes (`models.artifacts`): weights as tensors, the rest as metadata."""
        idx = self.obs.indices
        meta = {
            "kind": "observer",
            "config": asdict(self.config),
            "mean": self.mean,
            "std": self.std,
            "gain": self.gain.kind,
            "periodic": isinstance(self.gain, LocalGain),  # all that older releases read
            "obs": {
                "n": self.obs.n,
                "indices": None if idx is None else idx.tolist(),
                "noise_std": self.obs.std.tolist(),
            },
        }
        return pack({f"theta.{i}": p for i, p in enumerate(self.theta)}, meta)

    @classmethod
    def loads(cls, data: bytes) -> NeuralObserver:
        """The observer written by `dumps` (no code runs on load)."""
        meta, tensors = read_meta(data), unpack(data)
        if meta.get("kind") != "observer":
            raise ValueError("not a neural observer artifact")
        o = meta["obs"]
        obs = LinearObs(o["n"], indices=o["indices"], noise_std=o["noise_std"])
        # Observers stored before the memory, or the bred vectors, had none.
        config = ObserverConfig(**{"memory": 0, "bred": 0, **meta["config"]})
        theta = [tensors[f"theta.{i}"] for i in range(len(tensors))]
        # Artifacts before the gain's kind was recorded said only whether the grid was periodic.
        kind = meta.get("gain") or (LocalGain.kind if meta["periodic"] else DenseGain.kind)
        gain = make_gain(obs, kind, config)
        return cls(gain, theta, float(meta["mean"]), float(meta["std"]), obs, config)


# On a 40-point grid a cycle is ~20 us: the conversions below skip every call they can.
def _float64(t: Tensor) -> np.ndarray:
    a = t.numpy() if t.is_cpu and not t.requires_grad else t.detach().cpu().numpy()
    return a if a.dtype == np.float64 else a.astype(np.float64)


def _as_tensor(a: np.ndarray, dtype: torch.dtype) -> Tensor:
    t = torch.from_numpy(a)
    return t if dtype == torch.float64 else t.to(dtype)


def _memory_array(memory: Tensor | None) -> np.ndarray | None:
    return None if memory is None else _float64(memory)


def _memory_tensor(memory: np.ndarray | None, like: Tensor) -> Tensor | None:
    return None if memory is None else _as_tensor(memory, like.dtype)
