"""Every conf/benchmark/*.yaml builds its benchmark with `instantiate` (keys = constructor arguments),
and the group composes into the evaluate CLI config. A new benchmark is found here by its config."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from soce_bo.evaluate.benchmark import Benchmark
from soce_bo.evaluate.subset import round_robin_subset

CONF = Path(__file__).resolve().parents[3] / "conf"
OWNED = sorted(p.stem for p in (CONF / "benchmark").glob("*.yaml"))


@pytest.fixture
def data_overrides(tmp_path) -> dict[str, dict]:
    (tmp_path / "mgsm_en.tsv").write_text("1+1?\t2\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps(
        {"id": "a", "category": "c", "prompt": "p", "answer": "x", "scorer": "exact"}) + "\n", encoding="utf-8")
    return {"bfcl": {"categories": ["simple_python"]}, "mgsm": {"data_dir": str(tmp_path)},
            "flores": {"data_dir": str(tmp_path)}, "longctx": {"data_dir": str(tmp_path)},
            "custom": {"path": str(tmp_path / "b.jsonl")}, "zoo": {"data_dir": str(tmp_path)}}


@pytest.mark.parametrize("name", OWNED)
def test_config_keys_are_constructor_arguments(name):
    cfg = OmegaConf.load(CONF / "benchmark" / f"{name}.yaml")
    params = inspect.signature(get_class(cfg._target_).__init__).parameters
    assert set(cfg) - {"_target_"} == set(params) - {"self"}


@pytest.mark.parametrize("name", OWNED)
def test_config_instantiates_a_benchmark(name, data_overrides):
    cfg = OmegaConf.merge(OmegaConf.load(CONF / "benchmark" / f"{name}.yaml"), data_overrides.get(name, {}))
    bench = instantiate(cfg)
    assert isinstance(bench, Benchmark) and bench.name == name and bench.categories()


def test_group_composes_into_evaluate_config(data_overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=["benchmark=bfcl", "limit=1",
                                                         "benchmark.categories=[irrelevance]"])
    bench = instantiate(cfg.benchmark)
    items = round_robin_subset(bench.load(cfg.split), cfg.limit)
    assert bench.categories() == ["irrelevance"] and len(items) == 1
