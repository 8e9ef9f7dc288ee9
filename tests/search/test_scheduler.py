"""The async scheduler: free workers never wait for busy ones, no soup is evaluated twice,
failures are recorded, a dead evaluator stops the run."""

from __future__ import annotations

import threading
import time

import pytest

from soce_bo.errors import SoceError
from soce_bo.search.fixed import FixedPoints
from soce_bo.search.greedy import GreedySoup
from soce_bo.search.grid import GridSearch
from soce_bo.search.ledger import Ledger, read_ledger
from soce_bo.search.random_search import RandomSearch
from soce_bo.search.scheduler import run_search
from soce_bo.search.simplex import weights_key
from soce_bo.search.synthetic import three_category_soup
from soce_bo.search.uniform import UniformSoup

EXPERTS = ["a", "b", "c"]


class Replica:
    """One fake server replica: records (start, end) of each call; `slow` soups take longer."""

    def __init__(self, fn, delay: float = 0.02, slow: dict | None = None) -> None:
        self.fn, self.delay, self.slow = fn, delay, slow or {}
        self.spans: list[tuple[float, float, tuple]] = []
        self.busy = threading.Lock()

    def __call__(self, weights):
        assert self.busy.acquire(blocking=False), "one replica got two soups at once"
        try:
            start = time.perf_counter()
            time.sleep(self.slow.get(weights_key(weights), self.delay))
            self.spans.append((start, time.perf_counter(), weights_key(weights)))
            return self.fn(weights)
        finally:
            self.busy.release()


def test_a_free_worker_takes_the_next_soup_while_another_is_busy(tmp_path):
    fn = three_category_soup(EXPERTS)
    strategy = RandomSearch(EXPERTS, budget=8, seed=0)
    first = strategy._queue.points[0]
    slow = Replica(fn, slow={weights_key(first): 1.0})
    fast = Replica(fn)
    run = run_search(strategy, [slow, fast], Ledger(tmp_path / "l.jsonl"), progress=False)
    assert len(run.records) == 8 and run.evaluated == 8
    (slow_start, slow_end, _), = slow.spans  # replica 0 spent the whole run on the slow soup
    assert len(fast.spans) == 7
    assert all(slow_start < s and e < slow_end for s, e, _ in fast.spans)
    assert run.records[-1].weights == first  # completion order, and the slow one came last


def test_identical_soups_are_evaluated_once_across_strategies(tmp_path):
    fn = three_category_soup(EXPERTS)
    replicas = [Replica(fn), Replica(fn)]
    ledger = Ledger(tmp_path / "l.jsonl")
    runs = [run_search(s, replicas, ledger, progress=False) for s in (
        FixedPoints.vertices(EXPERTS), UniformSoup(EXPERTS), GridSearch(EXPERTS), GreedySoup(EXPERTS))]
    keys = [k for r in replicas for _, _, k in r.spans]
    assert len(keys) == len(set(keys))
    assert [r.reused for r in runs] == [0, 0, 1, 4]  # grid: uniform; greedy: 3 experts + uniform
    assert all(len(r.spans) > 5 for r in replicas)  # both replicas worked
    # a fresh ledger object (resume) serves the same results from the file
    again = run_search(GridSearch(EXPERTS, seed=5, name="grid2"), replicas, Ledger(ledger.path), progress=False)
    assert again.evaluated == 0 and again.reused == 37


