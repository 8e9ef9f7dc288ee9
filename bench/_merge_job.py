"""One merge in a fresh process, so its peak RSS is its own: `python -m bench._merge_job SPEC_JSON`.

SPEC: {"tool": "soce" | "mergekit" | "bound", "models": [...], "weights": [...], "out": DIR,
"check": [tensor names to compare with a float64 reference]}. Prints one JSON line:
seconds (the merge call), seconds_durable (+ fsync of the output where the tool does not do it),
rss_base_bytes (after imports), rss_peak_bytes (ru_maxrss), out_bytes, and the error stats.

The copy bound ("bound") reads every source file once with read() (page cache -> user buffer,
the cheapest way to see all input bytes) and writes one file of the output's size, fsynced
like soce_bo's shards: what a merge must at least move, with no arithmetic at all.
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
    import torch

    torch.set_num_threads(1)
    from soce_bo.soup.write import soup_to_disk

    base = vm_rss()
    t0 = time.perf_counter()
    soup_to_disk(spec["models"], spec["weights"], spec["out"], dtype="float32", progress=False)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "seconds_durable": seconds, "rss_base_bytes": base, "rss_peak_bytes": peak_rss()}


def run_mergekit(spec: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    import logging

    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    logging.disable(logging.WARNING)
    config = MergeConfiguration.model_validate({
        "merge_method": "linear", "dtype": "float32", "out_dtype": "float32",
        "parameters": {"normalize": False},
        "models": [{"model": str(Path(m).resolve()), "parameters": {"weight": float(w)}}
                   for m, w in zip(spec["models"], spec["weights"])],
    })
    # Offline-safe options (notes/bfcl_and_install.md section 9); everything else at its default.
    options = MergeOptions(write_model_card=False, copy_tokenizer=False, quiet=True,
                           **spec.get("mergekit_options", {}))
    base = vm_rss()
    t0 = time.perf_counter()
    run_merge(config, str(spec["out"]), options)
    seconds = time.perf_counter() - t0
    peak = peak_rss()
    fsync_tree(Path(spec["out"]))  # mergekit does not fsync; soce_bo does: compare durable times too
    return {"seconds": seconds, "seconds_durable": time.perf_counter() - t0, "rss_base_bytes": base,
            "rss_peak_bytes": peak}


def run_bound(spec: dict) -> dict:
    files = [f for m in spec["models"] for f in sorted(Path(m).glob("*.safetensors"))]
    out_size = spec["out_bytes"]
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    base = vm_rss()
    t0 = time.perf_counter()
    read = 0
    for file in files:
        with open(file, "rb", buffering=0) as fh:
            while n := fh.readinto(view):
                read += n
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
            "rss_base_bytes": base, "rss_peak_bytes": peak_rss()}


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


def main() -> None:
    spec = json.loads(sys.argv[1])
    result = {"soce": run_soce, "mergekit": run_mergekit, "bound": run_bound}[spec["tool"]](spec)
    result["out_bytes"] = tensor_bytes(Path(spec["out"]))
    if spec.get("check") and spec["tool"] != "bound":
        result.update(check_error(spec))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
