"""File access shared by the benchmark loaders: required files, JSON lines, deterministic splits.

Most of the paper's benchmarks ship a single evaluation set (BFCL, MGSM, ∞-Bench). SoCE must pick
experts and weights on data it does not report on, so those benchmarks are cut into a dev and a
test part by hashing each item id: the cut is stable across runs, machines and Python versions
(unlike `hash()`), independent of file order, and an item never changes side when others are added.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from soce_bo.errors import BenchmarkError

SPLITS = ("dev", "test", "all")


def require_file(path: Path, what: str) -> Path:
    """`path` if it is a file, else one BenchmarkError naming the file and what it should hold."""
    if not path.is_file():
        raise BenchmarkError(f"missing {what}: {path} (no download at run time; put the file there)")
    return path


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; malformed lines name file and line."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise BenchmarkError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
            if not isinstance(obj, dict):
                raise BenchmarkError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def check_split(split: str) -> str:
    """Reject split names other than dev / test / all with the accepted values in the message."""
    if split not in SPLITS:
        raise BenchmarkError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


def hashed_split(item_id: str, dev_fraction: float, seed: int = 0) -> str:
    """'dev' or 'test' for `item_id`: sha256(seed:id) mapped to [0, 1) compared to dev_fraction."""
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    return "dev" if u < dev_fraction else "test"


def in_split(item_id: str, split: str, dev_fraction: float, seed: int = 0) -> bool:
    """Whether `item_id` belongs to `split` ('all' keeps everything)."""
    return split == "all" or hashed_split(item_id, dev_fraction, seed) == split


def check_fraction(dev_fraction: float) -> float:
    if not 0.0 <= dev_fraction <= 1.0:
        raise BenchmarkError(f"dev_fraction must lie in [0, 1], got {dev_fraction}")
    return float(dev_fraction)
