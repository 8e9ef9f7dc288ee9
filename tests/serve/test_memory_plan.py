"""The memory plan: the shipped paper configs fit 8 x 80 GB and 8 x 141 GB GPUs; a config that
does not fit fails with the numbers and the setting to change. Header-only fake checkpoints
with the real architectures' shapes (tests/serve/fake_models.py); no GPU, no vLLM."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fake_models import write_fake_model
from soce_bo.errors import ConfigError
from soce_bo.serve.config import ServerConfig
from soce_bo.serve.memory_plan import choose_storage, plan_memory, shard_elements, ModelShape

CONF = Path(__file__).resolve().parents[2] / "conf"
# experiment -> (architecture of its candidates, number of candidates in conf/pool)
PAPER = {"bfcl_70b": ("llama3_70b", 4), "bfcl_8b": ("llama3_8b", 5), "mgsm_7b": ("llama2_7b", 4)}
NODE_RAM_GB = 1000  # an 8-GPU node (DGX H100 / H200: 2 TB)


@pytest.fixture(scope="module")
def fake_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fake_models")
    return {arch: write_fake_model(root / arch, arch) for arch, _ in PAPER.values()}


def server_config(experiment: str, **overrides) -> ServerConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("run", overrides=[f"+experiment={experiment}"])
    values = OmegaConf.to_container(cfg.server, resolve=True)
    values.update(overrides)
    return ServerConfig.from_mapping(values)


@pytest.mark.parametrize("gpu_gb", [80, 141], ids=["H100", "H200"])
@pytest.mark.parametrize("experiment", sorted(PAPER))
def test_shipped_paper_configs_fit(experiment, gpu_gb, fake_models):
    arch, n_candidates = PAPER[experiment]
    cfg = server_config(experiment, gpu_memory_gb=gpu_gb, host_memory_gb=NODE_RAM_GB)
    for k in range(1, n_candidates + 1):  # whatever the analysis selects, up to every candidate
        plan = plan_memory(cfg, fake_models[arch], n_experts=k, replicas=1, gpus_available=8)
        plan.check()
        assert plan.kv_cache_bytes >= plan.kv_min_bytes
    print("\n" + plan.table())


def test_70b_shard_is_an_eighth(fake_models):
    cfg = server_config("bfcl_70b", gpu_memory_gb=80, host_memory_gb=NODE_RAM_GB)
    plan8 = plan_memory(cfg, fake_models["llama3_70b"], n_experts=3, gpus_available=8)
    plan1 = plan_memory(ServerConfig.from_mapping({**OmegaConf.to_container(OmegaConf.load(CONF / "server" / "gpu.yaml")),
                                                  "gpu_memory_gb": 1000, "host_memory_gb": NODE_RAM_GB}),
                        fake_models["llama3_70b"], n_experts=3, gpus_available=8)
    assert 140e9 < plan1.model_shard_bytes < 142e9  # 70.6 B parameters in bf16
    assert plan8.model_shard_bytes == pytest.approx(plan1.model_shard_bytes / 8, rel=0.01)


def test_too_many_experts_on_the_device_names_numbers_and_setting(fake_models):
    cfg = server_config("bfcl_8b", gpu_memory_gb=80, host_memory_gb=NODE_RAM_GB, expert_storage="device")
    plan = plan_memory(cfg, fake_models["llama3_8b"], n_experts=5, gpus_available=1)
    with pytest.raises(ConfigError, match=r"server.expert_storage=host.*") as err:
        plan.check()
    message = str(err.value)
    assert "5 x 16.1 GB" in message and "> 80.0 GB" in message and "\n" not in message
    assert "DOES NOT FIT" in plan.table()


def test_kv_cache_too_small_and_too_few_gpus(fake_models):
    cfg = server_config("bfcl_70b", gpu_memory_gb=80, host_memory_gb=NODE_RAM_GB, gpu_memory_utilization=0.25)
    with pytest.raises(ConfigError, match="raise server.gpu_memory_utilization"):
        plan_memory(cfg, fake_models["llama3_70b"], n_experts=3, gpus_available=8).check()
    cfg = server_config("bfcl_70b", gpu_memory_gb=80, host_memory_gb=NODE_RAM_GB)
    with pytest.raises(ConfigError, match="need 16 GPUs, 8 visible"):
        plan_memory(cfg, fake_models["llama3_70b"], n_experts=3, replicas=2, gpus_available=8).check()


def test_no_gpu_visible_asks_for_gpu_memory_gb(fake_models):
    cfg = server_config("bfcl_8b", host_memory_gb=NODE_RAM_GB)
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible")
    except ImportError:
        pass
    with pytest.raises(ConfigError, match="server.gpu_memory_gb"):
        plan_memory(cfg, fake_models["llama3_8b"], n_experts=3)


def test_choose_storage():
    assert choose_storage(10, device_free=100, host_free=1000, device_margin=0) == "device"
    assert choose_storage(10 * 2**30, device_free=10 * 2**30, host_free=100 * 2**30) == "host"  # margin
    assert choose_storage(10, device_free=None, host_free=1000) == "host"  # CPU engine
    assert choose_storage(1000, device_free=10, host_free=1000) == "mmap"  # 15 % of RAM kept free


def test_shard_elements_follow_vllm_sharding():
    shape = ModelShape(layers=1, hidden=8192, intermediate=28672, heads=64, kv_heads=8, head_dim=128,
                       vocab=128256, dtype="bfloat16")
    assert shard_elements("model.layers.0.self_attn.q_proj.weight", (8192, 8192), 8, shape) == 1024 * 8192
    assert shard_elements("model.layers.0.self_attn.k_proj.weight", (1024, 8192), 16, shape) == 128 * 8192  # replicated head
    assert shard_elements("model.layers.0.mlp.down_proj.weight", (8192, 28672), 8, shape) == 8192 * 3584
    assert shard_elements("model.layers.0.input_layernorm.weight", (8192,), 8, shape) == 8192
    assert shard_elements("lm_head.weight", (128256, 8192), 8, shape) == 16032 * 8192
