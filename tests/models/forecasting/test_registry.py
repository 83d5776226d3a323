"""What the registry says of each kind is true of its class, and importing the registry
loads no numerics (the API process lists kinds with it)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from models.forecasting.base import LibraryForecaster
from models.forecasting.registry import AUTO, BY_NAME, KINDS, accelerated, make_forecaster


@pytest.mark.parametrize("kind", [k.name for k in KINDS])
def test_a_kinds_descriptor_matches_its_class(kind: str) -> None:
    info = BY_NAME[kind]
    model = make_forecaster(kind)
    assert isinstance(model, LibraryForecaster) == info.library
    assert hasattr(model, "one_step_sampler") == info.surrogate
    assert kind != AUTO and info.describe()["name"] == kind


def test_auto_wants_a_gpu_when_a_candidate_does() -> None:
    assert accelerated(AUTO) == any(k.accelerated for k in KINDS if k.auto)
    assert not accelerated("no such kind")
    with pytest.raises(ValueError, match="unknown forecaster kind"):
        make_forecaster("no such kind")


def test_importing_the_registry_loads_no_numerics() -> None:
    code = (
        "import sys, models.forecasting.registry as r; r.KINDS; "
        "print(sorted(m for m in ('torch', 'numpy', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
