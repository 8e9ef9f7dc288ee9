"""squeue helpers shared by the slurm tests and their fixtures."""

from __future__ import annotations

import subprocess
import time


def queued_jobs() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %T %j"], capture_output=True, text=True, timeout=30)
    return [line for line in out.stdout.splitlines() if line.strip()]


def wait_queue_empty(timeout: float = 60.0) -> list[str]:
    """Jobs still listed after `timeout` s (COMPLETING ones get a moment to finish)."""
    deadline = time.monotonic() + timeout
    jobs = queued_jobs()
    while jobs and time.monotonic() < deadline:
        time.sleep(0.5)
        jobs = queued_jobs()
    return jobs
