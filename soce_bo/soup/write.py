"""Write a soup to disk as a Hugging Face checkpoint, streaming and atomically.

Memory: one output tensor in flight plus the page cache of the memory-mapped inputs; never a whole
model, never a whole shard (see `shards.py`). Nothing is visible at `out` until every file is
written, fsynced and hashed (see `soce_bo.atomic`). The folder gets: the shards (+ index when more than
one), config.json with the new dtype, tokenizer and generation files of the `copy_from` model,
README.md (model card), mergekit.yaml (the same soup as a mergekit recipe) and, written last,
soce_manifest.json (SHA-256 of every other file, models, weights, dtype).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)

from soce_bo.atomic import atomic_dir
from soce_bo.errors import ConfigError
from soce_bo.soup.checkpoint import CODE_OF, INDEX_FILE, Checkpoint
from soce_bo.soup.mix import iter_soup
from soce_bo.soup.recipe import mergekit_recipe, model_card
from soce_bo.soup.shards import PlannedTensor, Shard, ShardStream, parse_size, plan_shards
from soce_bo.soup.validate import validate_pool
from soce_bo.soup.weights import check_weights

OUTPUT_DTYPES: dict[str, torch.dtype] = {
    # the `dtype=` names a soup may be saved as (safetensors codes are checkpoint.SAFETENSORS_DTYPES)
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
}
CANONICAL = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}
COPIED_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                "added_tokens.json", "vocab.json", "merges.txt", "vocab.txt", "chat_template.jinja",
                "chat_template.json", "generation_config.json")
MANIFEST = "soce_manifest.json"


class SoupWritten(type(Path())):  # the platform's concrete Path class
    """The checkpoint folder `write_soup` produced -- a `Path` -- with what writing it took.

    `tensors`, `bytes` and `seconds` are set on the returned object only (paths derived from it
    with `/` or `.parent` are plain paths to other places and do not carry them).
    """

    tensors: int
    bytes: int
    seconds: float

    @classmethod
    def of(cls, path: Path, tensors: int, nbytes: int, seconds: float) -> SoupWritten:
        out = cls(path)
        out.tensors, out.bytes, out.seconds = tensors, nbytes, seconds
        return out

    @property
    def path(self) -> Path:
        return Path(self)

    @property
    def gb_per_s(self) -> float:
        return self.bytes / 1e9 / max(self.seconds, 1e-9)


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in CANONICAL:
        return dtype
    found = OUTPUT_DTYPES.get(str(dtype).lower())
    if found is None:
        raise ConfigError(f"dtype {dtype!r} not supported; use float32, bfloat16 or float16")
    return found


def write_soup(
    models: Sequence[str | Path],
    weights: Sequence[float] | Mapping[str, float],
    out: str | Path,
    dtype: str | torch.dtype = "float32",
    shard_size: int | str = "2GB",
    copy_from: int = 0,
    progress: bool = True,
    overwrite: bool = False,
) -> SoupWritten:
    """Write Σ wᵢ·θᵢ of the checkpoints `models` to the folder `out`; returns it (path-like) with its size and time.

    Args:
        models: checkpoint folders (safetensors, single file or sharded).
        weights: one per model, >= 0, summing to 1 (within 1e-6, then renormalised).
        out: new folder; refused if it exists unless overwrite=True (then replaced atomically).
        dtype: float32 | bfloat16 | float16 for the saved float tensors (arithmetic is fp32).
        shard_size: maximum bytes per shard ("2GB", "500MiB" or an int).
        copy_from: index of the model whose tokenizer and generation config are copied.
        progress: show a rich progress bar on stderr.
    """
    start = time.perf_counter()
    torch_dtype = parse_dtype(dtype)
    max_shard = parse_size(shard_size)
    out = Path(out).expanduser().resolve()
    checkpoints = validate_pool(models, weights)
    ws = check_weights(weights, [str(m) for m in models])
    if not 0 <= copy_from < len(checkpoints):
        raise ConfigError(f"copy_from={copy_from} is not a model index (0..{len(checkpoints) - 1})")
    for checkpoint in checkpoints:
        if out == checkpoint.path or checkpoint.path in out.parents or out in checkpoint.path.parents:
            raise ConfigError(f"output {out} overlaps input model {checkpoint.path}")
    shards = plan_shards(_plan(checkpoints[0], torch_dtype), max_shard)
    total = sum(shard.nbytes for shard in shards)
    with atomic_dir(out, overwrite) as tmp:
        soup = iter_soup(checkpoints, ws, torch_dtype)
        hashes = _write_shards(tmp, shards, soup, total, progress)
        hashes.update(_write_side_files(tmp, checkpoints, ws, torch_dtype, shards, copy_from))
        manifest = {
            "format": "soce_bo.soup/1",
            "models": [str(c.path) for c in checkpoints],
            "weights": list(ws),
            "dtype": CANONICAL[torch_dtype],
            "copy_from": copy_from,
            "tensors": sum(len(s.tensors) for s in shards),
            "bytes": total,
            "files": dict(sorted(hashes.items())),
        }
        _write_file(tmp / MANIFEST, json.dumps(manifest, indent=2).encode())
    return SoupWritten.of(out, manifest["tensors"], total, time.perf_counter() - start)



def _plan(reference: Checkpoint, dtype: torch.dtype) -> list[PlannedTensor]:
    """Output layout: float tensors in the soup dtype, integer buffers unchanged, layer order."""
    code = CODE_OF[dtype]
    return [
        PlannedTensor(name, code if info.is_float else info.dtype, info.shape)
        for name in reference.names()
        for info in [reference.tensors[name]]
    ]


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]soup"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled)


class _DiskWorker:
    """One background thread that runs the disk writes and hashing while the caller mixes.

    Why: mixing (torch), hashing (hashlib) and write() all release the GIL, so the soup costs about
    max(mix, write) instead of their sum. The queue depth bounds memory to a few tensors. After a
    failure the worker keeps draining (without writing) so the producer never blocks; the error is
    re-raised by `submit` or `finish`.
    """

    def __init__(self, depth: int = 2) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="soup-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._error is None:
                try:
                    job()
                except BaseException as err:  # handed to the producer thread
                    self._error = err

    def submit(self, job: Callable[[], None]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(job)

    def finish(self) -> None:
        """Wait for every submitted job; re-raise the first failure."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


