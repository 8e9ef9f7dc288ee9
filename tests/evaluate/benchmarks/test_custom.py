"""Custom JSONL benchmark: every scorer on constructed rows, splits, and file:line:field errors."""

from __future__ import annotations

import json

import pytest

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import Benchmark, summarize
from soce_bo.evaluate.benchmarks.bfcl.benchmark import load_entries
from soce_bo.evaluate.benchmarks.custom import CustomBenchmark
from soce_bo.evaluate.subset import round_robin_subset

BFCL = load_entries("simple_python")[0]  # calculate_triangle_area(base=10, height=5)

ROWS = [
    {"id": "e1", "category": "qa", "prompt": "Capital of France?", "answer": "Paris", "scorer": "exact", "split": "dev"},
    {"id": "e2", "category": "qa", "prompt": "Capital of Peru?", "answer": ["Lima", "lima"], "scorer": "exact_ci", "split": "test"},
    {"id": "n1", "category": "math", "prompt": "2+3=", "answer": 5, "scorer": "number", "max_tokens": 8, "stop": ["\n"], "split": "test"},
    {"id": "c1", "category": "qa", "prompt": "Name a primary colour.", "answer": ["red", "blue", "yellow"], "scorer": "contains", "split": "test"},
    {"id": "r1", "category": "format", "prompt": "A date?", "answer": r"\d{4}-\d{2}-\d{2}", "scorer": "regex", "split": "test"},
    {"id": "t1", "category": "mt", "prompt": "Translate: Hallo Welt", "answer": "Hello world", "scorer": "chrf", "split": "test"},
    {"id": "t2", "category": "mt", "prompt": "Translate: Guten Morgen", "answer": "Good morning", "scorer": "bleu", "split": "test"},
    {"id": "b1", "category": "tool", "prompt": "Area of a triangle, base 10, height 5?", "answer": BFCL["ground_truth"],
     "functions": BFCL["function"], "scorer": "bfcl_ast", "split": "test"},
]


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_every_scorer(tmp_path):
    bench = CustomBenchmark(path=str(_write(tmp_path / "b.jsonl", ROWS)))
    assert isinstance(bench, Benchmark)
    assert bench.categories() == ["qa", "math", "format", "mt", "tool"]
    dev, test = bench.load("dev"), bench.load("test")
    assert [i.id for i in dev] == ["e1"] and len(test) == 7
    by_id = {i.id: i for i in dev + test}
    cases = {
        "e1": ("Paris", " paris"), "e2": ("LIMA ", "Lima, Peru"), "n1": ("The sum is 5.", "6"),
        "c1": ("I like blue.", "Green"), "r1": ("It is 2024-05-17.", "May 17"),
        "t1": ("Hello world", ""), "t2": ("Good morning", "Bad evening"),
        "b1": ("[calculate_triangle_area(base=10, height=5)]", "[calculate_triangle_area(base=10, height=6)]"),
    }
    for item_id, (good, bad) in cases.items():
        assert bench.score(by_id[item_id], good) == pytest.approx(1.0), item_id
        assert bench.score(by_id[item_id], bad) < 0.5, item_id
    req = bench.request(by_id["n1"])
    assert req.max_tokens == 8 and req.stop == ("\n",)
    assert bench.request(by_id["e1"]).max_tokens == 256
    scores = [bench.score(i, cases[i.id][0]) for i in test]
    assert bench.overall(summarize([i.category for i in test], scores)) == pytest.approx(1.0)


def test_folder_with_split_files_and_hashed_split(tmp_path):
    rows = [{"id": f"q{i}", "category": "c", "prompt": "p", "answer": "a", "scorer": "exact"} for i in range(200)]
    folder = tmp_path / "bench"
    folder.mkdir()
    _write(folder / "dev.jsonl", rows[:5])
    _write(folder / "test.jsonl", rows[5:9])
    bench = CustomBenchmark(path=str(folder))
    assert len(bench.load("dev")) == 5 and len(bench.load("test")) == 4 and len(bench.load("all")) == 9
    hashed = CustomBenchmark(path=str(_write(tmp_path / "h.jsonl", rows)), dev_fraction=0.3)
    dev = CustomBenchmark(path=str(tmp_path / "h.jsonl"), dev_fraction=0.3).load("dev")
    assert 40 <= len(dev) <= 80 and len(round_robin_subset(hashed.load("dev"), 50)) == 50


@pytest.mark.parametrize("row, message", [
    ({"category": "c", "prompt": "p", "answer": "a", "scorer": "exact"}, r"b.jsonl:2: field 'id': missing"),
    ({"id": "x", "category": "c", "prompt": "p", "answer": "a", "scorer": "rouge"}, r"b.jsonl:2: field 'scorer'"),
    ({"id": "x", "category": "c", "prompt": "p", "answer": "(", "scorer": "regex"}, r"b.jsonl:2: field 'answer': invalid regex"),
    ({"id": "x", "category": "c", "prompt": "p", "answer": "a", "scorer": "exact", "max_tokens": 0}, r"field 'max_tokens'"),
    ({"id": "x", "category": "c", "prompt": "p", "answer": "a", "scorer": "exact", "stop": "\n"}, r"field 'stop'"),
    ({"id": "x", "category": "c", "prompt": "p", "answer": "a", "scorer": "exact", "split": "train"}, r"field 'split'"),
    ({"id": "x", "category": "c", "prompt": "p", "answer": [{"f": {}}], "scorer": "bfcl_ast"}, r"b.jsonl:2: field 'functions'"),
    ({"id": "x", "category": "c", "prompt": "p", "answer": {"a": 1}, "scorer": "exact"}, r"field 'answer'"),
    ({"id": "e1", "category": "c", "prompt": "p", "answer": "a", "scorer": "exact"}, r"b.jsonl:2: field 'id': duplicate"),
])
def test_validation_names_file_line_and_field(tmp_path, row, message):
    path = _write(tmp_path / "b.jsonl", [ROWS[0], row])
    with pytest.raises(BenchmarkError, match=message):
        CustomBenchmark(path=str(path))


def test_bad_json_and_missing_file(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"b.jsonl:2: not valid JSON"):
        CustomBenchmark(path=str(path))
    with pytest.raises(BenchmarkError, match="missing custom benchmark file"):
        CustomBenchmark(path=str(tmp_path / "none.jsonl"))
    with pytest.raises(BenchmarkError, match="no rows for category"):
        CustomBenchmark(path=str(_write(tmp_path / "c.jsonl", ROWS[:1])), categories=["qa", "nope"])
