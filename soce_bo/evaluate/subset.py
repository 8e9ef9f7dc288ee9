"""Cut a split down for quick runs without losing a category: `round_robin_subset`.

Why round-robin: the first N items of a split are usually all of its first category, and a
score table with a category missing breaks the correlation analysis. The one run-level `limit`
(`limit=` of `soce_bo.run` and `soce_bo.evaluate`) goes through here for every benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence

from soce_bo.errors import ConfigError
from soce_bo.values import Item


def round_robin_subset(items: Sequence[Item], limit: int | None) -> list[Item]:
    """At most `limit` items, taken one category at a time in turn, returned in their original order.

    With every category holding at least `limit / C` items this is the first `limit / C` of each.
    `None` (or a limit at least the split's size) keeps everything.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 1:
        raise ConfigError(f"limit must be >= 1, got {limit}")
    queues: dict[str, list[Item]] = {}
    for it in items:
        queues.setdefault(it.category, []).append(it)
    chosen: list[Item] = []
    while len(chosen) < limit:
        for queue in queues.values():
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    order = {id(it): k for k, it in enumerate(items)}
    return sorted(chosen, key=lambda it: order[id(it)])
