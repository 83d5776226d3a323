"""Anchored deep ensemble of autoregressive MLPs with heteroscedastic Gaussian heads.

Member m maps the last `lags` standardised rows, x_t = [z_{t-lags}, ..., z_{t-1}]: (lags d,),
to z_t ~ N(mu_m(x_t), diag var_m(x_t)). Members are trained together as stacked tensors
(`batched_mlp`, `ensemble_train`) and form an approximate posterior sample (Pearce et al.
2020, "Uncertainty in Neural Networks: Approximately Bayesian Ensembling"; Lakshminarayanan
et al. 2017, "Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles").

Forecasts are sampled autoregressive rollouts: path s uses member s % M and feeds each
draw z ~ N(mu_m, var_m) back in. Uncertainty is split per step by the law of total variance
over members (`summarize_samples`), with E[y_j | member m] estimated by averaging the
member's conditional means mu_m(x_{s,j}) over its paths (Rao-Blackwellised: no step-j noise
enters it, so at step 1 it is exact). Averaging the sampled y_{s,j} instead would add
var_m / (S/M) of Monte Carlo noise to the epistemic variance, a floor that swamps the true
between-member spread on long series. Unlike feeding the noiseless means back, this stays
correct for nonlinear members: member m's h-step mean includes how its noise propagates.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from models.forecasting.base import (
    FloatArray,
    Forecast,
    NotFittedError,
    OneStepSampler,
    Progress,
    SeriesTooShort,
    as_series,
    check_context,
    check_predict_args,
    column_scale,
    hyperparameters,
    summarize_samples,
)
from models.forecasting.batched_mlp import (
    count_params,
    forward,
    gaussian_nll,
    layer_sizes,
    param_shapes,
    prior_stds,
    rollout,
    sample_prior,
    sample_step,
)
from models.forecasting.ensemble_train import TrainConfig, train_anchored
from models.forecasting.torch_runtime import cpu_threads, resolve_device, step_macs

# Fewer windows than this cannot support both a training and a validation split.
MIN_WINDOWS = 20


@dataclass(frozen=True, eq=False)
class _Fitted:
    theta: list[Tensor]  # [W_0, b_0, ...], leading axis M, float32 on `device`
    mu: FloatArray  # (d,) scaler centre
    sd: FloatArray  # (d,) scaler scale
    y_tail: FloatArray  # (lags, d) last training rows, data units
    device: torch.device
    params: dict[str, Any]
    x_mu: FloatArray  # (c,) the drivers' scaler (c = 0: none)
    x_sd: FloatArray


def windows(z: FloatArray, lags: int) -> tuple[FloatArray, FloatArray]:
    """X: (T - lags, lags d) flattened windows, oldest row first; Y: (T - lags, d) targets."""
    T, d = z.shape
    W = np.lib.stride_tricks.sliding_window_view(z, lags, axis=0)  # (T - lags + 1, d, lags)
    X = W[: T - lags].transpose(0, 2, 1).reshape(T - lags, lags * d)
    return X, z[lags:]


@dataclass
class AnchoredEnsembleAR:
    """M anchored MLPs (depth hidden layers of `hidden` ReLU units) on a `lags`-row window.

    prior_std: prior scale (weights ~ N(0, prior_std^2 / fan_in), biases ~ N(0, prior_std^2),
    standardised units); val_fraction: last fraction of the windows held out for early
    stopping (patience epochs without improvement, per member); max_steps: the most optimiser
    steps, to which the epochs are cut on a long series (`TrainConfig.epochs_for`); device:
    None picks CUDA when available. Training is deterministic under `seed` on the CPU.
    """

    lags: int = 32
    hidden: int = 64
    depth: int = 2
    members: int = 8
    epochs: int = 300
    batch_size: int = 256
    lr: float = 3e-3
    prior_std: float = 1.0
    val_fraction: float = 0.2
    patience: int = 30
    max_steps: int = 10_000
    seed: int = 0
    device: str | None = None
    _fit: _Fitted | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("lags", "hidden", "depth", "epochs", "batch_size", "patience", "max_steps"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if int(self.members) != self.members or self.members < 2:
            raise ValueError(f"members must be an integer >= 2, got {self.members!r}")
        if not (self.lr > 0 and self.prior_std > 0):
            raise ValueError("lr and prior_std must be positive")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1), got {self.val_fraction!r}")
        resolve_device(self.device)  # fail early on a malformed device string

    @staticmethod
    def min_length(lags: int = 32) -> int:
        """Smallest series length fit() accepts: lags + MIN_WINDOWS (windows for a training
        and a validation split)."""
        return lags + MIN_WINDOWS

    def fit(
        self,
        y: ArrayLike,
        *,
        progress: Progress | None = None,
        covariates: ArrayLike | None = None,
    ) -> Self:
        """Fit to y: (T,) or (T, d), T >= min_length(lags). covariates: (T, c) known drivers,
        an input of each step beside its window (their future is then needed to forecast).
        `progress(fraction)` is called after every epoch; an exception it raises cancels
        training and propagates."""
        Yraw = as_series(y)
        T, d = Yraw.shape
        if T < self.min_length(self.lags):
            raise SeriesTooShort(T, self.min_length(self.lags))
        t0 = time.perf_counter()
        device = resolve_device(self.device)
        mu, sd = column_scale(Yraw)
        X, Y = windows((Yraw - mu) / sd, self.lags)
        Xc = np.empty((T, 0)) if covariates is None else as_series(covariates, "covariates")
        if Xc.shape[0] != T:
            raise ValueError(f"covariates have {Xc.shape[0]} rows for {T} values")
        x_mu, x_sd = Xc.mean(axis=0), Xc.std(axis=0)
        x_sd = np.where(x_sd > 0, x_sd, 1.0)
        X = np.hstack([X, ((Xc - x_mu) / x_sd)[self.lags :]])  # a step's drivers beside its window
        N = X.shape[0]
        n_val = min(N - 1, max(1, round(self.val_fraction * N)))  # time-ordered: last windows

        def tensor(a: FloatArray) -> Tensor:
            return torch.tensor(a, dtype=torch.float32, device=device)

        gen = torch.Generator().manual_seed(int(self.seed))
        sizes = layer_sizes(self.lags * d + Xc.shape[1], self.hidden, self.depth, d)
        stds = prior_stds(sizes, self.prior_std)
        anchor = [a.to(device) for a in sample_prior(self.members, sizes, self.prior_std, gen)]
        cfg = TrainConfig(self.epochs, self.batch_size, self.lr, self.patience, self.max_steps)
        Xt, Yt, Xv, Yv = (tensor(a) for a in (X[:-n_val], Y[:-n_val], X[-n_val:], Y[-n_val:]))
        macs = self.members * step_macs(sizes, min(self.batch_size, N))
        with cpu_threads(device, macs):
            res = train_anchored(anchor, stds, Xt, Yt, Xv, Yv, cfg, gen, progress)
        with torch.no_grad():  # the ensemble's mixture NLL in data units, per window
            m_, v_ = forward(res.theta, Xv)
            logp = -gaussian_nll(m_, v_, Yv)  # (M, N_val)
            mix = torch.logsumexp(logp, dim=0) - np.log(self.members)
            val_nll = float(-mix.mean()) + float(np.sum(np.log(sd)))
        params: dict[str, Any] = {
            "model": "anchored_ensemble",
            "n_obs": T,
            "dim": d,
            "members": self.members,
            "n_params": count_params(sizes) * self.members,
            "n_train_windows": N - n_val,
            "n_val_windows": n_val,
            "epochs_run": res.epochs_run,
            "best_epoch": res.best_epoch,
            "chosen_epoch": int(np.median(res.best_epoch)),
            "val_nll": val_nll,
            "member_val_nll": [v + float(np.sum(np.log(sd))) for v in res.best_val_nll],
            "device": str(device),
            "train_seconds": time.perf_counter() - t0,
        }
        self._fit = _Fitted(res.theta, mu, sd, Yraw[T - self.lags :], device, params, x_mu, x_sd)
        return self

    def _state(self) -> _Fitted:
        if self._fit is None:
            raise NotFittedError("AnchoredEnsembleAR is not fitted; call fit(y) first")
        return self._fit

    @property
    def params_(self) -> dict[str, Any]:
        """Fitted summary: epochs run, best epoch per member, validation NLL, device, timing."""
        return self._state().params

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
        """Pooled sampled rollouts; arrays (horizon, d), samples (S, horizon, d).

        num_samples >= 2 * members (each member needs two paths for its variance).
        context: (n,) or (n, d), n >= lags: forecast from its end instead of the training
        series' end, with the fitted weights and scaler (no refit). covariates: (horizon, c),
        the drivers' future, when the model was fitted with them.
        """
        st = self._state()
        check_predict_args(horizon, num_samples, levels, quantiles)
        M, S, h = self.members, int(num_samples), int(horizon)
        if S < 2 * M:
            raise ValueError(f"num_samples must be >= 2 * members = {2 * M}, got {S}")
        d = st.mu.shape[0]
        tail = st.y_tail
        if context is not None:
            C = check_context(context, d, self.lags)
            tail = C[C.shape[0] - self.lags :]
        x0 = torch.as_tensor(((tail - st.mu) / st.sd).reshape(-1), dtype=torch.float32)
        gen = torch.Generator().manual_seed(int(seed))
        sizes = [int(st.theta[0].shape[1])] + [int(W.shape[2]) for W in st.theta[::2]]
        exog = _future_drivers(st, covariates, h)
        with cpu_threads(st.device, step_macs(sizes, S)):
            Z, Mu = rollout(st.theta, x0.to(st.device), h, S, gen, exog)
        member = np.arange(S) % M
        sums = np.zeros((M, h, d))
        np.add.at(sums, member, Mu.astype(np.float64))
        cond = sums / np.bincount(member, minlength=M)[:, None, None]  # E[z | m]: (M, h, d)
        return summarize_samples(
            st.mu + st.sd * Z.astype(np.float64),
            st.mu + st.sd * cond[member],
            levels,
            quantiles,
            return_samples,
        )

    @property
    def window_shape_(self) -> tuple[int, int]:
        """(lags, d): the window a one-step prediction needs."""
        return self.lags, int(self._state().mu.shape[0])

    def one_step_sampler(self, draws: int = 0, seed: int = 0) -> OneStepSampler:
        """The members as a batched one-step predictive: row r uses member r % members.

        `draws` and `seed` are unused: the trained members are the ensemble's draws.
        """
        st = self._state()
        if st.x_mu.size:
            raise ValueError("one-step sampling needs a model without drivers (a stream has none)")
        return _EnsembleSampler(st.theta, torch.from_numpy(st.mu), torch.from_numpy(st.sd))

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Hyperparameters and summary; weights (float32), scaler and tail (float64)."""
        st = self._state()
        meta = {"kind": "ensemble", "hyper": hyperparameters(self), "params": st.params}
        tensors = {f"theta.{i}": p.detach().cpu().contiguous() for i, p in enumerate(st.theta)}
        arrays = [("mu", st.mu), ("sd", st.sd), ("y_tail", st.y_tail)]
        if st.x_mu.size:
            arrays += [("x_mu", st.x_mu), ("x_sd", st.x_sd)]
        for k, a in arrays:
            tensors[k] = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))
        return meta, tensors

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        """Rebuild the fitted model written by `to_state`, on its `device` (None: CUDA when
        available; a CUDA-trained model loads on the CPU where there is no GPU)."""
        if meta.get("kind") != "ensemble":
            raise ValueError(f"not an ensemble state: kind={meta.get('kind')!r}")
        model = cls(**meta["hyper"])
        device = resolve_device(model.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            device = torch.device("cpu")  # weights are device-independent; serve where we are
        a = {k: tensors[k].to(torch.float64).numpy() for k in ("mu", "sd", "y_tail")}
        x = {k: tensors[k].to(torch.float64).numpy() if k in tensors else np.empty(0)
             for k in ("x_mu", "x_sd")}  # fmt: skip
        d = a["mu"].shape[0]
        sizes = layer_sizes(model.lags * d + x["x_mu"].size, model.hidden, model.depth, d)
        expected = param_shapes(model.members, sizes)
        theta = [tensors[f"theta.{i}"] for i in range(len(expected))]
        if [tuple(p.shape) for p in theta] != expected or a["y_tail"].shape != (model.lags, d):
            raise ValueError("ensemble tensors do not match the stored hyperparameters")
        theta = [p.to(device=device, dtype=torch.float32) for p in theta]
        model._fit = _Fitted(
            theta, a["mu"], a["sd"], a["y_tail"], device, meta["params"], x["x_mu"], x["x_sd"]
        )
        return model


def _future_drivers(st: _Fitted, covariates: ArrayLike | None, h: int) -> Tensor | None:
    """The drivers' future, standardised, as the rollout's per-step inputs (h, c)."""
    c = st.x_mu.shape[0]
    if covariates is None:
        if c:
            raise ValueError(f"the model was fitted with {c} covariates: give their future")
        return None
    if not c:
        raise ValueError("the model was fitted without covariates")
    X = as_series(covariates, "covariates")
    if X.shape != (h, c):
        raise ValueError(f"covariates' future must be ({h}, {c}), got {X.shape}")
    return torch.as_tensor((X - st.x_mu) / st.x_sd, dtype=torch.float32, device=st.device)


@dataclass(frozen=True, eq=False)
class _EnsembleSampler:
    """The members stepping windows: member m's mean plus its own (aleatoric) noise."""

    theta: list[Tensor]  # leading axis M, float32 on the model's device
    mu: Tensor  # (d,) float64 scaler
    sd: Tensor

    @property
    def members(self) -> int:
        return int(self.theta[0].shape[0])

    def __call__(
        self, W: Tensor, generator: torch.Generator | None = None, noise: bool = True
    ) -> Tensor:
        """W: (R, lags, d) windows, oldest first -> next values (R, d) float64."""
        R, lags, d = W.shape
        M, device = self.members, self.theta[0].device
        J = -(-R // M)
        x = ((W.detach().to("cpu", torch.float64) - self.mu) / self.sd).reshape(R, lags * d)
        x = torch.cat([x, x.new_zeros(J * M - R, lags * d)])  # pad to the (M, J) grid
        x = x.reshape(J, M, lags * d).transpose(0, 1)  # x[m, j] is row j M + m, as in rollout
        eps = None
        if noise:
            eps = torch.randn((J, M, d), generator=generator).transpose(0, 1).to(device)
        with torch.no_grad():
            z, _ = sample_step(self.theta, x.to(device, torch.float32), eps)
        z = z.transpose(0, 1).reshape(J * M, d)[:R].to("cpu", torch.float64)
        return (self.mu + self.sd * z).to(W.device)
