"""Quality control of observations: the background check, and each sensor's health.

Background check (the operational "first-guess check", e.g. ECMWF's; Lorenc & Hammon 1988):
component i of an observation is rejected when its innovation z-score
    z_i = (y_i - (H xbar_f)_i) / sqrt((H P_f H^T)_ii + R_ii)
exceeds the gate: a reading that far from what the ensemble expects, given both its spread
and the sensor's noise, is more likely a fault than information. The z-scores of one
observation are divided by their robust scale, max(1, sqrt(median(z^2) / 0.455)) (0.455:
the median of a chi-square with one degree of freedom), so that an ensemble that is off
everywhere (a stream starting far from the truth) does not reject every reading and never
converge: a reading is rejected for disagreeing with the others, not with a poor forecast.
An observation with fewer than three readings present has no others to judge by: each of
its readings is scaled by the median of its own sensor's last RECENT squared z-scores and
its own instead, max(1, sqrt(median)) (1 before any). A spike, or two in a row, among
readings that agree is rejected; innovations large in three of the last RECENT + 1 cycles
(a poor start, a model that is off) are taken as the ensemble's error and used. A missing
reading (NaN) is neither used nor scored.

Sensor health: per component, exponentially weighted rates of missing and rejected readings
and the mean z-score (bias), each over about 1 / HEALTH_ALPHA cycles, the number of readings
in a row that repeated the one before exactly (a stuck sensor: near the ensemble's mean, it
passes the check, and its bias averages out), and a status from them. A sensor `failed` is
left out of the analysis until its readings agree with the ensemble again and change (its
z-scores are still computed, so it can recover).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from torch import Tensor

from models.assimilation.observation import LinearObs

CHI2_1_MEDIAN = 0.4549364231195724  # median of a chi-square with one degree of freedom
HEALTH_ALPHA = 0.1  # weight of the newest cycle in the rolling rates (~10-cycle memory)
Z_CLIP = 10.0  # one wild reading moves the bias by at most HEALTH_ALPHA * Z_CLIP
RECENT = 4  # a sensor's earlier readings that judge it when its observation has < 3
SUSPECT = {"rejection_rate": 0.2, "bias": 1.5, "missing_rate": 0.5, "repeats": 3}
FAILED = {"rejection_rate": 0.5, "bias": 3.0, "missing_rate": 0.9, "repeats": 10}


# The arrays `health_kernel` updates (missing and rejection rates, bias, last reading,
# repeats, recent squared z-scores), and the limits `over_kernel` checks them against.
Health = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Limits = tuple[float, float, float, float]

# What became of each reading (an analysis stores one code per observed component).
USED, MISSING, REJECTED, EXCLUDED = 0, 1, 2, 3


@dataclass(frozen=True, eq=False)
class Screened:
    """One observation after the background check, as NumPy arrays (m,) (a few dozen small
    vector operations a cycle: NumPy's per-call cost is a fraction of torch's). z: z-scores
    (NaN where missing); present, rejected, used: bool (used = present, not rejected, not
    excluded); y: the readings screened; innovation: y - H mean(forecast); forecast: the
    members' forecast of the readings, H x_f (N, m); z2: the squared z-scores before any
    scaling (NaN where missing), what a sensor's recent record keeps."""

    z: np.ndarray
    present: np.ndarray
    rejected: np.ndarray
    used: np.ndarray
    y: np.ndarray
    innovation: np.ndarray
    forecast: np.ndarray
    z2: np.ndarray

    def readings_or_forecast(self) -> np.ndarray:
        """(N, m): each member's y where a reading is used, its own forecast H x_f elsewhere
        (an innovation of zero: what a gain trained on one operator reads as no reading)."""
        return np.where(self.used, self.y, self.forecast)

    def innovation_rms(self) -> float:
        """RMS of the innovations of the readings used (NaN when none was)."""
        d = self.innovation[self.used]
        return math.sqrt(float(np.dot(d, d)) / d.size) if d.size else math.nan

    @property
    def code_array(self) -> np.ndarray:
        """USED, MISSING, REJECTED (by the check) or EXCLUDED (a failed sensor), per reading."""
        out = np.full(self.used.shape, EXCLUDED, dtype=np.float64)  # stored as floats
        out[self.used] = USED
        out[~self.present] = MISSING
        out[self.rejected] = REJECTED
        return out

    def codes(self) -> list[int]:
        """`code_array` as a list of ints."""
        return self.code_array.astype(np.int64).tolist()  # type: ignore[no-any-return]  # list of int

    def describe(self) -> str:
        """Why nothing of the observation was used (the reason a skipped one is kept with)."""
        codes = self.codes()
        parts = [
            f"{what}: {', '.join(str(i) for i, c in enumerate(codes) if c == code)}"
            for code, what in ((MISSING, "missing"), (REJECTED, "rejected"), (EXCLUDED, "failed"))
            if code in codes
        ]
        return "no reading passed the screening (" + "; ".join(parts) + ")"


