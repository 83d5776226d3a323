"""FilterConfig validation, the analysis entry point's info, the cycle and ensemble_init."""

from __future__ import annotations

import math

import pytest
import torch

from models.assimilation import FilterConfig, LinearObs, analysis, assimilate, ensemble_init
from models.dynamics import Lorenz96, integrate

F64 = torch.float64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "pf"}, "method"),
        ({"ensemble_size": 1}, "ensemble_size"),
        ({"ensemble_size": 10.0}, "ensemble_size"),
        ({"inflation": 0.9}, "inflation"),
        ({"inflation": math.inf}, "inflation"),
        ({"inflation": "auto"}, "inflation"),
        ({"method": "enkf", "inflation": "adaptive"}, "adaptive"),
        ({"method": "etkf", "localization_radius": 4.0}, "letkf"),
        ({"method": "letkf", "localization_radius": 0.0}, "positive"),
        ({"method": "letkf", "localization_radius": math.nan}, "positive"),
        ({"rotate": 1}, "rotate"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FilterConfig(**kwargs)  # type: ignore[arg-type]


def test_analysis_info_and_ensemble_size_check() -> None:
    g = torch.Generator().manual_seed(0)
    E = torch.randn(6, 5, generator=g, dtype=F64)
    obs = LinearObs.subset(5, [1, 3])
    y = torch.tensor([1.0, -1.0], dtype=F64)
    E_a, info = analysis(E, y, obs, FilterConfig("etkf", 6, "adaptive"))
    assert E_a.shape == E.shape
    assert torch.allclose(info.innovation, y - E.mean(0)[[1, 3]])
    assert info.inflation.ndim == 0 and info.inflation.item() >= 0.5
    assert info.innovation_rms.item() == pytest.approx(info.innovation.pow(2).mean().sqrt().item())
    _, info = analysis(E, y, obs, FilterConfig("letkf", 6, "adaptive", 2.0), periodic=True)
    assert info.inflation.shape == (5,)
    with pytest.raises(ValueError, match=r"\(7, n\)"):
        analysis(E, y, obs, FilterConfig("etkf", 7))


def test_ensemble_init_is_seeded_and_shaped() -> None:
    mean = torch.arange(4, dtype=F64)
    a = ensemble_init(mean, 0.5, 3, torch.Generator().manual_seed(1))
    b = ensemble_init(mean, 0.5, 3, torch.Generator().manual_seed(1))
    assert a.shape == (3, 4) and a.dtype == F64 and torch.equal(a, b)
    assert ensemble_init(mean, 0.5, 1).shape == (1, 4)  # a single observer's start
    with pytest.raises(ValueError):
        ensemble_init(mean, 0.5, 0)


def test_assimilate_forecasts_between_irregular_times() -> None:
    """With infinitely noisy observations the analysis is the forecast: the cycle must
    equal plain integration to each observation time."""
    model = Lorenz96(n=8)
    E0 = ensemble_init(torch.full((8,), 3.0, dtype=F64), 1.0, 5, torch.Generator().manual_seed(2))
    times = [0.03, 0.1, 0.1, 0.42]
    obs = LinearObs.identity(8, 1e12)
    ys = torch.zeros(4, 8, dtype=F64)
    res = assimilate(model, E0, times, ys, obs, FilterConfig("etkf", 5), 0.05)
    want = integrate(
        model, E0, 0.0, 0.42, 0.05
    )  # same steps: 0.03 | 0.05, 0.02 | | 0.05 x 6 + 0.02
    E, t = E0, 0.0
    for tk in times:
        E, t = integrate(model, E, t, tk, 0.05), tk
    assert torch.allclose(res.E, E, atol=1e-9)
    assert torch.allclose(res.mean[-1], E.mean(0), atol=1e-9)
    assert torch.allclose(res.spread[-1], E.std(0), atol=1e-9)
    assert (res.E - want).abs().max() < 1e-3  # different step sequence, same trajectory
    assert res.innovation_rms.shape == res.inflation.shape == (4,)
    with pytest.raises(ValueError, match="non-decreasing"):
        assimilate(model, E0, [0.2, 0.1], ys[:2], obs, FilterConfig("etkf", 5))
