"""make_dynamics builds the named system with defaults and rejects bad input clearly."""

import pytest

from models.dynamics import (
    DEFAULTS,
    KuramotoSivashinsky,
    Lorenz63,
    Lorenz96,
    make_dynamics,
)
from models.dynamics.registry import spec_of


def test_builds_each_system_with_default_dt() -> None:
    l63 = make_dynamics("lorenz63", {})
    l96 = make_dynamics("lorenz96", {"n": 36, "F": 10})
    ks = make_dynamics("ks", {"n": 64, "L": 22.0})
    assert isinstance(l63, Lorenz63) and l63.default_dt == DEFAULTS["lorenz63"] == 0.01
    assert isinstance(l96, Lorenz96) and (l96.n, l96.F) == (36, 10.0) and l96.default_dt == 0.05
    assert isinstance(ks, KuramotoSivashinsky) and ks.n == 64 and ks.default_dt == 0.25
    assert l96.periodic and ks.periodic and not l63.periodic


@pytest.mark.parametrize(
    ("system", "params", "match"),
    [
        ("lorenz05", {}, "unknown dynamics"),
        ("lorenz96", {"N": 40}, "unknown lorenz96 parameter"),
        ("lorenz96", {"n": 3}, "n >= 4"),
        ("lorenz96", {"n": 40.5}, "integer"),
        ("lorenz96", {"F": "8"}, "number"),
        ("lorenz96", {"F": float("nan")}, "finite"),
        ("ks", {"n": 127}, "even"),
        ("ks", {"L": 0.0}, "L"),
        ("ks", {"dealias": 1}, "boolean"),
        ("lorenz63", {"rho": True}, "number"),
    ],
)
def test_rejects_bad_input(system: str, params: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_dynamics(system, params)


@pytest.mark.parametrize(
    ("system", "params"),
    [("lorenz63", {"rho": 20.0}), ("lorenz96", {"n": 12, "F": 10.0}), ("ks", {"n": 64})],
)
def test_spec_of_builds_the_same_system(system: str, params: dict[str, float]) -> None:
    model = make_dynamics(system, params)
    name, spec = spec_of(model)
    assert name == system and params.items() <= spec.items()
    assert make_dynamics(name, spec) == model
    with pytest.raises(ValueError, match="not a registered system"):
        spec_of(object())  # type: ignore[arg-type]
