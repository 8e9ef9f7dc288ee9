"""MGSM: TSV loading per language, number extraction, exact match, seeded split, clear errors."""

from __future__ import annotations

import pytest

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import Benchmark, summarize
from soce_bo.evaluate.benchmarks.scoring import extract_number
from soce_bo.evaluate.benchmarks.mgsm import MGSMBenchmark


@pytest.fixture
def mgsm_dir(tmp_path):
    (tmp_path / "mgsm_en.tsv").write_text(
        "Janet has 3 apples and buys 4 more. How many?\t7\n"
        "A train travels 1,200 km in 2 days. Km per day?\t600\n"
        "Tom had 10 coins and lost 12. Balance?\t-2\n", encoding="utf-8")
    (tmp_path / "mgsm_de.tsv").write_text(
        "Janet hat 3 Äpfel und kauft 4. Wie viele?\t7\n"
        "Ein Zug fährt 1.200 km in 2 Tagen. Km pro Tag?\t600\n"
        "Tom hatte 10 Münzen und verlor 12. Saldo?\t-2\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("completion, expected", [
    ("3 + 4 = 7. The answer is 7.", 7.0),
    ("First 2 days... so 1,200 / 2 = 600", 600.0),
    ("Die Antwort lautet 42, nicht 41.", 42.0),
    ("答案是 18。", 18.0),
    ("10 - 12 = -2", -2.0),
    ("no digits here", None),
])
def test_extract_number(completion, expected):
    assert extract_number(completion) == expected


def test_load_score_and_overall(mgsm_dir):
    bench = MGSMBenchmark(data_dir=str(mgsm_dir), languages=["en", "de"], dev_fraction=0.0)
    assert isinstance(bench, Benchmark)
    items = bench.load("test")
    assert [it.category for it in items] == ["en"] * 3 + ["de"] * 3
    assert items[0].prompt == "Question: Janet has 3 apples and buys 4 more. How many?\nStep-by-Step Answer:"
    assert bench.request(items[0]).stop == ("\nQuestion:", "\n\n\n")
    answers = ["3 + 4 = 7. The answer is 7.", "1200 / 2 = 600 km per day", "The answer is 22.",
               "7", "Die Antwort ist 600.", "Antwort: -2"]
    scores = [bench.score(it, a) for it, a in zip(items, answers)]
    assert scores == [1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    per_cat = summarize([it.category for it in items], scores)
    assert bench.overall(per_cat) == pytest.approx((2 / 3 + 1.0) / 2)


def test_split_keeps_parallel_questions_together(mgsm_dir):
    bench = MGSMBenchmark(data_dir=str(mgsm_dir), languages=["en", "de"], dev_fraction=0.5, split_seed=3)
    dev = {it.id for it in bench.load("dev")}
    test = {it.id for it in bench.load("test")}
    assert dev.isdisjoint(test) and len(dev | test) == 6
    assert {i.split("_")[-1] for i in dev if "_en_" in i} == {i.split("_")[-1] for i in dev if "_de_" in i}


def test_errors_name_the_file_and_line(mgsm_dir):
    with pytest.raises(BenchmarkError, match="mgsm_fr.tsv"):
        MGSMBenchmark(data_dir=str(mgsm_dir), languages=["fr"]).load("test")
    (mgsm_dir / "mgsm_ja.tsv").write_text("q1\t1\nbroken row without tab\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"mgsm_ja.tsv:2"):
        MGSMBenchmark(data_dir=str(mgsm_dir), languages=["ja"]).load("test")
    with pytest.raises(BenchmarkError, match="split"):
        MGSMBenchmark(data_dir=str(mgsm_dir), languages=["en"]).load("train")
