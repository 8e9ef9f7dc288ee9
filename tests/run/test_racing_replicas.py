"""A real run with two vLLM replicas and racing on: trials overlap, raced soups are consistent, nothing repeats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from soce_bo.search.simplex import weights_key

pytestmark = [pytest.mark.slow, pytest.mark.vllm]


def _intervals(rows: list[dict]) -> list[tuple[float, float]]:
    ends = [(datetime.fromisoformat(r["timestamp"]).timestamp(), r["wall_seconds"]) for r in rows]
    return sorted((end - wall, end) for end, wall in ends)


def test_two_replicas_with_racing(zoo_dir: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "soce_bo.run", "+experiment=demo", f"run_dir={run_dir}", "search=[grid,bo]",
           "servers.replicas=2", "racing.enabled=true", "racing.stages=[0.5,1.0]", "analysis.shapley=false",
           "search.grid.budget=16", "search.bo.budget=6"]
    env = {**os.environ, "SOCE_ZOO_DIR": str(zoo_dir), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (run_dir / "ledger.jsonl").read_text().splitlines()]
    trials = [r for r in rows if "strategy" in r]
    results = json.loads((run_dir / "results.json").read_text())
    n_dev = results["benchmark"]["n_items"]["dev"]

    # two replicas: while one soup was being scored, another was too
    grid = [r for r in trials if r["strategy"] == "grid" and not r["cached"]]
    spans = _intervals(grid)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "no two grid evaluations overlapped"

    # racing: stopped soups hold the first stage's items only, complete ones every item
    stopped = [r for r in trials if r.get("stopped_early")]
    assert stopped, "racing stopped no soup of the grid (its corners are far below the best candidate)"
    for r in trials:
        n = len(r.get("item_indices") or r["item_scores"])
        assert n == (n_dev // 2 if r.get("stopped_early") else n_dev)
        assert len(r["item_scores"]) == n
    cost = results["cost"]
    for name in ("grid", "bo"):
        mine = [r for r in trials if r["strategy"] == name and not r["cached"]]
        assert cost[name]["fresh"] == len(mine)
        assert cost[name]["stopped_early"] == sum(bool(r.get("stopped_early")) for r in mine)
        assert cost[name]["items"] == sum(len(r.get("item_indices") or r["item_scores"]) for r in mine)
    assert cost["grid"]["items"] < cost["grid"]["fresh"] * n_dev
    assert results["racing"]["stages"] == [0.5, 1.0]

    # the returned soups are complete evaluations, and BO (batched over two replicas) repeats nothing
    for best in results["best"].values():  # its own trial, or free information another strategy numbered
        (match,) = [r for r in trials if r["strategy"] == best["strategy"] and r["trial"] == best["trial"]]
        assert not match.get("stopped_early") and match["weights"] == best["weights"]
    bo = [weights_key(r["weights"]) for r in trials if r["strategy"] == "bo"]
    assert len(bo) == len(set(bo)), "BO proposed a soup twice"
    report = (run_dir / "report.md").read_text()
    assert "## Cost of each search" in report and "Racing on" in report
