"""BayesianAR checks the maths: coefficient recovery, calibration, order selection, etc."""

import numpy as np
import pytest

from models.forecasting.bayes_ar import BayesianAR
from models.metrics import interval_coverage, rmse


def simulate_var(
    A: np.ndarray, Sigma: np.ndarray, T: int, rng: np.random.Generator, burn: int = 300
) -> np.ndarray:
    """y_t = sum_i A_i y_{t-i} + e_t, e_t ~ N(0, Sigma); A: (p, d, d) -> y: (T, d)."""
    p, d, _ = A.shape
    e = rng.standard_normal((T + burn, d)) @ np.linalg.cholesky(Sigma).T
    y = np.zeros((T + burn, d))
    for t in range(p, T + burn):
        y[t] = e[t] + sum(A[i] @ y[t - 1 - i] for i in range(p))
    return y[burn:]


def simulate_ar(
    phi: list[float], T: int, rng: np.random.Generator, sigma: float = 1.0
) -> np.ndarray:
    """Univariate AR(p): (T,)."""
    A = np.array(phi, dtype=float).reshape(-1, 1, 1)
    return simulate_var(A, np.array([[sigma**2]]), T, rng)[:, 0]


def pacf_to_ar(r: np.ndarray) -> np.ndarray:
    """Durbin-Levinson: partial autocorrelations in (-1, 1) -> stationary AR coefficients."""
    phi = np.zeros(0)
    for rk in r:
        phi = np.r_[phi - rk * phi[::-1], rk]
    return phi


def test_recovers_ar2_coefficients() -> None:
    phi = np.array([0.6, -0.3])
    m = BayesianAR().fit(simulate_ar(list(phi), 2000, np.random.default_rng(0), sigma=2.0) + 5.0)
    assert m.params_["order"] == 2
    est, sd = m.ar_coef_[:, 0, 0], m.ar_coef_std_[:, 0, 0]
    assert np.allclose(sd, np.sqrt((1 - phi[1] ** 2) / 2000), rtol=0.2)  # asymptotic s.e.
    assert np.all(np.abs(est - phi) < 3.5 * sd)
    assert np.isclose(m.params_["noise_cov"][0][0], 4.0, rtol=0.1)


def test_intervals_are_calibrated_on_simulated_ar() -> None:
    rng = np.random.default_rng(42)
    steps = [0, 4, 9]
    hits: dict[float, list[float]] = {80.0: [], 95.0: []}
    for _ in range(300):
        p = int(rng.integers(1, 4))
        phi = pacf_to_ar(rng.uniform(-0.8, 0.8, size=p))
        T = int(rng.integers(200, 301))
        y = 10.0 * rng.standard_normal() + rng.uniform(0.5, 3) * simulate_ar(list(phi), T + 10, rng)
        f = BayesianAR().fit(y[:T]).predict(10, num_samples=500, seed=int(rng.integers(1 << 30)))
        for L, (lo, hi) in f.intervals.items():
            hits[L].append(interval_coverage(lo[steps, 0], hi[steps, 0], y[T:][steps]))
    for L, h in hits.items():
        assert abs(100 * np.mean(h) - L) <= 5.0, (L, 100 * np.mean(h))


@pytest.mark.parametrize("seed", range(5))
def test_evidence_picks_true_order(seed: int) -> None:
    y = simulate_ar([0.5, -0.3, 0.3], 1000, np.random.default_rng(seed))
    m = BayesianAR(max_lag=8).fit(y)
    assert m.params_["order"] == 3
    ev = m.params_["log_evidence"]
    assert set(ev) == {str(p) for p in range(1, 9)}
    assert max(ev, key=ev.get) == "3"


