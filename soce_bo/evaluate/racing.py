"""Multi-fidelity racing: score a soup on growing stratified subsets, stop it once it clearly cannot win.

Most soups a search proposes are not close to the best one, and a 70B dev split costs minutes.
`RacingEvaluator` scores a soup on the first stage (e.g. 10 % of every category's items), then
tests it against the incumbent -- the best soup scored on the whole split so far -- on the same
items: a one-sided paired test of the objective's difference (macro mean over categories of the
per-item differences). If the soup significantly cannot beat the incumbent by the indifference
zone, it stops there and returns an estimate flagged `stopped_early`; otherwise the next stage's
items are added, up to the full split.

Indifference zone: a gain smaller than `indifference` (in objective units: 0.0025 = 0.25 pp) is not
worth the items it takes to resolve, so the test asks whether the soup could beat the incumbent by
at least that much: it stops once the upper confidence bound of the gap is below `indifference`
(0 = only soups significantly below the incumbent itself). An absolute zone, not one relative to the
split's SEM: on a small split the SEM is large, and a zone of half of it gave away 0.8 pp on dev
(2.3 pp in truth) in one suite problem.

Error rate: a soup whose true objective exceeds the incumbent's by at least the indifference zone
is stopped with probability at most `alpha` (one-sided z-test per look at level alpha / number of
looks: Bonferroni over the interim looks, so the bound holds for the whole sequence). A soup
stopped inside the zone costs at most that much of the objective. Stages are nested, stratified prefixes
of a seeded per-category permutation, so every look sees every category in proportion.

The incumbent is shared by the evaluators of all replicas (`Incumbent`, thread-safe) and starts
from results already known (the candidates and the uniform soup) via `Incumbent.offer`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from scipy.stats import norm

from soce_bo.errors import ConfigError, first_line
from soce_bo.evaluate.benchmark import macro_mean, macro_sem, summarize
from soce_bo.values import TrialResult, Weights


class ItemScorer(Protocol):
    """Scores a soup on chosen items of a fixed split; what racing needs from an evaluator."""

    @property
    def item_categories(self) -> Sequence[str]:
        """Category of every item of the split, in split order."""
        ...

    def score_items(self, weights: Weights, indices: Sequence[int], retries: list[str] | None = None) -> list[float]:
        """Score in [0, 1] of the soup on each item `indices[j]` (positions in the split); errors of
        attempts retried on a replaced server are appended to `retries` (where there is a server)."""
        ...

    def __call__(self, weights: Weights) -> TrialResult:
        """The whole split, as the plain evaluator."""
        ...


@dataclass(frozen=True)
class RacingSettings:
    """`stages`: increasing fractions of each category's items, the last 1.0; `alpha`: error rate;
    `indifference`: the zone, in objective units (0.0025: half of the 0.5 pp issue 13 calls "the same score")."""

    enabled: bool = False
    stages: tuple[float, ...] = (0.1, 0.3, 1.0)
    alpha: float = 0.05
    indifference: float = 0.0025
    seed: int = 0

    def __post_init__(self) -> None:
        stages = tuple(float(s) for s in self.stages)
        object.__setattr__(self, "stages", stages)
        if not stages or stages[-1] != 1.0 or any(not 0 < s <= 1 for s in stages) or list(stages) != sorted(set(stages)):
            raise ConfigError(f"racing.stages must increase strictly within (0, 1] and end at 1.0, got {list(stages)}")
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"racing.alpha must be in (0, 0.5), got {self.alpha}")
        if not (isinstance(self.indifference, (int, float)) and 0 <= self.indifference <= 0.1):
            raise ConfigError(f"racing.indifference must be in [0, 0.1] (objective units: 0.0025 = 0.25 pp), "
                              f"got {self.indifference}")

    @classmethod
    def from_config(cls, cfg: Mapping | None) -> RacingSettings:
        cfg = dict(cfg or {})
        known = ("enabled", "stages", "alpha", "indifference", "seed")
        unknown = set(cfg) - set(known)
        if unknown:
            raise ConfigError(f"racing has unknown key(s) {sorted(unknown)}; known: {', '.join(known)}")
        if "stages" in cfg:
            cfg["stages"] = tuple(cfg["stages"])
        return cls(**cfg)


def stage_indices(categories: Sequence[str], stages: Sequence[float], seed: int = 0) -> list[list[int]]:
    """Nested stratified item sets: stage s holds the first ceil(f_s * n_c) items of each category's
    seeded permutation (every category keeps at least one item). Each list is in split order."""
    by_cat: dict[str, list[int]] = {}
    for i, c in enumerate(categories):
        by_cat.setdefault(c, []).append(i)
    rng = np.random.default_rng([seed, len(categories)])
    perms = {c: [idx[j] for j in rng.permutation(len(idx))] for c, idx in by_cat.items()}
    out = []
    for f in stages:
        chosen = [i for c, perm in perms.items() for i in perm[: max(1, math.ceil(f * len(perm)))]]
        out.append(sorted(chosen))
    return out


def paired_gap(categories: Sequence[str], soup: Sequence[float], incumbent: Sequence[float]) -> tuple[float, float]:
    """Macro-mean difference soup - incumbent over the given items and its paired standard error."""
    diffs: dict[str, list[float]] = {}
    for c, a, b in zip(categories, soup, incumbent, strict=True):
        diffs.setdefault(c, []).append(float(a) - float(b))
    means = [float(np.mean(d)) for d in diffs.values()]
    variances = [float(np.var(d, ddof=1)) / len(d) if len(d) > 1 else 0.25 for d in diffs.values()]
    return float(np.mean(means)), math.sqrt(sum(variances)) / len(diffs)


class Incumbent:
    """The best complete result so far (per-item scores on the whole split), shared across replicas."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.result: TrialResult | None = None

    def offer(self, result: TrialResult) -> None:
        """Keep `result` if it is complete, has per-item scores for the whole split and is better."""
        if not result.complete or not result.item_scores or result.item_indices or not math.isfinite(result.objective):
            return
        with self._lock:
            if self.result is None or result.objective > self.result.objective:
                self.result = result

    def scores(self) -> tuple[float, ...] | None:
        with self._lock:
            return self.result.item_scores if self.result is not None else None


