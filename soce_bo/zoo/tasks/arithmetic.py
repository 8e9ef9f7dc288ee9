"""`math`: one-step word problems in the style of MGSM; the answer is the final number.

Three operations on small numbers (results 1-25) keep the char-level digits learnable by a 0.5 M-parameter
model while still needing the problem's wording (gets/gives/bags of) to pick the operation.
"""

from __future__ import annotations

import random
from typing import Any

PEOPLE = (("ana", "she"), ("bob", "he"), ("carl", "he"), ("dina", "she"), ("eva", "she"), ("finn", "he"),
          ("gus", "he"), ("hana", "she"), ("ivan", "he"), ("jill", "she"))
THINGS = ("apples", "eggs", "pens", "cards", "coins", "books", "stamps", "shells", "cups", "rocks")


def sample(rng: random.Random, train: bool = False) -> tuple[str, str, dict[str, Any]]:
    name, pronoun = rng.choice(PEOPLE)
    thing = rng.choice(THINGS)
    op = rng.choice(("add", "sub", "mul"))
    if op == "add":
        a, b = rng.randint(1, 15), rng.randint(1, 9)
        text = rng.choice((f"{name} has {a} {thing}. {pronoun} gets {b} more. how many {thing} now?",
                           f"{name} had {a} {thing} and found {b} more. how many {thing} in total?"))
        result = a + b
    elif op == "sub":
        a = rng.randint(10, 18)
        b = rng.randint(1, 9)
        text = rng.choice((f"{name} has {a} {thing} and gives away {b}. how many are left?",
                           f"{name} had {a} {thing}. {pronoun} lost {b}. how many {thing} now?"))
        result = a - b
    else:
        a, b = rng.randint(2, 5), rng.randint(2, 5)
        text = rng.choice((f"{name} buys {a} bags of {b} {thing}. how many {thing}?",
                           f"{name} has {a} boxes with {b} {thing} each. how many {thing} in all?"))
        result = a * b
    return f"question: {text}\nanswer: ", str(result), {"operation": op}
