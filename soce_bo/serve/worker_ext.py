"""Worker extension: experts resident as this rank's shards, a soup mixed into the live engine.

vLLM mixes this class into its worker (`--worker-extension-cls
soce_bo.serve.worker_ext.SoupWorkerExtension`), so `self` is the worker of one tensor-parallel rank
and the methods are reachable through `POST /collective_rpc` (dev mode).

Three ways to hold a pool (`storage`), one per-trial contract (`soup_apply`):
- `device` / `host`: each expert goes once through the model's *own* weight loading
  (`model.load_weights`, so every weight loader shards, fuses qkv / gate_up and permutes it as for
  any checkpoint) into fresh tensors in the model's loaded layout, which this rank keeps: 1/TP of
  the expert. `device` keeps them in accelerator memory, `host` in pinned host memory (streamed
  to the device in buckets, see `shard_mix.StreamedMixer`). A trial is then sum_i w_i * shard_i
  written straight into the live parameters (float32 accumulation, chunked), followed only by
  what the platform does after loading: on CPU, vLLM repacks linears and embeddings for oneDNN
  (`quant_method.process_weights_after_loading` on a layer-sized temporary, copied back into the
  original storage as vLLM's own reload does; with `cpu_pack_linears` false the linears run on plain
  weights instead and are written in place); on CUDA with unquantized weights, nothing. No
  full-model tensor and, on CUDA, no weight-loader call per trial.
- `mmap`: the experts stay memory-mapped files (page cache, shared between replicas and ranks);
  a trial streams full HF tensors through `Worker.reload_weights` (each rank slices its shard).
  For the uniform-of-all baseline, where holding every candidate is not worth the memory.

Verification (`soup_apply`, `soup_verify`): a few fixed tensors this rank can read back from the
live model are checksummed and compared with the same tensors recomputed from the pool under
the requested weights, by the same arithmetic (`shard_mix`), so bf16 rounding cancels and the
comparison is exact. `soup_load_plain` swaps one checkpoint in through vLLM's own reload.

Pinned to vLLM 0.32.0. Internals used: `LAYERWISE_INFO[module].restore_metadata` (the load-time
parameter metadata that `reload_weights` restores from), `model.load_weights`,
`quant_method.process_weights_after_loading`, `Worker.reload_weights`. The extension's
`__init__` never runs (vLLM appends the class to the worker's bases): state is created lazily,
under `soup_` names. `collective_rpc` arguments are msgpack-serialised, so every call takes a
JSON string and returns a JSON-able dict; errors are returned as `{"error": ...}`, never raised,
so a bad request cannot take the engine down.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import MethodType
from typing import Any

import torch

STORAGES = ("device", "host", "mmap", "auto")
FINGERPRINT_KEY_PARTS = ("norm",)  # mmap / plain loads: replicated tensors never repacked by vLLM
FINGERPRINT_SAMPLE = 4096  # elements sampled per fingerprint tensor
FINGERPRINT_SMALL = 1 << 16  # tensors up to this size (norms) are all candidates ...
FINGERPRINT_BIG = 3  # ... plus this many of the larger readable ones (GPU: linear shards)
DIRECT_METHODS = ("UnquantizedLinearMethod", "UnquantizedEmbeddingMethod")


def canonical_weights_digest(pool: Sequence[str], weights: Sequence[float]) -> str:
    """sha256 of the pool and weight vector in one canonical JSON form (the client computes it too)."""
    payload = json.dumps(
        {"pool": [str(p) for p in pool], "weights": [float(w) for w in weights]},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def fingerprint_of(tensors: Sequence[torch.Tensor]) -> list[float]:
    """Two float64 sums over a strided sample of each tensor: plain and position-weighted (so a
    permutation shows too). Identical bits give identical numbers (same ops, same order)."""
    total, weighted = 0.0, 0.0
    for t in tensors:
        flat = t.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // FINGERPRINT_SAMPLE)].to(torch.float64)
        pos = torch.arange(sample.numel(), dtype=torch.float64, device=sample.device) % 97 + 1
        total += float(sample.sum().item())
        weighted += float((sample * pos).sum().item())
    return [total, weighted]


@dataclass
class _Slot:
    """One parameter in the model's loaded layout: where it lives and what it looks like."""

    key: str  # module.param name, e.g. model.layers.0.self_attn.qkv_proj.weight
    places: list[tuple[torch.nn.Module, str]]  # (module, param name); more than one when tied
    live: torch.nn.Parameter
    template: torch.Tensor  # meta (or live) tensor: shape, dtype, class and loader attributes


