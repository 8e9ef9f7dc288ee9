"""A merge worker process for one tool: `python -m bench._merge_job TOOL`, one job per stdin line.

Each (size, K) gets fresh workers, so the first job is a *cold* merge (first in its process, as
with the mergekit-yaml CLI) and its peak RSS is that merge's own; later jobs are *warm* repeats
(as mergekit-evolve or a long-lived process calls the merge). A job is a JSON line
{"models": [...], "weights": [...], "out": DIR, "out_bytes": N, "check": [tensor names]};
the answer is one line "RESULT {json}": seconds (the merge call), seconds_durable (+ fsync of
the output where the tool does not fsync itself), rss_base_bytes (after imports),
rss_peak_bytes (ru_maxrss, read before the error check), out_bytes, and the error stats.

The copy bound ("bound") reads every byte of every source file once through a memory map of the
page cache (a vectorised OR over 8-byte words: no copy, ~25 GB/s on this box; plain read() is
~5 GB/s because it copies) and then writes one file of the output's size from a buffer, fsynced
like soce_bo's shards: what a merge must at least move, with no arithmetic to speak of.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHUNK = 64 * 2**20


def vm_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads: the work done, whatever the contention."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fsync_tree(root: Path) -> None:
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tensor_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.glob("*.safetensors"))


def run_soce(spec: dict) -> dict:
    from soce_bo.soup.write import write_soup

    t0 = time.perf_counter()
    write_soup(spec["models"], spec["weights"], spec["out"], dtype="float32", progress=False)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "seconds_durable": seconds, "rss_peak_bytes": peak_rss()}


def run_mergekit(spec: dict) -> dict:
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    from soce_bo.soup.recipe import mergekit_config

    # The very recipe soce_bo writes beside every soup (linear, fp32 math, normalize: false).
    config = MergeConfiguration.model_validate(mergekit_config(spec["models"], spec["weights"], "float32"))
    # Offline-safe options (no model card, no tokenizer copy: nothing fetched); the rest at its default.
    options = MergeOptions(write_model_card=False, copy_tokenizer=False, quiet=True,
                           **spec.get("mergekit_options", {}))
    t0 = time.perf_counter()
    run_merge(config, str(spec["out"]), options)
    seconds = time.perf_counter() - t0
    peak = peak_rss()
    fsync_tree(Path(spec["out"]))  # mergekit does not fsync; soce_bo does: compare durable times too
    return {"seconds": seconds, "seconds_durable": time.perf_counter() - t0, "rss_peak_bytes": peak}


def run_bound(spec: dict) -> dict:
    import mmap

    import numpy as np

    files = [f for m in spec["models"] for f in sorted(Path(m).glob("*.safetensors"))]
    out_size = spec["out_bytes"]
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    t0 = time.perf_counter()
    read = 0
    for file in files:  # every byte, through a mapping of the page cache: no copy, ~25 GB/s here
        with open(file, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            words = np.frombuffer(mm, dtype=np.uint64, count=len(mm) // 8)
            np.bitwise_or.reduce(words)
            read += words.nbytes
            del words
    t_read = time.perf_counter() - t0
    out = Path(spec["out"])
    out.mkdir(parents=True)
    with open(out / "model.safetensors", "wb", buffering=0) as fh:
        left = out_size
        while left > 0:
            left -= fh.write(view[:min(CHUNK, left)])
        os.fsync(fh.fileno())
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "seconds_durable": seconds, "read_seconds": t_read, "bytes_read": read,
            "rss_peak_bytes": peak_rss()}


def run_breakdown(spec: dict) -> dict:
    """soce_bo's parts timed one at a time: validation, the fp32 mix alone (iter_soup, output
    dropped), SHA-256 of the output's bytes (the manifest), and a plain write + fsync of them."""
    import hashlib

    from soce_bo.soup.mix import iter_soup
    from soce_bo.soup.validate import validate_pool

    parts = {}
    t0 = time.perf_counter()
    pool = validate_pool(spec["models"], spec["weights"])
    parts["validate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _name, _tensor in iter_soup(pool, spec["weights"]):
        pass
    parts["mix"] = time.perf_counter() - t0
    buf = memoryview(bytearray(CHUNK))
    t0 = time.perf_counter()
    digest = hashlib.sha256()
    for offset in range(0, spec["out_bytes"], CHUNK):
        digest.update(buf[:min(CHUNK, spec["out_bytes"] - offset)])
    parts["sha256"] = time.perf_counter() - t0
    out = Path(spec["out"])
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    with open(out / "model.safetensors", "wb", buffering=0) as fh:
        left = spec["out_bytes"]
        while left > 0:
            left -= fh.write(buf[:min(CHUNK, left)])
        os.fsync(fh.fileno())
    parts["write_fsync"] = time.perf_counter() - t0
    return {"parts": parts, "seconds": sum(parts.values()), "seconds_durable": sum(parts.values()),
            "rss_peak_bytes": peak_rss()}


def check_error(spec: dict) -> dict:
    """Max abs / relative error of the output vs a float64 soup, over the `check` tensors."""
    import torch
    from safetensors import safe_open

    def opener(folder: Path):
        files = sorted(folder.glob("*.safetensors"))
        handles = [safe_open(str(f), framework="pt") for f in files]
        where = {k: h for h in handles for k in h.keys()}
        return where

    sources = [opener(Path(m)) for m in spec["models"]]
    output = opener(Path(spec["out"]))
    max_abs = max_rel = 0.0
    sq = count = 0.0
    for name in spec["check"]:
        ref = sum(w * src[name].get_tensor(name).to(torch.float64) for w, src in zip(spec["weights"], sources))
        got = output[name].get_tensor(name).to(torch.float64)
        diff = (got - ref).abs()
        max_abs = max(max_abs, float(diff.max()))
        max_rel = max(max_rel, float(diff.max() / ref.abs().max().clamp_min(1e-30)))
        sq += float((diff**2).sum())
        count += diff.numel()
    return {"max_abs_err": max_abs, "max_rel_err": max_rel, "rms_err": (sq / max(count, 1)) ** 0.5,
            "checked_tensors": len(spec["check"]), "checked_values": int(count)}


def setup(tool: str) -> None:
    """Imports (and their memory) happen before the base RSS is read and before any timing."""
    if tool == "bound":
        import numpy  # noqa: F401
        return
    import torch

    torch.set_num_threads(1)
    if tool == "soce":
        import soce_bo.soup.write  # noqa: F401
    else:
        import logging

        import mergekit.merge  # noqa: F401

        logging.disable(logging.WARNING)


def main() -> None:
    tool = sys.argv[1]
    run = {"soce": run_soce, "mergekit": run_mergekit, "bound": run_bound}[tool]
    setup(tool)
    base = vm_rss()
    for job, line in enumerate(sys.stdin):
        spec = json.loads(line)
        try:
            cpu0 = cpu_seconds()
            result = run_breakdown(spec) if spec.get("breakdown") else run(spec)
            result.update(job=job, cpu_seconds=cpu_seconds() - cpu0, rss_base_bytes=base,
                          out_bytes=tensor_bytes(Path(spec["out"])))
            if spec.get("check") and tool != "bound":
                result.update(check_error(spec))
        except Exception as err:  # reported to the parent, which stops the bench with it
            result = {"error": f"{type(err).__name__}: {err}"}
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
