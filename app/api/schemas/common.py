"""Schema pieces shared by several resources."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)

# A JSON number (an integer too, as a float; never a bool or a numeric string) that is
# finite. Strict float rather than the union StrictFloat | StrictInt: one validator, not a
# union tried member by member, validates a post's 4,000 values ~6x faster, and an integer
# too large for a float is a 422, where the union's finiteness check raised OverflowError.
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]


Outliers = Annotated[
    Literal["set_aside", "keep"],
    Field(
        description="set_aside: the series' gross faults (readings so far outside their "
        "one-step interval that a clean series shows one with chance 1 %, the interval "
        "widened by the series' own tails) are fitted through "
        "as missing values and listed (a forecast's set_aside, a version's "
        "metrics.fitted.set_aside); keep: every reading is fitted",
    ),
]


def _storable(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return text


# Free text that is stored: PostgreSQL text and JSONB cannot hold NUL, which would otherwise
# surface as a 500 from the database instead of a 422 naming the field.
StoredText = Annotated[str, AfterValidator(_storable)]


class StrictModel(BaseModel):
    """Request bodies: unknown fields are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class StoredModelRef(StrictModel):
    """A stored model version, by number or by alias."""

    name: str = Field(min_length=1, max_length=200)
    version: StrictInt | None = Field(None, ge=1, lt=2**31)
    alias: str | None = Field(None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_of(self) -> StoredModelRef:
        if (self.version is None) == (self.alias is None):
            raise ValueError("give exactly one of version and alias")
        return self

    def min_length(self, dim: int = 1) -> int:
        return 1  # checked against the stored version when it is resolved


def default_levels() -> list[float | int]:
    """Central interval levels, %, when a request gives none."""
    return [80, 95]


def example_response(
    status: int, value: dict[str, Any], description: str = "OK"
) -> dict[int | str, dict[str, Any]]:
    """A `responses=` entry carrying an example body for the OpenAPI page."""
    return {
        status: {"description": description, "content": {"application/json": {"example": value}}}
    }
