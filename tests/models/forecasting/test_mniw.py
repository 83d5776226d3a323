"""The conjugate MNIW maths: evidence against independent closed forms, sampler moments."""

import numpy as np
from scipy import stats

from models.forecasting.mniw import (
    MNIWPrior,
    mniw_log_evidence,
    mniw_nested_log_evidence,
    mniw_sample,
    mniw_update,
)


def _data(n: int, k: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, k))
    Y = X @ rng.standard_normal((k, d)) + rng.standard_normal((n, d))
    return X, Y


def test_evidence_d1_equals_multivariate_t() -> None:
    # d = 1: sigma^2 ~ IG(nu0/2, Psi0/2) => Y ~ t_nu0(0, (Psi0/nu0)(I + X V0 X')).
    X, Y = _data(15, 3, 1, seed=0)
    prior = MNIWPrior(v0=np.array([4.0, 2.0, 0.5]), Psi0=np.array([[0.7]]), nu0=3.0)
    post = mniw_update(prior, X, Y)
    shape = (0.7 / 3.0) * (np.eye(15) + X @ np.diag(prior.v0) @ X.T)
    expected = stats.multivariate_t(loc=np.zeros(15), shape=shape, df=3).logpdf(Y[:, 0])
    assert np.isclose(mniw_log_evidence(prior, post, 15), expected, rtol=0, atol=1e-8)


def test_evidence_d2_equals_candidate_formula() -> None:
    # Chib's identity: log p(Y) = log p(Y|B,S) + log p(B,S) - log p(B,S|Y) at any (B, S).
    X, Y = _data(20, 3, 2, seed=1)
    Psi0 = np.array([[1.5, 0.2], [0.2, 0.8]])
    prior = MNIWPrior(v0=np.array([9.0, 1.0, 2.0]), Psi0=Psi0, nu0=4.0)
    post = mniw_update(prior, X, Y)
    Vn = np.linalg.inv(post.L @ post.L.T)
    B = post.M + 0.1
    Sig = np.array([[1.2, -0.1], [-0.1, 0.9]])
    log_joint = (
        stats.matrix_normal(mean=X @ B, rowcov=np.eye(20), colcov=Sig).logpdf(Y)
        + stats.matrix_normal(mean=np.zeros((3, 2)), rowcov=np.diag(prior.v0), colcov=Sig).logpdf(B)
        + stats.invwishart(df=4.0, scale=Psi0).logpdf(Sig)
    )
    log_post = stats.matrix_normal(mean=post.M, rowcov=Vn, colcov=Sig).logpdf(B) + stats.invwishart(
        df=post.nu, scale=post.Psi
    ).logpdf(Sig)
    assert np.isclose(mniw_log_evidence(prior, post, 20), log_joint - log_post, atol=1e-8)


def test_sampler_moments() -> None:
    X, Y = _data(30, 3, 2, seed=2)
    prior = MNIWPrior(v0=np.full(3, 4.0), Psi0=np.eye(2), nu0=4.0)
    post = mniw_update(prior, X, Y)
    B, U = mniw_sample(post, 40_000, np.random.default_rng(3))
    Sig = U @ U.transpose(0, 2, 1)
    ESig = post.Sigma_mean
    assert np.allclose(Sig.mean(axis=0), ESig, rtol=0.03, atol=0.01 * ESig.max())
    sd = np.sqrt(post.coef_var)  # (k, d) marginal posterior std
    assert np.all(np.abs(B.mean(axis=0) - post.M) < 0.03 * sd)
    assert np.allclose(B.std(axis=0), sd, rtol=0.03)


def test_nested_evidence_equals_each_regression_alone() -> None:
    for d in (1, 3):
        X, Y = _data(40, 6, d, seed=2 + d)
        Psi0 = np.diag(np.linspace(0.5, 1.5, d))
        prior = MNIWPrior(v0=np.array([9.0, 4.0, 1.0, 1.0, 0.5, 0.5]), Psi0=Psi0, nu0=d + 2.0)
        sizes = [1, 2, 4, 6]
        nested = mniw_nested_log_evidence(prior, X.T @ X, X.T @ Y, Y.T @ Y, 40, sizes)
        for k, got in zip(sizes, nested, strict=True):
            alone = MNIWPrior(v0=prior.v0[:k], Psi0=Psi0, nu0=prior.nu0)
            expected = mniw_log_evidence(alone, mniw_update(alone, X[:, :k], Y), 40)
            assert np.isclose(got, expected, rtol=0, atol=1e-8)
