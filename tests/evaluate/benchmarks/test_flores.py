"""FLORES: the three plain-text layouts, dev/devtest splits, sentence chrF items, corpus BLEU/chrF."""

from __future__ import annotations

import pytest
import sacrebleu

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import Benchmark, summarize
from soce_bo.evaluate.benchmarks.flores import FloresBenchmark, bleu_tokenizer_for

ENG = ["The cat sits on the mat.", "It is raining today.", "We like green tea."]
DEU = ["Die Katze sitzt auf der Matte.", "Heute regnet es.", "Wir mögen grünen Tee."]


def _write(folder, name, lines):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def flores200(tmp_path):
    for split in ("dev", "devtest"):
        _write(tmp_path / split, f"eng_Latn.{split}", ENG)
        _write(tmp_path / split, f"deu_Latn.{split}", DEU)
    return tmp_path


def test_load_and_prompt(flores200):
    bench = FloresBenchmark(data_dir=str(flores200), pairs=["eng_Latn-deu_Latn", "deu_Latn-eng_Latn"])
    assert isinstance(bench, Benchmark)
    items = bench.load("test")
    assert [it.category for it in items] == ["eng_Latn-deu_Latn"] * 3 + ["deu_Latn-eng_Latn"] * 3
    assert items[0].prompt == ("Translate the following sentence from English to German.\n"
                               "English: The cat sits on the mat.\nGerman:")
    assert items[0].answer == DEU[0] and items[3].answer == ENG[0]
    assert bench.request(items[0]).stop == ("\n",)
    assert len(bench.load("all")) == 12


def test_sentence_chrf_scores_and_overall(flores200):
    bench = FloresBenchmark(data_dir=str(flores200), pairs=["eng_Latn-deu_Latn"])
    items = bench.load("dev")
    perfect = bench.score(items[0], " Die Katze sitzt auf der Matte.\nEnglish: next")
    assert perfect == pytest.approx(1.0)
    partial = bench.score(items[0], "Die Katze liegt auf dem Sofa.")
    assert partial == pytest.approx(sacrebleu.sentence_chrf("Die Katze liegt auf dem Sofa.", [DEU[0]]).score / 100)
    assert 0.0 < partial < 1.0
    assert bench.score(items[1], "") == 0.0
    per_cat = summarize([it.category for it in items[:2]], [perfect, partial])
    assert bench.overall(per_cat) == pytest.approx((perfect + partial) / 2)


def test_corpus_scores_match_sacrebleu(flores200):
    bench = FloresBenchmark(data_dir=str(flores200), pairs=["eng_Latn-deu_Latn"], item_metric="bleu")
    items = bench.load("test")
    hyps = ["Die Katze sitzt auf der Matte.", "Es regnet heute.", "Wir trinken grünen Tee."]
    report = bench.corpus_scores(items, hyps)["eng_Latn-deu_Latn"]
    assert report["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [DEU]).score)
    assert report["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [DEU]).score)
    assert report["n"] == 3
    assert bench.score(items[0], hyps[0]) == pytest.approx(1.0)


def test_other_layouts_and_tokenizers(tmp_path):
    _write(tmp_path / "dev", "dev.eng_Latn", ENG)      # FLORES+ text release
    _write(tmp_path / "dev", "zho_Hans", ["猫坐在垫子上。", "今天下雨。", "我们喜欢绿茶。"])  # bare name
    bench = FloresBenchmark(data_dir=str(tmp_path), pairs=["eng_Latn-zho_Hans"])
    items = bench.load("dev")
    assert len(items) == 3 and "to Simplified Chinese" in items[0].prompt
    assert bleu_tokenizer_for("zho_Hans", "auto") == "zh"
    assert bleu_tokenizer_for("jpn_Jpan", "auto") == "char"
    assert bleu_tokenizer_for("deu_Latn", "auto") == "13a"
    assert bleu_tokenizer_for("deu_Latn", "intl") == "intl"


def test_errors(flores200):
    with pytest.raises(BenchmarkError, match="fra_Latn"):
        FloresBenchmark(data_dir=str(flores200), pairs=["eng_Latn-fra_Latn"]).load("dev")
    with pytest.raises(BenchmarkError, match="src-tgt"):
        FloresBenchmark(data_dir=str(flores200), pairs=["eng_Latn"])
    _write(flores200 / "dev", "fra_Latn.dev", ["Une phrase."])
    with pytest.raises(BenchmarkError, match="aligned"):
        FloresBenchmark(data_dir=str(flores200), pairs=["eng_Latn-fra_Latn"]).load("dev")
