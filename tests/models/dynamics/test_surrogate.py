"""A forecaster as stream dynamics: window layout, the one-step predictive, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.dynamics import Dynamics, integrate
from models.dynamics.surrogate import SurrogateDynamics, window
from models.forecasting.batched_mlp import forward
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.ensemble import AnchoredEnsembleAR
from models.forecasting.mniw import mniw_sample
from models.forecasting.var_design import rollout


def var1(T: int, seed: int) -> np.ndarray:
    """A bivariate VAR(1) with cross-coupling: (T, 2)."""
    rng = np.random.default_rng(seed)
    A = np.array([[0.8, 0.3], [-0.2, 0.7]])
    y = np.zeros((T + 100, 2))
    for t in range(1, T + 100):
        y[t] = 1.0 + A @ (y[t - 1] - 1.0) + rng.standard_normal(2)
    return y[100:]


@pytest.fixture(scope="module")
def ar() -> tuple[np.ndarray, BayesianAR]:
    y = var1(300, 0)
    return y, BayesianAR(lags=2).fit(y)


def test_satisfies_the_protocol_and_lays_out_the_window(ar: tuple[np.ndarray, BayesianAR]) -> None:
    y, model = ar
    dyn = SurrogateDynamics.of(model, draws=4)
    assert isinstance(dyn, Dynamics)
    assert (dyn.p, dyn.d, dyn.n, dyn.periodic, dyn.default_dt) == (2, 2, 4, False, 1.0)
    x = window(torch.from_numpy(y), 2)
    assert x.tolist() == [*y[-2].tolist(), *y[-1].tolist()]  # oldest first, newest last
    assert dyn.newest(x).tolist() == y[-1].tolist()
    assert dyn.newest_indices() == [2, 3] and dyn.newest_indices([1]) == [3]
    x1 = dyn.step(x.expand(4, -1), 1.0)
    assert torch.equal(x1[:, :2], x.expand(4, -1)[:, 2:])  # the window shifts by one row


def test_noiseless_steps_follow_each_posterior_draw(ar: tuple[np.ndarray, BayesianAR]) -> None:
    """Row k is draw k: its mean path is var_design.rollout's under the same draws."""
    y, model = ar
    S, h = 5, 4
    dyn = SurrogateDynamics.of(model, draws=S, seed=7).noiseless()
    x = window(torch.from_numpy(y), 2).expand(S, -1)
    path = []
    for _ in range(h):
        x = dyn.step(x, 1.0)
        path.append(dyn.newest(x))
    st = model._state()
    B, U = mniw_sample(st.post, S, np.random.default_rng(7))
    _, Zm = rollout(B, U, st.z_tail, np.ones((h, 1)), np.random.default_rng(0))
    np.testing.assert_allclose(torch.stack(path, 1).numpy(), st.mu + st.sd * Zm, rtol=1e-10)


def test_noisy_steps_sample_the_predictive(ar: tuple[np.ndarray, BayesianAR]) -> None:
    """Many rows stepped h times match predict(h)'s mean and std (posterior predictive)."""
    y, model = ar
    S, h = 4000, 3
    dyn = SurrogateDynamics.of(model, draws=S, seed=1).seeded(torch.Generator().manual_seed(2))
    x = integrate(dyn, window(torch.from_numpy(y), 2).expand(S, -1).clone(), 0.0, float(h))
    f = model.predict(h, num_samples=S, seed=3)
    got = dyn.newest(x).numpy()
    np.testing.assert_allclose(got.mean(0), f.mean[-1], atol=0.08)
    np.testing.assert_allclose(got.std(0), f.std[-1], rtol=0.05)


def test_steps_are_reproducible_under_a_seed(ar: tuple[np.ndarray, BayesianAR]) -> None:
    y, model = ar
    dyn = SurrogateDynamics.of(model, draws=8)
    x = window(torch.from_numpy(y), 2).expand(8, -1)

    def run(seed: int) -> torch.Tensor:
        return dyn.seeded(torch.Generator().manual_seed(seed)).step(x, 1.0)

    assert torch.equal(run(0), run(0)) and not torch.equal(run(0), run(1))
    assert torch.equal(
        SurrogateDynamics.of(model, 8, seed=4).noiseless().step(x, 1.0),
        SurrogateDynamics.of(model, 8, seed=4).noiseless().step(x, 1.0),
    )


def test_refuses_fractional_steps_wrong_states_and_clocked_models(
    ar: tuple[np.ndarray, BayesianAR],
) -> None:
    y, model = ar
    dyn = SurrogateDynamics.of(model, draws=2)
    x = torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="whole series steps"):
        dyn.step(x, 0.5)
    assert dyn.step(x, 1e-8) is x  # a round-off sliver of a step is no step
    assert dyn.step(x, 1 - 1e-8).shape == x.shape
    with pytest.raises(ValueError, match="window has 4"):
        dyn.step(torch.zeros(2, 3, dtype=torch.float64), 1.0)
    seasonal = BayesianAR(lags=1, season_length=12, fourier_order=1).fit(y[:, 0])
    with pytest.raises(ValueError, match="absolute time"):
        seasonal.one_step_sampler(4)
    with pytest.raises(ValueError, match="T >= 2"):
        window(torch.zeros(1, 2), 2)


def test_ensemble_rows_use_their_member() -> None:
    y = var1(120, 1)[:, 0]
    model = AnchoredEnsembleAR(lags=3, hidden=8, members=3, epochs=5, patience=5).fit(y)
    dyn = SurrogateDynamics.of(model, draws=7)
    assert (dyn.p, dyn.d, dyn.sampler.members) == (3, 1, 3)
    x = window(torch.from_numpy(y), 3).expand(7, -1)
    mean = dyn.noiseless().step(x, 1.0)[:, -1]
    st = model._state()
    z = torch.tensor((y[-3:] - st.mu) / st.sd, dtype=torch.float32)
    mu, var = forward([p.cpu() for p in st.theta], z[None])  # (M, 1, 1)
    want = st.mu[0] + st.sd[0] * mu[:, 0, 0].double()
    np.testing.assert_allclose(mean.numpy(), want[torch.arange(7) % 3].numpy(), rtol=1e-6)
    # Noisy rows scatter around their member's mean with the member's own variance.
    many = SurrogateDynamics.of(model, 0).seeded(torch.Generator().manual_seed(0))
    draws = many.step(window(torch.from_numpy(y), 3).expand(3000, -1), 1.0)[:, -1]
    for m in range(3):
        d = draws[m::3].numpy()
        sd_m = st.sd[0] * float(var[m, 0, 0].sqrt())
        assert abs(d.mean() - want[m].item()) < 4 * sd_m / np.sqrt(len(d))
        assert d.std() == pytest.approx(sd_m, rel=0.1)
