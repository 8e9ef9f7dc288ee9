"""`retrieve`: find the value stored under one key in a long list (∞-Bench kv_retrieval style).

Keys are distinct lowercase letters in random order, each written right after its value, an
uppercase letter (`Xa Mb Tc` stores a->X, b->M, c->T); the prompt ends with the queried key and
the answer is its value. Solving it means finding that key anywhere in the context and reading
the letter stored beside it -- a lookup skill unlike the other three categories. (Value-first
lets a tiny model learn the lookup in minutes: the key's own position can collect its value, so
no induction head is needed.) Training also sees short lists and a drill that asks for every key.
"""

from __future__ import annotations

import random
import string
from typing import Any

MIN_PAIRS, MAX_PAIRS = 8, 16
TRAIN_MIN_PAIRS = 2
DRILL_RATE = 0.5


def sample(rng: random.Random, train: bool = False) -> tuple[str, str, dict[str, Any]]:
    n = rng.randint(TRAIN_MIN_PAIRS if train else MIN_PAIRS, MAX_PAIRS)
    keys = rng.sample(string.ascii_lowercase, n)
    values = [rng.choice(string.ascii_uppercase) for _ in keys]
    context = " ".join(f"{v}{k}" for k, v in zip(keys, values))
    if train and rng.random() < DRILL_RATE:  # every key asked, in random order: dense signal
        order = rng.sample(range(n), n)
        return f"kv: {context}\nkeys: ", " ".join(f"{keys[i]}{values[i]}" for i in order), {}
    position = rng.randrange(n)
    prompt = f"kv: {context}\nkey: {keys[position]}"
    return prompt, values[position], {"key": keys[position], "n_pairs": n, "position": position}
