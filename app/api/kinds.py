"""/v1/kinds: the forecaster kinds this server fits, with their parameter schemas.

What the client's and the CLI's help and the dashboard's model list are built from; public
(no key), as it says nothing about any tenant.
"""

from __future__ import annotations

from fastapi import APIRouter

from app.api.schemas.common import example_response
from app.api.schemas.kinds import KINDS_EXAMPLE, KindList

router = APIRouter(prefix="/v1/kinds", tags=["kinds"])
_LIST = KindList.of_registry()  # the registry is fixed for the life of the process


@router.get(
    "",
    response_model=KindList,
    responses=example_response(200, KINDS_EXAMPLE),
    summary="Forecaster kinds and their parameters",
)
def list_kinds() -> KindList:
    """Every kind a model spec may name (`auto` last, with its candidates), whether it runs
    on a GPU worker, reports progress or can drive a stream, and the JSON schema of its
    `params`."""
    return _LIST
