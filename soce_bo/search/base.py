"""The one small interface every search strategy implements, and what an evaluation returns.

A strategy proposes soups (weights keyed by expert name, on the simplex) and learns from their
scores; it never evaluates anything itself. The scheduler (`search.scheduler.run_search`) owns
the evaluators, the cache and the ledger, so a strategy is pure bookkeeping and easy to test.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from soce_bo.values import CategoryScore, TrialResult, Weights

__all__ = ["CategoryScore", "Evaluator", "Strategy", "SupportsCacheHits", "SupportsPrior", "SupportsSnapshot",
           "TrialResult", "Weights"]


class Evaluator(Protocol):
    """Scores one soup: mix the weights, swap them into the server, run the dev split."""

    def __call__(self, weights: Weights) -> TrialResult: ...


@runtime_checkable
class Strategy(Protocol):
    """Ask/tell search over soup weights.

    `suggest(n)` returns at most n new weight dicts (fewer while a sequential strategy waits for
    results, [] once finished), never a soup it has already suggested or been given as prior
    information (`weights_key` identity); `observe` is called exactly once per suggestion, in
    completion order, and also to replay trials from a ledger on resume -- so it must accept
    weights it did not suggest in this process.

    `budget` = fresh evaluations the strategy may spend: soups not already in the run's ledger
    (cache hits are free). `run_search` enforces it -- it never asks for more suggestions than
    budget - fresh done - fresh in flight. For ask/tell by hand, `done()` is also true after
    `budget` trials of the strategy's own (prior soups excluded; strategies whose plan sets their
    size -- grid, greedy, uniform, random -- when the plan is done). Since no strategy proposes a
    soup it already has, the two counts differ only when another strategy evaluated the very
    same weights (`SupportsCacheHits` lets a strategy tell those apart). `None` = no limit but
    the plan's.
    """

    name: str
    budget: int | None

    def suggest(self, n: int) -> list[Weights]: ...

    def observe(self, weights: Weights, result: TrialResult) -> None: ...

    def done(self) -> bool: ...


@runtime_checkable
class SupportsPrior(Protocol):
    """Optional: strategies that learn from soups evaluated before they start (free information).

    In a run these are the candidates alone (simplex vertices) and the uniform soup, already in
    the ledger: `run_search(..., free=...)` hands each to `prior` before the strategy's own
    trials are replayed or suggested. A prior soup is never suggested again and costs no budget;
    BO fits its surrogate to them (they replace its own seeds), CMA-ES and random only skip them.
    """

    def prior(self, weights: Weights, result: TrialResult) -> None: ...


@runtime_checkable
class SupportsCacheHits(Protocol):
    """Optional: strategies whose `done()` counts their own trials (BO) learn which were free.

    A suggestion another strategy already evaluated is answered from the ledger and costs no
    budget; `run_search` reports it here instead of through `observe`, so such a strategy keeps
    suggesting until it has spent its budget of fresh evaluations (also after a resume).
    """

    def observe_cache_hit(self, weights: Weights, result: TrialResult) -> None: ...


@runtime_checkable
class SupportsPredict(Protocol):
    """Optional: strategies with a surrogate model (BO) can predict the objective of any soup."""

    def predict(self, points: Sequence[Weights]) -> list[tuple[float, float]]:
        """(mean, sem) of the objective at each point; RuntimeError before any model fit."""
        ...


@runtime_checkable
class SupportsSnapshot(Protocol):
    """Optional: strategies with state worth more than a replay (Ax keeps its own experiment)."""

    def snapshot(self, path: Path) -> None:
        """Write the state atomically (tmp file + os.replace)."""
        ...

    def restore(self, path: Path, completed: Sequence[tuple[Weights, TrialResult]]) -> bool:
        """Adopt the snapshot if it agrees with the ledger's `completed` trials; else False."""
        ...
