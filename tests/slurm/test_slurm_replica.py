"""A SlurmReplica on the real one-node cluster: sbatch -> URL file -> a verified soup swap; the
job scancel'ed under it is named in the error; restart() submits a new job that serves the same
soup identically; stop() leaves squeue empty (checked by the autouse fixture).

The pool goes through folder names with a comma, a space and a quote (symlinks to the zoo's
experts): the old `--export=...,POOL='[...]'` lost everything after the first comma.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from soce_bo.errors import ServerError
from soce_bo.serve.config import ServerConfig
from soce_bo.serve.slurm import SlurmReplica, job_state, slurm_replicas
from soce_bo.values import GenRequest

pytestmark = [pytest.mark.slurm, pytest.mark.vllm, pytest.mark.slow]

CONF = Path(__file__).resolve().parents[2] / "conf"
EXPERTS = ("tool_expert", "math_expert", "translate_expert")


def _prompts(zoo_dir: Path, n: int = 8) -> list[GenRequest]:
    rows = [json.loads(line) for line in (zoo_dir / "data" / "dev.jsonl").read_text().splitlines()[:n]]
    return [GenRequest(prompt=r["prompt"], max_tokens=24, stop=("\n",)) for r in rows]


def test_server_job_serves_dies_and_is_replaced(zoo_dir: Path, tmp_path: Path, slurm_cluster: str):
    odd = tmp_path / "pool, with 'odd' names"
    odd.mkdir()
    pool = []
    for name in EXPERTS:
        (odd / name).symlink_to(zoo_dir / "experts" / name)
        pool.append(str(odd / name))
    cfg = ServerConfig.from_mapping(OmegaConf.load(CONF / "server" / "cpu.yaml"))
    [replica] = slurm_replicas({"replicas": 1, "cpus_per_task": 1, "mem_gb": 3, "time_min": 15,
                                "url_timeout_s": 400}, cfg, pool, tmp_path / "run")
    assert isinstance(replica, SlurmReplica)
    try:
        client = replica.start()
        first_job = replica.job_id
        assert job_state(first_job)[0] == "RUNNING"
        assert not client.url.startswith(("http://127.", "http://localhost")), client.url  # reachable from other nodes
        info = client.load_pool(pool)
        assert info.n_tensors > 0 and len(info.paths) == 3
        swap = client.apply([0.2, 0.3, 0.5])  # raises unless every rank applied exactly this soup
        assert abs(swap.checksum - swap.expected_checksum) <= 1e-4 * max(1.0, abs(swap.expected_checksum))
        before = client.generate(_prompts(zoo_dir))
        assert len(before) == 8 and any(before)
        print(f"sbatch -> URL file: {replica.submit_s:.1f} s")

        subprocess.run(["scancel", first_job], check=True, timeout=30)
        time.sleep(2)
        with pytest.raises(ServerError, match=rf"job {first_job} .*(CANCELLED|COMPLETING|GONE)"):
            client.apply([0.5, 0.3, 0.2])

        client = replica.restart("cancelled by the test")
        assert replica.job_id != first_job and job_state(replica.job_id)[0] == "RUNNING"
        assert job_state(first_job)[0] in ("CANCELLED", "COMPLETED", "GONE")
        client.load_pool(pool)
        client.apply([0.2, 0.3, 0.5])
        assert client.generate(_prompts(zoo_dir)) == before  # the new job serves the same soup
        print(f"restart (scancel -> new URL file): {replica.submit_s:.1f} s")
        assert "SLURM job" in replica.diagnose() and "slurm-" in replica.diagnose()
    finally:
        replica.stop()
    assert job_state(replica.job_id)[0] in ("CANCELLED", "COMPLETED", "GONE")
    attempt = tmp_path / "run" / "servers" / "slurm" / "replica0"
    assert sorted(p.name for p in attempt.iterdir()) == ["attempt1", "attempt2"]
    assert list((attempt / "attempt1").glob("slurm-*.log")) and list((attempt / "attempt1").glob("vllm_server_*.log"))


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
