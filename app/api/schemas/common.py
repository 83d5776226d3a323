"""Schema pieces shared by several resources."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictFloat, StrictInt

FiniteFloat = Annotated[StrictFloat | StrictInt, Field(allow_inf_nan=False)]


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


class ErrorItem(BaseModel):
    loc: list[str | int]
    field: str = Field(description="Dotted path of the offending field, e.g. series.0.values.3")
    msg: str
    type: str


class ErrorBody(BaseModel):
    detail: list[ErrorItem] | str
    error: str = Field(description="Machine-readable error code")


def level_key(level: float) -> str:
    """80 -> "80", 97.5 -> "97.5": the keys clients index intervals and quantiles by."""
    return f"{level:g}"


def example_response(
    status: int, value: dict[str, Any], description: str = "OK"
) -> dict[int | str, dict[str, Any]]:
    """A `responses=` entry carrying an example body for the OpenAPI page."""
    return {
        status: {"description": description, "content": {"application/json": {"example": value}}}
    }
