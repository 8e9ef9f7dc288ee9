"""`python -m soce_bo.serve` as users run it: serve a pool, evaluate against it by URL, then
SIGKILL the CLI and check that its engine still goes away (reaper)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from soce_bo.serve.process import group_alive

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_serve_then_evaluate_by_url(pool_dirs, tmp_path, single_thread_env):
    weights = [0.1, 0.2, 0.3, 0.4][: len(pool_dirs)]
    weights[-1] = 1.0 - sum(weights[:-1])
    models = f"[{','.join(map(str, pool_dirs))}]"
    serve = subprocess.Popen(
        [sys.executable, "-m", "soce_bo.serve", f"pool={models}", f"weights={json.dumps(weights)}",
         f"server.log_dir={tmp_path / 'logs'}"],
        stdout=subprocess.PIPE, stderr=open(tmp_path / "serve.err", "w"), text=True, env=single_thread_env,
    )
    pgid = match = None
    try:
        seen = []
        for line in serve.stdout:  # log lines, then one line per replica (or EOF if the CLI died)
            seen.append(line)
            match = re.match(r"replica 0: (http://127\.0\.0\.1:\d+) \(pid (\d+), .*soup applied", line)
            if match:
                break
        assert match, "".join(seen[-20:]) + (tmp_path / "serve.err").read_text()[-2000:]
        url, pgid = match.group(1), int(match.group(2))
        assert serve.stdout.readline().startswith("serving")

        out = tmp_path / "scores.json"
        proc = subprocess.run(
            [sys.executable, "-m", "soce_bo.evaluate", f"models={models}", f"weights={json.dumps(weights)}",
             f"benchmark.data_dir={pool_dirs[0].parents[1] / 'data'}", "split=dev", "limit=32",
             f"server.url={url}", f"out={out}", "progress=false"],
            capture_output=True, text=True, env=single_thread_env, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        result = json.loads(out.read_text())
        assert result["n_items"] == 32 and len(result["per_category"]) == 4
        assert result["weights"] == pytest.approx(weights) and len(result["weights_sha256"]) == 64

        serve.kill()  # SIGKILL: no atexit, no handler -- the reaper must take the engine down
        serve.wait(timeout=60)
    finally:
        if serve.poll() is None:  # a failed assertion: still let the CLI stop its engine
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                serve.kill()
    deadline = time.monotonic() + 30
    while pgid and group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    survived = pgid is not None and group_alive(pgid)
    if survived:
        os.killpg(pgid, signal.SIGKILL)
    assert not survived, "the serve CLI left its engine behind"
