"""The one-node SLURM cluster the `slurm` tests submit to, and the rule that every test leaves
`squeue` empty.

The fixture runs `scripts/slurm_local.sh up` itself (idempotent, ~5 s once installed), so `make
test` on a fresh clone works without `.ci/run`. On a machine that already has a cluster (a config
this script did not write) it uses that one; without root and without SLURM the tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_queue import wait_queue_empty

REPO = Path(__file__).resolve().parents[2]
SLURM_LOCAL = REPO / "scripts" / "slurm_local.sh"


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The default partition of a live cluster (started here when needed)."""
    up = subprocess.run([str(SLURM_LOCAL), "up"], capture_output=True, text=True, timeout=600)
    if up.returncode != 0:
        if shutil.which("sinfo") is None or subprocess.run(["sinfo"], capture_output=True).returncode != 0:
            if os.geteuid() != 0:
                pytest.skip(f"no SLURM cluster and not root to start one: {up.stderr.strip()[-300:]}")
            pytest.fail(f"scripts/slurm_local.sh up failed:\n{up.stderr[-3000:]}")
    parts = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30).stdout.split()
    default = [p.rstrip("*") for p in parts if p.endswith("*")]
    assert default, f"the cluster has no default partition: {parts}"
    return default[0]


@pytest.fixture(autouse=True)
def leaves_squeue_empty(request) -> Iterator[None]:
    """Every slurm test starts and ends with an empty queue (a leftover job fails the test)."""
    if "slurm" not in request.keywords:
        yield
        return
    request.getfixturevalue("slurm_cluster")
    before = wait_queue_empty()
    assert not before, f"jobs queued before the test: {before}"
    yield
    left = wait_queue_empty()
    if left:
        subprocess.run(["scancel", *[j.split()[0] for j in left]], timeout=30)
    assert not left, f"the test left jobs in squeue: {left}"
