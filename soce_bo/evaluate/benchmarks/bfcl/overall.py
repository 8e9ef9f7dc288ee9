"""BFCL overall scores: the v3 and v4 leaderboard formulas, official and renormalised variants.

Official rule (both versions): a category not run counts as 0. Offline we can never run the v4
Agentic part (web search, memory), so the official v4 number tops out at 0.60. Variants:
- "v4": official weights 10/10/10/30/40 over NonLive, Live, Hallucination, MultiTurn, Agentic;
- "v4_offline": the same without Agentic, weights renormalised (10/10/10/30 over 60);
- "v3": mean(NonLive, Live, MultiTurn) with v3's NonLive (includes irrelevance) and Live
  (item-weighted over all six live categories);
- "<formula>_renormalised": only what was run counts -- empty groups are dropped and weights
  renormalised over the groups that have at least one category.
Item weights for "Live" are the full BFCL v4 category sizes (what the official formula uses when a
whole category is run), so subsampling (the run-level `limit`, the dev/test split) does not tilt it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LIVE_SIZES = {  # item counts of the bfcl-eval 2026.3.23 data files
    "live_simple": 258, "live_multiple": 1053, "live_parallel": 16, "live_parallel_multiple": 24,
    "live_irrelevance": 884, "live_relevance": 16,
}
SIMPLE = ("simple_python", "simple_java", "simple_javascript")
MULTI_TURN = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
WEB_SEARCH = ("web_search_base", "web_search_no_snippet")
MEMORY = ("memory_kv", "memory_vector", "memory_rec_sum")
LIVE_AST = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
FORMULAS = ("v4", "v4_offline", "v3")


@dataclass(frozen=True)
class _Group:
    """A mean over parts; a part is a category name or a nested group. `weighted` = by LIVE_SIZES."""

    parts: tuple
    weighted: bool = False

    def leaves(self) -> list[str]:
        out: list[str] = []
        for p in self.parts:
            out.extend(p.leaves() if isinstance(p, _Group) else [p])
        return out


def _value(part, acc: Mapping[str, float], renormalise: bool) -> float | None:
    """Mean of a group; None if renormalising and nothing inside was run (missing -> 0 otherwise)."""
    if not isinstance(part, _Group):
        if part in acc:
            return acc[part]
        return None if renormalise else 0.0
    vals, weights = [], []
    for p in part.parts:
        v = _value(p, acc, renormalise)
        if v is None:
            continue
        vals.append(v)
        weights.append(LIVE_SIZES[p] if part.weighted else 1.0)
    if not vals:
        return None
    return sum(v * w for v, w in zip(vals, weights)) / sum(weights)


def _components(formula: str) -> list[tuple[str, _Group, float]]:
    simple = _Group(SIMPLE)
    multi_turn = _Group(MULTI_TURN)
    if formula == "v3":
        return [
            ("non_live", _Group((simple, "multiple", "parallel", "parallel_multiple", "irrelevance")), 1.0),
            ("live", _Group(tuple(LIVE_SIZES), weighted=True), 1.0),
            ("multi_turn", multi_turn, 1.0),
        ]
    parts = [
        ("non_live", _Group((simple, "multiple", "parallel", "parallel_multiple")), 10.0),
        ("live", _Group(LIVE_AST, weighted=True), 10.0),
        ("hallucination", _Group(("irrelevance", "live_irrelevance")), 10.0),
        ("multi_turn", multi_turn, 30.0),
    ]
    if formula == "v4":
        parts.append(("agentic", _Group((_Group(WEB_SEARCH), _Group(MEMORY))), 40.0))
    return parts


def bfcl_overall(acc: Mapping[str, float], formula: str = "v4_offline", renormalise: bool = False) -> float:
    """Overall accuracy in [0, 1] from per-category accuracies (keys: BFCL v4 category names)."""
    if formula not in FORMULAS:
        raise ValueError(f"unknown BFCL overall formula {formula!r}; expected one of {FORMULAS}")
    total = weight_sum = 0.0
    for _, group, weight in _components(formula):
        v = _value(group, acc, renormalise)
        if v is None:
            continue
        total += weight * v
        weight_sum += weight
    return total / weight_sum if weight_sum else float("nan")


def bfcl_components(acc: Mapping[str, float], formula: str, renormalise: bool = False) -> dict[str, float | None]:
    """The named groups of a formula (NonLive, Live, ...), None where nothing was run."""
    return {name: _value(group, acc, renormalise) for name, group, _ in _components(formula)}


def bfcl_overall_report(acc: Mapping[str, float]) -> dict:
    """Every formula, official and renormalised, with the categories each formula missed."""
    report: dict = {"run": sorted(acc)}
    for formula in FORMULAS:
        needed = [c for _, g, _ in _components(formula) for c in g.leaves()]
        report[formula] = {
            "overall": bfcl_overall(acc, formula),
            "overall_renormalised": bfcl_overall(acc, formula, renormalise=True),
            "components": bfcl_components(acc, formula),
            "components_renormalised": bfcl_components(acc, formula, renormalise=True),
            "missing": [c for c in needed if c not in acc],
        }
    return report
