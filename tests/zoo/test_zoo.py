"""The real zoo (session fixture): the SoCE situation on test, confirmed by re-scoring, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from soce_bo.zoo.benchmark import ZooBenchmark
from soce_bo.evaluate.hf_backend import HFBackend
from soce_bo.evaluate.runner import evaluate_items
from soce_bo.zoo.config import ZooConfig
from soce_bo.zoo.manifest import is_current, load_manifest

pytestmark = pytest.mark.slow  # the first use builds the zoo (minutes); later sessions reuse it


def mean(row: dict[str, float]) -> float:
    return sum(row.values()) / len(row)


def test_zoo_is_current_for_the_default_config(zoo_dir):
    assert is_current(zoo_dir, ZooConfig().config_hash())
    m = load_manifest(zoo_dir)
    assert {c.category for c in m.experts.values()} == set(m.raw["categories"])
    assert len(m.candidates) >= 5  # enough models for a category correlation


def test_each_expert_is_best_on_its_own_category_on_test(zoo_dir):
    m = load_manifest(zoo_dir)
    table = m.scores("test")
    for name, expert in m.experts.items():
        own = table[name][expert.category]
        others = {n: row[expert.category] for n, row in table.items() if n != name}
        assert own > max(others.values()), (name, own, others)


def test_no_model_is_best_everywhere_so_souping_has_room(zoo_dir):
    table = load_manifest(zoo_dir).scores("test")
    categories = next(iter(table.values())).keys()
    for name, row in table.items():
        assert any(row[c] < max(r[c] for r in table.values()) for c in categories), name


def test_uniform_expert_soup_keeps_the_skills(zoo_dir):
    """Averaging experts fine-tuned from one base keeps most of each skill (not garbage)."""
    m = load_manifest(zoo_dir)
    soup = m.raw["reference_soups"]["uniform_experts"]["scores"]["test"]
    base = m.scores("test")["base"]
    assert mean(soup) > mean(base)
    assert sum(soup[c] > base[c] for c in soup) >= 3


def test_rescoring_an_expert_reproduces_the_manifest(zoo_dir):
    m = load_manifest(zoo_dir)
    bench = ZooBenchmark(zoo_dir / "data")
    name = "retrieve_expert"
    result = evaluate_items(bench, HFBackend.from_pretrained(m.candidates[name].path), bench.load("test"),
                            show_progress=False)
    assert {c: round(s.accuracy, 6) for c, s in result.per_category.items()} == m.scores("test")[name]


def test_trained_models_stop_with_eos(zoo_dir):
    """vLLM ends a completion on EOS: the experts must emit it right after a short answer."""
    m = load_manifest(zoo_dir)
    bench = ZooBenchmark(zoo_dir)
    items = [it for it in bench.load("dev") if it.category in ("math", "retrieve")]
    backend = HFBackend.from_pretrained(m.candidates["math_expert"].path)
    outs = backend.generate([bench.request(it) for it in items])
    assert all(len(o) < bench.request(it).max_tokens for o, it in zip(outs, items))
    assert all("<eos>" not in o and "\n" not in o for o in outs)


def test_cli_reuses_the_cached_zoo_and_prints_the_table(zoo_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "soce_bo.zoo", f"out={zoo_dir}"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "reused from cache" in run.stdout and "zoo test scores" in run.stdout
    assert "retrieve_expert" in run.stdout


def test_cli_rejects_bad_values_with_one_line(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "soce_bo.zoo", f"out={tmp_path / 'z'}", "n_dev=0"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2 and "n_dev must be >= 1" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "z").exists()
