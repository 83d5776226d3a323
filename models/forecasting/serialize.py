"""Fitted forecasters to and from safetensors bytes (no pickle anywhere).

Layout: a standard safetensors file (https://huggingface.co/docs/safetensors) whose tensors
are the model's named tensors and whose string metadata holds the JSON of `to_state()`'s
meta under the key "kalmanac"; meta["kind"] picks the class on load. Loading parses only
the JSON header and raw little-endian buffers, so untrusted bytes cannot run code.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import safetensors.torch

from models.forecasting.base import Forecaster
from models.forecasting.registry import forecaster_class

META_KEY = "kalmanac"
FORMAT_VERSION = 1


def dumps(model: Forecaster) -> bytes:
    """Serialise a fitted forecaster (NotFittedError if it is not fitted)."""
    meta, tensors = model.to_state()
    meta = {**meta, "format_version": FORMAT_VERSION}
    header = json.dumps(meta, separators=(",", ":"))
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    return bytes(safetensors.torch.save(tensors, metadata={META_KEY: header}))


def read_meta(data: bytes) -> dict[str, Any]:
    """The "kalmanac" metadata of safetensors bytes (8-byte little-endian header length,
    then the JSON header); ValueError when absent or malformed."""
    if len(data) < 8:
        raise ValueError("not a safetensors file: too short")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("not a safetensors file: header length exceeds the data")
    try:
        header = json.loads(data[8 : 8 + n])
        meta = json.loads(header["__metadata__"][META_KEY])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"no valid {META_KEY!r} metadata in the safetensors header") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{META_KEY!r} metadata must be a JSON object")
    return meta


def loads(data: bytes) -> Forecaster:
    """Rebuild the fitted forecaster written by `dumps`."""
    meta = read_meta(data)
    version = meta.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise ValueError(f"unsupported format_version {version!r} (expected {FORMAT_VERSION})")
    cls = forecaster_class(meta.get("kind", ""))
    tensors = safetensors.torch.load(data)
    try:
        return cls.from_state(meta, tensors)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"incomplete or invalid {meta.get('kind')} state: {exc}") from exc
