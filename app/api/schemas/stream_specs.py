"""What a stream is opened with: its dynamics, observation operator, filter, quality control
and initial state (the v1 contract: fields may be added, not renamed)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import (
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    field_validator,
    model_validator,
)

from app.api.schemas.common import FiniteFloat, StoredModelRef, StoredText, StrictModel
from app.api.schemas.series import Row, Value


class Lorenz63Params(StrictModel):
    sigma: FiniteFloat = Field(10.0, gt=0, le=1e3)
    rho: FiniteFloat = Field(28.0, gt=0, le=1e3)
    beta: FiniteFloat = Field(8 / 3, gt=0, le=1e3)

    @property
    def state_dim(self) -> int:
        return 3


class Lorenz96Params(StrictModel):
    n: StrictInt = Field(40, ge=4, le=4096, description="Number of variables (periodic ring)")
    F: FiniteFloat = Field(8.0, ge=-100, le=100, description="Forcing")

    @property
    def state_dim(self) -> int:
        return self.n


class KSParams(StrictModel):
    n: StrictInt = Field(128, ge=16, le=4096, description="Grid points (even)")
    L: FiniteFloat = Field(32 * math.pi, gt=0, le=1e4, description="Periodic domain length")

    @field_validator("n")
    @classmethod
    def _even(cls, n: int) -> int:
        if n % 2:
            raise ValueError("must be even")
        return n

    @property
    def state_dim(self) -> int:
        return self.n


Step = Annotated[FiniteFloat, Field(gt=0, le=10, description="Integration step")]


class Lorenz63Spec(StrictModel):
    system: Literal["lorenz63"]
    params: Lorenz63Params = Field(default_factory=Lorenz63Params)
    dt: Step = 0.01


class Lorenz96Spec(StrictModel):
    system: Literal["lorenz96"]
    params: Lorenz96Params = Field(default_factory=Lorenz96Params)
    dt: Step = 0.05


class KSSpec(StrictModel):
    system: Literal["ks"]
    params: KSParams = Field(default_factory=KSParams)
    dt: Step = 0.25


SYSTEM_SPECS = (Lorenz63Spec, Lorenz96Spec, KSSpec)
# Each system's name -> the model of the parameters the API takes for it.
SYSTEM_PARAMS: dict[str, type[StrictModel]] = {
    get_args(s.model_fields["system"].annotation)[0]: cast(
        type[StrictModel], s.model_fields["params"].annotation
    )
    for s in SYSTEM_SPECS
}
DynamicsSpec = Annotated[Lorenz63Spec | Lorenz96Spec | KSSpec, Field(discriminator="system")]


class ModelDynamicsSpec(StrictModel):
    """A stored forecaster version as the dynamics (a learned surrogate). The state is its lag
    window: the last p values of the d-dimensional series, oldest first, n = p d; time counts
    series steps (one step per unit). The version is resolved and pinned at creation."""

    model: StoredModelRef

    @model_validator(mode="before")
    @classmethod
    def _not_a_system_too(cls, data: Any) -> Any:
        if isinstance(data, dict) and "system" in data:
            raise ValueError("give either dynamics.system or dynamics.model, not both")
        return data


def _dynamics_tag(value: Any) -> str:
    if isinstance(value, dict):
        return "surrogate" if "model" in value else "system"
    return "surrogate" if isinstance(value, ModelDynamicsSpec) else "system"


# The tags a dynamics field can take: error paths drop them (app.api.errors).
DYNAMICS_TAGS = frozenset(
    [
        "system",
        "surrogate",
        *SYSTEM_PARAMS,
    ]
)
# A stream's dynamics: a simulated system, or a learned surrogate (a stored forecaster).
StreamDynamicsSpec = Annotated[
    Annotated[DynamicsSpec, Tag("system")] | Annotated[ModelDynamicsSpec, Tag("surrogate")],
    Discriminator(_dynamics_tag),
]


class ObservationSpec(StrictModel):
    indices: list[Annotated[StrictInt, Field(ge=0)]] | None = Field(
        None, description="Observed state components; null observes all"
    )
    noise_std: FiniteFloat = Field(
        1.0, gt=0, le=1e6, description="Observation noise std (R = s^2 I)"
    )


class FilterSpec(StrictModel):
    method: Literal["enkf", "etkf", "letkf", "observer"] = "etkf"
    ensemble_size: StrictInt = Field(
        24, ge=2, le=1000, description="Members (an observer brings its own number)"
    )
    inflation: Annotated[FiniteFloat, Field(ge=1, le=10)] | Literal["adaptive", "enkf_n"] = Field(
        1.02,
        description='Multiplicative factor, or solved for at each analysis: "adaptive" (the '
        "finite-size EnKF-N with its hyperprior set for a global or local analysis; as good as "
        'a tuned factor, see bench/inflation.py) or "enkf_n" (the EnKF-N as published). '
        "Either needs method etkf or letkf",
    )
    localization_radius: FiniteFloat | None = Field(
        None, gt=0, le=1e4, description="Gaspari-Cohn radius in grid units (LETKF)"
    )
    rotate: StrictBool = Field(False, description="Random mean-preserving rotation of anomalies")
    model: StoredModelRef | None = Field(
        None, description='The neural observer version (method "observer" only)'
    )

    @model_validator(mode="after")
    def _consistent(self) -> FilterSpec:
        if (self.method == "observer") != (self.model is not None):
            raise ValueError('model (a trained observer) is required with method "observer", only')
        if self.method == "letkf" and self.localization_radius is None:
            raise ValueError("localization_radius is required for letkf")
        if self.method != "letkf" and self.localization_radius is not None:
            raise ValueError("localization_radius applies only to letkf")
        if self.method == "enkf" and isinstance(self.inflation, str):
            raise ValueError(f'inflation "{self.inflation}" needs method etkf or letkf')
        return self


class QCSpec(StrictModel):
    """The background check: a reading whose innovation z-score (its distance from the
    ensemble's expectation, in units of the ensemble spread and the sensor noise together)
    exceeds the gate is rejected and recorded, not used."""

    gate: FiniteFloat = Field(4.0, gt=0, le=1e3, description="Largest |z| a reading may have")


class InitialSpec(StrictModel):
    mean: list[FiniteFloat] | None = Field(
        None,
        description="Initial ensemble mean (length n); omitted for a built-in system: its "
        "climatology (members drawn around zero with std, then run 1000 steps onto the "
        "attractor)",
    )
    std: FiniteFloat = Field(1.0, gt=0, le=1e6)
    series: list[Value] | list[Row] | None = Field(
        None,
        description="Model dynamics only: the series up to t0 (numbers, or rows of d values; "
        "null where missing); every member starts at its last p values, and the forecaster "
        "supplies the spread. A missing value or gross fault there is drawn, one draw per "
        "member, given the values around it (listed in initial.imputed and initial.set_aside "
        "once the stream has started)",
    )


class StreamCreate(StrictModel):
    name: StoredText | None = Field(None, max_length=200)
    dynamics: StreamDynamicsSpec
    observation: ObservationSpec = Field(default_factory=ObservationSpec)
    filter: FilterSpec = Field(default_factory=FilterSpec)
    initial: InitialSpec = Field(default_factory=InitialSpec)
    t0: FiniteFloat = Field(0.0, description="Time of the initial ensemble")
    seed: StrictInt = Field(0, ge=0, lt=2**31)
    gap_timeout_s: FiniteFloat = Field(
        30.0, ge=0, le=86_400, description="How long a missing seq is awaited before it is skipped"
    )
    qc: QCSpec | None = Field(
        default_factory=QCSpec, description="Quality control of each reading; null turns it off"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "l96-demo",
                    "dynamics": {"system": "lorenz96", "params": {"n": 40, "F": 8.0}, "dt": 0.05},
                    "observation": {"indices": None, "noise_std": 1.0},
                    "filter": {"method": "etkf", "ensemble_size": 24, "inflation": "adaptive"},
                    "seed": 0,
                }
            ]
        }
    }

    @model_validator(mode="after")
    def _fits_the_state(self) -> StreamCreate:
        n = self.state_dim  # None for model dynamics: checked once the version is resolved
        if self.observation.indices is not None:
            idx = self.observation.indices
            if not idx:
                raise ValueError("observation.indices must not be empty (null observes all)")
            if n is not None and max(idx) >= n:
                raise ValueError(f"observation.indices: {max(idx)} is outside the state (n={n})")
            if len(set(idx)) != len(idx):
                raise ValueError("observation.indices must be distinct")
        if n is not None and self.initial.mean is not None and len(self.initial.mean) != n:
            raise ValueError(f"initial.mean has {len(self.initial.mean)} values; the state has {n}")
        self._check_surrogate_start()
        return self

    def _check_surrogate_start(self) -> None:
        """Model dynamics start from a window of the series (or an explicit mean)."""
        initial = self.initial
        if not isinstance(self.dynamics, ModelDynamicsSpec):
            if initial.series is not None:
                raise ValueError("initial.series applies only to model dynamics")
            return
        if (initial.series is None) == (initial.mean is None):
            raise ValueError(
                "initial: give series (the series up to t0) or mean (a window), exactly one"
            )
        if initial.series is not None and "std" in initial.model_fields_set:
            raise ValueError(
                "initial.std: members start at the window of initial.series exactly; "
                "the forecaster supplies the spread"
            )

    @property
    def state_dim(self) -> int | None:
        """n, or None for model dynamics (the window size of the stored version)."""
        if isinstance(self.dynamics, ModelDynamicsSpec):
            return None
        return self.dynamics.params.state_dim

    @property
    def obs_dim(self) -> int | None:
        idx = self.observation.indices
        return self.state_dim if idx is None else len(idx)
