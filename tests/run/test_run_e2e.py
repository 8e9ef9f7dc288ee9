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
