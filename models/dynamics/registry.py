"""Build a dynamical system by name from JSON-like parameters, with clear errors.

`make_dynamics("lorenz96", {"n": 40, "F": 8.0})`; `DEFAULTS[system]` is the default
integration step (also each model's `default_dt`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from models.dynamics.base import Dynamics
from models.dynamics.ks import KuramotoSivashinsky
from models.dynamics.lorenz63 import Lorenz63
from models.dynamics.lorenz96 import Lorenz96

# Default integration step per system: L63 0.01 (RK4); L96 0.05 (RK4, as in Sakov & Oke
# 2008 and DAPPER, one step per observation); KS 0.25 (ETDRK4, Kassam & Trefethen 2005).
DEFAULTS: Mapping[str, float] = MappingProxyType({"lorenz63": 0.01, "lorenz96": 0.05, "ks": 0.25})

_INT, _REAL, _BOOL = "int", "real", "bool"
_SCHEMA: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "lorenz63": {"sigma": _REAL, "rho": _REAL, "beta": _REAL},
        "lorenz96": {"n": _INT, "F": _REAL},
        "ks": {"n": _INT, "L": _REAL, "M": _INT, "dealias": _BOOL},
    }
)
_BUILD: Mapping[str, Callable[..., Dynamics]] = MappingProxyType(
    {"lorenz63": Lorenz63, "lorenz96": Lorenz96, "ks": KuramotoSivashinsky}
)
SYSTEMS: tuple[str, ...] = tuple(_SCHEMA)


def _check(system: str, key: str, kind: str, value: Any) -> Any:
    where = f"{system} parameter {key!r}"
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be a boolean, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number, got {value!r}")
    if kind == _INT:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    return float(value)


def make_dynamics(system: str, params: Mapping[str, Any] | None = None) -> Dynamics:
    """The model named `system` ("lorenz63" | "lorenz96" | "ks") built from `params`.

    Unknown systems, unknown parameter names, wrongly typed values and invalid values
    (L96 n < 4, KS n odd, ...) raise ValueError naming the offending field.
    """
    if system not in _SCHEMA:
        raise ValueError(f"unknown dynamics {system!r}; expected one of {', '.join(SYSTEMS)}")
    schema = _SCHEMA[system]
    params = dict(params or {})
    unknown = sorted(set(params) - set(schema))
    if unknown:
        raise ValueError(
            f"unknown {system} parameter(s) {', '.join(map(repr, unknown))}; "
            f"expected a subset of {', '.join(schema)}"
        )
    kwargs = {k: _check(system, k, schema[k], v) for k, v in params.items()}
    try:
        return _BUILD[system](**kwargs, default_dt=DEFAULTS[system])
    except ValueError as exc:
        raise ValueError(f"invalid {system} parameters: {exc}") from exc


def spec_of(model: Dynamics) -> tuple[str, dict[str, Any]]:
    """(system, params) that `make_dynamics` builds `model` from."""
    for system, build in _BUILD.items():
        if type(model) is build:
            return system, {key: getattr(model, key) for key in _SCHEMA[system]}
    raise ValueError(f"{type(model).__name__} is not a registered system")
