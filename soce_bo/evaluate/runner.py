"""Run one benchmark split through one backend and aggregate per category."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from soce_bo.evaluate.backend import GenerationBackend, Progress as ProgressFn
from soce_bo.evaluate.benchmark import Benchmark, CategoryScore, Episode, Item, MultiStepBenchmark, macro_sem, summarize


@dataclass
class EvalResult:
    """Per-category scores, the benchmark's overall number and where the time went (seconds)."""

    per_category: dict[str, CategoryScore]
    overall: float
    overall_sem: float
    timings: dict[str, float] = field(default_factory=dict)
    completions: list[str] = field(default_factory=list)
    item_scores: list[float] = field(default_factory=list)  # one per item, in the items' order

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


def run_episodes(episodes: Sequence[Episode], backend: GenerationBackend, progress: ProgressFn | None = None) -> None:
    """Advance all episodes to their end, one batched backend call per step across live episodes."""
    active = list(episodes)
    while active:
        pending = [(episode, episode.next_request()) for episode in active]
        pending = [(episode, request) for episode, request in pending if request is not None]
        if pending:
            completions = backend.generate([request for _, request in pending])
            for (episode, _), completion in zip(pending, completions, strict=True):
                episode.observe(completion)
        if progress is not None:
            progress(len(active) - len(pending))  # episodes that just finished
        active = [episode for episode, _ in pending]


def summarize_in_order(benchmark: Benchmark, categories: Sequence[str], scores: Sequence[float]) -> dict[str, CategoryScore]:
    """Per-category scores in the benchmark's category order (then any others, as they come)."""
    per_cat = summarize(categories, scores)
    ordered = {c: per_cat[c] for c in benchmark.categories() if c in per_cat}
    ordered.update({c: v for c, v in per_cat.items() if c not in ordered})
    return ordered


def evaluate_items(
    benchmark: Benchmark,
    backend: GenerationBackend,
    items: Sequence[Item],
    show_progress: bool = True,
    description: str = "evaluating",
) -> EvalResult:
    """Generate for every item (the backend batches/concurrently sends them), score, aggregate.

    Benchmarks with multi-step items (`MultiStepBenchmark`, e.g. BFCL multi-turn) get those run
    as batched episodes in the same call.
    """
    multi_step = isinstance(benchmark, MultiStepBenchmark)
    multi = {i for i, it in enumerate(items) if multi_step and benchmark.is_multi_step(it)}
    single = [i for i in range(len(items)) if i not in multi]
    completions = [""] * len(items)
    scores = [0.0] * len(items)
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        advance = None
        if show_progress:
            bar = stack.enter_context(Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                transient=True))
            task = bar.add_task(description, total=len(items))
            advance = lambda k: bar.advance(task, k)  # noqa: E731
        outs = backend.generate([benchmark.request(items[i]) for i in single], progress=advance) if single else []
        for i, text in zip(single, outs, strict=True):
            completions[i] = text
        episodes = [benchmark.start_episode(items[i]) for i in sorted(multi)] if multi_step else []
        run_episodes(episodes, backend, advance)
    t1 = time.perf_counter()
    for i in single:
        scores[i] = benchmark.score(items[i], completions[i])
    for i, episode in zip(sorted(multi), episodes, strict=True):
        scores[i] = episode.score()
        completions[i] = episode.transcript()
    t2 = time.perf_counter()
    ordered = summarize_in_order(benchmark, [it.category for it in items], scores)
    return EvalResult(
        per_category=ordered,
        overall=benchmark.overall(ordered),
        overall_sem=macro_sem(ordered),
        timings={"generation_s": t1 - t0, "scoring_s": t2 - t1},
        completions=list(completions),
        item_scores=[float(x) for x in scores],
    )
