"""Ax BO strategy: beats random search on a known landscape, free seeds, resume, floors."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from soce_bo.errors import ConfigError
from soce_bo.search.base import TrialResult
from soce_bo.search.bo import BayesOpt
from soce_bo.search.fixed import FixedPoints
from soce_bo.search.ledger import Ledger
from soce_bo.search.random_search import RandomSearch
from soce_bo.search.scheduler import run_search
from soce_bo.search.simplex import check_on_simplex
from soce_bo.search.synthetic import three_category_soup
from soce_bo.search.uniform import UniformSoup

EXPERTS = ["a", "b", "c"]
LIGHT = {"raw_samples": 256, "num_restarts": 8, "n_burnin": 500, "n_thinning": 4}


@pytest.mark.slow
def test_bo_beats_random_search_at_equal_budget():
    """Mean true regret of each method's pick over 4 landscapes, budget 12 (BO: 4 seeds + 8)."""
    bo_regret, random_regret = [], []
    for seed in range(4):
        fn = three_category_soup(EXPERTS, n_items=1000, noise_seed=seed, landscape_seed=seed)
        optimum = fn.optimum()
        bo = BayesOpt(EXPERTS, budget=12, seed=seed, acqf=LIGHT)
        while not bo.done():
            for w in bo.suggest(1):
                check_on_simplex(w, EXPERTS, tol=1e-9)
                bo.observe(w, fn(w))
        bo_regret.append(optimum - fn.true_value(bo.best().weights))
        rand = RandomSearch(EXPERTS, budget=12, seed=seed)
        observed = []
        while not rand.done():
            for w in rand.suggest(4):
                result = fn(w)
                rand.observe(w, result)
                observed.append((result.objective, w))
        random_regret.append(optimum - fn.true_value(max(observed, key=lambda x: x[0])[1]))
        if seed == 0:  # the surrogate the report draws as a ternary map
            mean_sem = bo.predict([{"a": 0.6, "b": 0.3, "c": 0.1}, {"a": 0.1, "b": 0.1, "c": 0.8}])
            assert all(math.isfinite(m) and s > 0 for m, s in mean_sem)
    print(f"regret BO {np.round(bo_regret, 4)} mean {np.mean(bo_regret):.4f}; "
          f"random {np.round(random_regret, 4)} mean {np.mean(random_regret):.4f}")
    assert np.mean(bo_regret) < 0.5 * np.mean(random_regret)
    assert sum(b < r for b, r in zip(bo_regret, random_regret, strict=True)) >= 3


def counting(fn):
    calls = []

    def evaluate(w):
        calls.append(w)
        return fn(w)
    return evaluate, calls


def test_the_runs_expert_and_uniform_trials_are_free_prior_information(tmp_path):
    """Given as `free`, the candidates alone and the uniform soup replace BO's seeds: they train the GP,
    cost none of the budget (3 fresh evaluations) and count in SearchRun.best()."""
    evaluate, calls = counting(three_category_soup(EXPERTS))
    ledger = Ledger(tmp_path / "ledger.jsonl")
    experts = run_search(FixedPoints.vertices(EXPERTS), [evaluate], ledger, progress=False)
    uniform = run_search(UniformSoup(EXPERTS), [evaluate], ledger, progress=False)
    assert len(calls) == 4
    bo = BayesOpt(EXPERTS, budget=3, method="random_search")
    free = experts.records + uniform.records
    run = run_search(bo, [evaluate, evaluate], ledger, progress=False, free=free)
    assert (run.reused, run.evaluated, len(calls)) == (0, 3, 7)
    assert (run.fresh, run.total, len(run.records)) == (3, 7, 3)
    assert bo.n_prior == 4 and bo.n_observed == 3 and bo.done()
    for r in run.records:
        check_on_simplex(r.weights, EXPERTS, tol=1e-9)
    assert bo._client._experiment.trials[0].arm.parameters == {"w0": 1.0, "w1": 0.0, "w2": 0.0}
    assert len(bo._client._experiment.trials) == 7
    assert run.best().result.objective == max(r.result.objective for r in [*free, *run.records])
    assert bo.best() is not None


def test_soups_another_strategy_evaluated_are_free_and_bo_still_spends_its_budget(tmp_path):
    """Not given as `free`, the experts alone are BO's first seeds: answered from the ledger (cache hits),
    learnt from, and BO goes on to 3 fresh evaluations; its snapshot and the ledger both keep the count."""
    evaluate, calls = counting(three_category_soup(EXPERTS))
    ledger = Ledger(tmp_path / "ledger.jsonl")
    run_search(FixedPoints.vertices(EXPERTS), [evaluate], ledger, progress=False)
    bo = BayesOpt(EXPERTS, budget=3, method="random_search")
    run = run_search(bo, [evaluate], ledger, progress=False)
    assert (run.reused, run.fresh, len(calls)) == (3, 3, 6)
    assert bo.n_cache_hits == 3 and bo.n_observed == 6 and bo.done()
    for resumed_from in ("snapshot", "ledger"):
        if resumed_from == "ledger":
            (tmp_path / "bo.state.json").unlink()
        again = BayesOpt(EXPERTS, budget=3, method="random_search")
        replay = run_search(again, [evaluate], Ledger(tmp_path / "ledger.jsonl"), progress=False)
        assert replay.resumed_from == resumed_from and replay.evaluated == 0 and len(calls) == 6
        assert again.n_cache_hits == 3 and again.done()