def test_epistemic_shrinks_with_data_aleatoric_matches_noise() -> None:
    sigma = 2.0
    y = simulate_ar([0.7], 5000, np.random.default_rng(1), sigma=sigma)
    epi, alea = [], []
    for T in (50, 500, 5000):
        f = BayesianAR().fit(y[:T]).predict(10, num_samples=4000, seed=0)
        epi.append(f.epistemic_std[[0, 9], 0])
        alea.append(f.aleatoric_std[0, 0])
    assert np.all(epi[1] < 0.6 * epi[0]) and np.all(epi[2] < 0.6 * epi[1])
    assert np.allclose(alea, sigma, rtol=np.array([0.25, 0.1, 0.05]))


def test_var1_recovers_coefficient_matrix() -> None:
    A = np.array([[[0.5, 0.2], [-0.3, 0.4]]])
    Sigma = np.array([[1.0, 0.3], [0.3, 0.5]])
    s, c = np.array([1.0, 10.0]), np.array([3.0, -50.0])  # data units differ per dimension
    y = c + s * simulate_var(A, Sigma, 3000, np.random.default_rng(2))
    m = BayesianAR(max_lag=4).fit(y)
    assert m.params_["order"] == 1
    A_data = s[:, None] * A[0] / s[None, :]
    assert np.all(np.abs(m.ar_coef_[0] - A_data) < 3.5 * m.ar_coef_std_[0])
    assert np.allclose(m.params_["noise_cov"], np.outer(s, s) * Sigma, rtol=0.1)
    f = m.predict(7, quantiles=(0.1,), return_samples=True, num_samples=300)
    assert f.mean.shape == f.std.shape == f.intervals[95.0][0].shape == (7, 2)
    assert f.quantiles[0.1].shape == (7, 2)
    assert f.samples is not None and f.samples.shape == (300, 7, 2)
    # Long-horizon mean reverts to the data mean c.
    assert np.allclose(m.predict(200).mean[-1], y.mean(axis=0), atol=0.2 * s)


def _noise(T: int, rng: np.random.Generator) -> np.ndarray:
    return simulate_ar([0.5], T, rng)


def test_trend_term_improves_trending_forecast() -> None:
    T, h = 200, 100
    err_off, err_on = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        y = 0.05 * np.arange(T + h) + _noise(T + h, rng)
        err_off.append(rmse(y[T:], BayesianAR().fit(y[:T]).predict(h).mean[:, 0]))
        err_on.append(rmse(y[T:], BayesianAR(trend=True).fit(y[:T]).predict(h).mean[:, 0]))
    assert np.mean(err_on) < 0.6 * np.mean(err_off)
    assert np.mean(err_on) < 1.5  # close to the noise floor (AR(1) marginal std 1.15)


def test_fourier_terms_improve_seasonal_forecast() -> None:
    T, h, m = 200, 100, 24
    t = np.arange(T + h)
    err_off, err_on = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        y = 3 * np.sin(2 * np.pi * t / m) + 1.5 * np.cos(4 * np.pi * t / m) + _noise(T + h, rng)
        err_off.append(rmse(y[T:], BayesianAR().fit(y[:T]).predict(h).mean[:, 0]))
        model = BayesianAR(season_length=m, fourier_order=2).fit(y[:T])
        err_on.append(rmse(y[T:], model.predict(h).mean[:, 0]))
    assert np.mean(err_on) < 0.6 * np.mean(err_off)
    assert np.mean(err_on) < 1.5


def test_seeded_determinism() -> None:
    m = BayesianAR().fit(simulate_ar([0.8], 300, np.random.default_rng(3)))
    a, b = (m.predict(20, seed=7, return_samples=True) for _ in range(2))
    c = m.predict(20, seed=8, return_samples=True)
    assert a.samples is not None and b.samples is not None and c.samples is not None
    assert np.array_equal(a.samples, b.samples) and np.array_equal(a.std, b.std)
    assert np.array_equal(a.intervals[80.0][0], b.intervals[80.0][0])
    assert not np.allclose(a.samples, c.samples)


