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


@pytest.mark.parametrize("name", NAMES)
def test_every_configured_strategy_fills_its_budget_on_the_simplex(name, tmp_path):
    """Built as the run builds it (soce_bo.search.configs), driven by the real scheduler."""
    from soce_bo.search import Ledger, run_search
    from soce_bo.search.configs import build_strategy, strategy_config
    from soce_bo.search.simplex import check_on_simplex
    from soce_bo.search.synthetic import three_category_soup

    experts = ["x", "y", "z"]
    cfg = strategy_config(name)
    small = {"budget": 5} if isinstance(cfg.budget, int) and cfg.budget > 1 else {}
    cheap = {"acqf": {"raw_samples": 64, "num_restarts": 2, "n_burnin": 50, "n_thinning": 4}} if "acqf" in cfg else {}
    strategy = build_strategy(name, experts, seed=0, **small, **cheap)
    run = run_search(strategy, [three_category_soup(experts)], Ledger(tmp_path / "ledger.jsonl"), progress=False)
    assert strategy.done() and len(run.records) == strategy.budget
    for record in run.records:
        check_on_simplex(record.weights, experts)
