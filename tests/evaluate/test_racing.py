"""Racing: nested stratified stages, early stops only when significantly worse, the stated error rate."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from soce_bo.errors import ConfigError
from soce_bo.evaluate.benchmark import macro_mean, summarize
from soce_bo.evaluate.racing import (Incumbent, RacingEvaluator, RacingSettings, items_scored, paired_gap,
                                     stage_indices)
from soce_bo.values import TrialResult

CATS = ["tool", "math", "translate"]
QUARTERS = (0.25, 0.5, 1.0)  # stage sizes these tests count items for


class BernoulliItems:
    """A split of 3 x 200 items; soup "p=<x>,s=<seed>" gets each item right with probability x,
    independently per (soup, item): a stand-in for a model server in these unit tests."""

    def __init__(self, per_category: int = 200) -> None:
        self.item_categories = [c for c in CATS for _ in range(per_category)]
        self.calls: list[int] = []
        self.retry_on_call = 0  # score_items call (1-based) that reports a retried server failure

    def _outcomes(self, weights) -> np.ndarray:
        (label,) = weights
        p, seed = (float(x.split("=")[1]) for x in label.split(","))
        digest = hashlib.sha256(label.encode()).digest()
        rng = np.random.default_rng([int(seed), int.from_bytes(digest[:4], "little")])
        return (rng.random(len(self.item_categories)) < p).astype(float)

    def score_items(self, weights, indices, retries=None):
        self.calls.append(len(indices))
        if retries is not None and self.retry_on_call == len(self.calls):
            retries.append("server died (fake)")
        out = self._outcomes(weights)
        return [float(out[i]) for i in indices]

    def __call__(self, weights) -> TrialResult:
        scores = list(self._outcomes(weights))
        self.calls.append(len(scores))
        per_cat = summarize(self.item_categories, scores)
        return TrialResult(objective=macro_mean(per_cat), sem=0.02, per_category=per_cat, item_scores=tuple(scores))


def soup(p: float, seed: int = 0) -> dict[str, float]:
    return {f"p={p},s={seed}": 1.0}


def test_stages_are_nested_stratified_and_end_with_everything() -> None:
    cats = ["a"] * 40 + ["b"] * 20 + ["c"] * 8
    stages = stage_indices(cats, (0.25, 0.5, 1.0), seed=3)
    assert [len(s) for s in stages] == [10 + 5 + 2, 20 + 10 + 4, 68]
    assert all(set(a) < set(b) for a, b in zip(stages, stages[1:]))
    assert stages[-1] == list(range(68))
    for stage, frac in zip(stages, (0.25, 0.5)):
        counts = {c: sum(cats[i] == c for i in stage) for c in "abc"}
        assert counts == {"a": 40 * frac, "b": 20 * frac, "c": int(np.ceil(8 * frac))}
    assert stages == stage_indices(cats, (0.25, 0.5, 1.0), seed=3)
    assert stages[0] != stage_indices(cats, (0.25, 0.5, 1.0), seed=4)[0]


def test_paired_gap_is_the_macro_mean_difference() -> None:
    gap, se = paired_gap(["a", "a", "b", "b"], [1, 1, 1, 0], [0, 1, 1, 1])
    assert gap == pytest.approx((0.5 + -0.5) / 2)
    assert se > 0
    assert paired_gap(["a", "a"], [1, 0], [1, 0]) == (0.0, 0.0)


def test_a_clearly_worse_soup_stops_at_the_first_stage() -> None:
    scorer = BernoulliItems()
    racer = RacingEvaluator(scorer, RacingSettings(enabled=True, stages=QUARTERS))
    first = racer(soup(0.8))  # no incumbent yet: scored in full and becomes it
    assert first.complete and not first.item_indices and scorer.calls == [600]
    worse = racer(soup(0.4))
    assert worse.stopped_early and not worse.complete
    assert len(worse.item_indices) == len(worse.item_scores) == 150
    assert {c: s.n for c, s in worse.per_category.items()} == {c: 50 for c in CATS}
    assert worse.objective == pytest.approx(0.4, abs=0.1)
    assert items_scored(worse, 600) == 150 and items_scored(first, 600) == 600
    assert racer.incumbent.result is first  # a stopped soup never becomes the incumbent


def test_a_better_soup_runs_in_full_and_becomes_the_incumbent() -> None:
    scorer = BernoulliItems()
    incumbent = Incumbent()
    incumbent.offer(scorer(soup(0.5)))
    racer = RacingEvaluator(scorer, RacingSettings(enabled=True, stages=QUARTERS), incumbent)
    better = racer(soup(0.7))
    assert better.complete and not better.item_indices and len(better.item_scores) == 600
    assert scorer.calls[1:] == [150, 150, 300]  # each stage scores only the items it adds
    assert incumbent.result is better
    full = scorer(soup(0.7))  # the raced full result equals the plain evaluation
    assert better.objective == pytest.approx(full.objective) and better.item_scores == full.item_scores


def test_retries_of_any_stage_reach_the_raced_result() -> None:
    """A server replaced during stage 2 of a raced soup shows in its ledger line, as in a full evaluation."""
    scorer = BernoulliItems()
    incumbent = Incumbent()
    incumbent.offer(scorer(soup(0.5)))
    racer = RacingEvaluator(scorer, RacingSettings(enabled=True, stages=QUARTERS), incumbent)
    scorer.retry_on_call = 3  # calls: [incumbent's full split, stage 1, stage 2, ...]
    better = racer(soup(0.7))
    assert better.complete and better.retries == ("server died (fake)",)
    scorer.retry_on_call = 5  # stage 1 of the next soup (calls 2-4 were the three stages above)
    worse = racer(soup(0.2))
    assert worse.stopped_early and worse.retries == ("server died (fake)",)


def test_soups_as_good_as_the_incumbent_are_stopped_at_most_alpha_of_the_time() -> None:
    scorer = BernoulliItems()
    reference = scorer(soup(0.6, seed=999))

    def race(p: float, seed: int) -> bool:
        incumbent = Incumbent()  # a fixed incumbent: a soup that beats it must not raise the bar here
        incumbent.offer(reference)
        return RacingEvaluator(scorer, RacingSettings(enabled=True, stages=QUARTERS, alpha=0.05, indifference=0.0), incumbent)(soup(p, seed)).stopped_early

    # soups whose true accuracy equals the incumbent's observed score: H0 holds on these items
    stopped = [race(round(reference.objective, 6), s) for s in range(300)]
    assert np.mean(stopped) <= 0.05 + 0.03  # the 0.05 bound plus ~2.4 binomial SEs of 300 draws
    clearly_worse = [race(round(reference.objective - 0.15, 6), s) for s in range(50)]
    assert np.mean(clearly_worse) >= 0.75  # independent errors: the least power pairing can have


def test_the_indifference_zone_stops_ties_and_keeps_its_error_rate_above_the_zone() -> None:
    """indifference = 0.01: a soup that cannot beat the incumbent by 1 pp is not worth the full split;
    one at least that much better is still stopped at most alpha of the time."""
    scorer = BernoulliItems()
    reference = scorer(soup(0.6, seed=999))
    settings = RacingSettings(enabled=True, stages=QUARTERS, alpha=0.05, indifference=0.01)

    def race(weights, racing: RacingSettings = settings) -> TrialResult:
        incumbent = Incumbent()
        incumbent.offer(reference)
        return RacingEvaluator(scorer, racing, incumbent)(weights)

    twin = race(soup(0.6, seed=999))  # the incumbent's own answers: gap 0, no spread
    assert twin.stopped_early and len(twin.item_indices) == 150
    plain = RacingSettings(enabled=True, stages=QUARTERS, alpha=0.05, indifference=0.0)
    assert not race(soup(0.6, seed=999), plain).stopped_early  # without the zone a tie runs in full
    above_zone = [race(soup(round(reference.objective + 0.01, 6), s)).stopped_early for s in range(300)]
    assert np.mean(above_zone) <= 0.05 + 0.03  # the 0.05 bound plus ~2.4 binomial SEs of 300 draws
    # the zone only adds stops: every soup the plain test stops it stops too, and some more
    wide = RacingSettings(enabled=True, stages=QUARTERS, alpha=0.05, indifference=0.04)
    near = [soup(round(reference.objective - 0.08, 6), s) for s in range(100)]
    zoned = [race(w, wide).stopped_early for w in near]
    unzoned = [race(w, plain).stopped_early for w in near]
    assert all(z for z, u in zip(zoned, unzoned) if u) and sum(zoned) > sum(unzoned)


def test_partial_results_survive_the_ledger_round_trip() -> None:
    scorer = BernoulliItems()
    racer = RacingEvaluator(scorer, RacingSettings(enabled=True, stages=QUARTERS))
    racer(soup(0.9))
    partial = racer(soup(0.3))
    back = TrialResult.from_dict(json.loads(json.dumps(partial.to_dict())))
    assert back == partial and back.stopped_early and back.item_indices == partial.item_indices


def test_only_complete_full_split_results_become_incumbents() -> None:
    incumbent = Incumbent()
    incumbent.offer(TrialResult(objective=0.9, sem=0.01, item_scores=(1.0,), item_indices=(3,)))
    incumbent.offer(TrialResult(objective=0.9, sem=0.01, item_scores=(1.0,), stopped_early=True))
    incumbent.offer(TrialResult(objective=0.9, sem=0.01))  # no per-item scores: cannot pair
    incumbent.offer(TrialResult.failure("dead"))
    assert incumbent.result is None
    good = TrialResult(objective=0.5, sem=0.01, item_scores=(1.0, 0.0))
    incumbent.offer(good)
    incumbent.offer(TrialResult(objective=0.4, sem=0.01, item_scores=(0.0, 0.0)))
    assert incumbent.result is good


@pytest.mark.parametrize("settings, match", [
    ({"stages": [0.5, 0.25, 1.0]}, "increase"),
    ({"stages": [0.25, 0.5]}, "end at 1.0"),
    ({"stages": []}, "increase"),
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": 0.7}, "alpha"),
    ({"indifference": -0.1}, "indifference"),
    ({"indifference": 0.5}, "indifference"),
    ({"indifference": "half"}, "indifference"),
    ({"stage": [0.5, 1.0]}, "unknown key"),
])
def test_bad_settings_name_the_key(settings, match) -> None:
    with pytest.raises(ConfigError, match=match):
        RacingSettings.from_config(settings)
