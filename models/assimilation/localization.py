"""Distance-based tapering for domain localisation on a 1-D grid.

Convention (DAPPER's, after Sakov & Bertino 2011): `radius` is the length scale l of the
Gaussian exp(-d^2 / (2 l^2)) whose curvature at 0 the taper matches, i.e. the
Gaspari-Cohn half-width is c = sqrt(10/3) l ~ 1.83 l; the taper is ~0.64 at distance l
(the Gaussian's exp(-1/2) ~ 0.61) and exactly zero beyond 2c ~ 3.65 l. radius = inf gives
no tapering.
Refs: Gaspari & Cohn 1999, QJRMS 125, eq. (4.10); Sakov & Bertino 2011, "Relation between
two common localisation methods for the EnKF", Comput. Geosci. 15; DAPPER's `dist2coeff`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

GC_HALF_WIDTH_PER_RADIUS = math.sqrt(10.0 / 3.0)


def gaspari_cohn(d: Tensor, c: float) -> Tensor:
    """Gaspari-Cohn 5th-order piecewise rational taper of |d| with half-width c (zero past 2c)."""
    r = d.abs() / c
    inner = 1 + r**2 * (-(r**3) / 4 + r**2 / 2) + r**3 * (5 / 8) - r**2 * (5 / 3)
    ro = r.clamp(min=1.0)
    outer = ro**2 * (ro**3 / 12 - ro**2 / 2) + ro**3 * (5 / 8) + ro**2 * (5 / 3) - 5 * ro + 4
    outer = outer - (2 / 3) / ro
    return torch.where(r <= 1, inner, torch.where(r < 2, outer, torch.zeros_like(r)))


def grid_distances(
    n: int, positions: Tensor, *, periodic: bool, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """|i - p_j| between grid points i = 0..n-1 and positions p (m,): (n, m).

    With `periodic`, distances wrap around a domain of length n: min(d, n - d).
    """
    x = torch.arange(n, device=device, dtype=dtype)
    d = (x[:, None] - positions.to(device=device, dtype=dtype)[None, :]).abs()
    return torch.minimum(d, n - d) if periodic else d


def taper_matrix(
    n: int,
    positions: Tensor,
    radius: float,
    *,
    periodic: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    """Observation weights rho (n, m) in [0, 1] for each grid point's local analysis."""
    if not radius > 0:
        raise ValueError(f"localization radius must be positive, got {radius}")
    m = positions.numel()
    if math.isinf(radius):
        return torch.ones((n, m), device=device, dtype=dtype)
    d = grid_distances(n, positions, periodic=periodic, device=device, dtype=dtype)
    return gaspari_cohn(d, GC_HALF_WIDTH_PER_RADIUS * radius)
