"""Server jobs on the real one-node cluster: `runners/slurm_server.sbatch` run by hand (pool file,
RUN_DIR, a driver that finds it through servers.url_dir), and a SlurmReplica whose job cannot start.
Start/restart/stop of SlurmReplica inside a run: tests/slurm/test_slurm_run.py.

The pool goes through folder names with a comma, a space and a quote (symlinks to the zoo's
experts): the old `--export=...,POOL='[...]'` lost everything after the first comma.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from soce_bo.errors import ServerError
from soce_bo.serve.config import ServerConfig
from soce_bo.serve.slurm import SBATCH_SCRIPT as SCRIPT
from soce_bo.serve.slurm import job_state, slurm_replicas

pytestmark = [pytest.mark.slurm, pytest.mark.vllm, pytest.mark.slow]

CONF = Path(__file__).resolve().parents[2] / "conf"
EXPERTS = ("tool_expert", "math_expert", "translate_expert")
SMALL = ["+experiment=demo", "limit=16", "search=[uniform,grid]", "search.grid.budget=3", "analysis.shapley=false"]


def test_hand_run_server_job_and_a_driver_that_finds_it(zoo_dir: Path, tmp_path: Path, slurm_cluster: str):
    """README's recipe: pool file + RUN_DIR exported, `sbatch runners/slurm_server.sbatch`, then the
    driver with `servers.url_dir=$RUN_DIR/servers`; folder names with a comma, a space and a quote."""
    odd = tmp_path / "pool, with 'odd' names"
    odd.mkdir()
    for name in EXPERTS:
        (odd / name).symlink_to(zoo_dir / "experts" / name)
    pool_file = tmp_path / "pool.txt"
    pool_file.write_text("".join(f"{odd / n}\n" for n in EXPERTS))
    shared = tmp_path / "shared"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(RUN_DIR=str(shared), POOL_FILE=str(pool_file), SOCE_PYTHON=sys.executable, SOCE_SERVER="cpu")
    sub = subprocess.run(["sbatch", "--parsable", "--export=ALL", "--gpus-per-node=0", "--cpus-per-task=1",
                          "--mem=3G", "--time=15", f"--chdir={tmp_path}", str(SCRIPT),
                          "server.cpu_bind=nobind", "+server.env={OMP_NUM_THREADS: '1'}"],
                         capture_output=True, text=True, timeout=30, env=env)
    assert sub.returncode == 0, sub.stderr
    job = sub.stdout.strip()
    try:
        t0 = time.monotonic()
        while not list((shared / "servers").glob("*.url")):
            state = job_state(job)
            assert state[0] in ("PENDING", "RUNNING"), (state, _tail(tmp_path / f"soce-server-{job}.log"))
            assert time.monotonic() - t0 < 600, "no URL file after 600 s"
            time.sleep(0.5)
        [url_file] = (shared / "servers").glob("*.url")
        url = url_file.read_text().strip()
        print(f"hand-run sbatch -> URL file: {time.monotonic() - t0:.1f} s ({url})")
        assert not url.startswith(("http://127.", "http://localhost")), url  # reachable from other nodes
        assert "x 3 experts" in _tail(tmp_path / f"soce-server-{job}.log")  # the whole pool arrived
        run_dir = tmp_path / "run"
        out = subprocess.run([sys.executable, "-m", "soce_bo.run", *SMALL, f"run_dir={run_dir}",
                              f"servers.url_dir={shared / 'servers'}"],
                             capture_output=True, text=True, timeout=600, env={**os.environ, "SOCE_ZOO_DIR": str(zoo_dir)})
        assert out.returncode == 0, out.stderr[-3000:]
        results = json.loads((run_dir / "results.json").read_text())
        assert results["evaluations"]["grid"] == 3 and "Verdict" in (run_dir / "report.md").read_text()
        assert job_state(job)[0] == "RUNNING"  # the driver leaves a server it did not start alone
    finally:
        subprocess.run(["scancel", job], timeout=30)
    deadline = time.monotonic() + 60
    while job_state(job)[0] not in ("CANCELLED", "COMPLETED", "GONE") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert list((shared / "servers").glob("job-*/vllm_server_0.log"))


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else f"(no {path})"


def test_a_job_that_cannot_start_is_one_clear_error(tmp_path: Path, zoo_dir: Path, slurm_cluster: str):
    """A wrong Python for the job: the error gives the job's state and the script's own message."""
    cfg = ServerConfig.from_mapping(OmegaConf.load(CONF / "server" / "cpu.yaml"))
    [replica] = slurm_replicas({"python": str(tmp_path / "no-such-python"), "url_timeout_s": 60}, cfg,
                               [str(zoo_dir / "experts" / n) for n in EXPERTS], tmp_path / "run")
    try:
        with pytest.raises(ServerError, match=r"(?s)ended before it served: FAILED.*no Python at .*no-such-python"):
            replica.start()
    finally:
        replica.stop()


def test_hand_run_gpu_server_without_gpus_is_refused_by_the_script(tmp_path: Path, slurm_cluster: str):
    """The script's default is a GPU server; a job without GPUs ends at once with the reason."""
    pool_file = tmp_path / "pool.txt"
    pool_file.write_text("/nonexistent/a\n/nonexistent/b\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") and k != "CUDA_VISIBLE_DEVICES"}
    env.update(RUN_DIR=str(tmp_path / "shared"), POOL_FILE=str(pool_file), SOCE_PYTHON=sys.executable)
    sub = subprocess.run(["sbatch", "--wait", "--parsable", "--export=ALL", "--gpus-per-node=0", "--cpus-per-task=1",
                          "--mem=100M", "--time=5", f"--chdir={tmp_path}", str(SCRIPT)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert sub.returncode != 0
    job = sub.stdout.strip().split()[0]
    assert "error: slurm_server.sbatch: no GPU allocated to job" in _tail(tmp_path / f"soce-server-{job}.log")


def test_a_job_that_never_starts_times_out_with_its_state(tmp_path: Path, zoo_dir: Path, slurm_cluster: str):
    """A job still queued after url_timeout_s: the error says PENDING and why, and the job is cancelled."""
    cfg = ServerConfig.from_mapping(OmegaConf.load(CONF / "server" / "cpu.yaml"))
    [replica] = slurm_replicas({"url_timeout_s": 5, "extra_sbatch": ["--begin=now+1hour"]}, cfg,
                               [str(zoo_dir / "experts" / n) for n in EXPERTS], tmp_path / "run")
    try:
        with pytest.raises(ServerError, match=r"wrote no URL file .* within 5 s .*it was PENDING \(BeginTime\) "
                                              r"and has been cancelled"):
            replica.start()
        assert job_state(replica.job_id)[0] in ("CANCELLED", "GONE")
    finally:
        replica.stop()
