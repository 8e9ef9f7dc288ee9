"""Run one benchmark split through one backend and aggregate per category."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from soce_bo.evaluate.backend import GenerationBackend
from soce_bo.evaluate.benchmark import Benchmark, CategoryScore, Item, macro_sem, summarize


@dataclass
class EvalResult:
    """Per-category scores, the benchmark's overall number and where the time went (seconds)."""

    per_category: dict[str, CategoryScore]
    overall: float
    overall_sem: float
    timings: dict[str, float] = field(default_factory=dict)
    completions: list[str] = field(default_factory=list)

    def as_dict(self, with_completions: bool = False) -> dict:
        out = {
            "per_category": {k: v.as_dict() for k, v in self.per_category.items()},
            "overall": self.overall,
            "overall_sem": self.overall_sem,
            "timings": self.timings,
        }
        if with_completions:
            out["completions"] = self.completions
        return out


def evaluate_items(
    benchmark: Benchmark,
    backend: GenerationBackend,
    items: Sequence[Item],
    show_progress: bool = True,
    description: str = "evaluating",
) -> EvalResult:
    """Generate for every item (the backend batches/concurrently sends them), score, aggregate."""
    requests = [benchmark.request(it) for it in items]
    t0 = time.perf_counter()
    if show_progress:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=len(requests))
            completions = backend.generate(requests, progress=lambda k: bar.advance(task, k))
    else:
        completions = backend.generate(requests)
    t1 = time.perf_counter()
    scores = [benchmark.score(it, c) for it, c in zip(items, completions, strict=True)]
    t2 = time.perf_counter()
    per_cat = summarize([it.category for it in items], scores)
    ordered = {c: per_cat[c] for c in benchmark.categories() if c in per_cat}
    ordered.update({c: v for c, v in per_cat.items() if c not in ordered})
    return EvalResult(
        per_category=ordered,
        overall=benchmark.overall(ordered),
        overall_sem=macro_sem(ordered),
        timings={"generation_s": t1 - t0, "scoring_s": t2 - t1},
        completions=list(completions),
    )
