"""Benchmark splits (dev/test JSONL) and the held-out training stream.

Dev and test come from one pool of distinct items per category, shuffled and cut, so they are
disjoint and identically distributed. Training examples are drawn from the same generators with
fresh seeds and any example whose prompt is an eval prompt is rejected, so no eval item is ever
trained on.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from soce_bo.zoo.tasks import CATEGORIES, Example, sample_example

SPLITS = ("dev", "test")
PROBE_SPLIT = "probe"  # a third held-out split, only in zoos whose base trains until it passes a probe
PROBE_ITEMS = 100  # per category


def stable_seed(*parts: object) -> int:
    """A seed from strings/ints that is the same on every run and machine (unlike `hash()`)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def make_splits(seed: int, sizes: Mapping[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Rows of each split: `sizes[split]` distinct items per category, identically distributed.

    The distinct items are shuffled before the cut: in draw order, items from small corners of a
    generator (a function with few argument values) are used up first, so a later split would hold
    more of the large corners and differ in difficulty (dev 0.71 vs test 0.87 on `tool` for the
    same model, before this shuffle).
    """
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in sizes}
    for category in CATEGORIES:
        rng = random.Random(stable_seed("eval", seed, category))
        pool: dict[str, Example] = {}
        need = sum(sizes.values())
        for _ in range(100 * need):
            example = sample_example(category, rng)
            pool.setdefault(example.prompt, example)
            if len(pool) == need:
                break
        else:  # pragma: no cover - generators have far more distinct prompts than we ask for
            raise RuntimeError(f"category {category!r}: cannot draw {need} distinct items")
        examples = list(pool.values())
        rng.shuffle(examples)
        start = 0
        for split, n in sizes.items():
            for i, ex in enumerate(examples[start:start + n]):
                rows[split].append({"id": f"{category}-{split}-{i:03d}", "category": category,
                                    "prompt": ex.prompt, "answer": ex.answer, **ex.meta})
            start += n
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_prompts(data_dir: Path) -> frozenset[str]:
    """Every eval prompt of every split (and the probe, if any): the training stream's exclusion list."""
    prompts = set()
    for split in (*SPLITS, PROBE_SPLIT):
        if split == PROBE_SPLIT and not (data_dir / f"{split}.jsonl").is_file():
            continue
        with open(data_dir / f"{split}.jsonl", encoding="utf-8") as fh:
            prompts.update(json.loads(line)["prompt"] for line in fh if line.strip())
    return frozenset(prompts)


def _training_example(category: str, rng: random.Random, held_out: frozenset[str]) -> Example:
    """The next training example of `category` from `rng` whose prompt is not an eval prompt."""
    while True:
        example = sample_example(category, rng, train=True)
        if example.prompt not in held_out:
            return example


def training_batches(
    mixture: Mapping[str, float], batch_size: int, seed: int, held_out: frozenset[str]
) -> Iterator[tuple[str, list[Example]]]:
    """Endless (category, examples) batches; one category per batch keeps padding small."""
    rng = random.Random(seed)
    categories, weights = list(mixture), [mixture[c] for c in mixture]
    while True:
        category = rng.choices(categories, weights)[0]
        yield category, [_training_example(category, rng, held_out) for _ in range(batch_size)]


def dataset_batches(
    dataset: Mapping[str, int], batch_size: int, seed: int, held_out: frozenset[str]
) -> Iterator[tuple[str, list[Example]]]:
    """Endless batches resampled from a finite training set: `dataset[c]` examples of category c.

    The set is drawn once from the generators (held-out prompts rejected, as in the stream), then
    every batch takes one category, chosen in proportion to its share of the set, and samples its
    examples with replacement: a team that trains for many steps sees its data for many epochs and
    can overfit it, as real fine-tunes on fixed datasets do.
    """
    draw = random.Random(stable_seed("dataset", seed))
    pools: dict[str, list[Example]] = {}
    for category, n in dataset.items():
        examples = [_training_example(category, draw, held_out) for _ in range(n)]
        if examples:
            pools[category] = examples
    rng = random.Random(seed)
    categories = list(pools)
    sizes = [len(pools[c]) for c in categories]
    while True:
        category = rng.choices(categories, sizes)[0]
        yield category, [rng.choice(pools[category]) for _ in range(batch_size)]
