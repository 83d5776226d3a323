"""Fitted forecasters to and from artifact bytes (`models.artifacts`: safetensors, no pickle).

The tensors are the model's named tensors, the metadata the JSON of `to_state()`'s meta;
meta["kind"] picks the class on load.
"""

from __future__ import annotations

from models.artifacts import pack, read_meta, unpack
from models.forecasting.base import Forecaster
from models.forecasting.registry import forecaster_class

FORMAT_VERSION = 1


def dumps(model: Forecaster) -> bytes:
    """Serialise a fitted forecaster (NotFittedError if it is not fitted)."""
    meta, tensors = model.to_state()
    return pack(tensors, {**meta, "format_version": FORMAT_VERSION})


def loads(data: bytes) -> Forecaster:
    """Rebuild the fitted forecaster written by `dumps`."""
    meta = read_meta(data)
    version = meta.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise ValueError(f"unsupported format_version {version!r} (expected {FORMAT_VERSION})")
    cls = forecaster_class(meta.get("kind", ""))
    try:
        return cls.from_state(meta, unpack(data))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"incomplete or invalid {meta.get('kind')} state: {exc}") from exc
