"""The whole method end to end on the tiny zoo through a real vLLM server, killed and resumed.

One run directory, three invocations of `python -m soce_bo.run +experiment=demo` with a tiny budget:
1. SIGKILL the driver's whole process group once the ledger holds a few completed trials;
2. re-run: the completed trials are kept verbatim and the budget is finished, report written;
3. re-run again: nothing left to evaluate, no fresh evaluation at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

TINY = ["+experiment=demo", "limit=24", "search.grid.budget=6", "search.random.budget=3",
        "search.cmaes.budget=3", "search.bo.budget=7", "search.bo.method=fast"]


def _run(run_dir: Path, zoo_dir: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOCE_ZOO_DIR": str(zoo_dir)}
    return subprocess.run([sys.executable, "-m", "soce_bo.run", *TINY, f"run_dir={run_dir}"],
                          capture_output=True, text=True, timeout=timeout, env=env)


def _ledger(run_dir: Path) -> list[dict]:
    path = run_dir / "ledger.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def test_demo_killed_then_resumed(zoo_dir: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "SOCE_ZOO_DIR": str(zoo_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "soce_bo.run", *TINY, f"run_dir={run_dir}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    deadline = time.time() + 400
    while len(_ledger(run_dir)) < 8 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = _ledger(run_dir)
    assert len(before) >= 8
    assert not (run_dir / "results.json").exists()

    second = _run(run_dir, zoo_dir)
    assert second.returncode == 0, second.stderr[-3000:]
    after = _ledger(run_dir)
    assert after[: len(before)] == before, "completed trials were lost or rewritten on resume"
    results = json.loads((run_dir / "results.json").read_text())
    ev = results["evaluations"]
    assert ev["expert"] == 5 and ev["grid"] == 6 and ev["random"] == 3 and ev["bo"] == 7
    assert ev["cmaes"] >= 3
    assert ev["shapley"] == 31 and results["shapley"]["exact"]  # every coalition of the 5 candidates
    assert sum(results["shapley"]["values"].values()) == pytest.approx(
        next(r["objective"] for r in results["tables"]["dev"] if r["kind"] == "uniform_all"))
    # every soup evaluated on the select split is on the simplex
    for t in results["trials"]:
        assert abs(sum(t["weights"].values()) - 1) < 1e-6 and min(t["weights"].values()) >= 0
    test_rows = {(r["kind"], r["name"]) for r in results["tables"]["test"]}
    assert {("uniform_all", None), ("uniform_experts", None), ("best", "bo"), ("best", "grid")} <= test_rows
    assert all(("expert", n) in test_rows for n in results["pool"])
    assert set(results["experts"]) <= set(results["pool"]) and len(results["experts"]) >= 2
    assert (run_dir / "report.html").stat().st_size > 10_000
    assert "Verdict" in (run_dir / "report.md").read_text()
    soup = Path(results["final_soup"]["path"])
    assert (soup / "soce_manifest.json").exists() and (soup / "mergekit.yaml").exists()

    third = _run(run_dir, zoo_dir)
    assert third.returncode == 0, third.stderr[-3000:]
    assert len(_ledger(run_dir)) == len(after), "a finished run must not evaluate anything again"


def test_report_rebuilds_from_results(tmp_path: Path):
    """`python -m soce_bo.report run_dir=...` needs nothing but results.json."""
    cats = {"a": {"accuracy": 0.5, "n": 10, "sem": 0.1}, "b": {"accuracy": 0.3, "n": 10, "sem": 0.1}}
    better = {"a": {"accuracy": 0.5, "n": 10, "sem": 0.1}, "b": {"accuracy": 0.4, "n": 10, "sem": 0.1}}
    results = {
        "schema_version": 2, "best_candidate": "x",
        "comparisons": [{"a": "best of bo", "b": "x", "difference": 0.05, "ci_low": -0.01, "ci_high": 0.11,
                         "p_value": 0.2, "n_items": 20, "significant": False}],
        "final_soup": {"path": "/runs/t/best_soup", "strategy": "bo", "weights": {"x": 0.5, "y": 0.5}},
        "shapley": {"values": {"x": 0.2, "y": 0.15, "z": 0.05}, "sem": None, "exact": True, "coalitions": 7,
                    "v_empty": 0.0, "split": "dev"},
        "published": {"published_overall": {"x": 72.37}, "paper_soce": {"weights": {"x": 0.7, "y": 0.3}, "overall": 76.5}},
        "run": {"experiment": "t", "seed": 0, "wall_seconds": 1.0}, "splits": {"select": "dev", "report": "test"},
        "benchmark": {"name": "zoo", "categories": ["a", "b"], "objective": "mean"}, "pool": {},
        "analysis": {"mode": "tau", "tau": 0.5, "categories": ["a", "b", "c"], "low_corr": ["a"],
                     "correlation": [[1, 0.1, 0.5], [0.1, 1, 0.2], [0.5, 0.2, 1]], "clusters": [["a", "c"], ["b"]],
                     "experts": [{"model": "x", "categories": ["a"]}, {"model": "y", "categories": ["b"]},
                                 {"model": "z", "categories": ["c"]}]},
        "experts": ["x", "y", "z"], "strategies": ["grid", "bo"],
        "trials": [{"strategy": "bo", "weights": {"x": 0.2, "y": 0.3, "z": 0.5}}],
        "evaluations": {"bo": 2, "grid": 3}, "fresh_evaluations": 5,
        "curves": {"bo": [0.1, 0.3], "grid": [0.2, 0.2, 0.25]}, "reference_lines": {"best single candidate": 0.2},
        "best": {"bo": {"weights": {"x": 0.2, "y": 0.3, "z": 0.5}, "objective": 0.3}},
        "surrogate": {"points": [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3]], "mean": [0.1, 0.2, 0.3, 0.4]},
        "tables": {"test": [
            {"kind": "expert", "name": "x", "weights": {"x": 1}, "objective": 0.4, "sem": 0.01, "per_category": cats},
            {"kind": "best", "name": "bo", "weights": {"x": 0.5, "y": 0.5}, "objective": 0.45, "sem": 0.01,
             "per_category": better},
        ]},
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    out = subprocess.run([sys.executable, "-m", "soce_bo.report", f"run_dir={tmp_path}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "report.md").read_text()
    assert "**bo** soup beat the best single candidate on dev (x) on test" in md
    assert "p = 0.2, not significant at 0.05" in md
    assert "**What to use:** the checkpoint at `/runs/t/best_soup`" in md
    assert "| x | 20.00 | yes |" in md and "exact over all 7 coalitions" in md
    assert "| x | 72.37 |" in md and "The paper's SoCE soup: overall 76.5 (weights: x 0.7, y 0.3)" in md
    for fig in ("correlation", "best_so_far", "categories", "weights", "ternary", "shapley"):
        assert (tmp_path / "figures" / f"{fig}.png").stat().st_size > 1000
    assert "data:image/png;base64" in (tmp_path / "report.html").read_text()
    missing = subprocess.run([sys.executable, "-m", "soce_bo.report", f"run_dir={tmp_path / 'nope'}"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no results.json" in missing.stderr
