"""Run one strategy against a pool of evaluators (one per server replica), asynchronously.

A worker that frees up takes the strategy's next suggestion while the others keep running;
the only waits are those the strategy imposes (returning fewer suggestions). Every result is
appended to the ledger (fsync'd) before the strategy, the cache or the progress bar see it.
Identical soups (`weights_key`) are never evaluated twice in a run: results already in the
ledger (any strategy) are reused, and a suggestion identical to one in flight waits for it.
Resume = the same call on the same ledger: the strategy's past trials are replayed into the
fresh strategy (or, for BO, its Ax snapshot is adopted when it agrees with the ledger).
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
from soce_bo.search.base import Evaluator, Strategy, SupportsSnapshot, TrialResult, Weights
from soce_bo.search.ledger import Ledger, TrialRecord, now
from soce_bo.search.simplex import WeightsKey, weights_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchRun:
    """What `run_search` did: the strategy's trials (replayed + new) and how it resumed."""

    strategy: str
    records: list[TrialRecord]
    resumed_from: str  # "none", "ledger" or "snapshot"
    evaluated: int  # fresh evaluations in this call
    reused: int  # results taken from the cache in this call

    def best(self) -> TrialRecord | None:
        """Best observed (not model-predicted) trial; ties go to the earlier trial."""
        ok = [r for r in self.records if not r.result.failed and math.isfinite(r.result.objective)]
        return max(ok, key=lambda r: (r.result.objective, -r.trial)) if ok else None


def _evaluate(evaluator: Evaluator, weights: Weights) -> tuple[TrialResult, float]:
    """Call the evaluator; an exception becomes a failed result (the run goes on, and records it)."""
    t0 = time.perf_counter()
    try:
        result = evaluator(dict(weights))
    except Exception as err:  # noqa: BLE001 - any evaluator failure is recorded, not fatal
        log.warning("evaluation of %s failed: %s: %s", weights, type(err).__name__, err)
        result = TrialResult.failure(f"{type(err).__name__}: {err}", time.perf_counter() - t0)
    return result, time.perf_counter() - t0


def _resume(strategy: Strategy, past: list[TrialRecord], state: Path | None) -> str:
    if not past:
        return "none"
    completed = [(r.weights, r.result) for r in past]
    if state is not None and state.exists() and isinstance(strategy, SupportsSnapshot):
        if strategy.restore(state, completed):
            return "snapshot"
    for weights, result in completed:
        strategy.observe(weights, result)
    return "ledger"


def run_search(
    strategy: Strategy,
    evaluators: Sequence[Evaluator],
    ledger: Ledger,
    state_dir: str | Path | None = None,
    progress: bool = True,
    max_consecutive_failures: int = 3,
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
    """
    if not evaluators:
        raise SoceError(f"search {strategy.name}: no evaluators to run on")
    state = Path(state_dir or ledger.path.parent) / f"{strategy.name}.state.json"
    past = ledger.for_strategy(strategy.name)
    resumed_from = _resume(strategy, past, state if isinstance(strategy, SupportsSnapshot) else None)
    cache: dict[WeightsKey, TrialResult] = {
        weights_key(r.weights): r.result for r in ledger.records if not r.result.failed}
    records = list(past)
    counts = {"evaluated": 0, "reused": 0, "failed_in_row": 0}

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), disable=not progress)
    task = bar.add_task(strategy.name, total=strategy.budget, completed=len(records), best=_best_text(records))

    def finish(weights: Weights, result: TrialResult, wall: float, cached: bool) -> None:
        record = TrialRecord(strategy=strategy.name, trial=len(records), weights=dict(weights),
                             result=result, wall_seconds=0.0 if cached else wall, cached=cached,
                             timestamp=now())
        ledger.append(record)  # first: a kill after this line loses nothing
        records.append(record)
        if not result.failed:
            cache[weights_key(weights)] = result
        strategy.observe(dict(weights), result)
        if isinstance(strategy, SupportsSnapshot):
            strategy.snapshot(state)
        counts["reused" if cached else "evaluated"] += 1
        if not cached:
            counts["failed_in_row"] = counts["failed_in_row"] + 1 if result.failed else 0
        bar.update(task, completed=len(records), best=_best_text(records))
        if counts["failed_in_row"] >= max_consecutive_failures:
            raise SoceError(f"search {strategy.name}: {counts['failed_in_row']} evaluations failed in a "
                            f"row, last: {result.error}; completed trials are in {ledger.path}")

    free = list(range(len(evaluators)))
    inflight: dict[Future, tuple[WeightsKey, Weights, int]] = {}
    waiting: dict[WeightsKey, list[Weights]] = {}  # suggestions identical to one in flight

    def launch(pool: ThreadPoolExecutor) -> bool:
        """Hand suggestions to free workers (cache hits finish at once); True if any came."""
        suggestions = strategy.suggest(len(free))
        if len(suggestions) > len(free):
            raise RuntimeError(f"{strategy.name}.suggest({len(free)}) returned {len(suggestions)} soups")
        for weights in suggestions:
            key = weights_key(weights)
            if key in cache:
                finish(weights, cache[key], 0.0, cached=True)
            elif any(key == k for k, _, _ in inflight.values()):
                waiting.setdefault(key, []).append(weights)
            else:
                worker = free.pop(0)
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
                launched = bool(free) and not strategy.done() and launch(pool)
                if launched and free and not strategy.done():
                    continue  # cache hits or a short batch left workers free: ask again
                if not inflight:
                    if strategy.done():
                        break
                    if not launched:
                        raise RuntimeError(f"strategy {strategy.name} is not done but suggests nothing "
                                           "with no trial in flight")
                    continue
                done_set, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in sorted(done_set, key=lambda f: inflight[f][2]):  # deterministic order
                    key, weights, worker = inflight.pop(fut)
                    free.append(worker)
                    result, wall = fut.result()
                    finish(weights, result, wall, cached=False)
                    for twin in waiting.pop(key, []):
                        finish(twin, result, 0.0, cached=True)
                free.sort()
        except BaseException:
            salvage()
            raise
    return SearchRun(strategy=strategy.name, records=records, resumed_from=resumed_from,
                     evaluated=counts["evaluated"], reused=counts["reused"])


def _best_text(records: list[TrialRecord]) -> str:
    ok = [r.result.objective for r in records if not r.result.failed and math.isfinite(r.result.objective)]
    return f"{max(ok):.4f}" if ok else "-"
