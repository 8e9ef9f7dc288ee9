"""Q4 BO overhead: seconds per suggestion of `soce_bo.search.bo.BayesOpt` vs K and completed trials.

For each K and n, a fresh BayesOpt (one torch thread) gets the K + 1 free soups of a run as prior
information (the experts alone and the uniform soup) and observes n - (K + 1) random soups of a
synthetic objective (`soce_bo.search.synthetic.simplex_problem`), then `suggest(1)` is timed
`reps` times (each suggestion is observed before the next, so the GP is refit on n, n + 1, ...
trials). A suggestion = Ax fitting the GP(s) plus optimising qLogNEI under the simplex
constraint. n < K + 1 is not measured (a run always has the K + 1 free soups). Settings: Ax's
default acquisition (`acqf: null`), the CPU-cheap one of conf/experiment/demo.yaml, and the
cheap one with `model: per_category` (one GP per category).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.common import (CHEAP_ACQF, LoadSampler, console_log, median, parse_args, print_table, single_thread_torch,
                          write_result)
from soce_bo.search.synthetic import simplex_problem

SETTINGS = {"cheap": (CHEAP_ACQF, "scalar"), "cheap_per_category": (CHEAP_ACQF, "per_category"),
            "default": (None, "scalar")}


def time_suggestions(k: int, n: int, acqf: dict | None, reps: int, seed: int = 0, model: str = "scalar") -> list[float]:
    from soce_bo.search.configs import build_strategy
    from soce_bo.search.simplex import to_simplex, uniform, vertex

    fn = simplex_problem(k, seed)
    bo = build_strategy("bo", fn.experts, seed, budget=n + reps, acqf=acqf, torch_threads=1, model=model)
    for weights in [*(vertex(fn.experts, e) for e in fn.experts), uniform(fn.experts)]:  # a run's free soups
        bo.prior(weights, fn(weights))
    rng = np.random.default_rng([seed, k, n])
    for _ in range(n - (k + 1)):
        weights = to_simplex(fn.experts, rng.dirichlet(np.ones(k)))
        bo.observe(weights, fn(weights))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        (weights,) = bo.suggest(1)
        times.append(time.perf_counter() - t0)
        bo.observe(weights, fn(weights))
    return times


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv, extra=[
        ("--ks", {"default": "2,3,4,6,8", "help": "comma-separated K values"}),
        ("--ns", {"default": "5,10,20,40", "help": "comma-separated completed-trial counts"}),
        ("--settings", {"default": ",".join(SETTINGS), "help": "comma-separated settings: " + ", ".join(SETTINGS)})])
    single_thread_torch()
    started = time.time()
    ks, ns, reps = [int(k) for k in args.ks.split(",")], [int(n) for n in args.ns.split(",")], 2
    settings = {s: SETTINGS[s] for s in args.settings.split(",")}
    if args.quick:
        ks, ns, reps, settings = [2, 3], [5], 1, {"cheap": SETTINGS["cheap"]}
    from soce_bo.search.bo import quiet_ax

    quiet_ax()
    time_suggestions(2, 3, CHEAP_ACQF, 1)  # one-time costs (lazy imports, first GP fit) out of the table

    rows = []
    with LoadSampler() as load:
        for setting, (acqf, model) in settings.items():
            for k in ks:
                for n in ns:
                    if n < k + 1:
                        rows.append({"setting": setting, "k": k, "n": n, "seconds": None,
                                     "note": f"n < K + 1 = {k + 1} seed trials"})
                        continue
                    times = time_suggestions(k, n, acqf, reps, model=model)
                    rows.append({"setting": setting, "k": k, "n": n, "seconds": median(times), "all": times})
                    console_log(f"bo_overhead {setting} K={k} n={n}: {median(times):.2f} s")
    print_table("BO seconds per suggestion (1 torch thread)", ["setting", "K", "n trials", "s / suggestion"],
                [[r["setting"], r["k"], r["n"], r["seconds"]] for r in rows])
    per_k = {s: {str(k): median(r["seconds"] for r in rows if r["setting"] == s and r["k"] == k and r["seconds"])
                 for k in ks} for s in settings}
    summary = {
        "seconds_per_suggestion": per_k,
        "statistic": "per setting and K: median over n in " + str(ns) + " of the median of " + str(reps)
                     + " timed suggestions",
        "max_seconds": {s: max(r["seconds"] for r in rows if r["setting"] == s and r["seconds"]) for s in settings},
        "acqf": {s: acqf for s, (acqf, _) in settings.items()},
        "model": {s: model for s, (_, model) in settings.items()},
    }
    return write_result("bo_overhead", {"summary": summary, "rows": rows, "method": __doc__},
                        args.out, args.quick, started, load)


if __name__ == "__main__":
    main()
