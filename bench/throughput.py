"""Q5 generation throughput: the vLLM server vs the HF reference backend, same soup, same items.

The tiny zoo's test split, the uniform soup of the three experts `make demo` selects, greedy,
fp32. HF: `HFBackend.from_state` fed by `iter_soup` (no file written), batch 64, one torch
thread, timed before any server exists (vLLM's scheduler busy-polls a core while it runs).
vLLM: one `SoupServer`, `load_pool` + `apply(uniform)`, then `client.generate`; the prefix cache
is reset before every timed pass so no pass reuses the previous one's KV blocks. Items/s =
items / wall seconds of `generate`; the outputs are compared string by string.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import (LoadSampler, console_log, median, parse_args, print_table, single_thread_torch, write_result,
                          zoo_dir)

EXPERTS = ("tool_expert", "math_expert", "translate_expert")


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv)
    single_thread_torch()
    started = time.time()
    import torch

    from soce_bo.evaluate.benchmarks.zoo import ZooBenchmark
    from soce_bo.evaluate.hf_backend import HFBackend
    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.server import SoupServer
    from soce_bo.soup.mix import iter_soup
    from soce_bo.soup.validate import validate_pool
    zoo = zoo_dir()
    pool = [zoo / "experts" / name for name in EXPERTS]
    weights = [1.0 / len(pool)] * len(pool)
    bench = ZooBenchmark(zoo / "data")
    items = bench.load("test")
    if args.quick:
        items = items[::8]
    requests = [bench.request(item) for item in items]
    reps = 1 if args.quick else 2
    with LoadSampler() as load:
        hf = HFBackend.from_state(pool[0], iter_soup(validate_pool(pool, weights), weights), torch.float32, 64)
        hf_times, hf_out = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            hf_out = hf.generate(requests)
            hf_times.append(time.perf_counter() - t0)
        del hf
        console_log(f"throughput: HF {len(items) / median(hf_times):.1f} items/s")
        with SoupServer(pool[0], ServerConfig()) as server, server.client() as client:
            client.load_pool(pool)
            client.apply(weights)
            vllm_times, vllm_out = [], []
            for _ in range(reps):
                client.reset_prefix_cache()
                t0 = time.perf_counter()
                vllm_out = client.generate(requests)
                vllm_times.append(time.perf_counter() - t0)
            startup = server.startup_s
        console_log(f"throughput: vLLM {len(items) / median(vllm_times):.1f} items/s")
    same = sum(a == b for a, b in zip(hf_out, vllm_out, strict=True))
    score = {name: sum(bench.score(it, c) for it, c in zip(items, outs, strict=True)) / len(items)
             for name, outs in (("hf", hf_out), ("vllm", vllm_out))}
    hf_ips, vllm_ips = len(items) / median(hf_times), len(items) / median(vllm_times)
    print_table("throughput: zoo test split, uniform soup of 3 experts (fp32, greedy)",
                ["backend", "items", "seconds (median)", "items/s", "mean item score"],
                [["HF (1 thread)", len(items), median(hf_times), hf_ips, score["hf"]],
                 ["vLLM server", len(items), median(vllm_times), vllm_ips, score["vllm"]]])
    console_log(f"identical outputs: {same}/{len(items)}")
    summary = {
        "vllm_over_hf": vllm_ips / hf_ips,
        "items_per_s": {"hf": hf_ips, "vllm": vllm_ips},
        "identical_outputs": same, "items": len(items), "all_identical": same == len(items),
        "statistic": f"median of {reps} timed passes each",
    }
    payload = {"summary": summary, "seconds": {"hf": hf_times, "vllm": vllm_times},
               "vllm_server_start_s": startup, "mean_item_score": score, "experts": list(EXPERTS),
               "weights": weights, "mismatches": [{"id": it.id, "hf": a, "vllm": b} for it, a, b in
                                                  zip(items, hf_out, vllm_out, strict=True) if a != b][:10],
               "method": __doc__}
    path = write_result("throughput", payload, args.out, args.quick, started, load)
    console_log(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
