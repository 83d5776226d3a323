"""Dynamical systems batched over ensembles (torch): Lorenz-63, Lorenz-96, Kuramoto-Sivashinsky."""

from models.dynamics.base import Dynamics, integrate, rk4_step
from models.dynamics.ks import KuramotoSivashinsky
from models.dynamics.lorenz63 import Lorenz63
from models.dynamics.lorenz96 import Lorenz96
from models.dynamics.registry import DEFAULTS, SYSTEMS, make_dynamics

__all__ = [
    "DEFAULTS",
    "SYSTEMS",
    "Dynamics",
    "KuramotoSivashinsky",
    "Lorenz63",
    "Lorenz96",
    "integrate",
    "make_dynamics",
    "rk4_step",
]
