"""The recipe's decisions that must not depend on where a score came from, and its resume rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from soce_bo.analysis import analyze
from soce_bo.errors import ConfigError
from soce_bo.recipe.soce import SoceRecipe, check_config, measured_table, selected_strategies
from soce_bo.search import SearchRun, TrialResult
from soce_bo.search.ledger import TrialRecord
from soce_bo.values import CategoryScore

CONF = Path(__file__).resolve().parents[2] / "conf"


class _Bench:
    name = "toy"

    def categories(self) -> list[str]:
        return ["tool", "math", "translate", "retrieve"]


SCORES = {  # candidate -> category -> accuracy; every candidate wins one category
    "a": {"tool": 0.9, "math": 0.2, "translate": 0.5, "retrieve": 0.3},
    "b": {"tool": 0.3, "math": 0.8, "translate": 0.4, "retrieve": 0.5},
    "c": {"tool": 0.4, "math": 0.3, "translate": 0.9, "retrieve": 0.2},
    "d": {"tool": 0.2, "math": 0.5, "translate": 0.3, "retrieve": 0.95},
}


def _run(model_order: list[str], category_order: list[str]) -> SearchRun:
    records = []
    for i, m in enumerate(model_order):
        cats = {c: CategoryScore(SCORES[m][c], 32, 0.05) for c in category_order}
        records.append(TrialRecord("expert", i, {n: float(n == m) for n in SCORES}, TrialResult(0.5, 0.05, cats), 1.0))
    return SearchRun("expert", records, "none", len(records), 0)


def test_expert_order_is_the_same_for_fresh_and_replayed_scores():
    """Fresh scores come in the benchmark's category order, replayed ones sorted (JSON keys), and the
    records of several replicas in completion order: the table and the experts must not care."""
    names = list(SCORES)
    fresh = measured_table(_run(names, _Bench().categories()), names, _Bench(), "fresh")
    replayed = measured_table(_run(["d", "b", "a", "c"], sorted(_Bench().categories())), names, _Bench(), "ledger")
    assert fresh.models == replayed.models == tuple(names)
    assert fresh.categories == replayed.categories == tuple(_Bench().categories())
    assert (fresh.scores == replayed.scores).all()
    assert analyze(fresh, tau=0.9).expert_names == analyze(replayed, tau=0.9).expert_names == ["a", "b", "c", "d"]


def _cfg(tmp_path: Path, zoo_dir: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("run", overrides=["+experiment=demo", f"run_dir={tmp_path / 'run'}",
                                         f"pool.zoo_dir={zoo_dir}", f"benchmark.data_dir={zoo_dir}/data",
                                         *overrides])


def test_search_list_runs_exactly_the_named_strategies(tmp_path: Path, zoo_dir: Path):
    cfg = _cfg(tmp_path, zoo_dir, "search=[bo]")
    assert set(cfg.search) == {"bo", "random", "cmaes"}  # demo.yaml's budgets for random/cmaes stay ...
    assert list(selected_strategies(cfg)) == ["bo"]     # ... but only bo runs
    check_config(cfg)  # and the leftovers are no error
    with pytest.raises(ConfigError, match="no search strategy selected"):
        check_config(_cfg(tmp_path, zoo_dir, "search=[]"))


def test_resume_refuses_scores_of_another_experiment_and_new_keeps_them(tmp_path: Path, zoo_dir: Path):
    first = SoceRecipe(_cfg(tmp_path, zoo_dir, "limit=24"))
    first.setup()  # opens both ledgers with their identity headers; no server is started
    ledger = tmp_path / "run" / "ledger.jsonl"
    header = json.loads(ledger.read_text().splitlines()[0])["header"]
    assert header["limit"] == 24 and header["items"]["n"] == 24
    assert set(header["pool"]) == {"tool_expert", "math_expert", "translate_expert", "retrieve_expert", "generalist"}
    assert all(len(p["content"]) == 64 for p in header["pool"].values())

    SoceRecipe(_cfg(tmp_path, zoo_dir, "limit=24")).setup()  # same experiment: resumes quietly
    for changed, keys in ((["limit=8"], ["items.n", "limit"]), (["objective=overall"], ["objective"]),
                          (["server.dtype=bfloat16"], ["server.dtype"]), (["server.max_model_len=256"],
                                                                           ["server.max_model_len"])):
        with pytest.raises(ConfigError) as err:
            SoceRecipe(_cfg(tmp_path, zoo_dir, "limit=24", *changed)).setup()
        assert all(k in str(err.value) for k in keys) and "resume=new" in str(err.value)
    assert json.loads(ledger.read_text().splitlines()[0])["header"] == header  # untouched

    SoceRecipe(_cfg(tmp_path, zoo_dir, "limit=8", "resume=new")).setup()
    previous = list((tmp_path / "run").glob("previous-*/ledger.jsonl"))
    assert len(previous) == 1 and json.loads(previous[0].read_text().splitlines()[0])["header"] == header
    assert json.loads(ledger.read_text().splitlines()[0])["header"]["limit"] == 8


def test_a_changed_checkpoint_is_a_changed_experiment(tmp_path: Path, zoo_dir: Path):
    """Same paths, other weights (e.g. a candidate re-downloaded or retrained in place)."""
    import shutil

    zoo = tmp_path / "zoo"
    shutil.copytree(zoo_dir, zoo)
    SoceRecipe(_cfg(tmp_path, zoo, "limit=8")).setup()
    weights = zoo / "experts" / "math_expert" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    first_value = 8 + int.from_bytes(data[:8], "little")  # the first float after the safetensors header
    data[first_value:first_value + 4] = bytes(4)
    weights.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="pool.math_expert.content"):
        SoceRecipe(_cfg(tmp_path, zoo, "limit=8")).setup()