def test_resume_prefers_a_consistent_snapshot(tmp_path):
    fn = three_category_soup(EXPERTS)
    ledger_path = tmp_path / "ledger.jsonl"
    snap = tmp_path / "bo.state.json"
    first = run_search(BayesOpt(EXPERTS, budget=5, method="random_search"), [fn], Ledger(ledger_path), progress=False)
    assert first.resumed_from == "none" and snap.exists()
    shutil.copy(snap, tmp_path / "five.json")
    second = run_search(BayesOpt(EXPERTS, budget=6, method="random_search"), [fn], Ledger(ledger_path), progress=False)
    assert (second.resumed_from, second.evaluated) == ("snapshot", 1)
    # a kill between the ledger line and the snapshot: the snapshot lags one trial behind
    shutil.copy(tmp_path / "five.json", snap)
    bo = BayesOpt(EXPERTS, budget=7, method="random_search")
    third = run_search(bo, [fn], Ledger(ledger_path), progress=False)
    assert (third.resumed_from, third.evaluated, len(third.records)) == ("snapshot", 1, 7)
    assert len(bo._client._experiment.trials) == 7
    snap.write_text("{ torn")
    fourth = run_search(BayesOpt(EXPERTS, budget=8, method="random_search"), [fn], Ledger(ledger_path),
                        progress=False)
    assert (fourth.resumed_from, len(fourth.records)) == ("ledger", 8)
    other = run_search(BayesOpt(EXPERTS, budget=9, method="random_search", floors={"math": 0.1}), [fn],
                       Ledger(ledger_path), progress=False)
    assert other.resumed_from == "ledger"  # settings changed: the snapshot is not adopted


def test_floors_become_outcome_constraints():
    fn = three_category_soup(EXPERTS)
    bo = BayesOpt(EXPERTS, budget=5, method="random_search", floors={"math": 0.3})
    constraints = bo._client._experiment.optimization_config.outcome_constraints
    assert [str(c) for c in constraints] == ["OutcomeConstraint(cat_math >= 0.3)"]
    for w in bo.suggest(5):
        bo.observe(w, fn(w))
    data = bo._client._experiment.lookup_data().df
    assert set(data["metric_name"]) == {"objective", "cat_math"}
    wrong = BayesOpt(EXPERTS, budget=5, method="random_search", floors={"poetry": 0.3})
    with pytest.raises(ConfigError, match="'poetry'"):
        wrong.observe(wrong.suggest(1)[0], fn({"a": 1.0}))


def test_failed_trials_count_and_settings_are_checked():
    bo = BayesOpt(EXPERTS, budget=5, method="random_search")
    for w in bo.suggest(4):
        bo.observe(w, TrialResult.failure("oom"))
    assert bo.n_observed == 4 and not bo.done()
    with pytest.raises(ConfigError, match="budget"):
        BayesOpt(EXPERTS, budget=0)
    with pytest.raises(ConfigError, match="at least 2 experts"):
        BayesOpt(["a"], budget=5)
    with pytest.raises(ConfigError, match="acqf"):
        BayesOpt(EXPERTS, acqf={"restarts": 3})
    with pytest.raises(ConfigError, match="sobol_trials"):
        BayesOpt([f"e{i}" for i in range(8)], sobol_trials=2)


def test_restore_hands_out_running_trials_again(tmp_path):
    fn = three_category_soup(EXPERTS)
    bo = BayesOpt(EXPERTS, budget=7, method="random_search")
    completed = []
    for w in bo.suggest(4):  # the seeds
        completed.append((w, fn(w)))
        bo.observe(*completed[-1])
    running = bo.suggest(3)
    assert len(running) == 3
    completed.append((running[0], fn(running[0])))
    bo.snapshot(tmp_path / "s.json")  # killed with 3 trials RUNNING; one of them is in the ledger
    back = BayesOpt(EXPERTS, budget=7, method="random_search")
    assert back.restore(tmp_path / "s.json", completed)
    assert back.n_observed == 5
    again = back.suggest(5)
    assert again == running[1:]  # budget 7 = 5 observed + these 2, nothing new
    for w in again:
        back.observe(w, fn(w))
    assert back.done() and len(back._client._experiment.trials) == 7


