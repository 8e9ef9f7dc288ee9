"""scripts/slurm_local.sh: a second `up` changes nothing, `down` stops exactly the daemons `up`
started (by pid), and `up` brings back a cluster that runs jobs. Skipped on a cluster this script
did not start (its `down` would not touch it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm_local.sh"
STATE = Path(os.environ.get("SOCE_SLURM_STATE_DIR", "/run/soce-slurm"))
CONF = Path("/etc/slurm/slurm.conf")
DAEMONS = ("munged", "slurmctld", "slurmd")


def _pids() -> dict[str, int]:
    return {d: int((STATE / f"{d}.pid").read_text()) for d in DAEMONS if (STATE / f"{d}.pid").exists()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _sh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_up_is_idempotent_and_down_stops_only_its_daemons(slurm_cluster: str, tmp_path: Path):
    before = _pids()
    if set(before) != set(DAEMONS) or "soce_bo scripts/slurm_local.sh" not in CONF.read_text():
        pytest.skip("this cluster was not started by scripts/slurm_local.sh")
    conf_mtime = CONF.stat().st_mtime_ns
    assert _sh("up").returncode == 0
    assert _pids() == before and CONF.stat().st_mtime_ns == conf_mtime  # nothing restarted or rewritten
    status = _sh("status").stdout
    assert all(f"{d}: running (pid {before[d]}" in status for d in DAEMONS) and "idle" in status

    down = _sh("down")
    assert down.returncode == 0, down.stderr
    assert not any(_alive(pid) for pid in before.values()), "a daemon survived `down`"
    assert _pids() == {}
    try:
        up = _sh("up")
        assert up.returncode == 0, up.stderr
    finally:
        if set(_pids()) != set(DAEMONS):
            _sh("up")
    after = _pids()
    assert set(after) == set(DAEMONS) and all(_alive(p) for p in after.values())
    job = subprocess.run(["sbatch", "--wait", "--mem=100M", f"--output={tmp_path / 'out.txt'}",
                          "--wrap", "echo ran on $SLURMD_NODENAME"], capture_output=True, text=True, timeout=120)
    assert job.returncode == 0, job.stderr
    assert (tmp_path / "out.txt").read_text().startswith("ran on ")
