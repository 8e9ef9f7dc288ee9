"""Kills and server faults during a real demo run (vLLM on CPU): nothing completed is lost.

1. Driver kill battery: one vLLM server outlives the drivers (`servers.urls`), the driver is
   SIGKILLed at 10 seeded moments (during start-up, mid-evaluation, between trials) and resumed
   each time under another PYTHONHASHSEED. The final ledgers and results equal those of an
   uninterrupted run, the server's own request counter shows at most one lost evaluation per
   kill, and one more invocation of the finished run evaluates nothing.
2. Server faults: the run's own server has its engine process SIGKILLed mid-search, and later
   SIGSTOPped (a hang: the request timeout fires); each time the replica is replaced, the trial
   retried, and the run completes with every trial, the ledger showing the retries. The run starts
   its own server (a local replica), so this is also the end-to-end check of a complete demo run:
   budgets, tables, the paired comparisons, Shapley values, the final soup and the report.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from soce_bo.search.simplex import KEY_DIGITS

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

LIMIT = 24  # items per split: every evaluation sends exactly LIMIT prompts to the engine
TINY = ["+experiment=demo", f"limit={LIMIT}", "search.grid.budget=6", "search.random.budget=3",
        "search.cmaes.budget=3", "search.bo.budget=7", "search.bo.method=fast"]
KILLS = 10
VOLATILE = ("timestamp", "wall_seconds", "seconds")  # timings differ between runs, nothing else may


def _env(zoo_dir: Path, hash_seed: int) -> dict[str, str]:
    return {**os.environ, "SOCE_ZOO_DIR": str(zoo_dir), "PYTHONHASHSEED": str(hash_seed), "OMP_NUM_THREADS": "1"}


def _cmd(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "soce_bo.run", *TINY, f"run_dir={run_dir}", *extra]


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _rounded(value):
    """Floats to 1e-9, the resolution at which the scheduler tells two soups apart (`weights_key`);
    BO restored from its snapshot is bit-identical (tests/search/test_bo.py), so this hides nothing."""
    if isinstance(value, float):
        return round(value, KEY_DIGITS)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _stable(rows: list[dict]) -> list[dict]:
    return [_rounded({k: v for k, v in r.items() if k not in VOLATILE}) for r in rows]


def _finished_requests(url: str) -> float:
    """Engine requests finished so far (one per prompt), from vLLM's Prometheus endpoint."""
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(float(m.group(1)) for m in re.finditer(r'^vllm:request_success_total\{[^}]*\} (\S+)$', text, re.M))


def _summary(run_dir: Path) -> dict:
    res = json.loads((run_dir / "results.json").read_text())
    return _rounded({"experts": res["experts"], "best": res["best"], "tables": res["tables"],
                     "final": res["final_soup"]["weights"], "evaluations": res["evaluations"],
                     "comparisons": res["comparisons"], "shapley": res["shapley"]})


@pytest.fixture(scope="module")
def shared_server(zoo_dir: Path):
    """One engine for every driver process of the battery (driver kills never touch it)."""
    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.server import SoupServer

    first = sorted((zoo_dir / "experts").iterdir())[0]
    with SoupServer(first, ServerConfig()) as server:
        yield server.url


def test_driver_kill_battery(zoo_dir: Path, tmp_path: Path, shared_server: str):
    url = [f"servers.urls=[{shared_server}]"]
    ref_dir, run_dir = tmp_path / "reference", tmp_path / "killed"
    before = _finished_requests(shared_server)
    ref = subprocess.run(_cmd(ref_dir, *url), capture_output=True, text=True, timeout=900, env=_env(zoo_dir, 0))
    assert ref.returncode == 0, ref.stderr[-3000:]
    ref_requests = _finished_requests(shared_server) - before
    ref_select, ref_report = _lines(ref_dir / "ledger.jsonl"), _lines(ref_dir / "ledger_test.jsonl")
    total = len(ref_select) + len(ref_report)

    rng = random.Random(20261201)
    targets = sorted([0] + rng.sample(range(1, total - 1), KILLS - 1))  # ledger lines before each kill
    before = _finished_requests(shared_server)
    kills = 0
    for k, target in enumerate(targets):
        proc = subprocess.Popen(_cmd(run_dir, *url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=_env(zoo_dir, 1000 + k), start_new_session=True)
        deadline = time.time() + 600
        while (len(_lines(run_dir / "ledger.jsonl")) + len(_lines(run_dir / "ledger_test.jsonl")) < target
               and proc.poll() is None and time.time() < deadline):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))  # land anywhere: mid-evaluation, between trials, in start-up
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        assert not (run_dir / "results.json").exists() or proc.returncode == 0
    final = subprocess.run(_cmd(run_dir, *url), capture_output=True, text=True, timeout=900, env=_env(zoo_dir, 7))
    assert final.returncode == 0, final.stderr[-3000:]
    wasted_requests = _finished_requests(shared_server) - before - ref_requests
    finished = len(_lines(run_dir / "ledger.jsonl")) + len(_lines(run_dir / "ledger_test.jsonl"))
    again = subprocess.run(_cmd(run_dir, *url), capture_output=True, text=True, timeout=900, env=_env(zoo_dir, 8))
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(_lines(run_dir / "ledger.jsonl")) + len(_lines(run_dir / "ledger_test.jsonl")) == finished, \
        "a finished run must not evaluate anything again"

    assert kills >= KILLS - 1, f"only {kills} of {KILLS} kills landed before the run finished"
    assert _stable(_lines(run_dir / "ledger.jsonl")) == _stable(ref_select), "select ledger differs"
    assert _stable(_lines(run_dir / "ledger_test.jsonl")) == _stable(ref_report), "report ledger differs"
    assert _summary(run_dir) == _summary(ref_dir)
    _check_complete_demo(run_dir, json.loads((run_dir / "results.json").read_text()))
    # Each kill can lose only the evaluation in flight: at most LIMIT prompts of engine work.
    assert wasted_requests <= kills * LIMIT, f"{wasted_requests} wasted engine requests for {kills} kills"
    print(f"kill battery: {kills} kills, {len(ref_select) + len(ref_report)} trials kept, "
          f"{wasted_requests / LIMIT:.2f} evaluations re-run")


