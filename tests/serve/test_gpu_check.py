"""scripts/gpu_check.sh on a machine without a CUDA device: a clear message, exit 0, nothing written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_check_without_cuda_exits_cleanly(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([str(REPO / "scripts" / "gpu_check.sh"), "--out", str(out)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA device visible" in proc.stdout and "nothing was measured" in proc.stdout
    assert not out.exists()
