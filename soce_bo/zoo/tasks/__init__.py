"""The four toy categories, each a seeded generator of (prompt, answer, meta) examples.

They mirror the paper's domains and are scored like the real benchmarks: `tool` (BFCL-style
function calls, bfcl-eval's AST checker), `math` (MGSM-style word problems, final number),
`translate` (a toy language, chrF) and `retrieve` (∞-Bench-style key-value lookup, exact match).
Prompts are short because the model is char-level and vLLM serves it with max_model_len 512.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from soce_bo.zoo.tasks import arithmetic, kv_lookup, tool_calls, toy_language


@dataclass(frozen=True)
class Example:
    """One generated problem: `answer` is the exact text the model should emit before EOS."""

    prompt: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A category: its generator and the decoding limits its benchmark requests use."""

    category: str
    sample: Callable[..., tuple[str, str, dict[str, Any]]]  # (rng, train=False) -> prompt, answer, meta
    max_tokens: int


TASKS: dict[str, Task] = {
    "tool": Task("tool", tool_calls.sample, max_tokens=64),
    "math": Task("math", arithmetic.sample, max_tokens=8),
    "translate": Task("translate", toy_language.sample, max_tokens=64),
    "retrieve": Task("retrieve", kv_lookup.sample, max_tokens=8),
}
CATEGORIES: tuple[str, ...] = tuple(TASKS)
STOP: tuple[str, ...] = ("\n",)
"""Every answer is one line; a newline ends it even if the model forgets EOS."""


def sample_example(category: str, rng: random.Random, train: bool = False) -> Example:
    """Draw one example of `category` from `rng`; `train` may widen the distribution (curriculum)."""
    prompt, answer, meta = TASKS[category].sample(rng, train=train)
    return Example(prompt=prompt, answer=answer, meta=meta)
