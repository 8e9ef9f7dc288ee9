"""Fair budgets: fresh evaluations only, free prior information for every strategy, no repeats."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from soce_bo.search.base import SupportsPrior, TrialResult
from soce_bo.search.bo import BayesOpt
from soce_bo.search.cmaes import CMAES
from soce_bo.search.fixed import FixedPoints
from soce_bo.search.greedy import GreedySoup
from soce_bo.search.grid import GridSearch
from soce_bo.search.ledger import Ledger, TrialRecord
from soce_bo.search.random_search import RandomSearch
from soce_bo.search.scheduler import SearchRun, run_search
from soce_bo.search.simplex import uniform, weights_key
from soce_bo.search.synthetic import three_category_soup
from soce_bo.search.uniform import UniformSoup

EXPERTS = ["a", "b", "c"]
LIGHT = {"raw_samples": 256, "num_restarts": 8, "n_burnin": 500, "n_thinning": 4}


class Sequence3:
    """A strategy that proposes a fixed list and is never done: only run_search's budget stops it."""

    name = "seq"

    def __init__(self, points, budget):
        self.points, self.budget, self.asked = list(points), budget, []

    def suggest(self, n):
        out, self.points = self.points[:n], self.points[n:]
        self.asked.append(n)
        return out

    def observe(self, weights, result):
        pass

    def done(self):
        return False


def free_information(ledger, fn):
    """What a run has before search: the candidates alone and the uniform soup."""
    experts = run_search(FixedPoints.vertices(EXPERTS), [fn], ledger, progress=False)
    uni = run_search(UniformSoup(EXPERTS, name="uniform_all"), [fn], ledger, progress=False)
    return experts.records + uni.records


def test_the_budget_counts_fresh_evaluations_and_cache_hits_are_free(tmp_path):
    fn = three_category_soup(EXPERTS)
    ledger = Ledger(tmp_path / "l.jsonl")
    free = free_information(ledger, fn)
    rng = np.random.default_rng(0)
    new = [dict(zip(EXPERTS, rng.dirichlet(np.ones(3)).tolist())) for _ in range(6)]
    strategy = Sequence3([free[0].weights, new[0], free[3].weights, new[1], new[2], new[3]], budget=3)
    run = run_search(strategy, [fn, fn], ledger, progress=False)
    assert (run.evaluated, run.reused, run.fresh) == (3, 2, 3)
    assert sorted(r.cached for r in run.records) == [False, False, False, True, True]
    assert max(strategy.asked) <= 2 and sum(strategy.asked) == 5  # never more than the budget left


def test_best_takes_the_free_incumbent_and_skips_soups_stopped_early():
    def record(i, objective, **kw):
        return TrialRecord("s", i, {"a": 1.0 - i / 10, "b": i / 10}, TrialResult(objective, 0.01, **kw), 0.0)

    free = (record(0, 0.6),)
    raced = record(1, 0.9, stopped_early=True, item_indices=(0, 1))
    run = SearchRun("s", [raced, record(2, 0.5)], "none", 2, 0, free=free)
    assert run.best() is free[0] and (run.fresh, run.total) == (2, 3)
    assert SearchRun("s", [raced, record(3, 0.7)], "none", 2, 0, free=free).best().trial == 3


def test_every_strategy_takes_the_free_points_and_never_proposes_them(tmp_path):
    fn = three_category_soup(EXPERTS)
    ledger = Ledger(tmp_path / "l.jsonl")
    free = free_information(ledger, fn)
    free_keys = {weights_key(r.weights) for r in free}
    incumbent = max(r.result.objective for r in free)
    strategies = [RandomSearch(EXPERTS, budget=6, seed=1), CMAES(EXPERTS, budget=8, seed=2, popsize=4),
                  GridSearch(EXPERTS, seed=0), GreedySoup(EXPERTS),
                  BayesOpt(EXPERTS, budget=3, seed=0, method="random_search")]
    for strategy in strategies:
        assert isinstance(strategy, SupportsPrior)
        run = run_search(strategy, [fn], ledger, progress=False, free=free)
        mine = [weights_key(r.weights) for r in run.records]
        assert not free_keys & set(mine), f"{strategy.name} proposed a free soup"
        assert len(mine) == len(set(mine)), f"{strategy.name} repeated a soup"
        assert run.best().result.objective >= incumbent
        assert run.total == len(free) + len(run.records)
    assert {r.strategy for r in ledger.records if r.cached} == set()  # nothing proposed twice anywhere
    greedy = next(s for s in strategies if s.name == "greedy")
    assert greedy.n_observed <= 2 * len(EXPERTS) - 1 - len(EXPERTS)  # vertices were free


def test_cmaes_tells_known_members_instead_of_proposing_them():
    cma_a = CMAES(EXPERTS, budget=12, seed=3, popsize=4)
    first = [dict(w) for w in cma_a._weights]
    cma_b = CMAES(EXPERTS, budget=12, seed=3, popsize=4)
    for w in first[:2]:
        cma_b.prior(w, TrialResult(0.5, 0.01))
    proposed = cma_b.suggest(4)
    assert [weights_key(w) for w in proposed] == [weights_key(w) for w in first[2:]]