def _engine_pid(driver_pid: int, timeout: float = 300) -> int:
    """The pid of the vLLM engine-core process among the driver's descendants (its current server)."""
    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        for child in psutil.Process(driver_pid).children(recursive=True):
            try:
                if "EngineCore" in " ".join(child.cmdline()) or "EngineCore" in child.name():
                    return child.pid
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.2)
    raise AssertionError("no vLLM EngineCore process among the driver's descendants")


def test_server_killed_and_hung_mid_search(zoo_dir: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    cmd = _cmd(run_dir, "server.request_timeout_s=20")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=_env(zoo_dir, 0), start_new_session=True)
    faults: list[tuple[float, int]] = []  # (wall time, engine pid)
    try:
        for n_lines, fault in ((8, signal.SIGKILL), (16, signal.SIGSTOP)):
            deadline = time.time() + 600
            while len(_lines(run_dir / "ledger.jsonl")) < n_lines and proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None, f"run ended before the fault: {proc.stderr.read()[-2000:]}"
            pid = _engine_pid(proc.pid)
            os.kill(pid, fault)
            faults.append((time.time(), pid))
        _, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-3000:]
    ledger = _lines(run_dir / "ledger.jsonl")
    assert not any(r.get("failed") for r in ledger), "a trial failed instead of being retried"
    retried = [r for r in ledger if r.get("retries")]
    assert len(retried) >= 2, f"expected both faults to show as retries, got {retried}"
    assert any("timed out" in e.lower() or "timeout" in e.lower() for r in retried for e in r["retries"]), retried
    # The dead engine is noticed by the watchdog (the error names it), not by the 20 s request timeout.
    killed = f"EngineCore process (pid {faults[0][1]}) died"
    assert any(killed in e for r in retried for e in r["retries"]), (killed, retried)
    for (t_fault, _), what in zip(faults, ("SIGKILL", "SIGSTOP")):
        done = min(_wall(r["timestamp"]) for r in retried if _wall(r["timestamp"]) > t_fault)
        print(f"engine {what}: the retried trial was in the ledger {done - t_fault:.1f} s after the fault")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["retries"] >= 2
    assert "retried after their server died or hung" in (run_dir / "report.md").read_text()
    _check_complete_demo(run_dir, results)


def _wall(timestamp: str) -> float:
    """A ledger timestamp (ISO 8601, UTC) as time.time() seconds."""
    from datetime import datetime

    return datetime.fromisoformat(timestamp).timestamp()


def _check_complete_demo(run_dir: Path, results: dict) -> None:
    """What a finished tiny demo run must hold: every budget spent, every table row, the soup, the report."""
    ev = results["evaluations"]
    assert ev["expert"] == 5 and ev["grid"] == 6 and ev["random"] == 3 and ev["bo"] == 7 and ev["cmaes"] >= 3
    assert ev["shapley"] == 31 and results["shapley"]["exact"]  # every coalition of the 5 candidates
    dev = {(r["kind"], r["name"]): r for r in results["tables"]["dev"]}
    assert sum(results["shapley"]["values"].values()) == pytest.approx(dev[("uniform_all", None)]["objective"])
    for t in results["trials"]:  # every soup evaluated on the select split is on the simplex
        assert abs(sum(t["weights"].values()) - 1) < 1e-6 and min(t["weights"].values()) >= 0
    test_rows = {(r["kind"], r["name"]) for r in results["tables"]["test"]}
    assert {("uniform_all", None), ("uniform_experts", None), ("best", "bo"), ("best", "grid")} <= test_rows
    assert all(("expert", n) in test_rows for n in results["pool"])
    assert set(results["experts"]) <= set(results["pool"]) and len(results["experts"]) >= 2
    assert results["best_candidate"] in results["pool"]
    assert {("best of bo", "best of grid")} <= {(c["a"], c["b"]) for c in results["comparisons"]}
    assert (run_dir / "report.html").stat().st_size > 10_000
    report = (run_dir / "report.md").read_text()
    assert "Verdict" in report and "What to use" in report and "paired permutation" in report
    soup = Path(results["final_soup"]["path"])
    assert (soup / "soce_manifest.json").exists() and (soup / "mergekit.yaml").exists()
