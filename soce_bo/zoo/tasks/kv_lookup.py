"""`retrieve`: read the value of one key from a long key=value table (∞-Bench kv_retrieval style).

The table always lists the same keys in alphabetical order with random two-digit values, and
the query names one key. A char-level model this small cannot learn free content search (an
induction head) within the zoo's few-minute budget, but it does learn to address the right slot
of the table -- a long-range lookup skill unlike the other three categories.
"""

from __future__ import annotations

import random
import string
from typing import Any

KEYS = tuple(string.ascii_lowercase[:16])


def sample(rng: random.Random, train: bool = False) -> tuple[str, str, dict[str, Any]]:
    values = [f"{rng.randint(0, 99):02d}" for _ in KEYS]
    position = rng.randrange(len(KEYS))
    context = " ".join(f"{k}={v}" for k, v in zip(KEYS, values))
    prompt = f"kv: {context}\nquery: {KEYS[position]}="
    return prompt, values[position], {"key": KEYS[position], "position": position}
