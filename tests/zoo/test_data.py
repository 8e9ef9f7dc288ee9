"""Eval splits are disjoint, same-sized per category and never trained on."""

from __future__ import annotations

import itertools
from collections import Counter

from soce_bo.zoo.data import PROBE_SPLIT, dataset_batches, make_splits, read_prompts, training_batches, write_jsonl
from soce_bo.zoo.tasks import CATEGORIES


def test_splits_are_disjoint_balanced_and_seeded(tmp_path):
    rows = make_splits(0, {"dev": 8, "test": 16})
    assert rows == make_splits(0, {"dev": 8, "test": 16})
    assert rows != make_splits(1, {"dev": 8, "test": 16})
    for split, n in (("dev", 8), ("test", 16)):
        assert Counter(r["category"] for r in rows[split]) == {c: n for c in CATEGORIES}
    ids = [r["id"] for s in rows.values() for r in s]
    assert len(ids) == len(set(ids))
    dev_prompts = {r["prompt"] for r in rows["dev"]}
    assert not dev_prompts & {r["prompt"] for r in rows["test"]}


def test_dev_and_test_are_identically_distributed():
    """Cut in draw order, the dev split of seed 1 held twice test's share of `add_todo` calls (the
    generator's small corners are used up first; chi-square p = 8e-6): the pool is shuffled first."""
    from scipy.stats import chi2_contingency

    def kind(row) -> str:  # which function is called, with which arguments mentioned
        (name, gold), = row["possible_answer"][0].items()
        return name + ":" + ",".join(k for k, accepted in gold.items() if "" not in accepted)

    for seed in (0, 1, 2):
        rows = make_splits(seed, {"dev": 200, "test": 500})
        counts = {s: Counter(kind(r) for r in rows[s] if r["category"] == "tool") for s in ("dev", "test")}
        kinds = sorted(set(counts["dev"]) | set(counts["test"]))
        p = chi2_contingency([[counts[s][k] for k in kinds] for s in counts]).pvalue
        assert p > 0.01, (seed, p, counts)


def test_probe_split_is_held_out_from_training(tmp_path):
    rows = make_splits(0, {"dev": 4, "test": 4, PROBE_SPLIT: 4})
    for split, r in rows.items():
        write_jsonl(tmp_path / f"{split}.jsonl", r)
    assert len(read_prompts(tmp_path)) == 48
    (tmp_path / f"{PROBE_SPLIT}.jsonl").unlink()  # a zoo without a probe: dev and test only
    assert len(read_prompts(tmp_path)) == 32


def test_training_stream_skips_held_out_prompts(tmp_path):
    rows = make_splits(0, {"dev": 4, "test": 4})
    for split, r in rows.items():
        write_jsonl(tmp_path / f"{split}.jsonl", r)
    held_out = read_prompts(tmp_path)
    assert len(held_out) == 32
    # Hold out everything a stream would produce first, then check the stream avoids all of it.
    first = training_batches({"math": 1.0}, 8, seed=3, held_out=frozenset())
    seen = frozenset(ex.prompt for _, batch in itertools.islice(first, 5) for ex in batch)
    again = training_batches({"math": 1.0}, 8, seed=3, held_out=seen | held_out)
    for _, batch in itertools.islice(again, 5):
        assert not {ex.prompt for ex in batch} & (seen | held_out)


def test_training_mixture_is_respected():
    stream = training_batches({"tool": 0.8, "math": 0.2}, 1, seed=0, held_out=frozenset())
    counts = Counter(cat for cat, _ in itertools.islice(stream, 1000))
    assert set(counts) == {"tool", "math"}
    assert 0.75 < counts["tool"] / 1000 < 0.85


def test_a_team_dataset_is_finite_proportional_and_held_out(tmp_path):
    rows = make_splits(0, {"dev": 4, "test": 4})
    held_out = frozenset(r["prompt"] for s in rows.values() for r in s)
    stream = dataset_batches({"tool": 30, "math": 10}, 4, seed=5, held_out=held_out)
    batches = list(itertools.islice(stream, 400))
    counts = Counter(cat for cat, _ in batches)
    assert set(counts) == {"tool", "math"} and 0.65 < counts["tool"] / 400 < 0.85  # 3 : 1 by size
    seen = {cat: {ex.prompt for c, batch in batches if c == cat for ex in batch} for cat in counts}
    assert len(seen["tool"]) <= 30 and len(seen["math"]) <= 10  # epochs over a fixed set, not a stream
    assert len(seen["math"]) >= 8  # ... and the whole set gets used
    assert not (seen["tool"] | seen["math"]) & held_out
    again = list(itertools.islice(dataset_batches({"tool": 30, "math": 10}, 4, seed=5, held_out=held_out), 400))
    assert [(c, [e.prompt for e in b]) for c, b in again] == [(c, [e.prompt for e in b]) for c, b in batches]
    other = list(itertools.islice(dataset_batches({"tool": 30, "math": 10}, 4, seed=6, held_out=held_out), 50))
    assert {e.prompt for _, b in other for e in b} != {e.prompt for _, b in batches[:50] for e in b}