def _write_shards(
    directory: Path, shards: Sequence[Shard], soup: Iterator[tuple[str, torch.Tensor]],
    total: int, progress: bool,
) -> dict[str, str]:
    """Stream the soup into the planned shards; returns {filename: sha256}."""
    hashes: dict[str, str] = {}
    streams: list[ShardStream] = []
    worker = _DiskWorker()

    def put(stream: ShardStream, name: str, tensor: torch.Tensor, bar: Progress, task) -> None:
        stream.write(name, tensor)
        bar.advance(task, tensor.numel() * tensor.element_size())

    def close(stream: ShardStream, filename: str) -> None:
        hashes[filename] = stream.close()

    try:
        with _progress(progress) as bar:
            task = bar.add_task("soup", total=total)
            for shard in shards:
                stream = ShardStream(directory, shard)
                streams.append(stream)
                for _ in shard.tensors:
                    name, tensor = next(soup)
                    worker.submit(functools.partial(put, stream, name, tensor, bar, task))
                    del tensor
                worker.submit(functools.partial(close, stream, shard.filename))
            worker.finish()
    except BaseException:
        try:
            worker.finish()
        except BaseException:
            pass  # the original error is the one to report
        for stream in streams:
            stream.abort()
        raise
    return hashes


def _write_file(path: Path, data: bytes) -> str:
    """Write, fsync and return the SHA-256 of `data`."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(data).hexdigest()


def _write_side_files(
    directory: Path, checkpoints: Sequence[Checkpoint], weights: Sequence[float],
    dtype: torch.dtype, shards: Sequence[Shard], copy_from: int,
) -> dict[str, str]:
    """Index, config, copied tokenizer/generation files, recipe and model card."""
    files: dict[str, bytes] = {}
    if len(shards) > 1:
        index = {
            "metadata": {"total_size": sum(s.nbytes for s in shards)},
            "weight_map": {t.name: s.filename for s in shards for t in s.tensors},
        }
        files[INDEX_FILE] = json.dumps(index, indent=2).encode()
    source = checkpoints[copy_from]
    config = dict(source.config)
    config["dtype"] = CANONICAL[dtype]
    if "torch_dtype" in config:
        config["torch_dtype"] = CANONICAL[dtype]
    files["config.json"] = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    for name in COPIED_FILES:
        if (source.path / name).is_file():
            files[name] = (source.path / name).read_bytes()
    paths = [c.path for c in checkpoints]
    recipe = mergekit_recipe(paths, weights, CANONICAL[dtype])
    files["mergekit.yaml"] = recipe.encode()
    files["README.md"] = model_card(paths, weights, CANONICAL[dtype], recipe).encode()
    return {name: _write_file(directory / name, data) for name, data in files.items()}