@pytest.mark.parametrize(
    ("kwargs", "dim"),
    [
        ({}, 1),
        ({"lags": 3}, 1),
        ({"trend": True, "season_length": 12, "fourier_order": 2}, 1),
        ({"lags": 2}, 3),
        ({}, 2),
    ],
)
def test_min_length_is_accepted_and_one_less_raises(kwargs: dict[str, object], dim: int) -> None:
    n = BayesianAR.min_length(
        lags=kwargs.get("lags"),  # type: ignore[arg-type]
        trend=bool(kwargs.get("trend", False)),
        fourier_order=int(kwargs.get("fourier_order", 0)),  # type: ignore[call-overload]
        dim=dim,
    )
    y = np.random.default_rng(0).standard_normal((n, dim))
    f = BayesianAR(**kwargs).fit(y).predict(3, num_samples=50)  # type: ignore[arg-type]
    assert f.mean.shape == (3, dim) and np.all(np.isfinite(f.std))
    with pytest.raises(ValueError, match="too short"):
        BayesianAR(**kwargs).fit(y[:-1])  # type: ignore[arg-type]


def test_short_series_caps_max_lag() -> None:
    m = BayesianAR(max_lag=12).fit(np.random.default_rng(0).standard_normal(20))
    assert m.params_["max_lag"] == 6 and len(m.params_["log_evidence"]) == 6


def test_constant_series_is_finite() -> None:
    f = BayesianAR().fit(np.full(50, 3.0)).predict(5)
    assert np.allclose(f.mean, 3.0, atol=0.1) and np.all(np.isfinite(f.std))


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.r_[np.zeros(20), np.nan], "NaN"),
        (np.r_[np.zeros(20), np.inf], "NaN or infinite"),
        (np.zeros((10, 2, 2)), "shape"),
        (np.zeros((30, 0)), "zero columns"),
        (["a", "b"], "numeric"),
    ],
)
def test_invalid_series_raise(y: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BayesianAR().fit(y)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_lag": 0},
        {"lags": 0},
        {"fourier_order": 2},
        {"season_length": 4, "fourier_order": 3},
        {"prior_scale": 0.0},
    ],
)
def test_invalid_hyperparameters_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BayesianAR(**kwargs)  # type: ignore[arg-type]


def test_invalid_predict_arguments_raise() -> None:
    m = BayesianAR().fit(np.random.default_rng(0).standard_normal(50))
    for kw in (
        {"horizon": 0},
        {"horizon": 2, "levels": (100,)},
        {"horizon": 2, "quantiles": (1.0,)},
        {"horizon": 2, "num_samples": 1},
    ):
        with pytest.raises(ValueError):
            m.predict(**kw)


def test_context_equal_to_training_series_changes_nothing() -> None:
    y = simulate_ar([0.6, -0.3], 300, np.random.default_rng(5))
    m = BayesianAR(trend=True, season_length=12, fourier_order=2).fit(y)
    a = m.predict(8, seed=2, return_samples=True)
    b = m.predict(8, seed=2, return_samples=True, context=y)
    c = m.predict(8, seed=2, return_samples=True, context=y[:200] + 3.0)
    assert a.samples is not None and b.samples is not None and c.samples is not None
    assert np.array_equal(a.samples, b.samples)
    assert not np.allclose(a.mean, c.mean)


def test_context_keeps_the_training_clock_for_seasonal_terms() -> None:
    # The context is taken to start where training started, so a context ending at t = n
    # forecasts the season's phase at n, n+1, ... (here checked against the true future).
    T, m = 240, 24
    t = np.arange(T)
    y = 3 * np.sin(2 * np.pi * t / m) + 0.2 * np.random.default_rng(6).standard_normal(T)
    model = BayesianAR(lags=1, season_length=m, fourier_order=1).fit(y)
    for n in (100, 131, 150):
        f = model.predict(12, context=y[:n], num_samples=400)
        assert rmse(y[n : n + 12], f.mean[:, 0]) < 0.35
    with pytest.raises(ValueError, match="dimension"):
        model.predict(3, context=np.zeros((10, 2)))
    with pytest.raises(ValueError, match="too short"):
        model.predict(3, context=np.zeros(0))