class RacingEvaluator:
    """A search `Evaluator` that races each soup against `incumbent` (see the module docstring)."""

    def __init__(self, scorer: ItemScorer, settings: RacingSettings, incumbent: Incumbent | None = None) -> None:
        self.scorer, self.settings = scorer, settings
        self.incumbent = incumbent or Incumbent()
        self.categories = list(scorer.item_categories)
        self.stages = stage_indices(self.categories, settings.stages, settings.seed)
        self.z = float(norm.ppf(1.0 - settings.alpha / max(1, len(self.stages) - 1)))

    def __call__(self, weights: Weights) -> TrialResult:
        t0 = time.perf_counter()
        reference = self.incumbent.scores()
        if reference is None or len(reference) != len(self.categories) or len(self.stages) == 1:
            result = self.scorer(weights)  # nothing to race against yet: the plain full evaluation
            self.incumbent.offer(result)
            return result
        scores: dict[int, float] = {}
        retries: list[str] = []
        try:
            for stage, chosen in enumerate(self.stages):
                new = [i for i in chosen if i not in scores]
                scores.update(zip(new, self.scorer.score_items(weights, new, retries), strict=True))
                if stage == len(self.stages) - 1:
                    break
                cats = [self.categories[i] for i in chosen]
                gap, se = paired_gap(cats, [scores[i] for i in chosen], [reference[i] for i in chosen])
                if gap + self.z * se < self.settings.indifference:
                    return self._result(chosen, scores, time.perf_counter() - t0, stopped=True, retries=retries)
        except Exception as err:  # noqa: BLE001 - the scheduler records failures the same way
            return TrialResult.failure(f"{type(err).__name__}: {first_line(err)}", time.perf_counter() - t0, retries)
        result = self._result(self.stages[-1], scores, time.perf_counter() - t0, stopped=False, retries=retries)
        self.incumbent.offer(result)
        return result

    def _result(self, chosen: Sequence[int], scores: Mapping[int, float], seconds: float, stopped: bool,
                retries: Sequence[str] = ()) -> TrialResult:
        """Aggregate as the scorer's own full evaluation does (`result_for`), else by macro mean."""
        values = [scores[i] for i in chosen]
        result_for = getattr(self.scorer, "result_for", None)
        if result_for is not None:
            base = result_for(chosen, values)
        else:
            per_cat = summarize([self.categories[i] for i in chosen], values)
            order = list(dict.fromkeys(self.categories))
            per_cat = {c: per_cat[c] for c in order if c in per_cat}
            base = TrialResult(objective=macro_mean(per_cat), sem=macro_sem(per_cat), per_category=per_cat)
        full = len(chosen) == len(self.categories)
        return replace(base, seconds=seconds, item_scores=tuple(values), retries=tuple(retries),
                       item_indices=() if full else tuple(chosen), stopped_early=stopped)


def items_scored(result: TrialResult, n_items: int) -> int:
    """How many items an evaluation generated for: a raced one only its subset."""
    if result.failed:
        return 0
    return len(result.item_indices) if result.item_indices else n_items
