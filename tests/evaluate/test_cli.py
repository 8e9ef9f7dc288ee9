"""`python -m soce_bo.evaluate` end to end (subprocess), and one clear line for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.run([sys.executable, "-m", "soce_bo.evaluate", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def engines_started_in(log_dir: Path) -> list[int]:
    """Pids of live processes whose working directory is `log_dir` (servers run there)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if Path(proc.cwd()) == log_dir and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_missing_model_is_one_clear_line(tmp_path):
    missing = tmp_path / "no_such_model"
    proc = run_cli(f"models=[{missing}]", f"out={tmp_path / 'out.json'}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: model path does not exist: {missing}"], proc.stderr
    assert not (tmp_path / "out.json").exists()


def test_weights_off_the_simplex_are_refused(tmp_path):
    proc = run_cli(f"models=[{tmp_path / 'a'},{tmp_path / 'b'}]", "weights=[0.5,0.4]")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "weights sum to" in proc.stderr


@pytest.mark.vllm
@pytest.mark.slow
def test_end_to_end_vllm_matches_hf_backend(zoo_dir, tmp_path):
    """Start a server, swap the soup in, score the test split; the HF backend scores the same soup
    identically (same completions -> same per-category numbers)."""
    from soce_bo.zoo.manifest import load_manifest

    experts = [str(c.path) for c in load_manifest(zoo_dir).experts.values()]
    weights = [round(1.0 / len(experts), 12)] * (len(experts) - 1)
    weights.append(1.0 - sum(weights))
    common = [f"models=[{','.join(experts)}]", f"weights=[{','.join(map(str, weights))}]",
              "benchmark=zoo", f"benchmark.data_dir={zoo_dir / 'data'}", "split=test", "progress=false"]
    out_vllm, out_hf = tmp_path / "vllm.json", tmp_path / "hf.json"
    proc = run_cli(*common, f"out={out_vllm}", f"server.log_dir={tmp_path / 'logs'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "overall" in proc.stdout
    result = json.loads(out_vllm.read_text())
    assert result["backend"] == "vllm" and result["split"] == "test"
    assert set(result["per_category"]) == {"tool", "math", "translate", "retrieve"}
    assert sum(c["n"] for c in result["per_category"].values()) == result["n_items"]
    for key in ("server_start_s", "swap_s", "generation_s", "scoring_s"):
        assert result["timings"][key] >= 0
    assert not list(tmp_path.glob(".vllm.json.*"))  # no temp file left behind
    assert not engines_started_in(tmp_path / "logs"), "the CLI left a vLLM process behind"

    proc = run_cli(*common, "backend=hf", f"out={out_hf}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference = json.loads(out_hf.read_text())
    assert reference["per_category"] == result["per_category"]
    assert reference["overall"] == result["overall"]
    print(f"\nevaluate CLI on {result['n_items']} test items: " + json.dumps(result["timings"]))


def test_limit_takes_every_category_round_robin():
    from soce_bo.evaluate.subset import round_robin_subset as take
    from soce_bo.values import Item

    items = [Item(f"{c}{i}", c, "p", "a") for c in "abc" for i in range(4)]
    chosen = take(items, 5)
    assert [it.id for it in chosen] == ["a0", "a1", "b0", "b1", "c0"]  # file order kept
    assert take(items, None) == items


def test_json_is_written_atomically(tmp_path):
    from soce_bo.evaluate.__main__ import write_json_atomic

    out = tmp_path / "sub" / "r.json"
    write_json_atomic(out, {"x": 1})
    assert json.loads(out.read_text()) == {"x": 1}
    with pytest.raises(TypeError):
        write_json_atomic(out, {"bad": object()})
    assert json.loads(out.read_text()) == {"x": 1}  # the old file survives a failed write
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]
