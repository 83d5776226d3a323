"""The one artifact format: a safetensors file whose string metadata holds a JSON object under
the key "kalmanac". Fitted forecasters, neural observers and stream ensembles are all stored
this way. Loading parses only the JSON header and raw little-endian buffers, so stored bytes
can never run code (no pickle anywhere). Ref: https://huggingface.co/docs/safetensors
"""

from __future__ import annotations

import json
import struct
from typing import Any

import safetensors.torch
from torch import Tensor

META_KEY = "kalmanac"


def pack(tensors: dict[str, Tensor], meta: dict[str, Any] | None = None) -> bytes:
    """safetensors bytes of `tensors` (moved to the CPU, made contiguous) and `meta`."""
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    header = None if meta is None else {META_KEY: json.dumps(meta, separators=(",", ":"))}
    return bytes(safetensors.torch.save(flat, metadata=header))


def unpack(data: bytes) -> dict[str, Tensor]:
    """The named tensors of safetensors bytes."""
    return safetensors.torch.load(data)


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