def test_min_weight_keeps_every_expert_in_the_soup_and_still_learns_from_the_experts():
    """BO's own suggestions stay at w_i >= min_weight; the expert seeds (out of that box) still train the GP."""
    fn = three_category_soup(EXPERTS)
    bo = BayesOpt(EXPERTS, budget=7, seed=0, acqf=LIGHT, min_weight=0.1)
    suggested = []
    while not bo.done():
        for w in bo.suggest(1):
            check_on_simplex(w, EXPERTS, tol=1e-9)
            suggested.append(w)
            bo.observe(w, fn(w))
    seeds, generated = suggested[:4], suggested[4:]
    assert sorted(max(w.values()) for w in seeds[:3]) == [1.0, 1.0, 1.0]  # the experts alone, as before
    assert len(generated) == 3 and all(min(w.values()) >= 0.1 - 1e-6 for w in generated)
    assert len(bo._client._experiment.trials) == 7  # vertices attached although outside [0.1, 0.8]
    with pytest.raises(ConfigError, match=r"min_weight must be in \[0, 1/K\)"):
        BayesOpt(EXPERTS, min_weight=0.34)
    with pytest.raises(ConfigError, match="min_weight"):
        BayesOpt(EXPERTS, min_weight=-0.1)


def test_soups_outside_the_min_weight_box_are_observed_and_fitted(tmp_path):
    """A soup that breaks the sum constraint of the box (w0 + w1 > 1 - min_weight, e.g. from a ledger
    written with min_weight 0) is still attached; the next suggestion comes from the GP, inside the box."""
    fn = three_category_soup(EXPERTS)
    bo = BayesOpt(EXPERTS, budget=7, seed=0, acqf=LIGHT, min_weight=0.1)
    outside = [{"a": 0.5, "b": 0.45, "c": 0.05}, {"a": 0.02, "b": 0.49, "c": 0.49}]
    for w in [*bo.suggest(4), *outside]:
        bo.observe(w, fn(w))
    assert len(bo._client._experiment.trials) == 6
    (nxt,) = bo.suggest(1)
    assert min(nxt.values()) >= 0.1 - 1e-6
    assert bo._client._generation_strategy.adapter.training_in_design == [True] * 6  # all six fitted
    bo.snapshot(tmp_path / "bo.state.json")  # and such trials survive the JSON snapshot
    again = BayesOpt(EXPERTS, budget=7, seed=0, acqf=LIGHT, min_weight=0.1)
    observed = [again._to_weights(t.arm.parameters) for t in bo._client._experiment.trials.values()][:6]
    assert again.restore(tmp_path / "bo.state.json", [(w, fn(w)) for w in observed])
    assert again.n_observed == 6 and again.suggest(1) == [nxt]  # the pending GP suggestion is handed out again


@pytest.mark.parametrize("snapshot_at", ["current", "one trial behind the ledger"])
def test_a_bo_restored_from_its_snapshot_proposes_bit_identical_soups(tmp_path, snapshot_at):
    """Resume is exact, not approximate: Ax's JSON snapshot rounds its data to 10 decimals, and BO
    tells Ax its data already in that form. Without it the fifth soup after a resume moved by 0.4 in
    weight (a 5e-11 SEM difference amplified by refits). "One trial behind": killed between the
    ledger line and the snapshot, so the last trial is observed on top of the snapshot."""
    from soce_bo.search.simplex import uniform, vertex
    from soce_bo.search.synthetic import simplex_problem

    fn = simplex_problem(4, 0)
    priors = [(w, fn(w)) for w in [*(vertex(fn.experts, e) for e in fn.experts), uniform(fn.experts)]]

    def fresh() -> BayesOpt:
        bo = BayesOpt(fn.experts, budget=20, seed=0, acqf="swift", min_weight=0.0)
        for weights, result in priors:
            bo.prior(weights, result)
        return bo

    kill_at, steps = 3, 7
    snapshot_after = kill_at - 1 if snapshot_at == "current" else kill_at - 2
    runs = []
    for interrupted in (False, True):
        bo, seen = fresh(), []
        for step in range(steps):
            if interrupted and step == kill_at:
                bo = fresh()
                assert bo.restore(tmp_path / "bo.state.json", priors + seen)
            (weights,) = bo.suggest(1)
            seen.append((weights, fn(weights)))
            bo.observe(*seen[-1])
            if step == snapshot_after:
                bo.snapshot(tmp_path / "bo.state.json")
        runs.append([w for w, _ in seen])
    assert runs[0] == runs[1]  # every float of every weight, not just to 1e-9
    assert len({tuple(sorted(w.items())) for w in runs[0]}) == steps


def test_data_is_told_to_ax_as_its_snapshot_keeps_it():
    from soce_bo.search.bo import as_snapshot_keeps

    values = [0.3575, 0.021866398836987898, 1 / 3, 0.0, 1.0]
    kept = as_snapshot_keeps(values)
    assert as_snapshot_keeps(kept) == kept  # idempotent: a restored value is told again unchanged
    assert max(abs(a - b) for a, b in zip(values, kept, strict=True)) < 1e-10
    assert kept[1] != values[1]  # 10 decimals: the SEM's tail is gone, as it is after a snapshot
