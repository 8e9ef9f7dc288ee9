"""Refuse a pool that cannot be souped, before any tensor is read, with one error naming the culprit.

Checked here (headers and small files only, so it costs milliseconds even for 70B pools): missing
paths, duplicates (same folder, or identical weight files), corrupt or truncated safetensors,
architecture config, tensor names and shapes, tokenizer/vocabulary, and the weights
(`soce_bo.soup.weights`). NaN/Inf values need the tensor data, so they are caught while the soup
streams (`soce_bo.soup.mix.iter_soup`, check_finite=True), still before anything is committed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from soce_bo.errors import PoolError
from soce_bo.soup.checkpoint import Checkpoint, open_checkpoint
from soce_bo.soup.weights import check_weights

# Config keys that legitimately differ between fine-tunes of one architecture.
IGNORED_CONFIG_KEYS = frozenset(
    {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "use_cache", "_commit_hash"}
)
# Files that define the vocabulary; compared by content. tokenizer_config.json is left out on
# purpose: chat templates and max lengths differ between fine-tunes without changing token ids.
VOCAB_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "merges.txt", "vocab.txt",
               "added_tokens.json", "special_tokens_map.json")
_SAMPLE_CHUNKS, _CHUNK_BYTES = 16, 64 * 1024


def validate_pool(
    paths: Sequence[str | Path], weights: Sequence[float] | Mapping[str, float] | None = None
) -> list[Checkpoint]:
    """Open and cross-check the checkpoints at `paths` (and `weights`, when given)."""
    if not paths:
        raise PoolError("no models given")
    if weights is not None:
        check_weights(weights, [str(p) for p in paths])
    _check_distinct_paths(paths)
    checkpoints = [open_checkpoint(path) for path in paths]
    first = checkpoints[0]
    for other in checkpoints[1:]:
        _compare_configs(first, other)
        _compare_tensors(first, other)
        _compare_tokenizers(first, other)
    _check_distinct_contents(checkpoints)
    return checkpoints


def _check_distinct_paths(paths: Sequence[str | Path]) -> None:
    seen: dict[Any, str] = {}
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            raise PoolError(f"model path does not exist: {path}")
        stat = path.stat()
        key = (stat.st_dev, stat.st_ino)
        if key in seen:
            raise PoolError(f"model {raw} is listed twice (same folder as {seen[key]})")
        seen[key] = str(raw)


def _diff_key(a: Any, b: Any, prefix: str = "") -> str | None:
    """Dotted path of the first differing config key, ignoring IGNORED_CONFIG_KEYS at top level."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if not prefix and key in IGNORED_CONFIG_KEYS:
                continue
            if key not in a or key not in b:
                return prefix + key
            found = _diff_key(a[key], b[key], prefix + key + ".")
            if found is not None:
                return found
        return None
    return None if a == b else prefix.rstrip(".")


def _compare_configs(first: Checkpoint, other: Checkpoint) -> None:
    key = _diff_key(dict(first.config), dict(other.config))
    if key is not None:
        missing = "<missing>"
        a = _lookup(first.config, key, missing)
        b = _lookup(other.config, key, missing)
        raise PoolError(
            f"architecture differs: config key {key!r} is {a!r} in {first.path} but {b!r} in {other.path}"
        )


def _lookup(config: Mapping[str, Any], dotted: str, default: Any) -> Any:
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def _compare_tensors(first: Checkpoint, other: Checkpoint) -> None:
    for name in first.names():
        if name not in other.tensors:
            raise PoolError(f"tensor {name!r} is missing from model {other.path} (present in {first.path})")
        a, b = first.tensors[name].shape, other.tensors[name].shape
        if a != b:
            raise PoolError(
                f"tensor {name!r} has shape {list(b)} in model {other.path} but {list(a)} in {first.path}"
            )
        if first.tensors[name].is_float != other.tensors[name].is_float:
            raise PoolError(
                f"tensor {name!r} is {other.tensors[name].dtype} in model {other.path} but "
                f"{first.tensors[name].dtype} in {first.path}"
            )
    for name in other.names():
        if name not in first.tensors:
            raise PoolError(f"model {other.path} has extra tensor {name!r} (not in {first.path})")


def _vocab_view(file: Path) -> Any:
    """What of a vocabulary file must match: JSON minus padding/truncation settings, else bytes."""
    if file.suffix == ".json":
        try:
            data = json.loads(file.read_text())
        except ValueError as err:
            raise PoolError(f"corrupt tokenizer file {file}: {err}") from err
        if isinstance(data, dict):
            data.pop("truncation", None)
            data.pop("padding", None)
        return data
    return file.read_bytes()


def _compare_tokenizers(first: Checkpoint, other: Checkpoint) -> None:
    for name in VOCAB_FILES:
        a, b = first.path / name, other.path / name
        if a.is_file() != b.is_file():
            has, lacks = (first.path, other.path) if a.is_file() else (other.path, first.path)
            raise PoolError(f"tokenizer differs: {has} has {name} but {lacks} does not")
        if not a.is_file():
            continue
        view_a, view_b = _vocab_view(a), _vocab_view(b)
        if view_a != view_b:
            where = _diff_key(view_a, view_b) if isinstance(view_a, dict) else None
            detail = f" (first difference at {where!r})" if where else ""
            raise PoolError(
                f"tokenizer differs between {first.path} and {other.path}: {name} content differs{detail}"
            )


def content_fingerprint(checkpoint: Checkpoint) -> str:
    """Hash of file sizes, headers and 16 evenly spread 64 KiB chunks: cheap, rarely ambiguous."""
    digest = hashlib.sha256()
    for file in checkpoint.weight_files:
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}".encode())
        with open(file, "rb") as fh:
            for k in range(_SAMPLE_CHUNKS + 1):
                fh.seek(size * k // (_SAMPLE_CHUNKS + 1))
                digest.update(fh.read(_CHUNK_BYTES))
    return digest.hexdigest()


def _full_hash(checkpoint: Checkpoint) -> str:
    digest = hashlib.sha256()
    for file in checkpoint.weight_files:
        with open(file, "rb") as fh:
            while chunk := fh.read(16 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _check_distinct_contents(checkpoints: Sequence[Checkpoint]) -> None:
    """Two copies of one model waste a search dimension; a full hash runs only on a sample clash."""
    seen: dict[str, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        twins = seen.setdefault(content_fingerprint(checkpoint), [])
        for twin in twins:
            if _full_hash(twin) == _full_hash(checkpoint):
                raise PoolError(
                    f"models {twin.path} and {checkpoint.path} have identical weights (duplicate model)"
                )
        twins.append(checkpoint)
