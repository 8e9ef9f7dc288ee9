"""Soup weights on the probability simplex: construction, checks and a stable identity key.

Two weight dicts describe the same soup when they agree after rounding and zero weights are
dropped ({a: 1} == {a: 1, b: 0}); `weights_key` encodes exactly that, so the scheduler's cache
serves the "expert" trial {a: 1} to a BO seed {a: 1, b: 0, c: 0} without a second evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from soce_bo.errors import ConfigError

KEY_DIGITS = 9
SIMPLEX_TOL = 1e-6

WeightsKey = tuple[tuple[str, float], ...]


def weights_key(weights: Mapping[str, float]) -> WeightsKey:
    """Identity of a soup: (name, weight rounded to 1e-9) for non-zero weights, sorted by name."""
    items = ((n, round(float(w), KEY_DIGITS)) for n, w in weights.items())
    return tuple(sorted((n, w + 0.0) for n, w in items if w != 0.0))  # + 0.0 turns -0.0 into 0.0


def uniform(experts: Sequence[str]) -> dict[str, float]:
    return {e: 1.0 / len(experts) for e in experts}


def vertex(experts: Sequence[str], expert: str) -> dict[str, float]:
    """The soup that is just `expert` (weight 1, all others 0)."""
    return {e: (1.0 if e == expert else 0.0) for e in experts}


def to_simplex(experts: Sequence[str], values: Sequence[float]) -> dict[str, float]:
    """Clip tiny negatives (solver tolerance) and renormalise: the weights actually merged."""
    arr = np.clip(np.asarray(values, dtype=float), 0.0, None)
    total = float(arr.sum())
    if not math.isfinite(total) or total <= 0.0:
        raise ValueError(f"weights {list(values)} cannot be normalised onto the simplex")
    return {e: float(v) / total for e, v in zip(experts, arr, strict=True)}


def check_on_simplex(weights: Mapping[str, float], experts: Sequence[str], tol: float = SIMPLEX_TOL) -> None:
    """Assert the invariant every strategy promises: known names, w >= 0, sum 1."""
    unknown = set(weights) - set(experts)
    values = np.array([weights.get(e, 0.0) for e in experts], dtype=float)
    if unknown or np.any(values < -tol) or abs(values.sum() - 1.0) > tol:
        raise AssertionError(f"weights {dict(weights)} are not on the simplex over {list(experts)}")


def check_experts(experts: Sequence[str], strategy: str) -> list[str]:
    """Validate the expert list given to a strategy (distinct, non-empty names)."""
    names = [str(e) for e in experts]
    if not names:
        raise ConfigError(f"search.{strategy}: needs at least one expert")
    if len(set(names)) != len(names):
        raise ConfigError(f"search.{strategy}: duplicate expert names in {names}")
    return names


def check_budget(budget: int | None, strategy: str, minimum: int = 1) -> None:
    if budget is not None and (not isinstance(budget, int) or budget < minimum):
        raise ConfigError(f"search.{strategy}.budget must be an integer >= {minimum}, got {budget!r}")
