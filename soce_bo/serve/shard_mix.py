"""The per-trial soup arithmetic on one rank: sum_i w_i * shard_i written into live tensors.

Why a module of its own, free of vLLM: the same code runs inside the vLLM worker
(`worker_ext.py`) and in `scripts/gpu_check.py` on a GPU machine without vLLM, so what the GPU
check measures is what the server does.

Arithmetic (the same everywhere, so that a fingerprint recomputed from the shards matches the
live tensor bit for bit): acc = float32(shard_0) * w_0, then acc += w_i * shard_i for every
expert with w_i != 0, then one cast to the target dtype. The work is cut into chunks of
`CHUNK_ELEMENTS` so the float32 accumulator stays in cache: memory traffic is then about the
copy bound (read K shards, write one target) instead of 2K + 1 passes over a full-size
accumulator. Chunk boundaries are multiples of 1024 elements, so vectorised kernels see the same
element alignment in the mix and in any recomputation.

`StreamedMixer` handles shards kept in (pinned) host memory: they are copied to the device in
buckets on a side stream while the previous bucket is mixed (double buffering).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

CHUNK_ELEMENTS = 1 << 18  # 1 MiB of float32 accumulator: fits L2 on CPUs, plenty for a GPU SM sweep
GPU_CHUNK_ELEMENTS = 1 << 26  # GPU: launch overhead, not cache, sets the chunk (fused kernel: any size)
DEFAULT_BUCKET_BYTES = 64 << 20  # per expert, per staging slot (host storage only)


def active(sources: Sequence[torch.Tensor], weights: Sequence[float]) -> tuple[list[torch.Tensor], list[float]]:
    """The experts that contribute (w != 0): zero-weight shards are never read."""
    pairs = [(s, float(w)) for s, w in zip(sources, weights) if float(w) != 0.0]
    if not pairs:
        raise ValueError("every weight is zero: nothing to mix")
    return [p[0] for p in pairs], [p[1] for p in pairs]


def mix_flat_into(target: torch.Tensor, sources: Sequence[torch.Tensor], weights: Sequence[float],
                  scratch: torch.Tensor | None = None) -> None:
    """target[:] = sum_j w_j * sources_j for already-active, same-length 1-D views (one chunk).

    On CUDA a fused kernel (torch.compile, one read of each source and one write of the target)
    is used when available; elsewhere eager float32 ops. `scratch`: a float32 buffer of at least
    target's length, needed by the eager path when target is not float32.
    """
    if target.is_cuda and _fused_enabled():
        try:
            _fused()(target, list(sources), _weights_tensor(weights, target.device))
            return
        except Exception as err:  # no triton / compiler failure: eager is correct, only slower
            _disable_fused(err)
    if target.dtype == torch.float32:
        acc = target
    else:
        if scratch is None or scratch.numel() < target.numel():
            scratch = torch.empty(target.numel(), dtype=torch.float32, device=target.device)
        acc = scratch[: target.numel()]
    if sources[0].dtype == torch.float32 and sources[0].device == acc.device:
        torch.mul(sources[0], weights[0], out=acc)  # one pass; the same float32 product as below
    else:
        acc.copy_(sources[0])
        acc.mul_(weights[0])
    for src, w in zip(sources[1:], weights[1:]):
        acc.add_(src, alpha=w)  # float32 self: the add runs in float32 whatever src's dtype
    if acc is not target:
        target.copy_(acc)


_FUSED: dict[str, object] = {}  # compiled kernel, cached weights, or why the kernel is disabled


def _weights_tensor(weights: Sequence[float], device: torch.device) -> torch.Tensor:
    """The weights as a device tensor, made once per trial (not once per tensor mixed)."""
    key = (tuple(float(w) for w in weights), str(device))
    cached = _FUSED.get("weights")
    if cached is None or cached[0] != key:
        cached = (key, torch.tensor(key[0], dtype=torch.float32, device=device))
        _FUSED["weights"] = cached
    return cached[1]


def _fused_enabled() -> bool:
    return os.environ.get("SOCE_FUSED_MIX", "1") != "0" and "disabled" not in _FUSED


def _disable_fused(err: Exception) -> None:
    _FUSED["disabled"] = repr(err)
    log.warning("fused CUDA soup kernel unavailable (%s); using eager float32 ops", err)


def mix_path(device: torch.device | str) -> str:
    """Which arithmetic `mix_into` uses on `device` (reported by the worker and the GPU check)."""
    return "fused" if torch.device(device).type == "cuda" and _fused_enabled() else "eager"


def _fused():
    """One compiled kernel per (K, dtypes): float32 accumulation, one cast, written in place."""
    fn = _FUSED.get("fn")
    if fn is None:
        def kernel(target: torch.Tensor, sources: list[torch.Tensor], weights: torch.Tensor) -> None:
            acc = sources[0].float() * weights[0]
            for i in range(1, len(sources)):
                acc = acc + sources[i].float() * weights[i]
            target.copy_(acc)

        fn = torch.compile(kernel, dynamic=True, fullgraph=True)
        _FUSED["fn"] = fn
    return fn


def mix_into(target: torch.Tensor, sources: Sequence[torch.Tensor], weights: Sequence[float],
             chunk: int = CHUNK_ELEMENTS, scratch: torch.Tensor | None = None) -> None:
    """Write the soup of `sources` (same shape as target, any float dtype, any device the
    target can read from) into `target` in place, chunk by chunk (see module docstring)."""
    srcs, ws = active(sources, weights)
    for s in srcs:
        if s.shape != target.shape:
            raise ValueError(f"shard shape {list(s.shape)} != target shape {list(target.shape)}")
    flat = target.view(-1)
    flats = [s.reshape(-1) for s in srcs]
    n = flat.numel()
    if n == 0:
        return
    step = min(chunk if not target.is_cuda else GPU_CHUNK_ELEMENTS, n)
    if target.dtype != torch.float32 and (scratch is None or scratch.numel() < step):
        scratch = torch.empty(step, dtype=torch.float32, device=target.device)
    for start in range(0, n, step):
        end = min(n, start + step)
        mix_flat_into(flat[start:end], [f[start:end] for f in flats], ws, scratch)


def mixed(sources: Sequence[torch.Tensor], weights: Sequence[float], dtype: torch.dtype,
          device: torch.device | str | None = None) -> torch.Tensor:
    """A new tensor holding the soup in `dtype`, computed exactly as `mix_into` computes it."""
    out = torch.empty(sources[0].shape, dtype=dtype, device=device or sources[0].device)
    mix_into(out, sources, weights)
    return out


@dataclass
class _Piece:
    """A contiguous flat range of one target and the matching ranges of its K shards."""

    target: torch.Tensor
    sources: list[torch.Tensor]


class StreamedMixer:
    """Mix shards that live in host memory into device targets, copying bucket b+1 while mixing b.

    On CPU (or with host tensors already on the target's device) it degenerates to `mix_into`.
    """

    def __init__(self, device: torch.device, bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> None:
        self.device = torch.device(device)
        self.bucket_bytes = int(bucket_bytes)
        self._staging: list[list[torch.Tensor]] | None = None  # [slot][expert] flat uint8 buffers
        self._scratch: torch.Tensor | None = None

    def staging_bytes(self, k: int) -> int:
        """Device memory the double buffer holds for k experts (what the memory plan counts)."""
        return 2 * k * self.bucket_bytes + 4 * CHUNK_ELEMENTS

    def mix(self, jobs: Sequence[tuple[torch.Tensor, Sequence[torch.Tensor]]], weights: Sequence[float]) -> None:
        """jobs: (device target, [host shard per expert]); all writes done when this returns."""
        if self.device.type != "cuda":
            for target, sources in jobs:
                mix_into(target, sources, weights)
            return
        keep = [i for i, w in enumerate(weights) if float(w) != 0.0]
        ws = [float(weights[i]) for i in keep]
        buckets = self._buckets([(t, [s[i] for i in keep]) for t, s in jobs])
        self._ensure_staging(len(keep))
        assert self._staging is not None
        compute = torch.cuda.current_stream(self.device)
        copier = torch.cuda.Stream(self.device)
        copied = [torch.cuda.Event(), torch.cuda.Event()]
        freed = [torch.cuda.Event(), torch.cuda.Event()]
        views: list[list[list[torch.Tensor]] | None] = [None, None]

        def issue(b: int) -> None:
            slot = b % 2
            with torch.cuda.stream(copier):
                if b >= 2:
                    copier.wait_event(freed[slot])
                views[slot] = self._copy_bucket(buckets[b], self._staging[slot])
                copied[slot].record(copier)

        if buckets:
            issue(0)
        for b, pieces in enumerate(buckets):
            if b + 1 < len(buckets):
                issue(b + 1)
            slot = b % 2
            compute.wait_event(copied[slot])
            for piece, staged in zip(pieces, views[slot]):
                mix_flat_into(piece.target, staged, ws, self._scratch)
            freed[slot].record(compute)
        compute.synchronize()

    def _ensure_staging(self, k: int) -> None:
        if self._staging is None or len(self._staging[0]) < k:
            self._staging = [[torch.empty(self.bucket_bytes, dtype=torch.uint8, device=self.device)
                              for _ in range(k)] for _ in range(2)]
            self._scratch = torch.empty(max(self.bucket_bytes // 2, CHUNK_ELEMENTS), dtype=torch.float32,
                                        device=self.device)

    def _buckets(self, jobs: Sequence[tuple[torch.Tensor, list[torch.Tensor]]]) -> list[list[_Piece]]:
        """Cut targets into pieces so each bucket's shard bytes per expert fit one staging buffer
        (every piece starts 256-byte aligned, see `_copy_bucket`)."""
        buckets: list[list[_Piece]] = [[]]
        filled = 0
        for target, sources in jobs:
            flat, flats = target.view(-1), [s.reshape(-1) for s in sources]
            itemsize = max(s.element_size() for s in sources)
            start = 0
            while start < flat.numel():
                room = (self.bucket_bytes - filled) // itemsize // 1024 * 1024
                if room < 1024:
                    buckets.append([])
                    filled = 0
                    continue
                end = min(flat.numel(), start + room)
                buckets[-1].append(_Piece(flat[start:end], [f[start:end] for f in flats]))
                filled += -(-(end - start) * itemsize // 256) * 256
                start = end
        return [b for b in buckets if b]

    @staticmethod
    def _copy_bucket(pieces: Sequence[_Piece], staging: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
        offsets = [0] * len(staging)
        out: list[list[torch.Tensor]] = []
        for piece in pieces:
            staged = []
            for k, src in enumerate(piece.sources):
                nbytes = src.numel() * src.element_size()
                begin = (offsets[k] + 255) // 256 * 256  # aligned views
                buf = staging[k][begin:begin + nbytes].view(src.dtype)
                buf.copy_(src, non_blocking=True)
                offsets[k] = begin + nbytes
                staged.append(buf)
            out.append(staged)
        return out