class Twins:
    """Suggests the same soup twice in one batch, to check the in-flight de-duplication."""

    name, budget = "twins", 2

    def __init__(self):
        self.seen = []

    def suggest(self, n):
        if self.seen or n < 2:
            return []
        self.seen.append("asked")
        return [{"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5, "c": 0.0}]

    def observe(self, weights, result):
        self.seen.append(weights)

    def done(self):
        return len(self.seen) == 3


def test_a_twin_of_a_soup_in_flight_waits_for_its_result(tmp_path):
    replicas = [Replica(three_category_soup(EXPERTS), delay=0.2), Replica(three_category_soup(EXPERTS), delay=0.2)]
    run = run_search(Twins(), replicas, Ledger(tmp_path / "l.jsonl"), progress=False)
    assert sum(len(r.spans) for r in replicas) == 1
    assert [r.cached for r in run.records] == [False, True]
    assert run.records[0].result == run.records[1].result


def test_failed_evaluations_are_recorded_and_the_run_goes_on(tmp_path):
    fn = three_category_soup(EXPERTS)
    strategy = RandomSearch(EXPERTS, budget=6, seed=1)
    bad = weights_key(strategy._queue.points[2])

    def flaky(weights):
        if weights_key(weights) == bad:
            raise RuntimeError("CUDA out of memory")
        return fn(weights)

    run = run_search(strategy, [flaky], Ledger(tmp_path / "l.jsonl"), progress=False)
    failed = [r for r in read_ledger(tmp_path / "l.jsonl") if r.result.failed]
    assert len(run.records) == 6 and len(failed) == 1
    assert failed[0].result.error == "RuntimeError: CUDA out of memory"
    assert run.best() is not None and not run.best().result.failed


def test_a_dead_evaluator_stops_the_run_after_three_failures(tmp_path):
    def dead(weights):
        raise ConnectionError("server gone")

    with pytest.raises(SoceError, match="3 evaluations failed in a row.*server gone"):
        run_search(RandomSearch(EXPERTS, budget=10), [dead], Ledger(tmp_path / "l.jsonl"), progress=False)
    assert len(read_ledger(tmp_path / "l.jsonl")) == 3


def test_progress_shows_strategy_count_and_best(tmp_path, capsys):
    run = run_search(UniformSoup(EXPERTS), [three_category_soup(EXPERTS)], Ledger(tmp_path / "l.jsonl"), progress=True)
    out = capsys.readouterr().out
    assert "uniform" in out and "1/1" in out and f"best {run.records[0].result.objective:.4f}" in out


def test_a_plan_that_skips_free_soups_ends_with_a_complete_bar(tmp_path, capsys):
    fn = three_category_soup(EXPERTS)
    ledger = Ledger(tmp_path / "l.jsonl")
    free = run_search(UniformSoup(EXPERTS, name="uniform_all"), [fn], ledger, progress=False).records
    grid = GridSearch(EXPERTS)
    run = run_search(grid, [fn], ledger, progress=True, free=free)
    out = capsys.readouterr().out
    assert run.fresh < grid.budget and f"{run.fresh}/{run.fresh}" in out and f"/{grid.budget}" not in out


def test_an_error_still_writes_the_results_in_flight(tmp_path):
    from soce_bo.errors import ConfigError
    from soce_bo.search.bo import BayesOpt

    fn = three_category_soup(EXPERTS)
    replicas = [Replica(fn, delay=0.05), Replica(fn, delay=0.3)]
    strategy = BayesOpt(EXPERTS, budget=5, method="random_search", floors={"poetry": 0.5})
    with pytest.raises(ConfigError, match="poetry"):  # raised by observe of the first result
        run_search(strategy, replicas, Ledger(tmp_path / "l.jsonl"), progress=False)
    assert [r.trial for r in read_ledger(tmp_path / "l.jsonl")] == [0, 1]


class CountingPoints(FixedPoints):
    """A planned search that, like BO, wants to know which of its trials were free cache hits."""

    def __init__(self, points, name: str = "counting") -> None:
        super().__init__(points, name=name)
        self.hits: list[tuple] = []

    def observe_cache_hit(self, weights, result) -> None:
        self.hits.append(weights_key(weights))
        self.observe(weights, result)


def test_cache_hits_are_reported_as_such_also_when_replayed_from_the_ledger(tmp_path):
    fn = three_category_soup(EXPERTS)
    shared = {"a": 0.5, "b": 0.5, "c": 0.0}
    own = {"a": 0.2, "b": 0.3, "c": 0.5}
    ledger = Ledger(tmp_path / "l.jsonl")
    run_search(FixedPoints([shared], name="other"), [Replica(fn)], ledger, progress=False)
    first = CountingPoints([shared, own])
    run = run_search(first, [Replica(fn)], ledger, progress=False)
    assert run.fresh == 1 and first.hits == [weights_key(shared)]
    replayed = CountingPoints([shared, own])  # a resume: both trials come back from the ledger
    run_search(replayed, [Replica(fn)], Ledger(tmp_path / "l.jsonl"), progress=False)
    assert replayed.hits == [weights_key(shared)] and replayed.done()
