"""The one small interface every search strategy implements, and what an evaluation returns.

A strategy proposes soups (weights keyed by expert name, on the simplex) and learns from their
scores; it never evaluates anything itself. The scheduler (`search.scheduler.run_search`) owns
the evaluators, the cache and the ledger, so a strategy is pure bookkeeping and easy to test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from soce_bo.evaluate.benchmark import CategoryScore

Weights = dict[str, float]


@dataclass(frozen=True)
class TrialResult:
    """Score of one soup on the dev split.

    Args:
        objective: the aggregate being maximised (e.g. macro mean of category accuracies).
        sem: its standard error (binomial, see `evaluate.benchmark.macro_sem`); NaN if unknown.
        per_category: accuracy, n and SEM per category.
        seconds: the evaluator's own time for this soup (swap + generation + scoring).
        failed / error: the evaluation raised; objective is NaN then.
        retries: errors of earlier attempts of this trial whose server died or hung and was
            replaced (the trial was then run again on the new server).
    """

    objective: float
    sem: float
    per_category: Mapping[str, CategoryScore] = field(default_factory=dict)
    seconds: float = 0.0
    failed: bool = False
    error: str | None = None
    retries: tuple[str, ...] = ()

    @classmethod
    def failure(cls, error: str, seconds: float = 0.0, retries: Sequence[str] = ()) -> TrialResult:
        return cls(objective=math.nan, sem=math.nan, seconds=seconds, failed=True, error=error,
                   retries=tuple(retries))

    def to_dict(self) -> dict[str, Any]:
        out = {
            "objective": self.objective,
            "sem": self.sem,
            "per_category": {c: s.as_dict() for c, s in self.per_category.items()},
            "seconds": self.seconds,
            "failed": self.failed,
            "error": self.error,
        }
        if self.retries:
            out["retries"] = list(self.retries)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialResult:
        cats = {c: CategoryScore(accuracy=float(s["accuracy"]), n=int(s["n"]), sem=float(s["sem"]))
                for c, s in data.get("per_category", {}).items()}
        return cls(objective=float(data["objective"]), sem=float(data["sem"]), per_category=cats,
                   seconds=float(data.get("seconds", 0.0)), failed=bool(data.get("failed", False)),
                   error=data.get("error"), retries=tuple(str(e) for e in data.get("retries", ())))


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
class SupportsSnapshot(Protocol):
    """Optional: strategies with state worth more than a replay (Ax keeps its own experiment)."""

    def snapshot(self, path: Path) -> None:
        """Write the state atomically (tmp file + os.replace)."""
        ...

    def restore(self, path: Path, completed: Sequence[tuple[Weights, TrialResult]]) -> bool:
        """Adopt the snapshot if it agrees with the ledger's `completed` trials; else False."""
        ...
