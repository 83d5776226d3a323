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
The check therefore needs three or more readings per observation to reject any. A missing
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
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from models.assimilation.observation import LinearObs

CHI2_1_MEDIAN = 0.4549364231195724  # median of a chi-square with one degree of freedom
HEALTH_ALPHA = 0.1  # weight of the newest cycle in the rolling rates (~10-cycle memory)
Z_CLIP = 10.0  # one wild reading moves the bias by at most HEALTH_ALPHA * Z_CLIP
SUSPECT = {"rejection_rate": 0.2, "bias": 1.5, "missing_rate": 0.5, "repeats": 3}
FAILED = {"rejection_rate": 0.5, "bias": 3.0, "missing_rate": 0.9, "repeats": 10}


# What became of each reading (an analysis stores one code per observed component).
USED, MISSING, REJECTED, EXCLUDED = 0, 1, 2, 3


@dataclass(frozen=True, eq=False)
class Screened:
    """One observation after the background check. z: (m,) z-scores (NaN where missing);
    present, rejected, used: (m,) bool (used = present, not rejected, not excluded)."""

    z: Tensor
    present: Tensor
    rejected: Tensor
    used: Tensor
    y: Tensor  # the readings screened

    def codes(self) -> list[int]:
        """USED, MISSING, REJECTED (by the check) or EXCLUDED (a failed sensor), per reading."""
        out = torch.full(self.z.shape, EXCLUDED, dtype=torch.int64)
        out[self.used] = USED
        out[~self.present] = MISSING
        out[self.rejected] = REJECTED
        return [int(c) for c in out]

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
    Ef: Tensor, y: Tensor, obs: LinearObs, gate: float | None, exclude: Tensor | None = None
) -> Screened:
    """Ef: (N, n) forecast members (N >= 1); y: (m,) with NaN for missing readings; gate:
    the largest |z| accepted (None: no check); exclude: (m,) bool, components left out
    whatever their z (failed sensors)."""
    HE = obs.H_apply(Ef)
    var_b = HE.var(0, unbiased=True) if HE.shape[0] > 1 else torch.zeros_like(HE[0])
    d = y.to(HE) - HE.mean(0)
    z = d / torch.sqrt(var_b + obs.R_diag.to(HE))
    present = torch.isfinite(y)
    if bool(present.any()):
        spread = float(torch.sqrt(z[present].pow(2).median() / CHI2_1_MEDIAN))
        z = z / max(1.0, spread)
    rejected = present & (z.abs() > gate) if gate is not None else torch.zeros_like(present)
    used = present & ~rejected
    if exclude is not None:
        used = used & ~exclude.to(used.device)
    return Screened(z, present, rejected, used, y)


@dataclass(frozen=True)
class SensorHealth:
    """One observed component's rolling statistics (see the module docstring)."""

    index: int
    missing_rate: float = 0.0
    rejection_rate: float = 0.0
    bias: float = 0.0
    cycles: int = 0
    last: float | None = None  # the latest reading present
    repeats: int = 0  # readings in a row equal to the one before

    @property
    def status(self) -> str:
        stats = {"rejection_rate": self.rejection_rate, "bias": abs(self.bias)}
        stats |= {"missing_rate": self.missing_rate, "repeats": self.repeats}
        if any(stats[k] >= v for k, v in FAILED.items()):
            return "failed"
        if any(stats[k] >= v for k, v in SUSPECT.items()):
            return "suspect"
        return "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "status": self.status,
            "rejection_rate": self.rejection_rate,
            "bias": self.bias,
            "missing_rate": self.missing_rate,
            "repeats": self.repeats,
            "cycles": self.cycles,
            "last": self.last,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SensorHealth:
        return cls(
            int(d["index"]),
            float(d["missing_rate"]),
            float(d["rejection_rate"]),
            float(d["bias"]),
            int(d["cycles"]),
            None if d.get("last") is None else float(d["last"]),
            int(d.get("repeats", 0)),
        )

    def update(self, value: float, z: float, rejected: bool) -> SensorHealth:
        """After one cycle: value and z are NaN when the reading was missing."""
        a = HEALTH_ALPHA
        if math.isnan(value):
            return replace(
                self, missing_rate=(1 - a) * self.missing_rate + a, cycles=self.cycles + 1
            )
        return SensorHealth(
            self.index,
            (1 - a) * self.missing_rate,
            (1 - a) * self.rejection_rate + a * float(rejected),
            (1 - a) * self.bias + a * max(-Z_CLIP, min(Z_CLIP, z)),
            self.cycles + 1,
            value,
            self.repeats + 1 if value == self.last else 0,
        )


def update_sensors(sensors: list[SensorHealth], screened: Screened) -> list[SensorHealth]:
    """Every sensor after one screened observation (one SensorHealth per component)."""
    y, z, rejected = screened.y.tolist(), screened.z.tolist(), screened.rejected.tolist()
    return [h.update(*r) for h, r in zip(sensors, zip(y, z, rejected, strict=True), strict=True)]


def failed(sensors: list[SensorHealth]) -> list[bool]:
    """Which sensors are left out of the analyses."""
    return [h.status == "failed" for h in sensors]