def background_check(
    Ef: Tensor,
    y: Tensor,
    obs: LinearObs,
    gate: float | None,
    exclude: np.ndarray | None = None,
    recent: np.ndarray | None = None,
) -> Screened:
    """Ef: (N, n) forecast members (N >= 1); y: (m,) with NaN for missing readings; gate:
    the largest |z| accepted (None: no check); exclude: (m,) bool, components left out
    whatever their z (failed sensors); recent: (m, RECENT) each sensor's last squared
    z-scores (`Sensors.recent`; None: none yet). An overflowed forecast gives non-finite
    z-scores quietly: the cycle's analysis is then not finite, and the stream skips it."""
    HE = obs.H_apply(Ef).detach().cpu().numpy()
    return screen(HE, y.detach().cpu().numpy(), obs, gate, exclude, recent)


def screen(
    HE: np.ndarray,
    y: np.ndarray,
    obs: LinearObs,
    gate: float | None,
    exclude: np.ndarray | None,
    recent: np.ndarray | None = None,
) -> Screened:
    """`background_check` of the members' forecast readings HE = H x_f (N, m), as arrays."""
    args = screen_arguments(y, obs, gate, exclude, recent)
    HE = np.ascontiguousarray(HE, dtype=np.float64)
    z, present, rejected, used, innovation, z2 = screen_kernel(HE, *args)  # overflows quiet
    return Screened(z, present, rejected, used, args[0], innovation, HE, z2)


