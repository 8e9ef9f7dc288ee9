"""Moved: the zoo's benchmark is `soce_bo.zoo.benchmark.ZooBenchmark` (the zoo sits above evaluate).

Temporary compatibility name for callers not yet switched (tests/serve/test_swap.py). Resolved
lazily, so importing `soce_bo.evaluate` never imports the zoo; delete once nothing uses it.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    import soce_bo.zoo.benchmark as moved  # noqa: PLC0415 - the one sanctioned upward reference

    return getattr(moved, name)
