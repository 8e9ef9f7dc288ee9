"""Every experiment config composes (the `--cfg job` check), including the SLURM preset."""

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def test_there_are_paper_experiments():
    assert {"demo", "bfcl_8b", "bfcl_70b", "mgsm_7b"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes(experiment: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("run", overrides=[f"+experiment={experiment}"])
    assert cfg.experiment_name == experiment
    assert set(cfg.search) == {"uniform", "grid", "greedy", "random", "cmaes", "bo"}
    assert cfg.benchmark._target_.startswith(("soce_bo.evaluate.benchmarks.", "soce_bo.zoo.benchmark."))
    assert cfg.splits.select != cfg.splits.report


def test_paper_experiments_use_gpu_servers_and_slurm():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("run", overrides=["+experiment=bfcl_70b"], return_hydra_config=True)
    assert cfg.server.device == "cuda" and cfg.server.tensor_parallel_size == 8
    assert cfg.cluster.name == "slurm"
    assert "submitit" in cfg.hydra.launcher._target_.lower()


def test_the_teams_experiment_asks_for_the_teams_zoo_and_races():
    """`make demo`'s run: a zoo of kind teams at its own folder (never the small zoo's), racing on."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("run", overrides=["+experiment=teams"])
    assert (cfg.pool.zoo_kind, cfg.pool.zoo_seed) == ("teams", 0)
    assert cfg.paths.zoo_dir == "artifacts/zoo_teams/seed0" and cfg.benchmark.data_dir == "artifacts/zoo_teams/seed0/data"
    assert cfg.racing.enabled and cfg.analysis.shapley


@pytest.mark.parametrize("experiment", ["demo", "bfcl_70b"])
def test_cfg_job_cli(experiment: str):
    """What a user types: `python -m soce_bo.run +experiment=X --cfg job` prints the config, exit 0."""
    out = subprocess.run([sys.executable, "-m", "soce_bo.run", f"+experiment={experiment}", "--cfg", "job"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"experiment_name: {experiment}" in out.stdout


def test_missing_model_is_one_clear_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "soce_bo.run", "+experiment=bfcl_8b", "cluster=local",
                          "dry_run=true", f"run_dir={tmp_path}", f"pool.candidates.CoALM-8B.path={tmp_path}/nope"],
                         capture_output=True, text=True, timeout=120, env={"MODELS_DIR": str(tmp_path),
                                                                           "PATH": "/usr/bin:/bin"})
    assert out.returncode == 2
    assert "error: pool candidate" in out.stderr and "does not exist" in out.stderr


def test_multirun_over_seeds_with_submitit_local(tmp_path, zoo_dir):
    """`-m ... hydra/launcher=submitit_local` runs one job per seed (dry_run keeps it cheap; the
    dry run still resolves the demo's pool from the zoo, hence `zoo_dir`)."""
    out = subprocess.run([sys.executable, "-m", "soce_bo.run", "-m", "+experiment=demo", "dry_run=true",
                          "seed=0,1", "hydra/launcher=submitit_local", f"hydra.sweep.dir={tmp_path}",
                          f"paths.zoo_dir={zoo_dir}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    for job in ("0", "1"):
        cfg = (tmp_path / job / "config.yaml").read_text()
        assert f"seed: {job}" in cfg


def test_conf_racing_defaults_are_the_settings_bench_racing_measures():
    """bench.racing races with `RacingSettings(enabled=True)`; a run reads conf/run.yaml. They must agree."""
    from dataclasses import asdict, replace

    from soce_bo.evaluate.racing import RacingSettings

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("run")
    configured = RacingSettings.from_config(OmegaConf.to_container(cfg.racing))
    assert asdict(replace(configured, enabled=True)) == asdict(RacingSettings(enabled=True))
