"""ZooBenchmark: loading, request limits, and each category's scorer on hand-made completions."""

from __future__ import annotations

import json

import pytest

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import Benchmark, CategoryScore
from soce_bo.zoo.benchmark import ZooBenchmark
from soce_bo.zoo.data import make_splits, write_jsonl
from soce_bo.zoo.tasks import CATEGORIES


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    d = tmp_path_factory.mktemp("zoo_data")
    for split, rows in make_splits(0, {"dev": 3, "test": 5}).items():
        write_jsonl(d / f"{split}.jsonl", rows)
    return ZooBenchmark(d)


def first(bench, category):
    return next(it for it in bench.load("dev") if it.category == category)


def test_protocol_and_loading(bench):
    assert isinstance(bench, Benchmark) and bench.name == "zoo"
    assert bench.categories() == list(CATEGORIES)
    dev, test = bench.load("dev"), bench.load("test")
    assert len(dev) == 12 and len(test) == 20
    assert not {i.id for i in dev} & {i.id for i in test}
    tool = first(bench, "tool")
    assert {"functions", "possible_answer"} <= set(tool.meta)


def test_zoo_folder_is_accepted_as_data_dir(bench):
    assert ZooBenchmark(bench.data_dir.parent / bench.data_dir.name).load("dev")
    zoo = bench.data_dir.parent
    (zoo / "data").mkdir(exist_ok=True)
    for f in ("dev.jsonl", "test.jsonl"):
        (zoo / "data" / f).write_bytes((bench.data_dir / f).read_bytes())
    assert len(ZooBenchmark(zoo).load("test")) == 20


def test_requests_stop_at_newline_with_per_category_limits(bench):
    for cat, limit in (("math", 8), ("retrieve", 8), ("tool", 64), ("translate", 64)):
        req = bench.request(first(bench, cat))
        assert req.max_tokens == limit and req.stop == ("\n",)
        assert req.prompt == first(bench, cat).prompt


def test_gold_answers_score_one(bench):
    for item in bench.load("test"):
        assert bench.score(item, item.answer) == pytest.approx(1.0), item.id


def test_tool_scoring_uses_the_bfcl_checker(bench):
    item = first(bench, "tool")
    fn = next(iter(item.meta["possible_answer"][0]))
    assert bench.score(item, " " + item.answer + " ") == 1.0
    assert bench.score(item, "[no_such_function(x=1)]") == 0.0
    assert bench.score(item, "not a call at all") == 0.0
    assert bench.score(item, f"[{fn}()]") == 0.0  # required arguments missing
    wrong_enum = dict(item.meta, possible_answer=[{"get_weather": {"city": ["paris"], "unit": ["celsius"]}}])
    assert bench.score(type(item)(item.id, "tool", item.prompt, "", wrong_enum),
                       "[get_weather(city='paris',unit='kelvin')]") == 0.0


def test_math_takes_the_last_number(bench):
    item = first(bench, "math")
    assert bench.score(item, f"1 2 {item.answer}") == 1.0
    assert bench.score(item, f"{item.answer} then 1000") == 0.0
    assert bench.score(item, "no number") == 0.0


def test_translate_is_chrf_with_partial_credit(bench):
    item = first(bench, "translate")
    words = item.answer.split()
    partial = bench.score(item, " ".join(words[:-1]))
    assert 0.0 < partial < 1.0
    assert bench.score(item, "zzzz") < partial
    assert bench.score(item, "") == 0.0


def test_retrieve_is_exact_match(bench):
    item = first(bench, "retrieve")
    assert bench.score(item, f" {item.answer}") == 1.0
    assert bench.score(item, item.answer + "0") == 0.0


def test_overall_is_the_macro_mean(bench):
    per = {"tool": CategoryScore(1.0, 4, 0.1), "math": CategoryScore(0.0, 40, 0.1)}
    assert bench.overall(per) == pytest.approx(0.5)


def test_bad_files_name_the_culprit(tmp_path):
    with pytest.raises(BenchmarkError, match="dev.jsonl"):
        ZooBenchmark(tmp_path).load("dev")
    good = {"id": "a", "category": "math", "prompt": "p", "answer": "1"}
    cases = {
        "{not json": "not valid JSON",
        json.dumps({"id": "a", "category": "math"}): "missing field",
        json.dumps({**good, "category": "poetry"}): "unknown category 'poetry'",
        json.dumps({**good, "category": "tool"}): "tool item needs",
    }
    for line, message in cases.items():
        (tmp_path / "dev.jsonl").write_text(json.dumps(good) + "\n" + line + "\n")
        with pytest.raises(BenchmarkError, match=message) as err:
            ZooBenchmark(tmp_path).load("dev")
        assert "dev.jsonl:2" in str(err.value)
    (tmp_path / "dev.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(BenchmarkError, match="duplicate id 'a'"):
        ZooBenchmark(tmp_path).load("dev")

