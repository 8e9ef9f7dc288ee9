"""`retrieve`: read the value of one key from a long key-value table (∞-Bench kv_retrieval style).

The table lists the keys a-t in alphabetical order, each followed by its value, a random
uppercase letter (`aX bM cT ...`); the prompt ends with the queried key and the answer is its
value, scored by exact match. Keys are sorted like a phone book: a model this small cannot learn
free content search (an induction head) within the zoo's few-minute budget, but it does learn to
address the right entry of a long table -- a lookup skill unlike the other three categories.
"""

from __future__ import annotations

import random
import string
from typing import Any

KEYS = tuple(string.ascii_lowercase[:20])


def sample(rng: random.Random, train: bool = False) -> tuple[str, str, dict[str, Any]]:
    values = [rng.choice(string.ascii_uppercase) for _ in KEYS]
    position = rng.randrange(len(KEYS))
    context = " ".join(f"{k}{v}" for k, v in zip(KEYS, values))
    prompt = f"kv: {context}\nkey: {KEYS[position]}"
    return prompt, values[position], {"key": KEYS[position], "position": position}
