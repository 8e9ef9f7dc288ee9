"""GPU check of the soup mix (torch + safetensors only: no vLLM, no network; <= 8 minutes).

Reports, on the first visible CUDA device:
1. the soup mix of an 8B-shaped (Llama-3.1-8B, TP 1) bf16 model with K = 3 experts resident on
   the device: seconds per trial and the fraction of the device's copy bandwidth, both measured in
   this run (copy bound = (K reads + 1 write) x model bytes / copy bandwidth); the same for the
   shards streamed from pinned host memory, against the measured host->device bandwidth;
2. equality of the CUDA mix with a float64 CPU reference on a smaller model (every element within
   one rounding of the exact soup in bf16 and fp32);
3. the memory plan's per-rank predictions (model shard, K resident shards, mix scratch) against
   torch.cuda.max_memory_allocated for the same allocation.
Without a CUDA device it says so and exits 0, having measured nothing.

It imports soce_bo/serve/shard_mix.py and memory_plan.py (and tests/serve/fake_models.py) by file
path, so soce_bo's server dependencies (httpx, vLLM) need not be installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
K = 3
WEIGHTS = [0.5, 0.3, 0.2]


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def llama_layout(hidden: int, inter: int, layers: int, heads: int, kv_heads: int, vocab: int) -> list[tuple[str, tuple[int, int] | tuple[int]]]:
    """Tensors of a TP-1 Llama in vLLM's loaded layout (fused qkv and gate_up)."""
    hd = hidden // heads
    out: list = [("embed_tokens", (vocab, hidden))]
    for i in range(layers):
        out += [(f"{i}.input_layernorm", (hidden,)), (f"{i}.qkv_proj", ((heads + 2 * kv_heads) * hd, hidden)),
                (f"{i}.o_proj", (hidden, heads * hd)), (f"{i}.post_attention_layernorm", (hidden,)),
                (f"{i}.gate_up_proj", (2 * inter, hidden)), (f"{i}.down_proj", (hidden, inter))]
    return out + [("norm", (hidden,)), ("lm_head", (vocab, hidden))]