@pytest.mark.slow  # ~10 s on an idle core, 44 s with the shared box loaded
def test_bo_never_proposes_a_soup_within_min_distance_of_a_known_one(tmp_path):
    """A large min_distance forces repeats of the GP's optimum; each is abandoned and replaced."""
    fn = three_category_soup(EXPERTS, landscape_seed=1)
    ledger = Ledger(tmp_path / "l.jsonl")
    free = free_information(ledger, fn)
    bo = BayesOpt(EXPERTS, budget=4, seed=0, acqf=LIGHT, min_distance=0.12)
    run = run_search(bo, [fn], ledger, progress=False, free=free)
    assert run.fresh == 4
    points = [np.array([r.weights.get(e, 0.0) for e in EXPERTS]) for r in [*free, *run.records]]
    gaps = [np.abs(p - q).max() for p, q in itertools.combinations(points, 2)]
    assert min(gaps) >= 0.12 - 1e-9
    abandoned = [t for t in bo._client._experiment.trials.values() if t.status.is_abandoned]
    assert bo.n_replaced >= len(abandoned) > 0  # the GP did re-propose known soups; none was evaluated


def test_bo_batch_suggestions_are_distinct_pending_trials():
    fn = three_category_soup(EXPERTS)
    bo = BayesOpt(EXPERTS, budget=8, seed=0, acqf=LIGHT)
    for w in [*({e: float(e == x) for e in EXPERTS} for x in EXPERTS), uniform(EXPERTS)]:
        bo.prior(w, fn(w))
    batch = bo.suggest(3)
    assert len({weights_key(w) for w in batch}) == 3 and bo._n_pending() == 3
    running = [t for t in bo._client._experiment.trials.values() if t.status.is_running]
    assert len(running) == 3


def test_two_replicas_run_bo_suggestions_concurrently_without_repeats(tmp_path):
    """Two replicas: both get a soup at once (a batch of 2), and replica 0 gets its next soup from BO while
    replica 1 is still busy with a pending trial -- checked with events, not timings, so load cannot flake it."""
    import threading

    from soce_bo.search.suite import Setting, SuiteProblem

    problem = SuiteProblem(Setting(3, 100, "interior", "weak"), seed=0)
    both_started = threading.Barrier(2, timeout=120)
    second_on_0 = threading.Event()
    calls = {0: 0, 1: 0}

    def replica(i):
        def evaluate(weights):
            calls[i] += 1
            if calls[i] == 1:
                both_started.wait()  # raises BrokenBarrierError if the other replica never got a soup
            if i == 0 and calls[0] == 2:
                second_on_0.set()
            if i == 1 and calls[1] == 1:
                assert second_on_0.wait(timeout=120), "replica 0 got no new soup while replica 1 was busy"
            return problem(weights)
        return evaluate

    ledger = Ledger(tmp_path / "l.jsonl")
    free = [r for run in (run_search(FixedPoints.vertices(problem.experts), [problem], ledger, progress=False),
                          run_search(UniformSoup(problem.experts), [problem], ledger, progress=False))
            for r in run.records]
    bo = BayesOpt(problem.experts, budget=4, seed=0, acqf=LIGHT)
    run = run_search(bo, [replica(0), replica(1)], ledger, progress=False, free=free, snapshots=False)
    keys = [weights_key(r.weights) for r in [*free, *run.records]]
    assert run.fresh == 4 and len(keys) == len(set(keys))
    assert not any(r.result.failed for r in run.records) and calls[0] >= 2 and calls[1] >= 1


def test_a_budgeted_grid_spends_its_whole_budget_when_a_planned_soup_is_free(tmp_path):
    """The experts' uniform soup is on the K = 2 grid; given free, the next grid point takes its place."""
    experts = ["a", "b"]
    fn = three_category_soup(experts)
    ledger = Ledger(tmp_path / "l.jsonl")
    free = run_search(UniformSoup(experts, name="uniform_experts"), [fn], ledger, progress=False).records
    grid = GridSearch(experts, budget=6, seed=0)
    plan = [weights_key(w) for w in grid._queue.points]
    assert weights_key(uniform(experts)) in plan[:6]  # the shuffle put the free soup inside the budget
    run = run_search(grid, [fn], ledger, progress=False, free=free)
    assert run.fresh == 6 and len({weights_key(r.weights) for r in run.records}) == 6
    assert weights_key(uniform(experts)) not in {weights_key(r.weights) for r in run.records}


def test_a_planned_soup_another_strategy_scored_is_free_and_replaced(tmp_path):
    experts = ["a", "b"]
    fn = three_category_soup(experts)
    ledger = Ledger(tmp_path / "l.jsonl")
    first = GridSearch(experts, budget=3, seed=0)
    run_search(first, [fn], ledger, progress=False)
    second = GridSearch(experts, budget=3, seed=0, name="grid2")  # same shuffle: three cache hits first
    run = run_search(second, [fn], ledger, progress=False)
    assert run.reused == 3 and run.fresh == 3