@dataclass
class _ModuleJob:
    module: torch.nn.Module
    name: str
    slots: list[tuple[_Slot, str]]  # (slot, param name in this module)
    direct: bool  # mix into the live parameters; else mix into temporaries and re-process


@dataclass
class _Pool:
    paths: list[str]
    storage: str
    checkpoints: list[Any] = field(default_factory=list)  # mmap storage
    shards: dict[str, list[torch.Tensor]] = field(default_factory=dict)  # slot key -> one per expert
    slots: list[_Slot] = field(default_factory=list)
    jobs: list[_ModuleJob] = field(default_factory=list)
    fingerprint_keys: list[str] = field(default_factory=list)
    n_tensors: int = 0
    resident_bytes: int = 0
    mixer: Any = None
    arena: torch.Tensor | None = None  # scratch for re-processed modules (CPU: linears, embeddings)


class SoupWorkerExtension:
    """`soup_load` once per pool, then `soup_apply` once per trial (see module docstring)."""

    # -- RPC methods (JSON string in, JSON-able dict out) ---------------------------------

    def soup_load(self, spec_json: str) -> dict[str, Any]:
        """Make a pool resident. spec: {"paths": [...], "storage": device|host|mmap|auto,
        "bucket_bytes": int (host streaming), "host_ranks": ranks sharing this host}."""
        return _guard(self, "soup_load", lambda: self._soup_load(json.loads(spec_json)))

    def soup_apply(self, weights_json: str) -> dict[str, Any]:
        """Write sum_i w_i * expert_i into the live model; return timing, digest and fingerprint."""
        return _guard(self, "soup_apply", lambda: self._soup_apply(json.loads(weights_json)))

    def soup_verify(self, weights_json: str) -> dict[str, Any]:
        """Fingerprint of the live model against the pool's soup under these weights (no swap)."""
        return _guard(self, "soup_verify", lambda: self._soup_verify(json.loads(weights_json)))

    def soup_load_plain(self, spec_json: str) -> dict[str, Any]:
        """Swap one checkpoint in through vLLM's own reload (no residency). spec: {"path": ...}."""
        return _guard(self, "soup_load_plain", lambda: self._soup_load_plain(json.loads(spec_json)))

    def soup_release(self, _: str = "") -> dict[str, Any]:
        """Drop the resident pool and give its memory back."""
        return _guard(self, "soup_release", lambda: {"rank": int(self.rank), "released": self._release()})

    def soup_memory(self, _: str = "") -> dict[str, Any]:
        """This rank's measured memory: anonymous RSS and, on CUDA, allocated device bytes."""
        return _guard(self, "soup_memory", lambda: {"rank": int(self.rank), **_memory(self.device)})

    # -- pool -------------------------------------------------------------------------------

    def _soup_load(self, spec: dict[str, Any]) -> dict[str, Any]:
        from soce_bo.soup.validate import validate_pool

        t0 = time.perf_counter()
        storage = str(spec.get("storage") or "mmap")
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {STORAGES}, got {storage!r}")
        self._release()
        before = _memory(self.device)
        checkpoints = validate_pool([str(p) for p in spec["paths"]])
        model = self.model_runner.get_model()
        slots = _layout_slots(model)
        shard_bytes = sum(math.prod(s.template.shape) * s.template.element_size() for s in slots)
        if storage == "auto":
            storage = self._auto_storage(shard_bytes, len(checkpoints), int(spec.get("host_ranks") or 1))
        pool = _Pool(paths=[str(ck.path) for ck in checkpoints], storage=storage)
        if storage == "mmap":
            pool.checkpoints = checkpoints
            pool.n_tensors = len(checkpoints[0].names())
            pool.fingerprint_keys = _mmap_fingerprint_names(model, checkpoints[0])
        else:
            self._check_linear_processing(model)
            if self.device.type == "cpu" and not spec.get("cpu_pack", True):
                _unpack_cpu_linears(model, slots)
            pool.slots = slots
            pool.jobs = _module_jobs(model, slots, self.device)
            store = self.device if storage == "device" else torch.device("cpu")
            pin = storage == "host" and self.device.type == "cuda"
            for ck in checkpoints:
                for key, tensor in _capture_expert(model, slots, ck, store, pin).items():
                    pool.shards.setdefault(key, []).append(tensor)
            pool.n_tensors = len(slots)
            pool.resident_bytes = sum(t.numel() * t.element_size() for ts in pool.shards.values() for t in ts)
            pool.fingerprint_keys = _shard_fingerprint_keys(pool)
            arena = _arena_bytes(pool.jobs)
            pool.arena = torch.empty(arena, dtype=torch.uint8, device=self.device) if arena else None
            from soce_bo.serve.shard_mix import StreamedMixer

            pool.mixer = StreamedMixer(self.device, int(spec.get("bucket_bytes") or 64 << 20))
        self.soup_pool_state = pool
        self.soup_digest = None
        if storage != "mmap" and any(getattr(j.module, "_soup_unpacked", False) for j in pool.jobs):
            self._apply_shards(pool, [1.0] + [0.0] * (len(pool.paths) - 1))  # unpacked linears start zeroed
        after = _memory(self.device)
        k = len(checkpoints)
        distinct = {tuple(self._expected_fingerprint([1.0 if j == i else 0.0 for j in range(k)])) for i in range(k)}
        from soce_bo.serve.shard_mix import mix_path

        return {
            "rank": int(self.rank),
            "pool": pool.paths,
            "storage": storage,
            "n_experts": k,
            "n_tensors": pool.n_tensors,
            "dtype": str(self.model_config.dtype).removeprefix("torch."),
            "shard_bytes_per_expert": shard_bytes,
            "resident_bytes": pool.resident_bytes,
            "measured": {key: after[key] - before[key] for key in after},
            "fingerprint_names": pool.fingerprint_keys,
            "fingerprint_distinct": len(distinct) == k,
            "mix_path": mix_path(self.device) if storage != "mmap" else "reload_weights",
            "seconds": time.perf_counter() - t0,
        }

    def _auto_storage(self, shard_bytes: int, k: int, host_ranks: int) -> str:
        from soce_bo.serve.memory_plan import choose_storage

        import psutil

        device_free = None
        if self.device.type == "cuda":
            device_free = int(torch.cuda.mem_get_info(self.device)[0])
        host_free = int(psutil.virtual_memory().available)
        return choose_storage(shard_bytes * k, device_free, host_free // max(1, host_ranks))

    def _check_linear_processing(self, model: torch.nn.Module) -> None:
        """Mixing in the loaded layout is only right when post-load processing is linear."""
        quant = getattr(self.model_config, "quantization", None)
        if quant is not None:
            raise ValueError(
                f"the engine runs a quantized model ({quant}): its post-load processing is not linear, "
                "so soups cannot be mixed in the loaded layout; use storage='mmap' or an unquantized checkpoint"
            )

    def _release(self) -> bool:
        had = getattr(self, "soup_pool_state", None) is not None
        self.soup_pool_state = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return had

    def _pool(self) -> _Pool:
        pool = getattr(self, "soup_pool_state", None)
        if pool is None:
            raise RuntimeError("no pool loaded: call soup_load first")
        return pool

    # -- trial -------------------------------------------------------------------------------

    def _soup_apply(self, weights: list[float]) -> dict[str, Any]:
        pool = self._pool()
        ws = _checked_weights(weights, len(pool.paths))
        t0 = time.perf_counter()
        if pool.storage == "mmap":
            count = self._apply_reload(pool, ws)
        else:
            self._apply_shards(pool, ws)
            count = len(pool.slots)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - t0
        self.soup_digest = canonical_weights_digest(pool.paths, ws)
        return {"rank": int(self.rank), "seconds": seconds, "n_tensors": count,
                "weights_sha256": self.soup_digest, **self._fingerprint_check(ws)}

    def _soup_verify(self, weights: list[float]) -> dict[str, Any]:
        pool = self._pool()
        return {"rank": int(self.rank), **self._fingerprint_check(_checked_weights(weights, len(pool.paths)))}

    def _apply_reload(self, pool: _Pool, weights: list[float]) -> int:
        from soce_bo.soup.mix import iter_soup

        counted = _Counter(iter_soup(pool.checkpoints, weights, dtype=torch.float32))
        self.reload_weights(weights_iterator=iter(counted), is_checkpoint_format=True)
        return counted.count

    def _apply_shards(self, pool: _Pool, weights: list[float]) -> None:
        """Direct modules in one streamed batch; modules needing re-processing one at a time."""
        batch: list[tuple[torch.Tensor, list[torch.Tensor]]] = []
        for job in pool.jobs:
            if job.direct:
                batch += [(slot.live.data, pool.shards[slot.key]) for slot, _ in job.slots]
                continue
            if batch:
                pool.mixer.mix(batch, weights)
                batch = []
            self._repack(job, pool, weights)
        if batch:
            pool.mixer.mix(batch, weights)

    def _repack(self, job: _ModuleJob, pool: _Pool, weights: list[float]) -> None:
        """Mix into layer-sized temporaries in the loaded layout, run the layer's own post-load
        processing on them, copy the result into the original storage (as vLLM's reload does)."""
        module = job.module
        saved = dict(module._parameters)  # with None entries (e.g. `bias` of a bias-free linear)
        kernel = {name: p for name, p in saved.items() if p is not None}
        temps = []
        try:
            offset = 0
            for slot, pname in job.slots:
                temp, offset = _arena_param(slot.template, module, pool, self.device, offset)
                module._parameters[pname] = temp
                temps.append((temp, pool.shards[slot.key]))
            pool.mixer.mix([(t.data, s) for t, s in temps], weights)
            module.quant_method.process_weights_after_loading(module)
            if hasattr(module, "update_param_tp_status"):
                module.update_param_tp_status()
            for name, live in kernel.items():
                new = module._parameters.get(name)
                if new is None or new.shape != live.shape:
                    raise RuntimeError(f"{job.name}.{name}: post-load processing changed its shape "
                                       f"({None if new is None else list(new.shape)} != {list(live.shape)})")
                if new is not live:
                    live.data.copy_(new.data)
        finally:
            module._parameters.clear()
            module._parameters.update(saved)

    # -- fingerprint ------------------------------------------------------------------------

    def _fingerprint_check(self, weights: list[float]) -> dict[str, Any]:
        live = self._live_fingerprint()
        expected = self._expected_fingerprint(weights)
        return {"checksum": live, "expected_checksum": expected, "fingerprint_match": live == expected}

    def _live_fingerprint(self) -> list[float]:
        pool = self._pool()
        params = dict(self.model_runner.get_model().named_parameters())
        if pool.storage == "mmap":
            return fingerprint_of([params[n] for n in pool.fingerprint_keys])
        by_key = {slot.key: slot.live for slot in pool.slots}
        return fingerprint_of([by_key[k] for k in pool.fingerprint_keys])

    def _expected_fingerprint(self, weights: list[float]) -> list[float]:
        from soce_bo.serve.shard_mix import mixed

        pool = self._pool()
        dtype = self.model_config.dtype
        out = []
        if pool.storage == "mmap":
            for name in pool.fingerprint_keys:
                srcs = [ck.get(name).to(self.device) for ck in pool.checkpoints]
                out.append(mixed(srcs, weights, dtype, self.device))
        else:
            live = {slot.key: slot.live for slot in pool.slots}
            for key in pool.fingerprint_keys:
                srcs = [s.to(self.device) for s in pool.shards[key]]
                out.append(mixed(srcs, weights, live[key].dtype, self.device))
        return fingerprint_of(out)

    # -- plain load -------------------------------------------------------------------------

    def _soup_load_plain(self, spec: dict[str, Any]) -> dict[str, Any]:
        from soce_bo.soup.validate import validate_pool

        t0 = time.perf_counter()
        (ck,) = validate_pool([str(spec["path"])])
        names = ck.names()
        counted = _Counter((name, ck.get(name)) for name in names)
        self.reload_weights(weights_iterator=iter(counted), is_checkpoint_format=True)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - t0
        model = self.model_runner.get_model()
        keys = _mmap_fingerprint_names(model, ck)
        params = dict(model.named_parameters())
        live = fingerprint_of([params[k] for k in keys])
        expected = fingerprint_of([ck.get(k).to(device=self.device, dtype=params[k].dtype) for k in keys])
        self.soup_digest = None
        return {"rank": int(self.rank), "path": str(ck.path), "n_tensors": counted.count,
                "expected_tensors": len(names), "seconds": seconds,
                "path_sha256": hashlib.sha256(str(ck.path).encode()).hexdigest(),
                "fingerprint_names": keys, "checksum": live, "expected_checksum": expected,
                "fingerprint_match": live == expected}


# -- the loaded layout ------------------------------------------------------------------------


def _layout_slots(model: torch.nn.Module) -> list[_Slot]:
    """Every parameter in the layout the weight loaders write (before post-load processing),
    from vLLM's load-time metadata; tied parameters become one slot with several places."""
    from vllm.model_executor.model_loader.reload.layerwise import get_layerwise_info

    slots: dict[int, _Slot] = {}
    for mod_name, module in model.named_modules():
        meta_params = get_layerwise_info(module).restore_metadata[0]
        for pname, live in module._parameters.items():
            if live is None:
                continue
            template = meta_params.get(pname, live)  # `bias` is never put on meta: its live form is the layout
            slot = slots.get(id(live))
            if slot is None:
                key = f"{mod_name}.{pname}" if mod_name else pname
                slots[id(live)] = _Slot(key, [(module, pname)], live, template)
            else:
                slot.places.append((module, pname))
    return list(slots.values())


def _module_jobs(model: torch.nn.Module, slots: Sequence[_Slot], device: torch.device) -> list[_ModuleJob]:
    """Per module holding pool parameters: write directly, or mix + re-run post-load processing."""
    from vllm.model_executor.layers.quantization.base_config import QuantizeMethodBase
    from vllm.platforms import current_platform

    names = {id(m): n for n, m in model.named_modules()}
    jobs: dict[int, _ModuleJob] = {}
    for slot in slots:
        for module, pname in slot.places:
            job = jobs.get(id(module))
            if job is None:
                method = getattr(module, "quant_method", None)
                needs = isinstance(method, QuantizeMethodBase) and (
                    type(method).__name__ not in DIRECT_METHODS or current_platform.is_cpu()
                    or current_platform.is_xpu()) and not getattr(module, "_soup_unpacked", False)
                job = jobs[id(module)] = _ModuleJob(module, names[id(module)], [], direct=not needs)
            job.slots.append((slot, pname))
            if job.direct and (tuple(slot.live.shape) != tuple(slot.template.shape)
                               or slot.live.dtype != slot.template.dtype):
                raise ValueError(f"{slot.key}: live parameter {list(slot.live.shape)} {slot.live.dtype} differs "
                                 f"from its loaded layout {list(slot.template.shape)} {slot.template.dtype}")
    return list(jobs.values())


def _arena_param(template: torch.Tensor, module: torch.nn.Module, pool: _Pool, device: torch.device,
                 offset: int) -> tuple[torch.nn.Parameter, int]:
    """A loaded-layout temporary carved from the pool's scratch arena (one module's worth, reused
    by every repacked module: the kernels' post-load processing copies, e.g. oneDNN packs its own
    buffer), so a trial allocates and page-faults nothing."""
    nbytes = math.prod(template.shape) * template.element_size()
    begin = -(-offset // 64) * 64
    if pool.arena is None or pool.arena.numel() < begin + nbytes:
        raise RuntimeError("scratch arena smaller than a module (sized at soup_load)")
    data = pool.arena[begin:begin + nbytes].view(template.dtype).view(tuple(template.shape))
    param = _fresh_param(template, module, device, data=data)
    return param, begin + nbytes


def _arena_bytes(jobs: Sequence[_ModuleJob]) -> int:
    """Bytes the largest re-processed module's temporaries take (64-byte aligned each)."""
    sizes = [sum(-(-math.prod(slot.template.shape) * slot.template.element_size() // 64) * 64
                 for slot, _ in job.slots) for job in jobs if not job.direct]
    return max(sizes, default=0)


def _unpack_cpu_linears(model: torch.nn.Module, slots: Sequence[_Slot]) -> None:
    """server.cpu_pack_linears=false: give CPU linear layers their weights back as plain tensors
    (torch's F.linear instead of vLLM's oneDNN-packed copy), so a trial writes them in place and
    nothing is repacked. vLLM's own switch for it (`_cpu_skip_gemm_dispatch`) keeps later reloads
    (mmap pools, plain loads) in this form. The weights are zero until the next mix."""
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod

    for slot in slots:
        module, pname = slot.places[0]
        if not isinstance(getattr(module, "quant_method", None), UnquantizedLinearMethod) or len(slot.places) > 1:
            continue
        if tuple(slot.live.shape) != tuple(slot.template.shape):
            slot.live = _fresh_param(slot.template, module, torch.device("cpu"))
            module._parameters[pname] = slot.live
        module._cpu_skip_gemm_dispatch = True
        module.cpu_linear = torch.nn.functional.linear
        module._soup_unpacked = True


def _fresh_param(template: torch.Tensor, module: torch.nn.Module, device: torch.device,
                 pin: bool = False, data: torch.Tensor | None = None) -> torch.nn.Parameter:
    """A real tensor shaped like `template` (zeros, or `data`), carrying its class and loader
    attributes (bound to `module` again, unwrapped from any layerwise-reload wrapper), like
    vLLM's materialize step."""
    from vllm.model_executor.model_loader.reload.sanitize import layer_ref_sentinel

    if data is None:
        data = torch.zeros(tuple(template.shape), dtype=template.dtype, device=device, pin_memory=pin)
    attrs = dict(template.__dict__)
    for key, value in attrs.items():
        if isinstance(value, MethodType) and value.__self__ is layer_ref_sentinel:
            attrs[key] = value.__func__.__get__(module)
    param = torch.nn.Parameter(data, requires_grad=False)
    if isinstance(template, torch.nn.Parameter):
        param.__class__ = template.__class__
    param.__dict__ = attrs
    loader = getattr(param, "weight_loader", None)
    if loader is not None:
        while getattr(loader, "__name__", "") == "online_process_loader":
            loader = loader.__wrapped__
        param.weight_loader = loader
    return param


class _WriteCounter(torch.utils._python_dispatch.TorchDispatchMode):
    """Elements a weight loader writes (copy_ and fill_, e.g. vocab padding)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten.copy_.default, torch.ops.aten.fill_.Scalar):
            self.written += args[0].numel()
        return func(*args, **(kwargs or {}))


def _capture_expert(model: torch.nn.Module, slots: Sequence[_Slot], checkpoint: Any,
                    store: torch.device, pin: bool) -> dict[str, torch.Tensor]:
    """Run the model's own load_weights on one expert into fresh loaded-layout tensors; the live
    parameters are put back untouched. Every tensor must be fully written by its loader."""
    from vllm.model_executor.model_loader.weight_utils import default_weight_loader

    fresh: dict[str, torch.nn.Parameter] = {}
    written: dict[str, int] = {}
    saved = [(module, pname, slot.live) for slot in slots for module, pname in slot.places]
    try:
        for slot in slots:
            module0 = slot.places[0][0]
            param = _fresh_param(slot.template, module0, store, pin=pin)
            param.weight_loader = _counting(getattr(param, "weight_loader", default_weight_loader), slot.key, written)
            fresh[slot.key] = param
            for module, pname in slot.places:
                module._parameters[pname] = param
        model.load_weights(((n, checkpoint.get(n)) for n in checkpoint.names()))
    finally:
        for module, pname, live in saved:
            module._parameters[pname] = live
    out = {}
    for key, param in fresh.items():
        need = getattr(param, "weight_loader_numel", param.numel())
        if written.get(key, 0) < need:
            raise ValueError(f"expert {checkpoint.path}: the model's weight loading wrote only "
                             f"{written.get(key, 0)} of {need} elements of {key}")
        out[key] = param.data
    return out


def _counting(loader: Any, key: str, written: dict[str, int]) -> Any:
    def counted(*args: Any, **kwargs: Any) -> Any:
        with _WriteCounter() as counter:
            result = loader(*args, **kwargs)
        param = args[0] if args else kwargs.get("param")
        cap = param.numel() if isinstance(param, torch.Tensor) else counter.written
        written[key] = written.get(key, 0) + min(counter.written, cap)
        return result

    return counted


def _shard_fingerprint_keys(pool: _Pool) -> list[str]:
    """Readable live tensors (same shape as the loaded layout): the small ones (norms) and a few
    of the larger ones (on GPU, linear shards; on CPU, vocab shards)."""
    readable = [s for s in pool.slots if s.live.numel() > 0 and tuple(s.live.shape) == tuple(s.template.shape)]
    small = [s.key for s in readable if s.live.numel() <= FINGERPRINT_SMALL]
    big = sorted((s for s in readable if s.live.numel() > FINGERPRINT_SMALL), key=lambda s: s.live.numel())
    return small + [s.key for s in big[:FINGERPRINT_BIG]]


def _mmap_fingerprint_names(model: torch.nn.Module, checkpoint: Any) -> list[str]:
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


# -- small helpers ----------------------------------------------------------------------------


class _Counter:
    """Counts the tensors an iterator yields (all of them must reach the loader)."""

    def __init__(self, source: Iterator[tuple[str, torch.Tensor]]) -> None:
        self._source = source
        self.count = 0

    def __iter__(self) -> Iterator[tuple[str, torch.Tensor]]:
        for item in self._source:
            self.count += 1
            yield item


def _checked_weights(weights: Sequence[float], n: int) -> list[float]:
    ws = [float(w) for w in weights]
    if len(ws) != n or not all(math.isfinite(w) for w in ws):
        raise ValueError(f"expected {n} finite weights, got {weights!r}")
    return ws


def _memory(device: torch.device) -> dict[str, int]:
    """Anonymous resident memory of this process (what resident CPU shards add) and CUDA bytes."""
    rss_anon = 0
    try:
        with open(f"/proc/{os.getpid()}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    rss_anon = int(line.split()[1]) * 1024
    except OSError:
        pass
    cuda = int(torch.cuda.memory_allocated(device)) if device.type == "cuda" else 0
    return {"rss_anon_bytes": rss_anon, "cuda_allocated_bytes": cuda}


def _guard(worker: Any, method: str, call: Any) -> dict[str, Any]:
    try:
        return call()
    except Exception as err:  # returned, not raised: see module docstring
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        return {"rank": int(getattr(worker, "rank", 0)), "error": f"{method} failed on the worker: {tb}"}
