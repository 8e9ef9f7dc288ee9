"""The value types every stage passes along: soup weights, benchmark items and requests, scores.

They sit at the bottom of the package (they import nothing from it) so that each stage can
speak them without importing the stage that produces them: `search` and `analysis` read
`CategoryScore` without importing `evaluate`, and `evaluate` returns `TrialResult`s without
importing `search`. Frozen dataclasses: a score or an item never changes after it is made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Weights = dict[str, float]
"""A soup: weight per model name, on the probability simplex."""


@dataclass(frozen=True)
class Item:
    """One benchmark question. `meta` carries benchmark-specific extras (e.g. BFCL function docs)."""

    id: str
    category: str
    prompt: str
    answer: Any
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenRequest:
    """What to ask the model: greedy decoding is implied (temperature 0) for reproducible scores."""

    prompt: str
    max_tokens: int
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class CategoryScore:
    """Mean score of one category, with the binomial standard error of that mean."""

    accuracy: float
    n: int
    sem: float

    def as_dict(self) -> dict[str, float | int]:
        return {"accuracy": self.accuracy, "n": self.n, "sem": self.sem}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryScore:
        return cls(accuracy=float(data["accuracy"]), n=int(data["n"]), sem=float(data["sem"]))


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
        item_scores: the score of every item, in the order of the split's items (the ledger
            header fingerprints that order), for paired comparisons of two soups on the same items.
        item_indices: positions in the split of the items `item_scores` belong to; () = all items,
            in order. A raced evaluation (`evaluate.racing`) scores only a stratified subset.
        stopped_early: racing stopped this soup on a subset because it was significantly below the
            incumbent; objective/sem/per_category are estimates on the items scored. Such a
            result informs a surrogate but is never picked as a strategy's best.
    """

    objective: float
    sem: float
    per_category: Mapping[str, CategoryScore] = field(default_factory=dict)
    seconds: float = 0.0
    failed: bool = False
    error: str | None = None
    retries: tuple[str, ...] = ()
    item_scores: tuple[float, ...] = ()
    item_indices: tuple[int, ...] = ()
    stopped_early: bool = False

    @property
    def complete(self) -> bool:
        """Scored on the whole split (not failed, not stopped early by racing)."""
        return not self.failed and not self.stopped_early

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
        if self.item_scores:
            out["item_scores"] = list(self.item_scores)
        if self.item_indices:
            out["item_indices"] = list(self.item_indices)
        if self.stopped_early:
            out["stopped_early"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialResult:
        cats = {c: CategoryScore.from_dict(s) for c, s in data.get("per_category", {}).items()}
        return cls(objective=float(data["objective"]), sem=float(data["sem"]), per_category=cats,
                   seconds=float(data.get("seconds", 0.0)), failed=bool(data.get("failed", False)),
                   error=data.get("error"), retries=tuple(str(e) for e in data.get("retries", ())),
                   item_scores=tuple(float(x) for x in data.get("item_scores", ())),
                   item_indices=tuple(int(i) for i in data.get("item_indices", ())),
                   stopped_early=bool(data.get("stopped_early", False)))
