"""conf/search/*.yaml: each composes under search.<name> and instantiates to a Strategy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from soce_bo.search.base import Strategy

CONF = Path(__file__).resolve().parents[2] / "conf" / "search"
NAMES = ["uniform", "grid", "greedy", "random", "cmaes", "bo"]
EXPECTED_BUDGET = {"uniform": 1, "grid": 37, "greedy": 5, "random": 20, "cmaes": 20, "bo": 20}


def test_every_strategy_has_a_config():
    assert sorted(p.stem for p in CONF.glob("*.yaml")) == sorted(NAMES)
    for name in NAMES:
        assert (CONF / f"{name}.yaml").read_text().splitlines()[0] == f"# @package search.{name}"


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("conf")
    shutil.copytree(CONF, root / "search")
    (root / "run.yaml").write_text("defaults:\n  - search: [" + ", ".join(NAMES) + "]\n  - _self_\n")
    with initialize_config_dir(config_dir=str(root), version_base="1.3"):
        return compose(config_name="run")


@pytest.mark.parametrize("name", NAMES)
def test_config_instantiates_with_the_runs_arguments(cfg, name):
    strategy = instantiate(cfg.search[name], experts=["x", "y", "z"], seed=0)
    assert isinstance(strategy, Strategy)
    assert strategy.name == name and strategy.budget == EXPECTED_BUDGET[name]
    assert strategy.suggest(1)
    override = instantiate(cfg.search[name], experts=["x", "y", "z"], seed=0, budget=5, name=f"{name}_b")
    assert override.name == f"{name}_b"
    assert override.budget == {"uniform": 1, "grid": 5, "greedy": 5}.get(name, 5)
