"""Q5 generation throughput: the vLLM server vs the HF reference backend, same soup, same items.

The tiny zoo's test split (all 256 items), the uniform soup of three zoo experts (tool, math,
translate), greedy, fp32. HF: `HFBackend.from_state` fed by `iter_soup` (no file written), batch 64,
one torch thread, timed before the server starts and again after it stopped (vLLM's scheduler
busy-polls a core while it runs; bracketing vLLM in time makes load drift hit both alike).
vLLM: one `SoupServer`, `load_pool` + `apply(uniform)`, then `client.generate`; the prefix cache
is reset before every timed pass so no pass reuses the previous one's KV blocks. Items/s =
items / wall seconds of `generate`; outputs are compared string by string. A second point, the
uniform soup of three random ~25M-parameter Llamas with the zoo's tokenizer on every 4th test
item, shows how the ratio moves once the model is no longer tiny (random weights: the outputs
are gibberish that runs to max_tokens, which only makes the comparison stricter).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from bench.checkpoints import SHAPE_25M, make_pool
from bench.common import (ZOO_SOUP_EXPERTS, LoadSampler, console_log, median, parse_args, print_table,
                          single_thread_torch, write_result, zoo_dir, zoo_pool)


def measure(pool: list[Path], bench, items: list, reps: int) -> dict:
    """HF then vLLM on the uniform soup of `pool`: seconds per pass, outputs, item scores."""
    import torch

    from soce_bo.evaluate.hf_backend import HFBackend
    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.server import SoupServer
    from soce_bo.soup.mix import iter_soup
    from soce_bo.soup.validate import validate_pool

    weights = [1.0 / len(pool)] * len(pool)
    requests = [bench.request(item) for item in items]
    hf = HFBackend.from_state(pool[0], iter_soup(validate_pool(pool, weights), weights), torch.float32, 64)
    hf_times: list[float] = []

    def hf_passes(n: int) -> list[str]:
        out: list[str] = []
        for _ in range(n):
            t0 = time.perf_counter()
            out = hf.generate(requests)
            hf_times.append(time.perf_counter() - t0)
        return out

    hf_out = hf_passes(reps)  # before the server exists: its scheduler busy-polls a core
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
    hf_passes(reps)  # and again after it has stopped: HF brackets vLLM in time, so load drift hits both
    del hf
    n = len(items)
    hf_ips, vllm_ips = n / median(hf_times), n / median(vllm_times)
    same = sum(a == b for a, b in zip(hf_out, vllm_out, strict=True))
    return {
        "items": n, "weights": weights, "seconds": {"hf": hf_times, "vllm": vllm_times},
        "items_per_s": {"hf": hf_ips, "vllm": vllm_ips}, "vllm_over_hf": vllm_ips / hf_ips,
        "identical_outputs": same, "all_identical": same == n, "vllm_server_start_s": startup,
        "generated_chars": {"hf": sum(map(len, hf_out)), "vllm": sum(map(len, vllm_out))},
        "mean_item_score": {name: sum(bench.score(it, c) for it, c in zip(items, outs, strict=True)) / n
                            for name, outs in (("hf", hf_out), ("vllm", vllm_out))},
        "mismatches": [{"id": it.id, "hf": a, "vllm": b}
                       for it, a, b in zip(items, hf_out, vllm_out, strict=True) if a != b][:5],
    }


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv)
    single_thread_torch()
    started = time.time()
    from soce_bo.zoo.benchmark import ZooBenchmark

    bench = ZooBenchmark(zoo_dir() / "data")
    items = bench.load("test")
    reps = 1 if args.quick else 2
    results = {}
    work = Path(tempfile.mkdtemp(prefix="soce_bench_throughput_"))
    try:
        with LoadSampler() as load:
            results["zoo"] = measure(zoo_pool(), bench, items[::8] if args.quick else items, reps)
            console_log(f"throughput zoo: {results['zoo']['items_per_s']}")
            if not args.quick:
                pool = make_pool(work / "25M", SHAPE_25M, 3, tokenizer_from=zoo_pool()[0])
                results["25M"] = measure(pool, bench, items[::4], reps)
                console_log(f"throughput 25M: {results['25M']['items_per_s']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table("throughput: zoo test split, uniform soup of 3 experts (fp32, greedy)",
                ["model", "items", "HF s", "vLLM s", "HF items/s", "vLLM items/s", "vLLM / HF", "identical",
                 "score HF", "score vLLM"],
                [[name, r["items"], median(r["seconds"]["hf"]), median(r["seconds"]["vllm"]), r["items_per_s"]["hf"],
                  r["items_per_s"]["vllm"], r["vllm_over_hf"], f"{r['identical_outputs']}/{r['items']}",
                  r["mean_item_score"]["hf"], r["mean_item_score"]["vllm"]] for name, r in results.items()])
    zoo_r = results["zoo"]
    summary = {
        "vllm_over_hf": zoo_r["vllm_over_hf"],
        "items_per_s": zoo_r["items_per_s"],
        "identical_outputs": zoo_r["identical_outputs"], "items": zoo_r["items"],
        "all_identical": zoo_r["all_identical"],
        "vllm_over_hf_by_model": {name: r["vllm_over_hf"] for name, r in results.items()},
        "identical_by_model": {name: f"{r['identical_outputs']}/{r['items']}" for name, r in results.items()},
        "statistic": f"median of {reps} vLLM passes and of {2 * reps} HF passes (before and after vLLM); "
                     "headline = the zoo model",
    }
    return write_result("throughput", {"summary": summary, "models": results, "experts": list(ZOO_SOUP_EXPERTS),
                                         "method": __doc__}, args.out, args.quick, started, load)


if __name__ == "__main__":
    main()
