"""Fitted forecasters survive safetensors bytes exactly, in this process and a fresh one."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from models.forecasting.base import Forecaster, NotFittedError
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.ensemble import AnchoredEnsembleAR
from models.forecasting.registry import make_forecaster
from models.forecasting.serialize import dumps, loads

ROOT = Path(__file__).resolve().parents[3]


def _series(dim: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.cumsum(rng.standard_normal((150, dim)), axis=0) * 0.2 + rng.standard_normal(
        (150, dim)
    )


MODELS: dict[str, Callable[[], Forecaster]] = {
    "bayes_ar": lambda: BayesianAR(trend=True, season_length=10, fourier_order=2),
    "ensemble": lambda: AnchoredEnsembleAR(lags=5, hidden=16, members=4, epochs=10),
}


@pytest.fixture(scope="module", params=[(k, d) for k in MODELS for d in (1, 2)], ids=str)
def fitted(request: pytest.FixtureRequest) -> tuple[Forecaster, np.ndarray]:
    kind, dim = request.param
    y = _series(dim)
    return MODELS[kind]().fit(y), y


@pytest.mark.parametrize("use_context", [False, True])
def test_round_trip_forecasts_identically(
    fitted: tuple[Forecaster, np.ndarray], use_context: bool
) -> None:
    model, y = fitted
    ctx = y[:90] if use_context else None
    a = model.predict(7, seed=4, num_samples=64, return_samples=True, context=ctx)
    back = loads(dumps(model))
    assert type(back) is type(model) and back.params_ == model.params_
    b = back.predict(7, seed=4, num_samples=64, return_samples=True, context=ctx)
    assert a.samples is not None and b.samples is not None
    assert np.array_equal(a.samples, b.samples) and np.array_equal(a.std, b.std)


def test_bytes_are_plain_safetensors(fitted: tuple[Forecaster, np.ndarray], tmp_path: Path) -> None:
    model, _ = fitted
    data = dumps(model)
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    _, tensors = model.to_state()
    with safe_open(str(path), framework="pt") as f:
        assert set(f.keys()) == set(tensors)
        meta = json.loads(f.metadata()["kalmanac"])
    assert meta["kind"] in ("bayes_ar", "ensemble") and "hyper" in meta
    # No room for a pickle: the file is exactly header + the tensors' raw bytes.
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    sizes = [v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k[0] != "_"]
    assert len(data) == 8 + n + sum(sizes)
    assert sum(sizes) == sum(t.numel() * t.element_size() for t in tensors.values())


def test_fresh_process_forecasts_identically(tmp_path: Path) -> None:
    y = _series(1)
    for kind, make in MODELS.items():
        model = make().fit(y)
        (tmp_path / f"{kind}.st").write_bytes(dumps(model))
        np.save(
            tmp_path / f"{kind}.npy",
            model.predict(6, seed=9, num_samples=40, quantiles=(0.1,)).quantiles[0.1],
        )
    script = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from models.forecasting.serialize import loads\n"
        "for kind in ('bayes_ar', 'ensemble'):\n"
        "    m = loads((Path(sys.argv[1]) / f'{kind}.st').read_bytes())\n"
        "    q = m.predict(6, seed=9, num_samples=40, quantiles=(0.1,)).quantiles[0.1]\n"
        "    np.save(Path(sys.argv[1]) / f'{kind}.out.npy', q)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, check=True)
    for kind in MODELS:
        expected = np.load(tmp_path / f"{kind}.npy")
        assert np.array_equal(np.load(tmp_path / f"{kind}.out.npy"), expected)


def test_invalid_bytes_and_unfitted_models_raise() -> None:
    with pytest.raises(NotFittedError):
        dumps(BayesianAR())
    good = dumps(BayesianAR().fit(_series(1)))
    (n,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8 : 8 + n])
    header["__metadata__"]["kalmanac"] = json.dumps({"kind": "svm", "format_version": 1})
    raw = json.dumps(header).encode()
    renamed = struct.pack("<Q", len(raw)) + raw + good[8 + n :]
    for bad in (b"", b"\x80\x04garbage", good[:20], renamed):
        with pytest.raises(ValueError):
            loads(bad)


def test_make_forecaster() -> None:
    assert isinstance(make_forecaster("bayes_ar", {"max_lag": 3}), BayesianAR)
    m = make_forecaster("ensemble", {"members": 3, "lags": 7})
    assert isinstance(m, AnchoredEnsembleAR) and m.members == 3 and m.lags == 7
    for kind, params in (("arima", {}), ("ensemble", {"width": 3}), ("bayes_ar", {"lags": 0})):
        with pytest.raises(ValueError):
            make_forecaster(kind, params)
