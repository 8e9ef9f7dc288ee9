"""Write safetensors shards as a stream: header first (planned from shapes), then tensor bytes.

Why not `safetensors.torch.save_file`: it needs every tensor of a shard in RAM at once. The format
is simple (8-byte little-endian header length, JSON header padded with spaces to 8 bytes, raw
little-endian data), and all offsets are known from names, shapes and the output dtype before any
arithmetic happens, so a shard can be written tensor by tensor with memory of about one tensor.
Each file's SHA-256 is computed on the bytes as they are written (no second read for the manifest).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from soce_bo.errors import ConfigError
from soce_bo.soup.checkpoint import CODE_OF, SAFETENSORS_DTYPES

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}


def parse_size(size: int | str) -> int:
    """"2GB" -> 2*10**9, "500MiB" -> 500*2**20, 1000 -> 1000 (Hugging Face's convention)."""
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    else:
        match = _SIZE.match(str(size))
        if not match:
            raise ConfigError(f"shard_size {size!r} is not a size like 2GB, 500MB or 1000000")
        unit = (match.group(2) or "").upper().removesuffix("B")
        value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise ConfigError(f"shard_size must be positive, got {size!r}")
    return value


@dataclass(frozen=True)
class PlannedTensor:
    name: str
    dtype: str  # safetensors code, e.g. "BF16"
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * SAFETENSORS_DTYPES[self.dtype][1]


@dataclass(frozen=True)
class Shard:
    filename: str
    tensors: tuple[PlannedTensor, ...]

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)


def plan_shards(tensors: list[PlannedTensor], shard_size: int) -> list[Shard]:
    """Cut the (ordered) tensors into shards of at most shard_size bytes; a bigger tensor goes alone."""
    groups: list[list[PlannedTensor]] = [[]]
    filled = 0
    for tensor in tensors:
        if groups[-1] and filled + tensor.nbytes > shard_size:
            groups.append([])
            filled = 0
        groups[-1].append(tensor)
        filled += tensor.nbytes
    if len(groups) == 1:
        return [Shard("model.safetensors", tuple(groups[0]))]
    n = len(groups)
    return [Shard(f"model-{i + 1:05d}-of-{n:05d}.safetensors", tuple(g)) for i, g in enumerate(groups)]


def _header(shard: Shard) -> bytes:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for tensor in shard.tensors:
        header[tensor.name] = {"dtype": tensor.dtype, "shape": list(tensor.shape),
                               "data_offsets": [offset, offset + tensor.nbytes]}
        offset += tensor.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # data starts 8-byte aligned, like safetensors' own writer
    return struct.pack("<Q", len(raw)) + raw


class ShardStream:
    """One open shard file; tensors must arrive in planned order with planned dtype and shape."""

    def __init__(self, directory: Path, shard: Shard) -> None:
        self.path = directory / shard.filename
        self._planned = list(shard.tensors)
        self._next = 0
        self._sha = hashlib.sha256()
        self._file = open(self.path, "wb", buffering=0)
        self._put(memoryview(_header(shard)))

    def _put(self, view: memoryview) -> None:
        self._sha.update(view)
        while view:  # raw file: write() may be partial
            written = self._file.write(view)
            view = view[written:]

    def write(self, name: str, tensor: torch.Tensor) -> None:
        planned = self._planned[self._next]
        if (name, CODE_OF.get(tensor.dtype), tuple(tensor.shape)) != (
            planned.name, planned.dtype, planned.shape
        ):
            raise RuntimeError(f"{self.path.name}: got {name} {tensor.dtype} {list(tensor.shape)}, "
                               f"planned {planned}")
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        self._put(memoryview(flat.view(torch.uint8).numpy()))
        self._next += 1

    def close(self) -> str:
        """Flush to disk (fsync) and return the file's SHA-256; refuses an incomplete shard."""
        if self._next != len(self._planned):
            raise RuntimeError(f"{self.path.name}: only {self._next}/{len(self._planned)} tensors written")
        os.fsync(self._file.fileno())
        self._file.close()
        return self._sha.hexdigest()

    def abort(self) -> None:
        """Close without the completeness check (the folder is about to be deleted)."""
        if not self._file.closed:
            self._file.close()
