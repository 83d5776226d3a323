"""AnchoredEnsembleAR checks the maths: learning, the epistemic/aleatoric split, anchoring."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from models.forecasting.base import NotFittedError
from models.forecasting.batched_mlp import forward, layer_sizes, rollout, sample_prior
from models.forecasting.ensemble import AnchoredEnsembleAR
from models.metrics import rmse

SMALL: dict[str, Any] = {
    "lags": 4,
    "hidden": 32,
    "depth": 2,
    "members": 8,
    "epochs": 100,
    "patience": 15,
}


def simulate_ar2(T: int, seed: int, sigma: float = 1.0) -> np.ndarray:
    """y_t = 0.6 y_{t-1} - 0.3 y_{t-2} + sigma e_t: (T,)."""
    rng = np.random.default_rng(seed)
    e = sigma * rng.standard_normal(T + 200)
    y = np.zeros(T + 200)
    for t in range(2, T + 200):
        y[t] = 0.6 * y[t - 1] - 0.3 * y[t - 2] + e[t]
    return y[200:]


@pytest.fixture(scope="module")
def ar_fits() -> tuple[np.ndarray, dict[int, AnchoredEnsembleAR]]:
    y = simulate_ar2(4000, seed=1)
    return y, {T: AnchoredEnsembleAR(**SMALL, batch_size=256).fit(y[:T]) for T in (200, 4000)}


def test_learns_noisy_sine_far_better_than_naive() -> None:
    t = np.arange(700)
    y = np.sin(2 * np.pi * t / 25) + 0.1 * np.random.default_rng(0).standard_normal(700)
    m = AnchoredEnsembleAR(**{**SMALL, "lags": 12}, batch_size=64).fit(y[:600])
    err, naive = [], []
    for o in range(600, 690, 15):  # rolling origins, the fitted weights conditioned on y[:o]
        f = m.predict(10, num_samples=160, context=y[:o])
        err.append(rmse(y[o : o + 10], f.mean[:, 0]))
        naive.append(rmse(y[o : o + 10], np.full(10, y[o - 1])))
    assert np.mean(err) < 0.3 * np.mean(naive), (np.mean(err), np.mean(naive))
    assert np.mean(err) < 0.2  # noise std 0.1


def test_epistemic_grows_off_the_data_and_shrinks_with_data(
    ar_fits: tuple[np.ndarray, dict[int, AnchoredEnsembleAR]],
) -> None:
    y, fits = ar_fits
    m = fits[4000]
    near = m.predict(1, num_samples=64).epistemic_std[0, 0]
    far = m.predict(1, num_samples=64, context=np.full(4, 10 * np.abs(y).max()))
    assert far.epistemic_std[0, 0] > 10 * near

    def epi(model: AnchoredEnsembleAR) -> float:  # step-1 epistemic std over 10 contexts
        f = [model.predict(1, num_samples=64, context=y[:k]) for k in range(100, 200, 10)]
        return float(np.mean([g.epistemic_std[0, 0] for g in f]))

    assert epi(m) < 0.75 * epi(fits[200])


def test_aleatoric_matches_the_noise_std(
    ar_fits: tuple[np.ndarray, dict[int, AnchoredEnsembleAR]],
) -> None:
    y, fits = ar_fits
    alea = [
        fits[4000].predict(1, num_samples=800, context=y[:k]).aleatoric_std[0, 0]
        for k in (50, 90, 130)
    ]
    assert np.allclose(alea, 1.0, rtol=0.3), alea
    # Rao-Blackwellised member means: at step 1 the epistemic part carries no sampling noise.
    a = fits[4000].predict(1, num_samples=16, seed=0).epistemic_std
    b = fits[4000].predict(1, num_samples=1600, seed=1).epistemic_std
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_members_are_distinct_and_anchored(
    ar_fits: tuple[np.ndarray, dict[int, AnchoredEnsembleAR]],
) -> None:
    y, fits = ar_fits
    m = fits[200]
    theta = [p.cpu() for p in m._state().theta]  # fitted on CUDA where there is one
    M = m.members
    anchors = sample_prior(M, layer_sizes(4, 32, 2, 1), 1.0, torch.Generator().manual_seed(0))
    flat = torch.cat([p.reshape(M, -1) for p in theta], dim=1)
    anc = torch.cat([a.reshape(M, -1) for a in anchors], dim=1)
    dist = torch.cdist(flat, anc)  # (M, M): member m to anchor k
    assert torch.all(dist.diagonal() > 0)  # every member trained away from its start...
    off = dist + torch.diag(torch.full((M,), float("inf")))
    assert torch.all(dist.diagonal() < off.min(dim=1).values)  # ...but stays nearest its own
    x = torch.as_tensor(y[100:104][None], dtype=torch.float32)
    mu, _ = forward(theta, x)
    assert len(set(mu.flatten().tolist())) == M  # M distinct predictions
    assert all(b >= 1 for b in m.params_["best_epoch"])
    assert np.isfinite(m.params_["val_nll"]) and len(m.params_["member_val_nll"]) == M


def test_seeded_determinism() -> None:
    y = simulate_ar2(300, seed=2)
    kw = {**SMALL, "epochs": 10}
    a, b = (AnchoredEnsembleAR(**kw).fit(y) for _ in range(2))
    fa, fb = (m.predict(5, num_samples=64, seed=3, return_samples=True) for m in (a, b))
    assert fa.samples is not None and fb.samples is not None
    assert np.array_equal(fa.samples, fb.samples)
    assert a.params_["best_epoch"] == b.params_["best_epoch"]
    fc = AnchoredEnsembleAR(**kw, seed=1).fit(y).predict(5, num_samples=64, seed=3)
    assert not np.allclose(fc.mean, fa.mean)
    assert a.params_["device"] == "cpu" or torch.cuda.is_available()


def test_progress_is_reported_and_can_cancel() -> None:
    y = simulate_ar2(200, seed=3)
    seen: list[float] = []
    AnchoredEnsembleAR(**{**SMALL, "epochs": 8, "patience": 100}).fit(y, progress=seen.append)
    assert seen == pytest.approx([k / 8 for k in range(1, 9)])

    class Cancelled(Exception):
        pass

    calls: list[float] = []

    def cancel_at_third(frac: float) -> None:
        calls.append(frac)
        if len(calls) == 3:
            raise Cancelled

    m = AnchoredEnsembleAR(**SMALL)
    with pytest.raises(Cancelled):
        m.fit(y, progress=cancel_at_third)
    assert len(calls) == 3
    with pytest.raises(NotFittedError):
        m.predict(3)


def test_a_long_series_epochs_are_cut_to_the_step_budget() -> None:
    """200 values: 1 minibatch an epoch, all 8 epochs; 2,000 values with 64-window batches:
    25 steps an epoch, so a budget of 100 steps runs 4 (progress still ends at 1)."""
    short = AnchoredEnsembleAR(**{**SMALL, "epochs": 8, "patience": 100, "max_steps": 100})
    assert short.fit(simulate_ar2(200, seed=3)).params_["epochs_run"] == 8
    seen: list[float] = []
    long = AnchoredEnsembleAR(
        **{**SMALL, "epochs": 8, "patience": 100, "max_steps": 100, "batch_size": 64}
    )
    assert long.fit(simulate_ar2(2000, seed=3), progress=seen.append).params_["epochs_run"] == 4
    assert seen == pytest.approx([k / 4 for k in range(1, 5)])


def test_multivariate_shapes_and_min_length() -> None:
    n = AnchoredEnsembleAR.min_length(lags=4)
    y = np.random.default_rng(4).standard_normal((n, 3))
    f = AnchoredEnsembleAR(**{**SMALL, "epochs": 3}).fit(y).predict(6, num_samples=32)
    assert f.mean.shape == f.epistemic_std.shape == (6, 3) and np.all(np.isfinite(f.std))
    with pytest.raises(ValueError, match="too short"):
        AnchoredEnsembleAR(**SMALL).fit(y[:-1])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"members": 1},
        {"lags": 0},
        {"val_fraction": 1.0},
        {"lr": 0.0},
        {"device": "tpu?"},
        {"max_steps": 0},
    ],
)
def test_invalid_hyperparameters_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, RuntimeError)):
        AnchoredEnsembleAR(**kwargs)  # type: ignore[arg-type]


def test_invalid_predict_arguments_raise() -> None:
    m = AnchoredEnsembleAR(**{**SMALL, "epochs": 2}).fit(simulate_ar2(60, seed=5))
    for kw in ({"num_samples": 15}, {"horizon": 0}, {"context": np.zeros(3)}):
        with pytest.raises(ValueError):
            m.predict(**{"horizon": 2, **kw})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dimension"):
        m.predict(2, context=np.zeros((10, 2)))


def test_a_runaway_member_is_held_within_fifty_training_stds() -> None:
    # Weights 5x a prior draw: the rollout is unstable and would overflow without the clip.
    g = torch.Generator().manual_seed(0)
    theta = [5.0 * p for p in sample_prior(4, layer_sizes(4, 32, 2, 1), 1.0, g)]
    Z, Mu = rollout(theta, torch.full((4,), 3.0), 200, 64, torch.Generator().manual_seed(1))
    assert np.all(np.isfinite(Z)) and np.abs(Z).max() <= 50.0 and np.abs(Mu).max() <= 50.0
    assert np.abs(Z).max() > 10.0  # it did run away: the bound, not the dynamics, held it
