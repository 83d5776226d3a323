"""Kuramoto-Sivashinsky on a periodic domain, pseudo-spectral in space, ETDRK4 in time.

u_t = -u u_x - u_xx - u_xxxx on [0, L), n grid points. In Fourier space
v_t = L v + N(v) with L(k) = k^2 - k^4 and N(v) = -(i k / 2) F[(F^-1 v)^2].
The ETDRK4 coefficients (phi-functions of h L) are computed by the contour-integral mean
over M points of a circle around each h L(k), which avoids the cancellation error of the
explicit formulas for small |h L|. The k = 0 mode has L = 0 and N = 0, so the spatial mean
of u is conserved to rounding.
Refs: Cox & Matthews 2002 (ETDRK4); Kassam & Trefethen 2005, "Fourth-order time-stepping
for stiff PDEs", SIAM J. Sci. Comput. 26 (contour integrals, the n=128, L=32 pi setup).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor


@dataclass(frozen=True)
class _Coeffs:
    """ETDRK4 coefficients for one (n, L, dt, M, dealias), each (n // 2 + 1,)."""

    E: Tensor  # exp(h L)
    E2: Tensor  # exp(h L / 2)
    Q: Tensor
    f1: Tensor
    f2: Tensor
    f3: Tensor
    g: Tensor  # -i k / 2, zeroed at the Nyquist mode (and above 2/3 k_max if dealiasing)


@lru_cache(maxsize=64)
def _coeffs(
    n: int,
    length: float,
    dt: float,
    M: int,
    dealias: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> _Coeffs:
    """Kassam & Trefethen 2005 (their kursiv.m), computed in float64 then cast."""
    j = torch.arange(n // 2 + 1, dtype=torch.float64)
    k = (2.0 * math.pi / length) * j
    Lk = k**2 - k**4
    h = dt
    r = torch.exp(1j * math.pi * (torch.arange(1, M + 1, dtype=torch.float64) - 0.5) / M)
    LR = h * Lk[:, None] + r[None, :]  # (n//2+1, M) complex, upper half circle
    eLR = torch.exp(LR)

    def mean_re(z: Tensor) -> Tensor:  # mean over the full circle = Re(mean over half)
        return z.mean(dim=1).real

    Q = h * mean_re((torch.exp(LR / 2) - 1) / LR)
    f1 = h * mean_re((-4 - LR + eLR * (4 - 3 * LR + LR**2)) / LR**3)
    f2 = h * mean_re((2 + LR + eLR * (-2 + LR)) / LR**3)
    f3 = h * mean_re((-4 - 3 * LR - LR**2 + eLR * (4 - LR)) / LR**3)
    g = -0.5j * k.to(torch.complex128)
    if n % 2 == 0:
        g[-1] = 0  # odd derivative of the Nyquist mode is not representable
    if dealias:
        g[j > n / 3] = 0  # 2/3 rule: drop the quadratic term's aliased modes
    cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128

    def cast(z: Tensor) -> Tensor:
        return z.to(device=device, dtype=cdtype)

    return _Coeffs(
        E=cast(torch.exp(h * Lk)),
        E2=cast(torch.exp(h * Lk / 2)),
        Q=cast(Q),
        f1=cast(f1),
        f2=cast(f2),
        f3=cast(f3),
        g=cast(g),
    )


@dataclass(frozen=True)
class KuramotoSivashinsky:
    """KS with n (even) grid points x_i = i L / n on [0, L); state u: (..., n).

    `M` is the number of contour points for the ETDRK4 coefficients (16 in Kassam &
    Trefethen's kursiv.m on the half circle); `dealias` applies the 2/3 rule.
    Coefficients are cached per (dt, device, dtype).
    """

    n: int = 128
    L: float = 32.0 * math.pi
    M: int = 16
    dealias: bool = False
    default_dt: float = 0.25

    def __post_init__(self) -> None:
        if self.n < 4 or self.n % 2:
            raise ValueError(f"KuramotoSivashinsky needs an even n >= 4, got {self.n}")
        if not (math.isfinite(self.L) and self.L > 0):
            raise ValueError(f"KuramotoSivashinsky needs a positive finite L, got {self.L}")
        if self.M < 4:
            raise ValueError(f"KuramotoSivashinsky needs M >= 4 contour points, got {self.M}")

    @property
    def periodic(self) -> bool:
        return True

    @property
    def grid(self) -> Tensor:
        """Grid coordinates (n,) in [0, L), float64."""
        return torch.arange(self.n, dtype=torch.float64) * (self.L / self.n)

    def step(self, x: Tensor, dt: float) -> Tensor:
        """One ETDRK4 step: u (..., n) at t -> (..., n) at t + dt."""
        c = _coeffs(self.n, self.L, float(dt), self.M, self.dealias, x.device, x.dtype)
        n = self.n

        def nonlin(v: Tensor) -> Tensor:
            u = torch.fft.irfft(v, n=n, dim=-1)
            Nu: Tensor = c.g * torch.fft.rfft(u * u, dim=-1)
            return Nu

        v = torch.fft.rfft(x, dim=-1)
        Nv = nonlin(v)
        a = c.E2 * v + c.Q * Nv
        Na = nonlin(a)
        b = c.E2 * v + c.Q * Na
        Nb = nonlin(b)
        cc = c.E2 * a + c.Q * (2 * Nb - Nv)
        Nc = nonlin(cc)
        v = c.E * v + Nv * c.f1 + 2 * (Na + Nb) * c.f2 + Nc * c.f3
        u: Tensor = torch.fft.irfft(v, n=n, dim=-1)
        return u
