"""`retrieve`: find the value stored under one key in a long list (∞-Bench kv_retrieval style).

Each entry is written value-first (`66=c`), keys are distinct random letters in random order,
values two random digits; the query names one key. Solving it means matching the queried key
anywhere in the context and reading the digits stored beside it -- a lookup skill unlike the
other three categories. (Value-first lets a tiny model learn the lookup in minutes: the key's own
position can collect its value, so no induction head is needed.) Training also sees short lists.
"""

from __future__ import annotations

import random
import string
from typing import Any

MIN_PAIRS, MAX_PAIRS = 8, 16
TRAIN_MIN_PAIRS = 2


def sample(rng: random.Random, train: bool = False) -> tuple[str, str, dict[str, Any]]:
    n = rng.randint(TRAIN_MIN_PAIRS if train else MIN_PAIRS, MAX_PAIRS)
    keys = rng.sample(string.ascii_lowercase, n)
    values = [f"{rng.randint(0, 99):02d}" for _ in keys]
    position = rng.randrange(n)
    context = " ".join(f"{v}={k}" for k, v in zip(keys, values))
    prompt = f"kv: {context}\nquery: {keys[position]}\nvalue: "
    return prompt, values[position], {"key": keys[position], "n_pairs": n, "position": position}
