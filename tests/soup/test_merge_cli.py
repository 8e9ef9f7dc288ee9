"""`python -m soce_bo.merge` as a user runs it: summary line, one-line errors, kill safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soce_bo.cli import report_and_exit
from omegaconf import OmegaConf

from soce_bo.merge import run

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


def merge_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "soce_bo.merge", *args]


def listing(paths) -> str:
    return "[" + ",".join(str(p) for p in paths) + "]"


def test_cli_writes_soup_and_prints_summary(tiny_pool, tmp_path):
    out = tmp_path / "soup"
    proc = subprocess.run(
        merge_cmd(f"models={listing(tiny_pool)}", "weights=[0.2,0.3,0.5]", f"out={out}",
                  "dtype=bfloat16", "shard_size=100KB", "progress=false"),
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}: 21 tensors, 0.17 MB" in proc.stdout and "GB/s" in proc.stdout
    assert json.loads((out / "soce_manifest.json").read_text())["dtype"] == "bfloat16"
    assert len(list(out.glob("model-*-of-*.safetensors"))) > 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["soup"]  # no hydra outputs/ folder


def test_cli_bad_input_one_line_nonzero(tiny_pool, tmp_path):
    proc = subprocess.run(
        merge_cmd(f"models={listing(tiny_pool)}", f"out={tmp_path / 'soup'}", "weights=[0.5,0.6,0.1]"),
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # exactly one line, no traceback
    assert proc.stderr.startswith("error: weights sum to 1.2")
    assert not (tmp_path / "soup").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weights": [0.5, 0.5]}, "got 2 weights for 3 models"),
        ({"dtype": "int4"}, "dtype 'int4' not supported"),
        ({"models": "just/one"}, "models must be a list like models=[a,b]"),
    ],
)
def test_cli_entry_reports_user_errors(tiny_pool, tmp_path, capsys, overrides, message):
    """Same entry point in-process (no interpreter start-up), for the other messages."""
    cfg = OmegaConf.load(REPO / "conf" / "merge.yaml")
    cfg.merge_with({"models": [str(p) for p in tiny_pool], "weights": [0.2, 0.3, 0.5],
                    "out": str(tmp_path / "soup"), "progress": False, **overrides})
    with pytest.raises(SystemExit) as exit_info:
        try:
            run(cfg)
        except Exception as err:  # what the CLI's hydra_cli wrapper does with it
            report_and_exit(err)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not (tmp_path / "soup").exists()


def test_cli_missing_arguments(tmp_path):
    proc = subprocess.run(merge_cmd(), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: missing models, weights, out; usage: python -m soce_bo.merge "
        "'models=[A,B]' 'weights=[0.5,0.5]' out=DIR"
    )


def test_killed_cli_leaves_no_valid_looking_output(synthetic_pool, tmp_path):
    """SIGKILL while shards are being written: `out` must not exist, the leftover is a .tmp- folder."""
    out = tmp_path / "soup"
    proc = subprocess.Popen(
        merge_cmd(f"models={listing(synthetic_pool)}", "weights=[0.5,0.5]", f"out={out}",
                  "shard_size=4MB", "progress=false"),
        cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            tmps = list(tmp_path.glob("soup.tmp-*"))
            if tmps and list(tmps[0].glob("model-*.safetensors")):
                break
            assert proc.poll() is None, "the merge finished before it could be interrupted"
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    (leftover,) = tmp_path.glob("soup.tmp-*")
    assert not (leftover / "soce_manifest.json").exists()
    assert not (leftover / "model.safetensors.index.json").exists()