def screen_arguments(
    y: np.ndarray,
    obs: LinearObs,
    gate: float | None,
    exclude: np.ndarray | None,
    recent: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """(y, R, gate, exclude, recent) as the compiled check takes them after HE (no gate:
    infinite; no sensor left out: all False; no record yet: ones)."""
    yn = y.astype(np.float64, copy=False)
    m = yn.shape[0]
    out = np.zeros(m, dtype=np.bool_) if exclude is None else exclude
    past = np.ones((m, RECENT)) if recent is None else recent
    return yn, obs.R_diag.numpy(), math.inf if gate is None else float(gate), out, past


@numba.njit(cache=True)
def screen_kernel(
    HE: np.ndarray,
    y: np.ndarray,
    R: np.ndarray,
    gate: float,
    exclude: np.ndarray,
    recent: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The background check as one compiled call (a few dozen NumPy calls cost a cycle
    ~0.1 ms on Lorenz-96; this, a few microseconds): see `background_check`. Also returns
    the squared z-scores before scaling (NaN where missing)."""
    N, m = HE.shape
    z = np.empty(m)
    d = np.empty(m)
    present = np.isfinite(y)
    for j in range(m):
        mean = HE[:, j].mean()
        var_b = ((HE[:, j] - mean) ** 2).sum() / (N - 1) if N > 1 else 0.0
        d[j] = y[j] - mean
        z[j] = d[j] / math.sqrt(var_b + R[j])
    raw2 = np.where(present, z**2, np.nan)
    k = int(present.sum())
    if k >= 3:  # judged against the observation's other readings
        z2 = np.sort(raw2[present])
        median = 0.5 * (z2[(k - 1) // 2] + z2[k // 2])
        z = z / max(1.0, math.sqrt(median / CHI2_1_MEDIAN))
    else:  # against the sensor's own recent readings
        window = np.empty(recent.shape[1] + 1)
        for j in range(m):
            if present[j]:
                window[:-1] = recent[j]
                window[-1] = raw2[j]
                z[j] = z[j] / max(1.0, math.sqrt(np.median(window)))
    rejected = present & (np.abs(z) > gate)
    used = present & ~rejected & ~exclude
    return z, present, rejected, used, d, raw2


@dataclass(frozen=True, eq=False)
class Sensors:
    """Every observed component's rolling statistics (see the module docstring), as arrays
    (m,): updated once a cycle with array operations, whatever the number of sensors."""

    missing_rate: np.ndarray
    rejection_rate: np.ndarray
    bias: np.ndarray
    cycles: np.ndarray  # int
    last: np.ndarray  # the latest reading present (NaN: none yet)
    repeats: np.ndarray  # int: readings in a row equal to the one before
    recent: np.ndarray  # (m, RECENT): the last squared z-scores before scaling, oldest first

    @classmethod
    def new(cls, m: int) -> Sensors:
        zeros = np.zeros(m)
        return cls(
            zeros,
            zeros,
            zeros,
            zeros.astype(np.int64),
            np.full(m, np.nan),
            zeros.astype(np.int64),
            np.ones((m, RECENT)),
        )

    def _over(self, limits: dict[str, float]) -> np.ndarray:
        return over_kernel(
            self.rejection_rate, self.bias, self.missing_rate, self.repeats, *kernel_limits(limits)
        )

    @property
    def health(self) -> Health:
        """The arrays `health_kernel` updates, in its order (a compiled run of cycles
        carries them from one to the next)."""
        return (
            self.missing_rate,
            self.rejection_rate,
            self.bias,
            self.last,
            self.repeats,
            self.recent,
        )

    def with_health(self, health: Health, updates: int) -> Sensors:
        """These sensors after `updates` observations whose updates gave `health`."""
        missing, rejection, bias, last, repeats, recent = health
        return Sensors(missing, rejection, bias, self.cycles + updates, last, repeats, recent)

    @property
    def failed(self) -> np.ndarray:
        """(m,) bool: the sensors left out of the analyses."""
        return self._over(FAILED)

    @property
    def statuses(self) -> list[str]:
        failed, suspect = self.failed, self._over(SUSPECT)
        return [
            "failed" if f else "suspect" if s else "ok"
            for f, s in zip(failed, suspect, strict=True)
        ]

    def update(self, screened: Screened) -> Sensors:
        """After one screened observation."""
        missing, rejection, bias, last, repeats, recent = self.health
        health = health_kernel(
            missing, rejection, bias, last, repeats, recent, screened.y, screened.z,
            screened.rejected, screened.z2,
        )  # fmt: skip
        return self.with_health(health, 1)

    def to_json(self) -> list[dict[str, Any]]:
        """One object per sensor, as a stream stores and serves them."""
        return [
            {
                "index": i,
                "status": status,
                "rejection_rate": float(self.rejection_rate[i]),
                "bias": float(self.bias[i]),
                "missing_rate": float(self.missing_rate[i]),
                "repeats": int(self.repeats[i]),
                "cycles": int(self.cycles[i]),
                "last": None if math.isnan(self.last[i]) else float(self.last[i]),
                "recent_z2": self.recent[i].tolist(),
            }
            for i, status in enumerate(self.statuses)
        ]

    @classmethod
    def from_json(cls, rows: list[dict[str, Any]]) -> Sensors:
        def col(key: str, missing: float = 0.0) -> np.ndarray:
            return np.array([missing if r.get(key) is None else r[key] for r in rows], dtype=float)

        return cls(
            col("missing_rate"),
            col("rejection_rate"),
            col("bias"),
            col("cycles").astype(np.int64),
            col("last", math.nan),
            col("repeats").astype(np.int64),
            np.array([r.get("recent_z2") or [1.0] * RECENT for r in rows], dtype=float),
        )


def kernel_limits(limits: dict[str, float]) -> Limits:
    """SUSPECT or FAILED as `over_kernel` takes them."""
    return (
        float(limits["rejection_rate"]),
        float(limits["bias"]),
        float(limits["missing_rate"]),
        float(limits["repeats"]),
    )


@numba.njit(cache=True)
def over_kernel(
    rejection_rate: np.ndarray,
    bias: np.ndarray,
    missing_rate: np.ndarray,
    repeats: np.ndarray,
    max_rejection: float,
    max_bias: float,
    max_missing: float,
    max_repeats: float,
) -> np.ndarray:
    """(m,) bool: the sensors past any of the limits, in one compiled call (the failed
    sensors are asked for every cycle; eight NumPy calls cost more than the check)."""
    out = np.empty(rejection_rate.shape[0], dtype=np.bool_)
    for j in range(out.shape[0]):
        out[j] = (
            rejection_rate[j] >= max_rejection
            or abs(bias[j]) >= max_bias
            or missing_rate[j] >= max_missing
            or repeats[j] >= max_repeats
        )
    return out


@numba.njit(cache=True)
def health_kernel(
    missing_rate: np.ndarray,
    rejection_rate: np.ndarray,
    bias: np.ndarray,
    last: np.ndarray,
    repeats: np.ndarray,
    recent: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    rejected: np.ndarray,
    z2: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rolling statistics after one observation, in one compiled call (new arrays)."""
    a = HEALTH_ALPHA
    missing_rate, rejection_rate, bias = missing_rate.copy(), rejection_rate.copy(), bias.copy()
    last, repeats, recent = last.copy(), repeats.copy(), recent.copy()
    for j in range(y.shape[0]):
        if not math.isfinite(y[j]):
            missing_rate[j] = (1 - a) * missing_rate[j] + a
            continue
        missing_rate[j] = (1 - a) * missing_rate[j]
        rejection_rate[j] = (1 - a) * rejection_rate[j] + a * rejected[j]
        bias[j] = (1 - a) * bias[j] + a * min(Z_CLIP, max(-Z_CLIP, z[j]))
        repeats[j] = repeats[j] + 1 if y[j] == last[j] else 0
        last[j] = y[j]
        if math.isfinite(z2[j]):  # an overflowed forecast leaves the record as it was
            recent[j, :-1] = recent[j, 1:].copy()
            recent[j, -1] = z2[j]
    return missing_rate, rejection_rate, bias, last, repeats, recent
