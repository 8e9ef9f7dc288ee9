"""`python -m soce_bo.run` on the real one-node SLURM cluster, end to end on the tiny zoo:

1. a 2-seed multirun of the demo through hydra-submitit-launcher's `submitit_slurm`: one SLURM job
   per sweep point, sized by `cluster.*`, results and reports where a local multirun puts them;
2. a run whose evaluation server is a SLURM job (`servers.slurm`), with that job scancel'ed
   mid-search: a new job replaces it, the trial is retried, the run completes with every trial;
3. a bad partition: one `error:` line, exit 2, nothing queued.
Every test leaves squeue empty (tests/slurm/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_queue import queued_jobs

pytestmark = [pytest.mark.slurm]

# Each driver starts one engine; the search is cut to what proves the plumbing.
SMALL = ["+experiment=demo", "limit=16", "search=[uniform,grid]", "search.grid.budget=3", "analysis.shapley=false"]
# 5 candidates + uniform_all + uniform_experts + 6 grid soups on dev: the server job is cancelled after 6.
TRIALS = ["+experiment=demo", "limit=16", "search=[uniform,grid]", "search.grid.budget=6", "analysis.shapley=false"]


def _env(zoo_dir: Path) -> dict[str, str]:
    return {**os.environ, "SOCE_ZOO_DIR": str(zoo_dir), "OMP_NUM_THREADS": "1"}


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _job_info(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=30)
    return dict(re.findall(r"(\w+)=(\S*)", out.stdout))


@pytest.mark.slow
@pytest.mark.vllm
def test_multirun_of_two_seeds_through_submitit_slurm(zoo_dir: Path, tmp_path: Path, slurm_cluster: str):
    sweep = tmp_path / "sweep"
    out = subprocess.run(
        [sys.executable, "-m", "soce_bo.run", "-m", *SMALL, "cluster=slurm", "seed=0,1",
         # two engines on two cores: each job's OpenMP placement is left to the OS, one thread each
         "server.cpu_bind=nobind", "+server.env={OMP_NUM_THREADS: '1'}", f"hydra.sweep.dir={sweep}"],
        capture_output=True, text=True, timeout=900, env=_env(zoo_dir))
    assert out.returncode == 0, out.stderr[-4000:]
    jobs = sorted(p.name for p in (sweep / ".submitit").iterdir() if re.fullmatch(r"\d+_\d+", p.name))
    assert len(jobs) == 2 and {j.split("_")[1] for j in jobs} == {"0", "1"}, jobs  # one array task per point
    for job in jobs:  # the result file is written just before the job step ends
        deadline = time.time() + 60
        while (info := _job_info(job)).get("JobState") in ("RUNNING", "COMPLETING") and time.time() < deadline:
            time.sleep(0.5)
        assert info.get("JobState") == "COMPLETED", info
        assert "cpu=2" in info["TRES"] and "mem=6G" in info["TRES"] and "gres/gpu" not in info["TRES"], info["TRES"]
    multirun = (sweep / "multirun.yaml").read_text()
    assert "seed=0,1" in multirun and "cluster=slurm" in multirun
    for point in ("0", "1"):
        run_dir = sweep / point
        assert f"seed: {point}" in (run_dir / "config.yaml").read_text()
        results = json.loads((run_dir / "results.json").read_text())
        assert results["run"]["seed"] == int(point)
        # budget 3 fresh evaluations; a sampled grid point that is a free soup (the experts' uniform) is
        # skipped and the next one takes its place
        assert results["cost"]["grid"]["fresh"] == 3 and results["evaluations"]["grid"] >= 3
        assert "Verdict" in (run_dir / "report.md").read_text() and (run_dir / "report.html").exists()


@pytest.mark.slow
@pytest.mark.vllm
def test_server_job_scancelled_mid_search_is_replaced(zoo_dir: Path, tmp_path: Path, slurm_cluster: str):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "soce_bo.run", *TRIALS, f"run_dir={run_dir}",
           "servers.slurm={replicas: 1, cpus_per_task: 1, mem_gb: 3, time_min: 30, url_timeout_s: 600}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=_env(zoo_dir), start_new_session=True)
    try:
        deadline = time.time() + 600
        while len(_lines(run_dir / "ledger.jsonl")) < 6 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, f"run ended before the server job could be cancelled: {proc.stderr.read()[-3000:]}"
        servers = [line.split() for line in queued_jobs() if "soce-server" in line]
        assert len(servers) == 1 and servers[0][1] == "RUNNING", servers
        first_job = servers[0][0]
        subprocess.run(["scancel", first_job], check=True, timeout=30)
        _, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-4000:]
    ledger = _lines(run_dir / "ledger.jsonl")
    assert not any(r.get("failed") for r in ledger), "a trial failed instead of being retried"
    results = json.loads((run_dir / "results.json").read_text())
    ev = results["evaluations"]
    assert ev["expert"] == 5 and ev["grid"] == 6, ev
    assert any(r.get("strategy") == "uniform_experts" for r in ledger)  # the free uniform soup, scored before the search
    assert results["retries"] >= 1, "the cancelled job's trial was not retried"
    attempts = sorted(p.name for p in (run_dir / "servers" / "slurm" / "replica0").iterdir())
    assert attempts == ["attempt1", "attempt2"], attempts
    assert _job_info(first_job).get("JobState") in ("CANCELLED", None), _job_info(first_job)


def test_bad_partition_is_one_error_and_nothing_is_queued(zoo_dir: Path, tmp_path: Path, slurm_cluster: str):
    for argv in (["-m", "+experiment=demo", "cluster=slurm", "cluster.partition=no_such_part", "seed=0,1",
                  f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                 ["+experiment=demo", f"run_dir={tmp_path / 'run'}", "servers.slurm={partition: no_such_part}"]):
        out = subprocess.run([sys.executable, "-m", "soce_bo.run", *argv], capture_output=True, text=True,
                             timeout=300, env=_env(zoo_dir))
        assert out.returncode == 2, out.stderr[-3000:]
        errors = [line for line in out.stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1 and errors[0].startswith("error: "), out.stderr[-3000:]
        assert "partition 'no_such_part'" in errors[0] and slurm_cluster in errors[0]
        assert not queued_jobs()
    assert not (tmp_path / "sweep" / ".submitit").exists()




@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_driver_cancels_its_server_job(zoo_dir: Path, tmp_path: Path, slurm_cluster: str, sig: int):
    """Ctrl-C (or SIGTERM) while the driver waits for its server job: the job is scancel'ed, not left queued."""
    cmd = [sys.executable, "-m", "soce_bo.run", *SMALL, f"run_dir={tmp_path / 'run'}",
           "servers.slurm={mem_gb: 3, time_min: 15}"]
    # A shell starts background jobs with SIGINT ignored (POSIX), and Python keeps an ignored SIGINT: a
    # suite launched that way would make the driver deaf to Ctrl-C. Reset it, as a terminal's driver has it.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(zoo_dir),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while not [j for j in queued_jobs() if "soce-server" in j] and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None and queued_jobs(), f"no server job was submitted: {proc.stderr.read()[-3000:]}"
        proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    deadline = time.time() + 60  # scancel'ed by the driver on its way out: gone within KillWait
    while queued_jobs() and time.time() < deadline:
        time.sleep(0.5)
    assert not queued_jobs(), queued_jobs()
