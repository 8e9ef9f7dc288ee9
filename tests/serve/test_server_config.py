"""Server settings and command line: validated before any process starts (no vLLM needed)."""

from __future__ import annotations

import socket

import pytest
from omegaconf import OmegaConf

from soce_bo.errors import ConfigError
from soce_bo.serve.config import ServerConfig, is_loopback
from soce_bo.serve.process import free_port
from soce_bo.serve.server import REPO_ROOT, SoupServer

CONF = REPO_ROOT / "conf" / "server"


@pytest.mark.parametrize("name", ["cpu", "gpu"], ids=["cpu_yaml", "gpu_yaml"])
def test_shipped_configs_load(name):
    cfg = ServerConfig.from_mapping(OmegaConf.load(CONF / f"{name}.yaml"))
    assert cfg.host == "127.0.0.1" and not cfg.allow_remote
    if name == "cpu":
        assert cfg.dtype == "float32" and 128 * 2**20 <= cfg.kv_cache_memory_bytes <= 256 * 2**20
        assert cfg.max_model_len == 512
    else:
        assert cfg.dtype == "bfloat16" and cfg.expert_storage == "auto" and cfg.gpu_memory_utilization


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="kv_cache_bytes"):
        ServerConfig.from_mapping({"kv_cache_bytes": 1})


def test_remote_host_needs_allow_remote(caplog):
    with pytest.raises(ConfigError, match="allow_remote"):
        ServerConfig.from_mapping({"host": "0.0.0.0"})
    cfg = ServerConfig.from_mapping({"host": "0.0.0.0", "allow_remote": True})
    assert cfg.host == "0.0.0.0"
    assert "unauthenticated" in caplog.text


def test_cpu_needs_kv_cache_size():
    with pytest.raises(ConfigError, match="kv_cache_memory_bytes"):
        ServerConfig.from_mapping({"kv_cache_memory_bytes": None})


@pytest.mark.parametrize("host,expected", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                            ("0.0.0.0", False), ("10.1.2.3", False), ("example.org", False)])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_cpu_bind_one_core_per_replica():
    cfg = ServerConfig()
    assert cfg.cpu_bind_for(0, 1, 2) == "auto"
    assert [cfg.cpu_bind_for(i, 2, 2) for i in range(2)] == ["0", "1"]
    listed = ServerConfig.from_mapping({"cpu_bind": ["0-1", "2-3"]})
    assert listed.cpu_bind_for(1, 2, 4) == "2-3"
    with pytest.raises(ConfigError, match="replica 2"):
        listed.cpu_bind_for(2, 3, 4)


def test_command_and_environment(tmp_path):
    cfg = ServerConfig.from_mapping({"extra_args": ["--max-num-seqs", "8"], "env": {"FOO": "1"}})
    server = SoupServer(tmp_path, cfg, replica=1, replicas=2, log_dir=tmp_path)
    server.port = 12345
    cmd = server.command()
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    flags = dict(zip(cmd, cmd[1:]))
    assert flags["--host"] == "127.0.0.1" and flags["--port"] == "12345"
    assert flags["--worker-extension-cls"] == "soce_bo.serve.worker_ext.SoupWorkerExtension"
    assert flags["--generation-config"] == "vllm"  # no sampling defaults from generation_config.json
    assert flags["--load-format"] == "safetensors"
    assert flags["--kv-cache-memory-bytes"] == str(cfg.kv_cache_memory_bytes)
    assert "--trust-remote-code" not in cmd and cmd[-2:] == ["--max-num-seqs", "8"]
    env = server.environment()
    assert env["VLLM_SERVER_DEV_MODE"] == "1" and env["FOO"] == "1"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "1"  # replica 1 of 2 on its own core


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_integer_cpu_bind_from_command_line_is_a_core_string():
    from soce_bo.serve.config import ServerConfig

    cfg = ServerConfig.from_mapping({"cpu_bind": 1, "kv_cache_memory_bytes": 1 << 27})
    assert cfg.cpu_bind == "1"


def test_cpu_bind_one_core_per_rank_at_tp2():
    cfg = ServerConfig.from_mapping({"tensor_parallel_size": 2})
    assert cfg.cpu_bind_for(0, 1, 2) == "0|1"  # vLLM's own "auto" fails at TP 2 on a 2-core box
    assert [cfg.cpu_bind_for(i, 2, 4) for i in range(2)] == ["0|1", "2|3"]


def gpu_env(tmp_path, replica: int, replicas: int, **cfg) -> dict[str, str]:
    config = ServerConfig.from_mapping({"device": "cuda", "kv_cache_memory_bytes": None, **cfg})
    server = SoupServer(tmp_path, config, replica=replica, replicas=replicas, log_dir=tmp_path)
    server.port = 1
    return server.environment()


def test_gpu_replicas_get_their_own_devices(tmp_path, monkeypatch):
    """Environment only (no GPU needed): replica i gets GPUs [i*TP, (i+1)*TP) of the visible ones."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    envs = [gpu_env(tmp_path, i, 2, tensor_parallel_size=2) for i in range(2)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["4,5", "6,7"]
    assert "VLLM_CPU_OMP_THREADS_BIND" not in envs[0]
    tp1 = [gpu_env(tmp_path, i, 4, cuda_devices="0,1,2,3")["CUDA_VISIBLE_DEVICES"] for i in range(4)]
    assert tp1 == ["0", "1", "2", "3"]
    listed = ServerConfig.from_mapping({"device": "cuda", "kv_cache_memory_bytes": None, "cuda_devices": [2, 3]})
    assert listed.cuda_devices == "2,3" and listed.gpus_for(1, 2) == ["3"]


def test_more_replicas_than_gpus_is_refused_before_starting(tmp_path, monkeypatch):
    from soce_bo.errors import ConfigError
    from soce_bo.serve.server import start_servers

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    cfg = ServerConfig.from_mapping({"device": "cuda", "kv_cache_memory_bytes": None, "tensor_parallel_size": 2})
    with pytest.raises(ConfigError, match="2 replica.*need 4 GPUs, but 3 are visible"):
        start_servers(cfg, [tmp_path], n=2)
    with pytest.raises(ConfigError, match="need 4 GPUs"):
        gpu_env(tmp_path, 1, 2, tensor_parallel_size=2)


def test_expert_storage_is_validated():
    from soce_bo.errors import ConfigError

    with pytest.raises(ConfigError, match="expert_storage"):
        ServerConfig.from_mapping({"expert_storage": "gpu"})
