"""Loading score tables: the happy paths and one clear error per kind of bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from soce_bo.analysis import ScoreTable, load_score_table
from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import CategoryScore


def test_csv_and_json_give_the_same_table(tmp_path):
    (tmp_path / "s.csv").write_text("model,math,tool\nA,0.5,0.25\nB,0.75,1\nC,0.1,0.2\n")
    (tmp_path / "s.json").write_text(json.dumps({
        "A": {"math": 0.5, "tool": 0.25}, "B": {"math": 0.75, "tool": 1}, "C": {"tool": 0.2, "math": 0.1},
    }))
    a, b = load_score_table(tmp_path / "s.csv"), load_score_table(tmp_path / "s.json")
    assert a.models == b.models == ("A", "B", "C")
    assert a.categories == b.categories == ("math", "tool")
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.score("B", "tool") == 1.0 and a.model_means()["A"] == pytest.approx(0.375)


def test_mapping_accepts_category_scores():
    t = ScoreTable.from_mapping({"A": {"x": {"accuracy": 0.5, "n": 20, "sem": 0.1}},
                                 "B": {"x": CategoryScore(accuracy=0.25, n=20, sem=0.1)}})
    assert t.n == {"x": 20} and t.score("B", "x") == 0.25 and t.score("A", "x") == 0.5


@pytest.mark.parametrize("text, match", [
    ("model,math,tool\nA,0.5,\nB,0.1,0.2\n", r"bad.csv: model 'A' has no score for category 'tool'"),
    ("model,math,tool\nA,0.5,0.3\nB,high,0.2\n", r"model 'B' on category 'math' is not numeric: 'high'"),
    ("model,math,tool\nA,0.5,0.3\nA,0.1,0.2\n", r"bad.csv:3: model 'A' appears twice"),
    ("model,math,tool\nA,0.5,0.3,0.9\n", r"'A' has 3 scores but the header names 2"),
    ("model\n", r"needs a header row"),
    ("model,math,tool\nA,nan,0.3\n", r"'A' on category 'math' is nan"),
])
def test_csv_errors_name_file_model_category(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(BenchmarkError, match=match):
        load_score_table(path)


def test_json_and_path_errors(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"A": {"x": 0.1, "y": 0.2}, "B": {"x": 0.3}}))
    with pytest.raises(BenchmarkError, match=r"m.json: model 'B' has no score for category 'y'"):
        load_score_table(tmp_path / "m.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(BenchmarkError, match="broken.json: not valid JSON"):
        load_score_table(tmp_path / "broken.json")
    with pytest.raises(BenchmarkError, match="does not exist"):
        load_score_table(tmp_path / "none.csv")
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(BenchmarkError, match="unknown format"):
        load_score_table(tmp_path / "t.txt")


def test_table_is_immutable():
    t = ScoreTable(("a", "b", "c"), ("x",), [[0.1], [0.2], [0.3]])
    with pytest.raises(ValueError):
        t.scores[0, 0] = 1.0
    with pytest.raises(BenchmarkError, match="duplicate model"):
        ScoreTable(("a", "a"), ("x",), [[0.1], [0.2]])
