"""Training a neural observer on simulated truth and observations (truncated BPTT)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from models.assimilation.observation import LinearObs
from models.assimilation.observer.gain import Gain, gain_kind, make_gain
from models.assimilation.observer.model import NeuralObserver
from models.assimilation.observer.network import init_theta
from models.dynamics.base import Dynamics, integrate
from models.observer_config import ObserverConfig

Progress = Callable[[float], object]


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
    device: torch.device | str = "cpu",
) -> NeuralObserver:
    """Train on simulated truth and observations every `interval` time units (steps of dt).

    The tensors live on `device`; the random draws come from one CPU generator whatever the
    device, so a seed means the same truth, noise and start on the GPU as on the CPU. The
    returned observer's weights are on the CPU (inference and artifacts are there)."""
    g = torch.Generator().manual_seed(seed)
    B, M = cfg.trajectories, cfg.members

    def randn(*shape: int) -> Tensor:
        return torch.randn(shape, generator=g, dtype=torch.float64).to(device)

    truth = climatology(dynamics, B, dt, g, spinup).to(device)
    mean, std = float(truth.mean()), float(truth.std())
    gain = make_gain(obs, gain_kind(dynamics.periodic), cfg)
    theta = [p.to(device) for p in initial_weights(gain, cfg, g)]
    # Start the variance head at half the observation noise variance (in climatological
    # units): about where a working filter's error lands, so few steps are spent getting there.
    start = 0.5 * float(obs.std.pow(2).mean()) / std**2
    theta[-1].fill_(math.log(math.expm1(max(start, 1e-4))))  # softplus^-1
    theta = [p.requires_grad_(True) for p in theta]
    model = NeuralObserver(gain.to(device), theta, mean, std, obs, cfg, torch.float32)
    opt = torch.optim.Adam(theta, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.iterations)
    noise = obs.std.to(device, torch.float64)

    def far_off(k: int) -> Tensor:  # restart errors, a fraction of the climatological spread
        return cfg.reset_std * std * randn(M, k, dynamics.n)

    Xa = truth.expand(M, -1, -1) + far_off(B)
    memory = model.start_memory(Xa)
    for it in range(cfg.iterations):
        loss = torch.zeros((), dtype=torch.float64, device=device)
        for _ in range(cfg.window):
            truth = integrate(dynamics, truth, 0.0, interval, dt)
            y = obs.H_apply(truth) + noise * randn(B, obs.m)
            Xf = integrate(dynamics, Xa, 0.0, interval, dt)
            memory = model.breed(dynamics, Xa, Xf, memory, 0.0, interval, dt)
            Xa, var, memory = model.analysis(Xf, y, memory)
            err = Xa - truth
            loss = loss + (err / std).pow(2).mean() + _nll(err.detach(), var).mean()
        opt.zero_grad(set_to_none=True)
        (loss / cfg.window).backward()  # type: ignore[no-untyped-call]  # unannotated in torch
        torch.nn.utils.clip_grad_norm_(theta, 1.0)
        if all(bool(torch.isfinite(p.grad).all()) for p in theta if p.grad is not None):
            opt.step()  # a non-finite window (a state that blew up) teaches nothing
        sched.step()
        Xa = Xa.detach()
        memory = None if memory is None else memory.detach()
        k = int(cfg.reset_fraction * B)
        if k:
            Xa[:, :k] = truth[:k] + far_off(k)
            truth, Xa = truth.roll(k, 0), Xa.roll(k, 1)  # a different slice next time
            if memory is not None:  # a restarted filter starts with no memory
                memory[:, :k, :, : gain.memory] = 0.0
                memory = memory.roll(k, 1)
        # A filter that lost track (error at climatological level) restarts: its windows
        # would only teach the gain about hopeless states.
        lost = (Xa - truth).pow(2).mean(dim=-1).sqrt() > std
        Xa = torch.where(lost[..., None], truth + far_off(B), Xa)
        if memory is not None:  # the network's channels; bred vectors stay (they are unit)
            fresh = torch.zeros_like(memory[..., : gain.memory])
            net = torch.where(lost[..., None, None], fresh, memory[..., : gain.memory])
            memory = torch.cat((net, memory[..., gain.memory :]), dim=-1)
        if progress is not None:
            progress((it + 1) / cfg.iterations)
    return NeuralObserver(gain, [p.detach().cpu() for p in theta], mean, std, obs, cfg)


def initial_weights(gain: Gain, cfg: ObserverConfig, generator: torch.Generator) -> list[Tensor]:
    """The cfg.members networks' starting weights for `gain`'s inputs and outputs."""
    sizes = [gain.n_in, *([cfg.hidden] * cfg.depth), gain.n_out]
    return init_theta(sizes, cfg.members, generator)


def _nll(err: Tensor, var: Tensor) -> Tensor:
    return 0.5 * (torch.log(var) + err.pow(2) / var)
