"""Q4 BO overhead: seconds per suggestion of `soce_bo.search.bo.BayesOpt` vs K and completed trials.

For each K and n, a fresh BayesOpt (one torch thread) gets the K + 1 free soups of a run as prior
information (the experts alone and the uniform soup) and observes n - (K + 1) random soups of a
synthetic objective (`soce_bo.search.synthetic.simplex_problem`), then `suggest(1)` is timed
`reps` times (each suggestion is observed before the next, so the GP is refit on n, n + 1, ...
trials). A suggestion = Ax fitting the GP(s) plus optimising qLogNEI under the simplex
constraint. n < K + 1 is not measured (a run always has the K + 1 free soups). Settings (overrides of
conf/search/bo.yaml, whose min_weight all keep): `cheap` / `cheap_per_category` = the benches'
acquisition bench.common.CHEAP_ACQF (= the run's default preset "swift" of
soce_bo.search.bo.ACQF_PRESETS) with one GP on the objective / one batched GP over the categories;
`lean` = the preset "lean" (the default on the evening of 2026-12-01); `old_cheap` = the older
preset "cheap" (the benches' CHEAP_ACQF until 2026-12-01 noon); `ax_default` =
Ax's own acquisition-optimiser defaults (`acqf: null`). `summary.conf_default` names the setting
that conf/search/bo.yaml builds as it is.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.common import (CHEAP_ACQF, LoadSampler, console_log, median, parse_args, print_table, single_thread_torch,
                          write_result)
from soce_bo.search.synthetic import simplex_problem

SETTINGS: dict[str, dict] = {
    "cheap": {"acqf": CHEAP_ACQF, "model": "scalar"},
    "cheap_per_category": {"acqf": CHEAP_ACQF, "model": "per_category"},
    "lean": {"acqf": "lean", "model": "scalar"},
    "old_cheap": {"acqf": "cheap", "model": "scalar"},
    "ax_default": {"acqf": None, "model": "scalar"},
}


def time_suggestions(k: int, n: int, overrides: dict, reps: int, seed: int = 0) -> tuple[list[float], object]:
    """Seconds of each of `reps` suggestions after n completed trials; also the BayesOpt (for its settings)."""
    from soce_bo.search.configs import build_strategy
    from soce_bo.search.simplex import to_simplex, uniform, vertex

    fn = simplex_problem(k, seed)
    bo = build_strategy("bo", fn.experts, seed, budget=n + reps, torch_threads=1, **overrides)
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
    return times, bo


def resolved_settings(bo) -> dict:
    """What a built BayesOpt runs with (acqf, model, min_weight): the conf's values after overrides."""
    return {"acqf": bo._acqf or None, "model": bo.model, "min_weight": bo.min_weight}


def conf_default_setting(resolved: dict[str, dict]) -> str | None:
    """The measured setting that conf/search/bo.yaml builds without overrides (None if none of them)."""
    from soce_bo.search.configs import build_strategy

    default = resolved_settings(build_strategy("bo", ["a", "b"], 0))
    return next((s for s, r in resolved.items() if r == default), None)


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
    time_suggestions(2, 3, {"acqf": CHEAP_ACQF}, 1)  # one-time costs (lazy imports, first GP fit) out of the table

    rows, resolved = [], {}
    with LoadSampler() as load:
        for setting, overrides in settings.items():
            for k in ks:
                for n in ns:
                    if n < k + 1:
                        rows.append({"setting": setting, "k": k, "n": n, "seconds": None,
                                     "note": f"n < K + 1 = {k + 1} seed trials"})
                        continue
                    times, bo = time_suggestions(k, n, overrides, reps)
                    resolved[setting] = resolved_settings(bo)
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
        "acqf": {s: r["acqf"] for s, r in resolved.items()},
        "model": {s: r["model"] for s, r in resolved.items()},
        "min_weight": {s: r["min_weight"] for s, r in resolved.items()},
        "conf_default": conf_default_setting(resolved),
    }
    return write_result("bo_overhead", {"summary": summary, "rows": rows, "method": __doc__},
                        args.out, args.quick, started, load)


if __name__ == "__main__":
    main()
