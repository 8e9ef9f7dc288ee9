"""Layer order for tensor names: embeddings, then blocks in natural order, then norm and head.

Why: streaming consumers (the disk writer, vLLM's loader) work best when tensors arrive the way a
forward pass uses them, and plain string sorting puts `layers.10` before `layers.2`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_DIGITS = re.compile(r"(\d+)")
_BLOCK = re.compile(r"(?:^|\.)(?:layers|h|blocks|block|layer)\.(\d+)\.")
_HEADS = frozenset({"lm_head", "output", "embed_out"})  # first name component of an output head


def natural_key(name: str) -> tuple:
    """Split digit runs out so that they compare as numbers ("2" < "10")."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(name))


def layer_key(name: str) -> tuple:
    """Sort key: (group, natural name); group 0 embeddings/other stem, 1 blocks, 2 final norm, 3 head."""
    if name.split(".", 1)[0] in _HEADS:
        group = 3
    elif _BLOCK.search(name):
        group = 1
    elif "embed" in name or "wte" in name or "wpe" in name:
        group = 0
    else:
        group = 2
    return (group, natural_key(name))


def layer_order(names: Iterable[str]) -> list[str]:
    """Names sorted in forward-pass order (see module docstring)."""
    return sorted(names, key=layer_key)
