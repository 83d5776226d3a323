"""Model selection by held-out CRPS: nonlinear dynamics pick the ensemble, linear the AR."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from models.forecasting.auto import one_se_choice, select_by_crps
from models.forecasting.base import Forecaster, SeriesTooShort
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.ensemble import AnchoredEnsembleAR


def henon_x(T: int, seed: int) -> np.ndarray:
    """x-series of the Henon map x' = 1 - 1.4 x^2 + y, y' = 0.3 x, plus 1% noise: (T,)."""
    x, y = 0.1, 0.0
    out = np.empty(T + 100)
    for t in range(T + 100):
        x, y = 1.0 - 1.4 * x * x + y, 0.3 * x
        out[t] = x
    return out[100:] + 0.01 * np.random.default_rng(seed).standard_normal(T)


def ar2(T: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(T + 200)
    y = np.zeros(T + 200)
    for t in range(2, T + 200):
        y[t] = 0.6 * y[t - 1] - 0.3 * y[t - 2] + e[t]
    return y[200:]


def candidates() -> dict[str, Callable[[], Forecaster]]:
    return {
        "bayes_ar": BayesianAR,
        "ensemble": lambda: AnchoredEnsembleAR(
            lags=4, hidden=32, members=8, epochs=100, patience=15, batch_size=64
        ),
    }


def test_picks_the_ensemble_on_the_henon_map() -> None:
    best, scores, _ = select_by_crps(henon_x(400, 0), candidates(), horizon=5)
    assert best == "ensemble"
    assert scores["ensemble"] < 0.3 * scores["bayes_ar"], scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_picks_the_bayesian_ar_on_linear_ar2(seed: int) -> None:
    best, scores, _ = select_by_crps(ar2(400, seed), candidates(), horizon=5)
    assert best == "bayes_ar", scores
    assert set(scores) == {"bayes_ar", "ensemble"} and all(np.isfinite(list(scores.values())))


def test_one_standard_error_rule() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    wiggle = np.array([0.02, -0.03, 0.01, -0.01])  # better on average, within one s.e.
    assert one_se_choice({"simple": a, "flexible": a + wiggle}) == "simple"
    assert one_se_choice({"simple": a, "flexible": a - 0.5}) == "flexible"
    assert one_se_choice({"simple": a + np.nan, "flexible": a}) == "flexible"
    assert one_se_choice({"simple": np.array([1.0]), "flexible": np.array([0.9])}) == "flexible"


def test_overlapping_windows_count_as_fewer_scores() -> None:
    """Ten origins one step apart with 5-step windows hold under three independent windows'
    worth of evidence: a win that is clear over ten independent scores is not over that,
    and under two nothing is a clear win."""
    simple = np.linspace(1.0, 2.0, 10)
    gain = np.array([0.2, 0.0, 0.1, -0.1, 0.15, -0.05, 0.05, 0.0, 0.1, 0.05])  # mean .05, sd .09
    scores = {"simple": simple, "flexible": simple - gain}
    assert one_se_choice(scores) == "flexible"  # s.e. 0.029 over 10 scores
    assert one_se_choice(scores, independent=10.0) == "flexible"
    assert one_se_choice(scores, independent=9 / 5 + 1) == "simple"  # s.e. 0.05
    assert one_se_choice(scores, independent=1.5) == "simple"  # no standard error at all
    lucky = {"simple": np.array([1.0]), "flexible": np.array([0.5])}
    assert one_se_choice(lucky, independent=1.0) == "simple"


def test_invalid_arguments_raise() -> None:
    y = ar2(100, 0)
    for kw in (
        {"horizon": 0},
        {"horizon": 3, "val_fraction": 1.0},
        {"horizon": 3, "val_fraction": 0.001},
    ):
        with pytest.raises(ValueError):
            select_by_crps(y, {"bayes_ar": BayesianAR}, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        select_by_crps(y, {}, horizon=3)


def test_a_candidate_too_short_for_the_training_part_is_left_out() -> None:
    y = ar2(40, 3)  # training part 32: the ensemble's 32 lags need 52
    make = {"bayes_ar": lambda: BayesianAR(max_lag=4), "ensemble": AnchoredEnsembleAR}
    choice, scores, left_out = select_by_crps(y, make, horizon=4)
    assert choice == "bayes_ar" and set(scores) == {"bayes_ar"}
    assert left_out == {
        "ensemble": "needs 52 values to fit; the 32 before the validation tail are fewer"
    }
    # With none that fits, the error names the length the least demanding one needs.
    with pytest.raises(SeriesTooShort) as err:
        select_by_crps(y, {"ensemble": AnchoredEnsembleAR}, horizon=4)
    assert err.value.need == 66 and "needs T >= 66" in str(err.value)
    assert 66 - int(0.2 * 66) >= AnchoredEnsembleAR.min_length()  # 53 to train on, 52 needed


def test_progress_follows_the_candidates_shares() -> None:
    """The selection reports its progress as it goes: the quick candidate's part first, then
    the trained one's, as its epochs report it, rising to 1."""
    seen: list[float] = []
    make = {
        "bayes_ar": lambda: BayesianAR(max_lag=4),
        "ensemble": lambda: AnchoredEnsembleAR(lags=4, hidden=16, members=2, epochs=20),
    }
    select_by_crps(ar2(200, 0), make, horizon=4, progress=seen.append, shares={"ensemble": 9.0})
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    quick = [f for f in seen if f <= 0.1 + 1e-12]
    assert quick and quick[-1] == pytest.approx(0.1)  # bayes_ar: a tenth of the shares
    assert len([f for f in seen if 0.1 < f < 0.1 + 0.9 * 0.9]) >= 5  # the ensemble's epochs
