"""kill -9 a running search, rerun it on the same ledger: same completed trials, then the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soce_bo.search.grid import grid_points
from soce_bo.search.ledger import read_ledger
from soce_bo.search.simplex import weights_key

SCRIPT = Path(__file__).with_name("resume_script.py")


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def command(ledger: Path, names: str, delay: float) -> list[str]:
    return [sys.executable, str(SCRIPT), str(ledger), names, str(delay)]


def launch(ledger: Path, names: str, delay: float) -> subprocess.Popen:
    return subprocess.Popen(command(ledger, names, delay), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def rerun(ledger: Path, names: str, timeout: float) -> str:
    out = subprocess.run(command(ledger, names, 0.0), env=ENV, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def kill_after(proc: subprocess.Popen, ledger: Path, n_lines: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ledger.exists() and ledger.read_bytes().count(b"\n") >= n_lines:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        assert proc.poll() is None, f"finished before the kill:\n{proc.stdout.read()}"
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"ledger never reached {n_lines} lines:\n{proc.communicate()[0]}")


def check_resumed(ledger: Path, before: list, budgets: dict[str, int]) -> list:
    after = read_ledger(ledger)
    assert [r.to_dict() for r in after[: len(before)]] == [r.to_dict() for r in before]
    for name, budget in budgets.items():
        mine = [r for r in after if r.strategy == name]
        assert [r.trial for r in mine] == list(range(budget))
        assert len({weights_key(r.weights) for r in mine}) == budget, f"{name} repeated a soup"
    fresh = [weights_key(r.weights) for r in after if not r.cached]
    assert len(fresh) == len(set(fresh)), "a soup was evaluated twice"
    return after


def test_kill_and_resume_grid_then_cmaes(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    proc = launch(ledger, "grid,cmaes", delay=0.08)
    kill_after(proc, ledger, n_lines=45, timeout=60)  # killed inside the CMA-ES run
    before = read_ledger(ledger)
    assert 45 <= len(before) < 37 + 24
    out = rerun(ledger, "grid,cmaes", timeout=120)
    assert "grid resumed_from=ledger evaluated=0" in out
    assert "cmaes resumed_from=ledger" in out
    after = check_resumed(ledger, before, {"grid": 37, "cmaes": 24})
    grid = {weights_key(r.weights) for r in after if r.strategy == "grid"}
    assert grid == {weights_key(p) for p in grid_points(["a", "b", "c"])}


@pytest.mark.slow
def test_kill_and_resume_bo_from_its_snapshot(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    proc = launch(ledger, "bo", delay=0.05)
    kill_after(proc, ledger, n_lines=5, timeout=120)  # 4 seeds + at least 1 GP trial
    before = read_ledger(ledger)
    assert (tmp_path / "bo.state.json").exists()
    assert "bo resumed_from=snapshot" in rerun(ledger, "bo", timeout=300)
    check_resumed(ledger, before, {"bo": 8})
