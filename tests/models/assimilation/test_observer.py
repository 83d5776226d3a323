"""The neural observer: shapes, a learned gain that beats no correction, exact round trip."""

from __future__ import annotations

import pytest
import torch

from models.assimilation import LinearObs
from models.assimilation.observer import (
    NeuralObserver,
    ObserverConfig,
    evaluate,
    train_observer,
)
from models.dynamics import Lorenz63, Lorenz96

TINY = ObserverConfig(members=2, hidden=16, trajectories=8, window=8, iterations=60, lr=3e-3)


@pytest.fixture(scope="module")
def l96_observer() -> NeuralObserver:
    return train_observer(Lorenz96(n=12), LinearObs.identity(12, 1.0), 0.05, 0.05, TINY, seed=0)


def test_learned_gain_tracks_the_truth(l96_observer: NeuralObserver) -> None:
    """Well under the observation noise (1.0) and the ~3.6 climatological error."""
    score = evaluate(l96_observer, Lorenz96(n=12), 0.05, 0.05, cycles=300, burn_in=100)
    assert score.rmse < 0.7, score
    assert 0.3 < score.spread / score.rmse < 3.0, score


def test_round_trip_is_exact(l96_observer: NeuralObserver) -> None:
    again = NeuralObserver.loads(l96_observer.dumps())
    Xf = torch.randn(2, 12, dtype=torch.float64) * 3 + 2
    y = torch.randn(12, dtype=torch.float64)
    a, va = l96_observer.analysis(Xf, y)
    b, vb = again.analysis(Xf, y)
    assert torch.equal(a, b) and torch.equal(va, vb)


def test_partial_observations_on_a_grid() -> None:
    """Unobserved points are corrected too (through their observed neighbours)."""
    obs = LinearObs.subset(12, list(range(0, 12, 2)), 1.0)
    model = train_observer(Lorenz96(n=12), obs, 0.05, 0.05, TINY, seed=1)
    Xf = torch.zeros(2, 12, dtype=torch.float64)
    Xa, var = model.analysis(Xf, torch.ones(6, dtype=torch.float64))
    assert Xa.shape == var.shape == (2, 12)
    assert bool((Xa[:, 1::2] != 0).any())


def test_dense_gain_without_a_grid() -> None:
    cfg = ObserverConfig(members=2, hidden=8, trajectories=4, window=4, iterations=5)
    model = train_observer(Lorenz63(), LinearObs.subset(3, [0], 2.0), 0.25, 0.01, cfg)
    Xa, var = model.analysis(
        torch.ones(2, 3, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    )
    assert Xa.shape == (2, 3) and bool((var > 0).all())


@pytest.mark.parametrize("bad", [{"members": 0}, {"patch": -1}, {"lr": 2.0}])
def test_config_is_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ObserverConfig(**bad)  # type: ignore[arg-type]
