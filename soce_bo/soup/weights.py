"""The soup weight policy: one place that decides which weight vectors are acceptable.

Policy (why strict): a soup is a point on the simplex. Weights must be finite, >= 0, one per model,
and sum to 1 within SUM_TOLERANCE; inside the tolerance they are renormalised exactly (in float64)
so that rounding in a caller's arithmetic is forgiven, but a vector summing to 0.9 is a bug upstream
and is refused rather than silently rescaled (unlike mergekit's default `normalize: true`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from soce_bo.errors import PoolError

SUM_TOLERANCE = 1e-6


def check_weights(
    weights: Sequence[float] | Mapping[str, float], models: Sequence[str]
) -> tuple[float, ...]:
    """Return the weights as a tuple aligned with `models`, renormalised to sum exactly 1.

    Args:
        weights: one weight per model, or a mapping keyed by the same strings as `models`.
        models: names used in error messages (and as keys when `weights` is a mapping).
    """
    if isinstance(weights, Mapping):
        extra = [key for key in weights if key not in models]
        missing = [model for model in models if model not in weights]
        if extra or missing:
            raise PoolError(
                f"weights keys do not match the models: missing {missing}, unknown {extra}"
            )
        values = [weights[model] for model in models]
    else:
        values = list(weights)
    if len(values) != len(models):
        raise PoolError(f"got {len(values)} weights for {len(models)} models")
    if not values:
        raise PoolError("no models given")
    floats: list[float] = []
    for model, value in zip(models, values):
        try:
            number = float(value)
        except (TypeError, ValueError) as err:
            raise PoolError(f"weight {value!r} for model {model} is not a number") from err
        if not math.isfinite(number):
            raise PoolError(f"weight for model {model} is {number} (must be finite)")
        if number < 0:
            raise PoolError(f"weight for model {model} is negative ({number})")
        floats.append(number)
    total = math.fsum(floats)
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise PoolError(
            f"weights sum to {total!r}, not 1 (tolerance {SUM_TOLERANCE}); pass weights on the simplex"
        )
    return tuple(value / total for value in floats)
