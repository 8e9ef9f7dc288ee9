"""`check_slurm_launch` refuses, against the live cluster and before anything is queued, a launch
that cannot run: an unknown partition, more GPUs/CPUs/memory than a node has, a bad servers.slurm key.
The per-experiment job sizes of `cluster=slurm` are checked here too (no cluster needed for those)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from soce_bo.errors import ConfigError
from soce_bo.serve.slurm import SlurmServerSpec, _gpus, _minutes, check_slurm_launch

from slurm_queue import queued_jobs

CONF = Path(__file__).resolve().parents[2] / "conf"


def _cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("run", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize("experiment, gpus, cpus", [("demo", 0, 2), ("bfcl_8b", 1, 16), ("mgsm_7b", 1, 16),
                                                   ("bfcl_70b", 8, 64)])
def test_jobs_are_sized_per_experiment(experiment: str, gpus: int, cpus: int):
    launcher = OmegaConf.to_container(_cfg(f"+experiment={experiment}", "cluster=slurm").hydra.launcher,
                                      resolve=True)
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert (launcher["gpus_per_node"], launcher["cpus_per_task"]) == (gpus, cpus)
    assert launcher["mem_gb"] <= (6 if experiment == "demo" else 900)


def test_cluster_keys_reach_the_launcher():
    launcher = _cfg("+experiment=demo", "cluster=slurm", "cluster.partition=gpu", "cluster.account=proj",
                    "cluster.qos=high", "cluster.time_min=30").hydra.launcher
    assert (launcher.partition, launcher.account, launcher.qos, launcher.timeout_min) == ("gpu", "proj", "high", 30)


def test_sinfo_field_parsing():
    assert _gpus("gpu:8") == 8 and _gpus("gpu:a100:4(S:0-1)") == 4 and _gpus("(null)") == 0
    assert _minutes("infinite") is None and _minutes("30:00") == 30 and _minutes("1-02:03:00") == 1563


def test_servers_slurm_keys_are_checked():
    with pytest.raises(ConfigError, match="unknown servers.slurm setting.*gpu_per_replica"):
        SlurmServerSpec.from_mapping({"gpu_per_replica": 1})
    with pytest.raises(ConfigError, match="replicas must be >= 1"):
        SlurmServerSpec.from_mapping({"replicas": 0})


@pytest.mark.slurm
def test_a_launch_that_fits_passes(slurm_cluster: str):
    check_slurm_launch(_cfg("+experiment=demo", "cluster=slurm"))
    check_slurm_launch(_cfg("+experiment=demo", "cluster=slurm", f"cluster.partition={slurm_cluster}",
                            "+servers.slurm={replicas: 2, cpus_per_task: 1, mem_gb: 2}"))
    assert not queued_jobs()  # sbatch --test-only queues nothing


@pytest.mark.slurm
@pytest.mark.parametrize("overrides, message", [
    (["cluster.partition=no_such_partition"], r"partition 'no_such_partition' \(cluster.partition\) does not exist; partitions: "),
    (["+servers.slurm={partition: nope}"], r"partition 'nope' \(servers.slurm.partition\) does not exist"),
    (["cluster.gpus_per_node=1"], r"asks for 1 GPU\(s\) per node"),
    (["cluster.cpus_per_task=4096"], r"asks for 4096 CPU\(s\)"),
    (["cluster.mem_gb=100000"], r"asks for 100000 GB of memory"),
    (["+servers.slurm={gpus_per_replica: 8}"], r"evaluation server jobs .* asks for 8 GPU"),
])
def test_a_launch_that_cannot_run_is_refused(slurm_cluster: str, overrides: list[str], message: str):
    with pytest.raises(ConfigError, match=message):
        check_slurm_launch(_cfg("+experiment=demo", "cluster=slurm", *overrides))
    assert not queued_jobs()


@pytest.mark.slurm
def test_bfcl_8b_does_not_fit_a_cpu_node(slurm_cluster: str):
    """The 8B preset asks for one GPU; this node has none, and the message says so."""
    with pytest.raises(ConfigError, match=r"1 GPU\(s\) per node on partition .* 0 GPU"):
        check_slurm_launch(_cfg("+experiment=bfcl_8b"))
