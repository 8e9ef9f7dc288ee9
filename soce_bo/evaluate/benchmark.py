"""The small interface every benchmark implements, and the statistics shared by all of them.

A benchmark turns items into generation requests and completions into scores in [0, 1]; the
evaluation loop (`soce_bo.evaluate.runner`) does the rest (batching, concurrency, aggregation),
so a new benchmark is one file under `benchmarks/` plus one config under `conf/benchmark/`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from soce_bo.values import CategoryScore, GenRequest, Item

__all__ = ["Benchmark", "CategoryScore", "Episode", "GenRequest", "Item", "MultiStepBenchmark", "binomial_sem",
           "macro_mean", "macro_sem", "summarize"]


@runtime_checkable
class Benchmark(Protocol):
    """Load items by split, build a request, score a completion, aggregate categories."""

    name: str

    def categories(self) -> list[str]:
        """Category names in display order."""
        ...

    def load(self, split: str) -> list[Item]:
        """All items of `split` (e.g. "dev", "test"); raise BenchmarkError naming a missing file."""
        ...

    def request(self, item: Item) -> GenRequest:
        """The prompt and decoding limits for `item`."""
        ...

    def score(self, item: Item, completion: str) -> float:
        """Score in [0, 1] of `completion` for `item` (1 = correct)."""
        ...

    def overall(self, per_category: Mapping[str, CategoryScore]) -> float:
        """The benchmark's own overall number from per-category scores."""
        ...


class Episode(Protocol):
    """A multi-step item (e.g. a BFCL multi-turn conversation): requests depend on earlier replies."""

    def next_request(self) -> GenRequest | None:
        """The next model call, or None once the item has ended."""
        ...

    def observe(self, completion: str) -> None:
        """The model's answer to the last request."""
        ...

    def score(self) -> float:
        """Score in [0, 1] of the finished item."""
        ...

    def transcript(self) -> str:
        """Everything the model answered, as one string (the item's "completion" in results)."""
        ...


@runtime_checkable
class MultiStepBenchmark(Benchmark, Protocol):
    """A benchmark some of whose items are episodes rather than one request (BFCL multi-turn).

    The evaluation loop sends the single-step items as one batch and advances all episodes
    together, one batched backend call per step; a benchmark opts in by implementing both methods.
    """

    def is_multi_step(self, item: Item) -> bool:
        """True for items that must be played as an `Episode`."""
        ...

    def start_episode(self, item: Item) -> Episode:
        """A fresh episode for a multi-step item."""
        ...


def binomial_sem(mean: float, n: int) -> float:
    """Standard error of a mean of n scores in [0, 1], treated as binomial.

    Uses p = (k + 0.5) / (n + 1) so that a category at 0 % or 100 % still gets a non-zero SEM;
    a zero SEM would tell the BO surrogate that a 20-item category is known exactly.
    """
    if n <= 0:
        return float("nan")
    p = (mean * n + 0.5) / (n + 1)
    return math.sqrt(p * (1.0 - p) / n)


def summarize(categories: Sequence[str], scores: Sequence[float]) -> dict[str, CategoryScore]:
    """Per-category mean score and SEM; `categories[i]` is the category of `scores[i]`."""
    buckets: dict[str, list[float]] = {}
    for cat, s in zip(categories, scores, strict=True):
        buckets.setdefault(cat, []).append(float(s))
    out = {}
    for cat, vals in buckets.items():
        mean = sum(vals) / len(vals)
        out[cat] = CategoryScore(accuracy=mean, n=len(vals), sem=binomial_sem(mean, len(vals)))
    return out


def macro_mean(per_category: Mapping[str, CategoryScore]) -> float:
    """Unweighted mean over categories: the default SoCE objective (every category counts once)."""
    if not per_category:
        return float("nan")
    return sum(c.accuracy for c in per_category.values()) / len(per_category)


def macro_sem(per_category: Mapping[str, CategoryScore]) -> float:
    """SEM of `macro_mean`: sqrt(sum sem_c^2) / C, categories treated as independent."""
    if not per_category:
        return float("nan")
    return math.sqrt(sum(c.sem**2 for c in per_category.values())) / len(per_category)
