"""Fixtures shared by the server tests: the zoo's expert pool and a no-orphan guard.

Every vLLM engine costs 15-40 s and ~1.5 GB, so test modules share one server per module
(module-scoped fixtures) and this guard fails the session if any engine process survives it.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from soce_bo.serve import process
from soce_bo.zoo.benchmark import ZooBenchmark


def vllm_processes(root: psutil.Process | None = None) -> list[psutil.Process]:
    """Descendants of this process that belong to a vLLM engine (server, core, worker)."""
    root = root or psutil.Process()
    found = []
    for proc in root.children(recursive=True):
        try:
            text = proc.name() + " " + " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        if "VLLM" in text or "vllm.entrypoints" in text:
            found.append(proc)
    return found


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="session", autouse=True)
def no_vllm_survivors():
    """After the whole session: no server registered as live, no engine process left."""
    yield
    live = process.live_servers()
    survivors = [p for p in vllm_processes() if _running(p)]
    process.stop_all()  # clean up before failing, so a failure does not leak engines either
    assert not live, f"servers still registered after the tests: {live}"
    assert not survivors, f"vLLM processes survived the tests: {[p.pid for p in survivors]}"


def zoo_experts(zoo_dir: Path) -> list[Path]:
    """The zoo's category experts in manifest order (the pool the SoCE search soups)."""
    from soce_bo.zoo.manifest import load_manifest

    paths = [c.path.resolve() for c in load_manifest(zoo_dir).experts.values()]
    assert len(paths) >= 2, f"the zoo at {zoo_dir} has fewer than 2 experts"
    return paths


@pytest.fixture(scope="session")
def pool_dirs(zoo_dir) -> list[Path]:
    return zoo_experts(Path(zoo_dir))


@pytest.fixture(scope="session")
def single_thread_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


@pytest.fixture(scope="session")
def cpu_config():
    """Factory: the shipped conf/server/cpu.yaml with overrides (what users run, not dataclass defaults)."""
    from omegaconf import OmegaConf

    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.server import REPO_ROOT

    def make(**overrides) -> ServerConfig:
        cfg = OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "conf" / "server" / "cpu.yaml"))
        cfg.update(overrides)
        return ServerConfig.from_mapping(cfg)

    return make


@pytest.fixture(scope="module")
def bench(zoo_dir) -> ZooBenchmark:
    """The zoo's benchmark, for the swap tests that score soups on its test split."""
    return ZooBenchmark(zoo_dir / "data")


@pytest.fixture(scope="module")
def items(bench):
    return bench.load("test")
