"""Twin experiments on Lorenz-96 (Sakov & Oke 2008 setup): the filters reach known accuracy.

n = 40, every variable observed with R = I every dt_obs = 0.05 (one RK4 step), 1,200
cycles, the first 200 discarded as spin-up. Published time-mean analysis RMSE (Sakov &
Oke 2008; DAPPER's mods/Lorenz96/sakov2008.py): ETKF N=24, infl 1.013 + rotation ~0.18;
EnKF-N N=24 ~0.21; LETKF N=7 loc 4 ~0.22; PertObs EnKF N=40 infl 1.06 ~0.22.
"""

from __future__ import annotations

import pytest
import torch

from models.assimilation import FilterConfig, LinearObs, assimilate, ensemble_init
from models.dynamics import Lorenz96, integrate

F64 = torch.float64
K, SPINUP, DT = 1200, 200, 0.05


@pytest.fixture(scope="module")
def twin() -> tuple[torch.Tensor, torch.Tensor]:
    """Truth (K, 40) and observations (K, 40)."""
    g = torch.Generator().manual_seed(2008)
    model = Lorenz96()
    x = integrate(model, 8.0 + torch.randn(40, generator=g, dtype=F64), 0.0, 20.0)
    xs = []
    for _ in range(K):
        x = model.step(x, DT)
        xs.append(x)
    X = torch.stack(xs)
    return X, X + torch.randn(X.shape, generator=g, dtype=F64)


@pytest.mark.parametrize(
    ("config", "threshold"),
    [
        (FilterConfig("etkf", 24, "adaptive"), 0.25),
        (FilterConfig("letkf", 10, "adaptive", 4.0), 0.30),
        (FilterConfig("letkf", 10, 1.04, 4.0), 0.30),
        (FilterConfig("enkf", 40, 1.05), 0.35),
    ],
    ids=["etkf-N24-enkfn", "letkf-N10-r4-enkfn", "letkf-N10-r4-1.04", "enkf-N40-1.05"],
)
def test_time_mean_rmse(
    twin: tuple[torch.Tensor, torch.Tensor], config: FilterConfig, threshold: float
) -> None:
    X, Y = twin
    g = torch.Generator().manual_seed(1)
    # Start away from the truth (error ~1 per variable) with unit spread.
    E0 = ensemble_init(X[0] + torch.randn(40, generator=g, dtype=F64), 1.0, config.ensemble_size, g)
    times = [DT * k for k in range(K)]  # E0 is at t=0, the time of X[0]
    res = assimilate(Lorenz96(), E0, times, Y, LinearObs.identity(40, 1.0), config, DT, g)
    rmse = (res.mean - X).pow(2).mean(dim=1).sqrt()[SPINUP:].mean().item()
    spread = res.spread.pow(2).mean(dim=1).sqrt()[SPINUP:].mean().item()
    assert rmse < threshold, (rmse, spread)
    assert 0.5 * rmse < spread < 2.0 * rmse  # the ensemble knows its own error
