"""Open a Hugging Face checkpoint folder lazily: headers parsed and checked now, tensors read on demand.

Why parse safetensors headers ourselves: a truncated or corrupt file must fail *before* a soup starts,
with its file named, not halfway through a write with a Rust panic. Tensor data is then read the way
`safetensors.safe_open` does it, through a memory map (zero copy), but with our own map so that
`release(name)` can drop a finished tensor's pages from the process (madvise DONTNEED; they stay in
the page cache). Without that, streaming K models leaves K whole models counted in our RSS.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from soce_bo.errors import PoolError
from soce_bo.soup.order import layer_order

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MAX_HEADER_BYTES = 100_000_000  # the safetensors spec's own limit

# safetensors dtype code -> (torch dtype, bytes per element)
SAFETENSORS_DTYPES: dict[str, tuple[torch.dtype, int]] = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
    "F8_E4M3": (torch.float8_e4m3fn, 1),
    "F8_E5M2": (torch.float8_e5m2, 1),
}
CODE_OF: dict[torch.dtype, str] = {dt: code for code, (dt, _) in SAFETENSORS_DTYPES.items()}


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives: file, safetensors dtype code, shape, byte range [begin, end) in the file."""

    name: str
    file: Path
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin

    @property
    def is_float(self) -> bool:
        return SAFETENSORS_DTYPES[self.dtype][0].is_floating_point


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A validated HF checkpoint folder; a soup *source* (`names()`, `get(name)`)."""

    path: Path
    config: Mapping[str, Any]
    tensors: Mapping[str, TensorInfo]
    _maps: dict[Path, mmap.mmap] = field(default_factory=dict, repr=False)

    def names(self) -> list[str]:
        """Tensor names in layer order."""
        return layer_order(self.tensors)

    def get(self, name: str) -> torch.Tensor:
        """The tensor, memory-mapped without a copy. Treat it as read-only."""
        info = self.tensors.get(name)
        if info is None:
            raise PoolError(f"tensor {name!r} not found in {self.path}")
        torch_dtype, itemsize = SAFETENSORS_DTYPES[info.dtype]
        count = info.nbytes // itemsize
        if count == 0:
            return torch.empty(info.shape, dtype=torch_dtype)
        buffer = self._map(info.file)
        if info.begin % itemsize:  # misaligned (foreign writer): copy rather than risk slow paths
            raw = bytearray(buffer[info.begin:info.end])
            return torch.frombuffer(raw, dtype=torch_dtype).reshape(info.shape)
        return torch.frombuffer(buffer, dtype=torch_dtype, count=count, offset=info.begin).reshape(info.shape)

    def release(self, name: str) -> None:
        """Unmap the pages of a tensor we are done with (a later `get` simply faults them back in)."""
        info = self.tensors[name]
        buffer = self._maps.get(info.file)
        if buffer is not None and info.nbytes and hasattr(mmap, "MADV_DONTNEED"):
            start = info.begin - info.begin % mmap.PAGESIZE
            buffer.madvise(mmap.MADV_DONTNEED, start, info.end - start)

    def _map(self, file: Path) -> mmap.mmap:
        # ACCESS_COPY: a private mapping is writable as far as torch.frombuffer is concerned (no
        # warning) yet never writes back; untouched pages are shared with the page cache.
        buffer = self._maps.get(file)
        if buffer is None:
            with open(file, "rb") as fh:
                buffer = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
            self._maps[file] = buffer
        return buffer

    @property
    def weight_files(self) -> list[Path]:
        return sorted({info.file for info in self.tensors.values()})

    @property
    def nbytes(self) -> int:
        return sum(info.nbytes for info in self.tensors.values())


def read_header(file: Path) -> dict[str, TensorInfo]:
    """Parse and check one .safetensors header; offsets in the infos are relative to the data block.

    Raises PoolError naming the file when it is truncated, corrupt or inconsistent.
    """
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise PoolError(f"corrupt safetensors file {file}: truncated ({size} bytes)")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
                raise PoolError(
                    f"corrupt safetensors file {file}: header length {header_len} exceeds the "
                    f"file size {size} (truncated or not a safetensors file)"
                )
            raw = fh.read(header_len)
    except OSError as err:
        raise PoolError(f"cannot read safetensors file {file}: {err}") from err
    try:
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (ValueError, UnicodeDecodeError) as err:
        raise PoolError(f"corrupt safetensors file {file}: unreadable header ({err})") from err
    data_start = 8 + header_len
    data_size = size - data_start
    infos: dict[str, TensorInfo] = {}
    covered = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
            itemsize = SAFETENSORS_DTYPES[dtype][1]
        except (KeyError, TypeError, ValueError) as err:
            raise PoolError(f"corrupt safetensors file {file}: bad entry for tensor {name!r}") from err
        if not (0 <= begin <= end) or end - begin != math.prod(shape) * itemsize:
            raise PoolError(
                f"corrupt safetensors file {file}: tensor {name!r} offsets {begin}..{end} do not "
                f"match shape {list(shape)} {dtype}"
            )
        if end > data_size:
            raise PoolError(
                f"corrupt safetensors file {file}: truncated (tensor {name!r} ends at byte "
                f"{data_start + end}, file has {size})"
            )
        covered += end - begin
        infos[name] = TensorInfo(name, file, dtype, shape, data_start + begin, data_start + end)
    if covered != data_size:
        raise PoolError(
            f"corrupt safetensors file {file}: tensors cover {covered} bytes but the data block "
            f"has {data_size} (overlapping tensors or trailing garbage)"
        )
    return infos


def _weight_files(path: Path) -> tuple[list[Path], dict[str, str] | None]:
    """The safetensors files of a checkpoint and its shard index's weight map (None if unsharded)."""
    index = path / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
            files = sorted(set(weight_map.values()))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise PoolError(f"corrupt shard index {index}: {err}") from err
        for name in files:
            if not (path / name).is_file():
                raise PoolError(f"shard {path / name} listed in {index} is missing")
        return [path / name for name in files], weight_map
    if (path / SINGLE_FILE).is_file():
        return [path / SINGLE_FILE], None
    raise PoolError(
        f"no {SINGLE_FILE} or {INDEX_FILE} in {path} (only safetensors checkpoints are supported)"
    )


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open the checkpoint folder at `path`: config, every header, the index cross-checked."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise PoolError(f"model path does not exist: {path}")
    if not path.is_dir():
        raise PoolError(f"model path is not a checkpoint folder: {path}")
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except FileNotFoundError as err:
        raise PoolError(f"no config.json in {path}") from err
    except ValueError as err:
        raise PoolError(f"corrupt {config_file}: {err}") from err
    tensors: dict[str, TensorInfo] = {}
    files, weight_map = _weight_files(path)
    for file in files:
        infos = read_header(file)
        for name, info in infos.items():
            if name in tensors:
                raise PoolError(
                    f"tensor {name!r} is stored twice in {path} ({tensors[name].file.name}, {file.name})"
                )
            tensors[name] = info
    if weight_map is not None:
        index = path / INDEX_FILE
        for name, shard in weight_map.items():
            if name not in tensors or tensors[name].file.name != shard:
                raise PoolError(
                    f"shard index {index} places tensor {name!r} in {shard}, but it is not there"
                )
        for name in tensors:
            if name not in weight_map:
                raise PoolError(f"tensor {name!r} of {tensors[name].file} is missing from {index}")
    if not tensors:
        raise PoolError(f"checkpoint {path} contains no tensors")
    return Checkpoint(path=path, config=config, tensors=tensors)
