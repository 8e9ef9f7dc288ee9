"""What determines a score, fingerprinted: the header of each ledger.

A resumed run reuses every score in its ledgers, so it must be the same experiment: the same
checkpoints (by content, not just path), benchmark settings, items, objective and generation
settings. The header is compared on resume (`search.ledger.Ledger`); any change is refused with
the changed keys named, instead of silently mixing scores from two experiments.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from soce_bo.evaluate.benchmark import Item
from soce_bo.serve.config import ServerConfig
from soce_bo.soup.checkpoint import Checkpoint
from soce_bo.soup.validate import content_fingerprint

IDENTITY_VERSION = 1
# Server settings that change what the engine generates (greedy decoding is fixed by the client).
GENERATION_KEYS = ("dtype", "max_model_len", "seed", "tensor_parallel_size", "served_model_name", "extra_args")


def pool_identity(names: Sequence[str], checkpoints: Sequence[Checkpoint]) -> dict[str, Any]:
    """name -> path and a content hash (sizes, headers, sampled chunks of every weight file)."""
    return {name: {"path": str(ck.path), "content": content_fingerprint(ck)}
            for name, ck in zip(names, checkpoints, strict=True)}


def items_identity(items: Sequence[Item]) -> dict[str, Any]:
    """How many items and a hash of their ids and prompts, in order."""
    digest = hashlib.sha256()
    for it in items:
        digest.update(json.dumps([it.id, it.category, it.prompt], ensure_ascii=False).encode())
    return {"n": len(items), "sha256": digest.hexdigest()}


def ledger_header(*, pool: Mapping[str, Any], benchmark: Mapping[str, Any], split: str, items: Sequence[Item],
                  limit: int | None, objective: str, server: ServerConfig) -> dict[str, Any]:
    """The identity of one ledger (one split): everything a score in it depends on."""
    return {
        "identity_version": IDENTITY_VERSION,
        "pool": dict(pool),
        "benchmark": dict(benchmark),
        "split": split,
        "items": items_identity(items),
        "limit": limit,
        "objective": objective,
        "server": {k: getattr(server, k) for k in GENERATION_KEYS},
    }


def relocate(paths: Sequence[Path], into: Path) -> list[Path]:
    """Move a previous run's state files into `into` (kept, not deleted) for `resume=new`."""
    into.mkdir(parents=True, exist_ok=False)
    moved = []
    for path in paths:
        if path.exists():
            target = into / path.name
            path.rename(target)
            moved.append(target)
    return moved
