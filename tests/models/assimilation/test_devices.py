"""Same code on CUDA and CPU; float32 respected (the CUDA checks skip without a GPU)."""

from __future__ import annotations

import pytest
import torch

from models.assimilation import FilterConfig, LinearObs, analysis, assimilate, ensemble_init
from models.dynamics import KuramotoSivashinsky, Lorenz96

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def case(device: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, LinearObs]:
    g = torch.Generator().manual_seed(0)
    E = 3 * torch.randn(12, 40, generator=g, dtype=torch.float64)
    y = torch.randn(20, generator=g, dtype=torch.float64)
    obs = LinearObs.subset(40, list(range(0, 40, 2)), 0.5)
    return E.to(device, dtype), y.to(device, dtype), obs


CONFIGS = [
    FilterConfig("etkf", 12, "adaptive", rotate=True),
    FilterConfig("letkf", 12, "adaptive", 3.0),
    FilterConfig("letkf", 12, 1.05, 3.0, rotate=True),
    FilterConfig("enkf", 12, 1.02),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.method)
def test_float32_in_float32_out(config: FilterConfig) -> None:
    E, y, obs = case("cpu", torch.float32)
    E_a, info = analysis(E, y, obs, config, periodic=True, generator=torch.Generator())
    assert E_a.dtype == info.innovation.dtype == info.inflation.dtype == torch.float32
    E64, y64, _ = case("cpu", torch.float64)
    if config.method != "enkf" and not config.rotate:
        want = analysis(E64, y64, obs, config, periodic=True)[0]
        assert torch.allclose(E_a.double(), want, atol=1e-3)


@cuda
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.method)
def test_cuda_matches_cpu(config: FilterConfig) -> None:
    E, y, obs = case("cpu", torch.float64)
    Eg, yg, _ = case("cuda", torch.float64)
    gen = torch.Generator(device="cuda").manual_seed(0)
    E_a, info = analysis(Eg, yg, obs, config, periodic=True, generator=gen)
    assert E_a.is_cuda and info.inflation.is_cuda
    if config.method != "enkf" and not config.rotate:
        assert torch.allclose(E_a.cpu(), analysis(E, y, obs, config, periodic=True)[0], atol=1e-9)


@cuda
def test_cycle_on_cuda() -> None:
    gen = torch.Generator(device="cuda").manual_seed(0)
    for model in (Lorenz96(), KuramotoSivashinsky(n=40, L=22.0)):
        mean = torch.zeros(40, dtype=torch.float64, device="cuda") + 0.5
        E0 = ensemble_init(mean, 1.0, 12, gen)
        ys = torch.zeros(5, 40, dtype=torch.float64, device="cuda")
        cfg = FilterConfig("letkf", 12, "adaptive", 4.0, rotate=True)
        res = assimilate(
            model, E0, [0.25 * k for k in range(1, 6)], ys, LinearObs.identity(40), cfg, None, gen
        )
        assert res.mean.is_cuda and torch.isfinite(res.mean).all()