def copy_bandwidth(torch, device, nbytes: int = 2 << 30, reps: int = 5) -> float:
    """Bytes moved per second (read + write) by a device-to-device tensor copy, best of reps."""
    src = torch.empty(nbytes // 2, dtype=torch.bfloat16, device=device).normal_()
    dst = torch.empty_like(src)
    best = math.inf
    for _ in range(reps):
        torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        dst.copy_(src)
        torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    del src, dst
    return 2 * nbytes / best


def h2d_bandwidth(torch, device, nbytes: int = 1 << 30, reps: int = 3) -> float:
    src = torch.empty(nbytes, dtype=torch.uint8).pin_memory()
    dst = torch.empty(nbytes, dtype=torch.uint8, device=device)
    best = math.inf
    for _ in range(reps):
        torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        dst.copy_(src, non_blocking=True)
        torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return nbytes / best


def timed(torch, device, fn, reps: int = 3) -> list[float]:
    out = []
    for _ in range(reps):
        torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize(device)
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu_check.json")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device visible (torch {torch.__version__}, "
              f"torch.cuda.is_available() is False); nothing was measured")
        return 0
    mix = load("soce_gpu_shard_mix", REPO / "soce_bo" / "serve" / "shard_mix.py")
    sys.path.insert(0, str(REPO))
    plan_mod = load("soce_gpu_memory_plan", REPO / "soce_bo" / "serve" / "memory_plan.py")
    fake = load("soce_gpu_fake_models", REPO / "tests" / "serve" / "fake_models.py")
    device = torch.device("cuda", 0)
    started = time.time()
    report: dict = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__,
                    "total_memory_bytes": torch.cuda.get_device_properties(device).total_memory,
                    "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    copy_bw = copy_bandwidth(torch, device)
    report["copy_bandwidth_gb_per_s"] = copy_bw / 1e9
    print(f"device {report['device']}: copy bandwidth {copy_bw / 1e9:.0f} GB/s (read + write)")

    # 1. 8B bf16 K = 3, shards on the device (as expert_storage=device at TP 1)
    arch = fake.ARCHS["llama3_8b"]
    free = torch.cuda.mem_get_info(device)[0]
    layers = arch["num_hidden_layers"]
    layout = llama_layout(arch["hidden_size"], arch["intermediate_size"], layers, arch["num_attention_heads"],
                          arch["num_key_value_heads"], arch["vocab_size"])
    model_bytes = 2 * sum(math.prod(s) for _, s in layout)
    while (K + 1) * model_bytes + (2 << 30) > free and layers > 1:  # a smaller GPU: fewer layers
        layers -= 1
        layout = llama_layout(arch["hidden_size"], arch["intermediate_size"], layers, arch["num_attention_heads"],
                              arch["num_key_value_heads"], arch["vocab_size"])
        model_bytes = 2 * sum(math.prod(s) for _, s in layout)
    report["mix_8b"] = {"layers": layers, "of_layers": arch["num_hidden_layers"], "model_bytes": model_bytes, "k": K}
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    live = [torch.empty(s, dtype=torch.bfloat16, device=device) for _, s in layout]
    shards = [[torch.empty(s, dtype=torch.bfloat16, device=device).normal_(std=0.02) for _, s in layout]
              for _ in range(K)]
    jobs = [(t, [shards[k][i] for k in range(K)]) for i, t in enumerate(live)]
    results = {}
    for path in ("fused", "eager"):
        if path == "eager":
            mix._FUSED["disabled"] = "measuring the eager path"
        elif not mix._fused_enabled():
            continue

        def run() -> None:
            for target, sources in jobs:
                mix.mix_into(target, sources, WEIGHTS)

        run()  # compile / warm up
        if path == "fused" and not mix._fused_enabled():
            results["fused"] = {"error": mix._FUSED.get("disabled")}
            continue
        times = timed(torch, device, run)
        best = min(times)
        bound = (K + 1) * model_bytes / copy_bw
        results[path] = {"seconds": times, "best_s": best, "copy_bound_s": bound, "fraction_of_copy_bound": bound / best}
        print(f"mix 8B-shaped ({layers}/{arch['num_hidden_layers']} layers, {model_bytes / 1e9:.1f} GB bf16), "
              f"K={K}, {path}: {best * 1e3:.1f} ms, copy bound {bound * 1e3:.1f} ms = {bound / best:.0%}")
    mix._FUSED.pop("disabled", None)
    report["mix_8b"]["paths"] = results
    peak = torch.cuda.max_memory_allocated(device) - base

    # 3. memory plan vs measured peak for the same allocation (model shard + K shards + scratch)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = fake.write_fake_model(Path(tmp) / "m", "llama3_8b")
        cfg = _PlanConfig()
        plan = plan_mod.plan_memory(cfg, folder, n_experts=K, replicas=1, gpus_available=1)
    scale = model_bytes / plan.model_shard_bytes
    predicted = (plan.model_shard_bytes + K * plan.expert_shard_bytes) * scale
    report["memory_plan"] = {
        "predicted_shards_bytes": predicted, "predicted_scratch_bytes": plan_mod.MIX_SCRATCH_BYTES,
        "measured_peak_bytes": peak, "ratio_measured_over_predicted": peak / (predicted + plan_mod.MIX_SCRATCH_BYTES),
        "note": "model + K shards scaled to the layers allocated here; scratch = the eager path's float32 buffer",
    }
    print(f"memory plan: predicted {predicted / 1e9:.2f} GB shards + {plan_mod.MIX_SCRATCH_BYTES / 1e9:.2f} GB "
          f"scratch; torch.cuda.max_memory_allocated {peak / 1e9:.2f} GB")
    del live, shards, jobs
    torch.cuda.empty_cache()

    # 1b. shards in pinned host memory, streamed (expert_storage=host): 4 layers
    h2d = h2d_bandwidth(torch, device)
    small = llama_layout(arch["hidden_size"], arch["intermediate_size"], 4, arch["num_attention_heads"],
                         arch["num_key_value_heads"], arch["vocab_size"])[1:-2]
    host_bytes = 2 * sum(math.prod(s) for _, s in small)
    targets = [torch.empty(s, dtype=torch.bfloat16, device=device) for _, s in small]
    host = [[torch.empty(s, dtype=torch.bfloat16).normal_(std=0.02).pin_memory() for _, s in small] for _ in range(K)]
    streamer = mix.StreamedMixer(device)
    sjobs = [(t, [host[k][i] for k in range(K)]) for i, t in enumerate(targets)]
    streamer.mix(sjobs, WEIGHTS)
    stimes = timed(torch, device, lambda: streamer.mix(sjobs, WEIGHTS))
    sbound = K * host_bytes / h2d
    report["mix_host_streamed"] = {"layers": 4, "model_bytes": host_bytes, "h2d_gb_per_s": h2d / 1e9,
                                   "seconds": stimes, "h2d_bound_s": sbound, "fraction_of_h2d_bound": sbound / min(stimes)}
    ok_stream = all(torch.equal(t, mix.mixed([s.to(device) for s in srcs], WEIGHTS, torch.bfloat16, device))
                    for t, srcs in sjobs)
    report["mix_host_streamed"]["equal_to_device_mix"] = ok_stream
    print(f"host-streamed mix (4 layers, {host_bytes / 1e9:.2f} GB): {min(stimes) * 1e3:.1f} ms, H2D bound "
          f"{sbound * 1e3:.1f} ms = {sbound / min(stimes):.0%}; equal to the device mix: {ok_stream}")
    del targets, host, sjobs

    # 2. CUDA mix vs float64 CPU reference on a smaller model
    gen = torch.Generator().manual_seed(0)
    worst = {}
    for dtype, eps in ((torch.bfloat16, 2.0**-8), (torch.float32, 2.0**-24)):
        tensors = [torch.randn((1024, 1024), generator=gen) * 0.02 for _ in range(K * 8)]
        ok, exact_share = True, []
        for j in range(8):
            srcs = [t.to(dtype) for t in tensors[j * K:(j + 1) * K]]
            ref = sum(s.double() * w for s, w in zip(srcs, WEIGHTS))
            scale64 = sum(s.double().abs() * w for s, w in zip(srcs, WEIGHTS))
            got = mix.mixed([s.to(device) for s in srcs], WEIGHTS, dtype, device).cpu().double()
            ok &= bool(((got - ref).abs() <= eps * ref.abs() + 4 * 2.0**-24 * scale64).all())
            exact_share.append(float((got == ref.to(dtype).double()).double().mean()))
        worst[str(dtype).removeprefix("torch.")] = {"within_one_rounding": ok, "share_bit_equal_to_rounded_fp64":
                                                    min(exact_share)}
    report["cuda_vs_fp64_cpu"] = worst
    print(f"CUDA mix vs float64 CPU reference: {json.dumps(worst)}")
    report["seconds"] = time.time() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str) + "\n")
    tmp.replace(args.out)
    print(f"gpu_check: wrote {args.out} ({report['seconds']:.0f} s)")
    return 0 if all(v["within_one_rounding"] for v in worst.values()) and ok_stream else 1


class _PlanConfig:
    """The server settings the plan reads, for an 8B bf16 model at TP 1 on this GPU."""

    tensor_parallel_size = 1
    dtype = "bfloat16"
    device = "cuda"
    max_model_len = 8192
    kv_cache_memory_bytes = None
    gpu_memory_utilization = 0.45
    gpu_memory_gb = None
    host_memory_gb = 1000
    expert_storage = "device"
    host_bucket_mb = 64
    cuda_devices = None
    extra_args: list[str] = []


if __name__ == "__main__":
    sys.exit(main())
