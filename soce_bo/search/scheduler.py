"""Run one strategy against a pool of evaluators (one per server replica), asynchronously.

A worker that frees up takes the strategy's next suggestion while the others keep running;
the only waits are those the strategy imposes (returning fewer suggestions). Every result is
appended to the ledger (fsync'd) before the strategy, the cache or the progress bar see it.
Identical soups (`weights_key`) are never evaluated twice in a run: results already in the
ledger (any strategy) are reused, and a suggestion identical to one in flight waits for it.
Resume = the same call on the same ledger: the strategy's past trials are replayed into the
fresh strategy (or, for BO, its Ax snapshot is adopted when it agrees with the ledger).

Budgets count fresh evaluations only (soups not already in the ledger): a cache hit is free, a
failed evaluation is not. Free information (`free`: soups evaluated before the strategy starts,
in a run the candidates alone and the uniform soup) goes to strategies that take a prior
(`SupportsPrior`) and is part of `SearchRun.best()`, so every strategy returns a soup at least as
good as the free incumbent.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from soce_bo.errors import SoceError
from soce_bo.search.base import (Evaluator, Strategy, SupportsCacheHits, SupportsPrior, SupportsSnapshot, TrialResult,
                                 Weights)
from soce_bo.search.ledger import Ledger, TrialRecord, now
from soce_bo.search.simplex import WeightsKey, weights_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchRun:
    """What `run_search` did: the strategy's trials (replayed + new), its free information, how it resumed.

    `evaluated` / `reused` count this call only; `fresh` and `total` the whole strategy run.
    """

    strategy: str
    records: list[TrialRecord]
    resumed_from: str  # "none", "ledger" or "snapshot"
    evaluated: int  # fresh evaluations in this call
    reused: int  # results taken from the cache in this call
    free: tuple[TrialRecord, ...] = ()  # evaluated before the strategy started (prior information)

    @property
    def fresh(self) -> int:
        """Evaluations this strategy spent (resumed ones included): its records not served by the cache."""
        return sum(1 for r in self.records if not r.cached)

    @property
    def total(self) -> int:
        """Every result the strategy saw: free information + its own trials (cached ones included)."""
        return len(self.free) + len(self.records)

    def best(self) -> TrialRecord | None:
        """Best observed (not model-predicted) soup among the free information and the strategy's trials.

        Only complete results count: a soup racing stopped early is an estimate on a subset, known to be
        below the incumbent. Ties go to the earlier one (free information first).
        """
        ranked = [(r.result.objective, -i, r) for i, r in enumerate([*self.free, *self.records])
                  if r.result.complete and math.isfinite(r.result.objective)]
        return max(ranked, key=lambda t: t[:2])[2] if ranked else None


def _evaluate(evaluator: Evaluator, weights: Weights) -> tuple[TrialResult, float]:
    """Call the evaluator; an exception becomes a failed result (the run goes on, and records it)."""
    t0 = time.perf_counter()
    try:
        result = evaluator(dict(weights))
    except Exception as err:  # noqa: BLE001 - any evaluator failure is recorded, not fatal
        log.warning("evaluation of %s failed: %s: %s", weights, type(err).__name__, err)
        result = TrialResult.failure(f"{type(err).__name__}: {err}", time.perf_counter() - t0)
    return result, time.perf_counter() - t0


def _resume(strategy: Strategy, past: list[TrialRecord], free: Sequence[TrialRecord], state: Path | None) -> str:
    """Hand the free information to the strategy, then replay its past trials (or adopt its snapshot)."""
    priors = [(r.weights, r.result) for r in free] if isinstance(strategy, SupportsPrior) else []
    for weights, result in priors:
        strategy.prior(weights, result)
    if not past:
        return "none"
    completed = [(r.weights, r.result) for r in past]
    if state is not None and state.exists() and isinstance(strategy, SupportsSnapshot):
        if strategy.restore(state, priors + completed):
            return "snapshot"
    for record in past:
        _observe(strategy, record.weights, record.result, record.cached)
    return "ledger"


def _observe(strategy: Strategy, weights: Weights, result: TrialResult, cached: bool) -> None:
    """Tell the strategy a result; a cache hit through `observe_cache_hit` where it counts its trials."""
    if cached and isinstance(strategy, SupportsCacheHits):
        strategy.observe_cache_hit(dict(weights), result)
    else:
        strategy.observe(dict(weights), result)


def run_search(
    strategy: Strategy,
    evaluators: Sequence[Evaluator],
    ledger: Ledger,
    state_dir: str | Path | None = None,
    progress: bool = True,
    max_consecutive_failures: int = 3,
    free: Sequence[TrialRecord] = (),
    max_consecutive_cached: int = 1000,
    snapshots: bool = True,
) -> SearchRun:
    """Drive `strategy` until done, evaluating on `evaluators` in parallel threads.

    Args:
        strategy: a fresh strategy (its past trials are replayed from `ledger`).
        evaluators: one per server replica; each runs one soup at a time.
        ledger: shared by all strategies of the run (it is also the result cache).
        state_dir: where snapshot-capable strategies (BO) keep `<name>.state.json`
            (default: the ledger's folder).
        max_consecutive_failures: abort (SoceError) after this many failed evaluations in a
            row -- a dead server should stop the run, not burn the budget.
        free: soups evaluated before this strategy starts (in a run: the candidates alone and the
            uniform soup). Strategies with `prior` learn from them; they cost no budget and
            `SearchRun.best()` considers them.
        max_consecutive_cached: stop (with a warning) after this many cache hits in a row -- cache
            hits are free, so a strategy that only re-proposes known soups would never finish.
        snapshots: write the strategy's snapshot after every trial (resume); False only where no
            resume is wanted (the search benches, which throw the state away).
    """
    if not evaluators:
        raise SoceError(f"search {strategy.name}: no evaluators to run on")
    state = Path(state_dir or ledger.path.parent) / f"{strategy.name}.state.json"
    past = ledger.for_strategy(strategy.name)
    free = tuple(free)
    resumed_from = _resume(strategy, past, free, state if isinstance(strategy, SupportsSnapshot) else None)
    cache: dict[WeightsKey, TrialResult] = {
        weights_key(r.weights): r.result for r in ledger.records if not r.result.failed}
    records = list(past)
    counts = {"evaluated": 0, "reused": 0, "failed_in_row": 0, "cached_in_row": 0,
              "fresh": sum(1 for r in past if not r.cached)}
    budget = strategy.budget

    def fresh_room() -> int:
        """Suggestions the budget still allows: budget - fresh done - fresh in flight."""
        if budget is None:
            return len(evaluators)
        return budget - counts["fresh"] - len(inflight)

    def finished() -> bool:
        out_of_budget = budget is not None and counts["fresh"] >= budget
        return out_of_budget or strategy.done() or counts["cached_in_row"] >= max_consecutive_cached

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), disable=not progress)
    task = bar.add_task(strategy.name, total=budget, completed=counts["fresh"], best=_best_text([*free, *records]))

    def finish(weights: Weights, result: TrialResult, wall: float, cached: bool) -> None:
        record = TrialRecord(strategy=strategy.name, trial=len(records), weights=dict(weights),
                             result=result, wall_seconds=0.0 if cached else wall, cached=cached,
                             timestamp=now())
        ledger.append(record)  # first: a kill after this line loses nothing
        records.append(record)
        if not result.failed:
            cache[weights_key(weights)] = result
        _observe(strategy, weights, result, cached)
        if snapshots and isinstance(strategy, SupportsSnapshot):
            strategy.snapshot(state)
        counts["reused" if cached else "evaluated"] += 1
        counts["cached_in_row"] = counts["cached_in_row"] + 1 if cached else 0
        if not cached:
            counts["fresh"] += 1
            counts["failed_in_row"] = counts["failed_in_row"] + 1 if result.failed else 0
        bar.update(task, completed=counts["fresh"], best=_best_text([*free, *records]))
        if counts["failed_in_row"] >= max_consecutive_failures:
            raise SoceError(f"search {strategy.name}: {counts['failed_in_row']} evaluations failed in a "
                            f"row, last: {result.error}; completed trials are in {ledger.path}")

    idle = list(range(len(evaluators)))
    inflight: dict[Future, tuple[WeightsKey, Weights, int]] = {}
    waiting: dict[WeightsKey, list[Weights]] = {}  # suggestions identical to one in flight

    def launch(pool: ThreadPoolExecutor) -> bool:
        """Hand suggestions to free workers (cache hits finish at once); True if any came."""
        n = min(len(idle), fresh_room())
        suggestions = strategy.suggest(n) if n > 0 else []
        if len(suggestions) > n:
            raise RuntimeError(f"{strategy.name}.suggest({n}) returned {len(suggestions)} soups")
        if suggestions and snapshots and isinstance(strategy, SupportsSnapshot):
            # Also after suggesting: Ax's draw may have abandoned repeats, which steer its next draw and
            # are in no ledger. Without this, a kill after a trial's ledger line but before the first
            # snapshot replayed the trial without them, and the next suggestion differed.
            strategy.snapshot(state)
        for weights in suggestions:
            key = weights_key(weights)
            if key in cache:
                finish(weights, cache[key], 0.0, cached=True)
            elif any(key == k for k, _, _ in inflight.values()):
                waiting.setdefault(key, []).append(weights)
            else:
                worker = idle.pop(0)
                inflight[pool.submit(_evaluate, evaluators[worker], weights)] = (key, weights, worker)
        return bool(suggestions)

    def salvage() -> None:
        """On an error, still write results that finish in flight (resume replays them)."""
        for fut, (_, weights, _) in list(inflight.items()):
            result, wall = fut.result()
            record = TrialRecord(strategy=strategy.name, trial=len(records), weights=dict(weights),
                                 result=result, wall_seconds=wall, timestamp=now())
            ledger.append(record)
            records.append(record)

    with bar, ThreadPoolExecutor(max_workers=len(evaluators), thread_name_prefix="eval") as pool:
        try:
            while True:
                launched = bool(idle) and not finished() and fresh_room() > 0 and launch(pool)
                if launched and idle and not finished() and fresh_room() > 0:
                    continue  # cache hits or a short batch left workers free: ask again
                if not inflight:
                    if finished():
                        if budget is not None and counts["fresh"] < budget:
                            bar.update(task, total=counts["fresh"])  # a plan that skipped free soups: complete
                        if counts["cached_in_row"] >= max_consecutive_cached:
                            log.warning("%s: %d cache hits in a row; stopping", strategy.name,
                                        counts["cached_in_row"])
                        break
                    if not launched:
                        raise RuntimeError(f"strategy {strategy.name} is not done but suggests nothing "
                                           "with no trial in flight")
                    continue
                done_set, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in sorted(done_set, key=lambda f: inflight[f][2]):  # deterministic order
                    key, weights, worker = inflight.pop(fut)
                    idle.append(worker)
                    result, wall = fut.result()
                    finish(weights, result, wall, cached=False)
                    for twin in waiting.pop(key, []):
                        finish(twin, result, 0.0, cached=True)
                idle.sort()
        except BaseException:
            salvage()
            raise
    return SearchRun(strategy=strategy.name, records=records, resumed_from=resumed_from,
                     evaluated=counts["evaluated"], reused=counts["reused"], free=free)


def _best_text(records: Sequence[TrialRecord]) -> str:
    ok = [r.result.objective for r in records if r.result.complete and math.isfinite(r.result.objective)]
    return f"{max(ok):.4f}" if ok else "-"
