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

__all__ = ["CategoryScore", "Evaluator", "Strategy", "SupportsSnapshot", "TrialResult", "Weights"]


class Evaluator(Protocol):
    """Scores one soup: mix the weights, swap them into the server, run the dev split."""

    def __call__(self, weights: Weights) -> TrialResult: ...


@runtime_checkable
class Strategy(Protocol):
    """Ask/tell search over soup weights.

    `suggest(n)` returns at most n new weight dicts (fewer while a sequential strategy waits for
    results, [] once finished); `observe` is called exactly once per suggestion, in completion
    order, and also to replay trials from a ledger on resume -- so it must accept weights it
    did not suggest in this process. `budget` counts observed trials, cached ones included.
    """

    name: str
    budget: int

    def suggest(self, n: int) -> list[Weights]: ...

    def observe(self, weights: Weights, result: TrialResult) -> None: ...

    def done(self) -> bool: ...


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
