"""Shared fixtures: single-threaded torch, offline hub, and the tiny expert zoo built once.

The zoo lives at $SOCE_ZOO_DIR or <repo>/artifacts/zoo -- the same place `make demo` uses -- and
is rebuilt only when its config hash changes, so the suite pays the build (a few minutes) once.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _torch_single_thread() -> None:
    import torch

    torch.set_num_threads(1)


_torch_single_thread()


@pytest.fixture(scope="session")
def zoo_dir() -> Path:
    """Directory of the tiny expert zoo (built on first use, cached by config hash)."""
    from soce_bo.zoo.build import ensure_zoo

    out = Path(os.environ.get("SOCE_ZOO_DIR", REPO / "artifacts" / "zoo"))
    return ensure_zoo(out)


def pytest_collection_modifyitems(config, items):
    """Skip `gpu` tests on machines without CUDA, with the reason shown."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch missing means nothing runs anyway
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
