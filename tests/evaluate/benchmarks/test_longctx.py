"""∞-Bench-style retrieval: jsonl loading, InfiniteBench templates and scoring rules, truncation."""

from __future__ import annotations

import json

import pytest

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import Benchmark
from soce_bo.evaluate.benchmarks.longctx import LongContextBenchmark, truncate_middle
from soce_bo.evaluate.subset import round_robin_subset


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


@pytest.fixture
def data_dir(tmp_path):
    noise = "The grass is green. The sky is blue. " * 20
    _jsonl(tmp_path / "passkey.jsonl", [
        {"id": i, "context": noise + f"The pass key is {k}. Remember it. " + noise,
         "input": "What is the pass key?", "answer": [str(k)]} for i, k in enumerate((68142, 90210, 12345))])
    _jsonl(tmp_path / "number_string.jsonl", [
        {"id": 0, "context": noise + "The sequence of digits is 4872019. " + noise,
         "input": "What is the sequence of digits?", "answer": ["4872019"]}])
    kv = {"a1b2-c3": "f9e8-d7c6", "k0-k1": "v0-v1"}
    _jsonl(tmp_path / "kv_retrieval.jsonl", [
        {"id": 0, "context": json.dumps(kv), "input": 'Key: "a1b2-c3"\nThe value associated with the specified key is:',
         "answer": "f9e8-d7c6"}])
    return tmp_path


def test_load_prompts_and_scores(data_dir):
    bench = LongContextBenchmark(data_dir=str(data_dir), dev_fraction=0.0)
    assert isinstance(bench, Benchmark)
    items = bench.load("test")
    assert [it.category for it in items] == ["passkey"] * 3 + ["number_string", "kv_retrieval"]
    assert items[0].prompt.startswith("There is an important info hidden inside a lot of irrelevant text.")
    assert items[0].prompt.endswith("What is the pass key?\n\nThe pass key is")
    assert items[4].prompt.startswith("Extract the value corresponding to the specified key in the JSON object below.")
    passkey, number, kv = items[0], items[3], items[4]
    assert bench.score(passkey, " 68142. I remember it.") == 1.0
    assert bench.score(passkey, " 6814") == 0.0
    assert bench.score(passkey, " The key was 68142") == 1.0   # first digit run
    assert bench.score(passkey, " 1. It is 68142") == 0.0      # first digit run is "1"
    assert bench.score(number, " 4872019") == 1.0
    assert bench.score(kv, ' "f9e8-d7c6".') == 1.0
    assert bench.score(kv, " f9e8-d7c6x") == 0.0               # whole word only
    assert bench.request(kv).max_tokens == 64


def test_truncation_keeps_head_and_tail():
    assert truncate_middle("abcdefghij", 4) == "abij"
    assert truncate_middle("abc", 10) == "abc"
    assert truncate_middle("abcdefghij", 5) == "abhij"


def test_limit_split_and_errors(data_dir):
    bench = LongContextBenchmark(data_dir=str(data_dir), tasks=["passkey"], dev_fraction=0.5)
    assert len(round_robin_subset(bench.load("all"), 2)) == 2
    dev, test = bench.load("dev"), bench.load("test")
    assert {i.id for i in dev}.isdisjoint({i.id for i in test})
    with pytest.raises(BenchmarkError, match="longbook_qa_eng"):
        LongContextBenchmark(data_dir=str(data_dir), tasks=["longbook_qa_eng"])
    (data_dir / "passkey.jsonl").write_text('{"id": 0, "context": "x", "input": "q"}\n', encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"passkey.jsonl:1: missing field 'answer'"):
        LongContextBenchmark(data_dir=str(data_dir), tasks=["passkey"]).load("test")
    with pytest.raises(BenchmarkError, match="number_string.jsonl"):
        LongContextBenchmark(data_dir=str(data_dir / "nowhere"), tasks=["number_string"]).load("test")
