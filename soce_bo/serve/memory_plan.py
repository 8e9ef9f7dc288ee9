"""Memory plan of a soup server, per GPU (rank), from config.json and the safetensors headers alone.

Why: a config that cannot fit should fail before any server starts, with the numbers and the
setting to change -- not after 20 minutes of loading 70B weights, with a CUDA OOM. The driver
calls `plan_memory(...).check()` before starting servers and prints `.table()` on `dry_run=true`.

What one rank holds (bytes; TP = server.tensor_parallel_size):
- vLLM's own share: `gpu_memory_utilization` x device memory (vLLM fills it: its model shard,
  activations, KV cache). Inside it: the model shard (from the headers, sharded the way vLLM's
  loaders shard a Llama-family model), an activation estimate, a fixed CUDA/NCCL allowance, and
  what is left for the KV cache, which must hold at least one `max_model_len` sequence.
- on top, outside vLLM's knowledge: the K resident expert shards (expert_storage=device), or two
  streaming buckets per expert (host), or one layer of float32 temporaries (mmap), plus the mix's
  float32 scratch.
- host RAM (expert_storage=host): K shards per rank, pinned, for every rank on the node.
The activation and allowance figures are estimates (documented constants below); the shard
bytes are exact for the tensor shapes in the files.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soce_bo.errors import ConfigError

GiB = 2**30
GB = 10**9
CUDA_OVERHEAD_BYTES = int(2.0 * GiB)  # CUDA context, NCCL buffers, CUDA graphs (not in torch's count)
DEVICE_MARGIN_BYTES = int(1.0 * GiB)  # allocator fragmentation slack kept free on top of everything
HOST_RESERVE_FRACTION = 0.15  # RAM left to the OS, page cache and the driver process
MAX_NUM_BATCHED_TOKENS = 8192  # vLLM's profiling batch for the API server (see --max-num-batched-tokens)
MAX_NUM_SEQS = 256  # vLLM's default; logits of that many sequences are held at once
MIX_SCRATCH_BYTES = 4 * (1 << 26)  # shard_mix.GPU_CHUNK_ELEMENTS float32 accumulator (eager path)
DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2}
ST_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
            "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
FLOAT_CODES = ("F64", "F32", "F16", "BF16")
COLUMN_PARALLEL = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")
ROW_PARALLEL = ("o_proj", "down_proj")
VOCAB_PARALLEL = ("embed_tokens", "lm_head")


def choose_storage(experts_bytes: int, device_free: int | None, host_free: int | None,
                   device_margin: int = DEVICE_MARGIN_BYTES) -> str:
    """expert_storage=auto: on the device if the K shards fit in what is free there (with a
    margin), else pinned host memory if they fit in RAM, else memory-mapped files. On CPU
    (device_free None) the device is host memory, so it is host or mmap."""
    if device_free is not None and experts_bytes + device_margin <= device_free:
        return "device"
    if host_free is not None and experts_bytes <= (1 - HOST_RESERVE_FRACTION) * host_free:
        return "host"
    return "mmap"


@dataclass(frozen=True)
class ModelShape:
    """What the plan needs from config.json."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    dtype: str

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelShape:
        cfg = config.get("text_config", config)
        try:
            heads = int(cfg["num_attention_heads"])
            hidden = int(cfg["hidden_size"])
            return cls(layers=int(cfg["num_hidden_layers"]), hidden=hidden,
                       intermediate=int(cfg["intermediate_size"]), heads=heads,
                       kv_heads=int(cfg.get("num_key_value_heads") or heads),
                       head_dim=int(cfg.get("head_dim") or hidden // heads), vocab=int(cfg["vocab_size"]),
                       dtype=str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16"))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"config.json lacks a key the memory plan needs: {err}") from err


def read_tensor_shapes(model_dir: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """name -> (shape, safetensors dtype) from the index and the files' headers (no tensor data read)."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"memory plan: unreadable shard index {index}: {err}") from err
    elif (model_dir / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        raise ConfigError(f"memory plan: no model.safetensors or its index in {model_dir}")
    shapes: dict[str, tuple[tuple[int, ...], str]] = {}
    for name in files:
        path = model_dir / name
        try:
            with open(path, "rb") as fh:
                (length,) = struct.unpack("<Q", fh.read(8))
                header = json.loads(fh.read(length))
        except (OSError, ValueError, struct.error) as err:
            raise ConfigError(f"memory plan: cannot read the safetensors header of {path}: {err}") from err
        for tensor, entry in header.items():
            if tensor != "__metadata__":
                shapes[tensor] = (tuple(int(d) for d in entry["shape"]), str(entry["dtype"]))
    return shapes


def shard_elements(name: str, shape: tuple[int, ...], tp: int, shape_info: ModelShape) -> int:
    """Elements of one checkpoint tensor on one rank, as vLLM's Llama-family loaders shard it."""
    numel = math.prod(shape)
    if tp == 1 or not shape:
        return numel
    parts = name.split(".")
    module = parts[-2] if len(parts) >= 2 else ""
    if module in VOCAB_PARALLEL:
        padded = -(-shape[0] // 64) * 64
        return -(-padded // tp) * math.prod(shape[1:])
    if module in ("k_proj", "v_proj"):
        kv_per_rank = max(1, shape_info.kv_heads // tp)  # fewer KV heads than ranks: replicated
        return kv_per_rank * shape_info.head_dim * math.prod(shape[1:])
    if module in COLUMN_PARALLEL:
        return -(-shape[0] // tp) * math.prod(shape[1:])
    if module in ROW_PARALLEL and len(shape) == 2:
        return shape[0] * -(-shape[1] // tp)
    return numel  # norms and anything else: replicated


@dataclass
class MemoryPlan:
    """Bytes per rank; `rows` in table order. Build with `plan_memory`."""

    model: str
    storage: str  # as configured
    resolved_storage: str  # auto resolved by the plan
    n_experts: int
    tp: int
    replicas: int
    gpus_needed: int
    gpus_available: int | None
    device_bytes: int
    device_source: str
    host_bytes: int
    host_source: str
    model_shard_bytes: int
    expert_shard_bytes: int  # one expert, one rank
    vllm_budget_bytes: int
    activation_bytes: int
    overhead_bytes: int
    kv_cache_bytes: int
    kv_min_bytes: int
    extra_device_bytes: int  # outside vLLM: resident shards / staging / temporaries + scratch
    host_pinned_bytes: int  # per node
    setting: str  # how vLLM's share was set (for messages)
    rows: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def device_total_bytes(self) -> int:
        return self.vllm_budget_bytes + self.extra_device_bytes

    def problems(self) -> list[str]:
        """Everything that does not fit, each with the numbers and the setting to change."""
        out = []
        if self.gpus_available is not None and self.gpus_needed > self.gpus_available:
            out.append(f"{self.replicas} replica(s) x server.tensor_parallel_size={self.tp} need "
                       f"{self.gpus_needed} GPUs, {self.gpus_available} visible")
        if self.device_total_bytes + DEVICE_MARGIN_BYTES > self.device_bytes:
            out.append(
                f"per GPU: vLLM {_gb(self.vllm_budget_bytes)} ({self.setting}) + experts "
                f"{_gb(self.extra_device_bytes)} (server.expert_storage={self.resolved_storage}, "
                f"{self.n_experts} x {_gb(self.expert_shard_bytes)}) + margin {_gb(DEVICE_MARGIN_BYTES)} = "
                f"{_gb(self.device_total_bytes + DEVICE_MARGIN_BYTES)} > {_gb(self.device_bytes)} "
                f"({self.device_source}); set server.expert_storage=host (or auto), or lower "
                "server.gpu_memory_utilization"
            )
        if self.kv_cache_bytes < self.kv_min_bytes:
            out.append(
                f"per GPU: the KV cache gets {_gb(self.kv_cache_bytes)} = vLLM {_gb(self.vllm_budget_bytes)} "
                f"- model shard {_gb(self.model_shard_bytes)} - activations {_gb(self.activation_bytes)} - "
                f"CUDA {_gb(self.overhead_bytes)}, below one max_model_len sequence "
                f"({_gb(self.kv_min_bytes)}); raise server.gpu_memory_utilization or "
                "server.tensor_parallel_size, or lower server.max_model_len"
            )
        if self.host_pinned_bytes > (1 - HOST_RESERVE_FRACTION) * self.host_bytes:
            out.append(
                f"host: pinned expert shards {_gb(self.host_pinned_bytes)} (server.expert_storage=host, "
                f"{self.n_experts} experts x {self.tp * self.replicas} ranks) > "
                f"{1 - HOST_RESERVE_FRACTION:.0%} of {_gb(self.host_bytes)} ({self.host_source}); set "
                "server.expert_storage=mmap, or fewer experts"
            )
        return out

    def check(self) -> None:
        """Raise ConfigError (one line: numbers + setting to change) when the plan does not fit."""
        problems = self.problems()
        if problems:
            raise ConfigError(f"memory plan for {self.model} does not fit: " + "; ".join(problems))

    def table(self) -> str:
        """Printable table (also pasted into the README)."""
        width = max(len(r[0]) for r in self.rows)
        lines = [f"memory plan: {Path(self.model).name}, TP {self.tp} x {self.replicas} replica(s), "
                 f"{self.n_experts} experts, expert_storage={self.storage} -> {self.resolved_storage}"]
        lines += [f"  {label:<{width}}  {_gb(value):>10}  {note}" for label, value, note in self.rows]
        problems = self.problems()
        lines.append("  fits" if not problems else "  DOES NOT FIT: " + "; ".join(problems))
        return "\n".join(lines)


def _gb(value: int) -> str:
    return f"{value / GB:.1f} GB"


def plan_memory(server_cfg: Any, model_dir: str | Path, n_experts: int, replicas: int = 1,
                gpus_available: int | None = None) -> MemoryPlan:
    """The per-rank memory plan of `replicas` servers for `n_experts` resident experts of the
    model at `model_dir` (config.json + safetensors headers only).

    Device memory: the visible GPU's (torch), else `server.gpu_memory_gb`. Host RAM:
    `server.host_memory_gb`, else this machine's. `gpus_available` default: visible GPUs, or
    replicas x TP when none is visible (a laptop dry run checks the per-GPU numbers only).
    """
    model_dir = Path(model_dir).expanduser()
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"memory plan: cannot read {model_dir / 'config.json'}: {err}") from err
    shape = ModelShape.from_config(config)
    tensors = read_tensor_shapes(model_dir)
    tp = int(server_cfg.tensor_parallel_size)
    dtype = shape.dtype if server_cfg.dtype in ("auto", None) else str(server_cfg.dtype)
    elem = DTYPE_BYTES.get(dtype.removeprefix("torch."), 2)
    model_shard = sum(shard_elements(n, s, tp, shape) * (elem if d in FLOAT_CODES else ST_BYTES.get(d, elem))
                      for n, (s, d) in tensors.items())  # float tensors are loaded in the engine dtype

    device_bytes, device_source = _device_memory(server_cfg)
    host_bytes, host_source = _host_memory(server_cfg)
    visible = _visible_gpus(getattr(server_cfg, "cuda_devices", None)) if gpus_available is None else gpus_available
    gpus = visible if visible else None

    kv_heads_rank = max(1, shape.kv_heads // tp)
    kv_per_token = 2 * shape.layers * kv_heads_rank * shape.head_dim * elem
    kv_min = kv_per_token * int(server_cfg.max_model_len)
    tokens = _max_batched_tokens(server_cfg)
    qkv = (shape.heads * shape.head_dim + 2 * shape.kv_heads * shape.head_dim) // tp
    activations = int(1.2 * (tokens * elem * (4 * shape.hidden + qkv + 3 * shape.intermediate // tp)
                             + 2 * MAX_NUM_SEQS * shape.vocab * 4))
    overhead = CUDA_OVERHEAD_BYTES if server_cfg.device == "cuda" else 0
    if server_cfg.kv_cache_memory_bytes is not None:
        kv = int(server_cfg.kv_cache_memory_bytes)
        budget = model_shard + activations + overhead + kv
        setting = f"server.kv_cache_memory_bytes={kv}"
    else:
        util = float(server_cfg.gpu_memory_utilization or 0.9)
        budget = int(util * device_bytes)
        kv = budget - model_shard - activations - overhead
        setting = f"server.gpu_memory_utilization={util}"

    experts = n_experts * model_shard
    ranks_per_node = tp * replicas
    storage = str(server_cfg.expert_storage)
    resolved = storage
    if storage == "auto":
        free = device_bytes - budget - MIX_SCRATCH_BYTES if server_cfg.device == "cuda" else None
        resolved = choose_storage(experts, free, host_bytes // max(1, ranks_per_node))
    bucket = int(getattr(server_cfg, "host_bucket_mb", 64)) << 20
    layer_fp32 = 4 * max((shard_elements(n, s, tp, shape) for n, (s, _) in tensors.items()), default=0)
    if server_cfg.device != "cuda":
        extra, pinned = (experts if resolved != "mmap" else 0), 0
    elif resolved == "device":
        extra, pinned = experts + MIX_SCRATCH_BYTES, 0
    elif resolved == "host":
        extra, pinned = 2 * n_experts * bucket + 2 * bucket, experts * ranks_per_node
    else:
        extra, pinned = 2 * layer_fp32 * 8, 0  # a layer of full fp32 tensors, doubled by the reload
    plan = MemoryPlan(
        model=str(model_dir), storage=storage, resolved_storage=resolved, n_experts=n_experts, tp=tp,
        replicas=replicas, gpus_needed=tp * replicas if server_cfg.device == "cuda" else 0,
        gpus_available=gpus if server_cfg.device == "cuda" else None,
        device_bytes=device_bytes, device_source=device_source, host_bytes=host_bytes, host_source=host_source,
        model_shard_bytes=model_shard, expert_shard_bytes=model_shard, vllm_budget_bytes=budget,
        activation_bytes=activations, overhead_bytes=overhead, kv_cache_bytes=kv, kv_min_bytes=kv_min,
        extra_device_bytes=extra, host_pinned_bytes=pinned, setting=setting,
    )
    gpu = server_cfg.device == "cuda"
    where = {"device": "on the GPU", "host": "pinned host memory" if gpu else "in RAM",
             "mmap": "memory-mapped files"}[resolved]
    unit = "GPU" if gpu else "rank"
    plan.rows = [
        ("device memory", device_bytes, device_source),
        ("vLLM share", budget, setting),
        ("  model shard", model_shard, f"1/{tp} of the model in {dtype}" if tp > 1 else f"the model in {dtype}"),
        ("  activations (est.)", activations, f"{tokens} batched tokens, {MAX_NUM_SEQS} seqs of logits"),
        ("  CUDA/NCCL (est.)", overhead, "context, communication buffers, graphs"),
        ("  KV cache", kv, f"{kv // max(1, kv_per_token)} tokens (>= {server_cfg.max_model_len} needed)"),
        ("expert shards", experts, f"{n_experts} x {_gb(model_shard)}, {where}"),
        (f"outside vLLM per {unit}", extra, "resident shards + mix scratch" if resolved == "device" or not gpu
         else "streaming buckets" if resolved == "host" else "reload temporaries"),
        (f"total per {unit}", plan.device_total_bytes, f"of {_gb(device_bytes)}"),
        ("host pinned (node)", pinned, f"of {_gb(host_bytes)} ({host_source})"),
    ]
    return plan


def _max_batched_tokens(server_cfg: Any) -> int:
    args = list(getattr(server_cfg, "extra_args", []) or [])
    for i, arg in enumerate(args):
        if arg.startswith("--max-num-batched-tokens"):
            value = arg.split("=", 1)[1] if "=" in arg else (args[i + 1] if i + 1 < len(args) else "")
            try:
                return int(value)
            except ValueError:
                break
    return max(MAX_NUM_BATCHED_TOKENS, int(server_cfg.max_model_len))


def _device_memory(server_cfg: Any) -> tuple[int, str]:
    if server_cfg.device == "cuda":
        if getattr(server_cfg, "gpu_memory_gb", None):
            return int(float(server_cfg.gpu_memory_gb) * GB), f"server.gpu_memory_gb={server_cfg.gpu_memory_gb}"
        try:
            import torch

            if torch.cuda.is_available():
                total = int(torch.cuda.get_device_properties(0).total_memory)
                return total, f"visible GPU: {torch.cuda.get_device_name(0)}"
        except Exception:  # pragma: no cover - broken CUDA install
            pass
        raise ConfigError("memory plan: no GPU is visible; set server.gpu_memory_gb (e.g. 80 for an H100, "
                          "141 for an H200) to plan for one")
    return _host_memory(server_cfg)


def _host_memory(server_cfg: Any) -> tuple[int, str]:
    if getattr(server_cfg, "host_memory_gb", None):
        return int(float(server_cfg.host_memory_gb) * GB), f"server.host_memory_gb={server_cfg.host_memory_gb}"
    import psutil

    return int(psutil.virtual_memory().total), "this machine's RAM"


def _visible_gpus(cuda_devices: str | None) -> int | None:
    from soce_bo.serve.config import visible_gpus

    ids = visible_gpus(cuda_devices)
    return len(ids) or None
