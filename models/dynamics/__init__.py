"""Dynamical systems batched over ensembles (torch): Lorenz-63, Lorenz-96, Kuramoto-Sivashinsky,
and learned surrogates (a fitted forecaster stepping its lag window)."""

from models.dynamics.base import Dynamics, integrate, rk4_step
from models.dynamics.ks import KuramotoSivashinsky
from models.dynamics.lorenz63 import Lorenz63
from models.dynamics.lorenz96 import Lorenz96
from models.dynamics.registry import DEFAULTS, SYSTEMS, make_dynamics
from models.dynamics.surrogate import SurrogateDynamics

__all__ = [
    "DEFAULTS",
    "SYSTEMS",
    "Dynamics",
    "KuramotoSivashinsky",
    "Lorenz63",
    "Lorenz96",
    "SurrogateDynamics",
    "integrate",
    "make_dynamics",
    "rk4_step",
]
