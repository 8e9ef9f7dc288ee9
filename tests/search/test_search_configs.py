"""conf/search/*.yaml: each composes under search.<name> and instantiates to a Strategy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from soce_bo.errors import ConfigError
from soce_bo.search.base import Strategy

CONF = Path(__file__).resolve().parents[2] / "conf" / "search"
NAMES = sorted(p.stem for p in CONF.glob("*.yaml"))  # a new strategy = one file + one config here
NULL_BUDGET = {"grid": 37, "greedy": 5}  # what `budget: null` means at K = 3 (the whole plan)


def test_every_strategy_config_names_its_package():
    assert NAMES
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
    configured = cfg.search[name].budget
    assert strategy.name == name
    assert strategy.budget == (configured if configured is not None else NULL_BUDGET[name])
    assert strategy.suggest(1)
    if configured == 1:  # a one-trial strategy refuses a budget it cannot use instead of ignoring it
        with pytest.raises(InstantiationException) as info:
            instantiate(cfg.search[name], experts=["x", "y", "z"], seed=0, budget=5)
        assert isinstance(info.value.__cause__, ConfigError) and "budget" in str(info.value.__cause__)
        return
    override = instantiate(cfg.search[name], experts=["x", "y", "z"], seed=0, budget=5, name=f"{name}_b")
    assert override.name == f"{name}_b"
    assert override.budget == 5
