"""Zoo seeds: does the zoo's SoCE situation hold for other zoo seeds, not just the one the demo uses?

For each seed the default zoo config is built (seed 0 is artifacts/zoo, the others go to
artifacts/zoo_seeds/seed<N>; an existing current build is reused), then, with the HF reference
backend (greedy, fp32, one thread):
- every candidate is scored item by item on dev and test; the best single candidate is the best on dev;
- the uniform soup of all candidates and of the category experts is scored on dev and test;
- a dev-only search over the experts' weights (the uniform point plus `--points` seeded Dirichlet(1)
  points) picks the best dev soup, which is then scored on test;
- the test gaps (best dev soup - best single, uniform-all - best single) get scipy's paired
  permutation test and a stratified paired bootstrap interval (`soce_bo.analysis.paired`), so a
  gap is called significant only when it is.
The search here is deliberately plain (random points, no BO): it asks whether the pool admits a
soup that wins on test after selection on dev, not how fast a strategy finds it (bench.search).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO, LoadSampler, console_log, parse_args, print_table, single_thread_torch, write_result

SEEDS = (0, 1, 2)
GOAL_PP = 1.5


def zoo_for_seed(seed: int, root: Path, quick: bool) -> Path:
    """The default zoo of `seed` (built if missing); --quick uses the existing artifacts/zoo only."""
    from soce_bo.zoo.build import ensure_zoo
    from soce_bo.zoo.config import ZooConfig

    if quick:
        return REPO / "artifacts" / "zoo"
    out = REPO / "artifacts" / "zoo" if seed == 0 else root / f"seed{seed}"
    return ensure_zoo(out, replace(ZooConfig(), seed=seed))


class Scorer:
    """Per-item scores of checkpoints and soups on one zoo's splits (HF backend), cached by name."""

    def __init__(self, zoo: Path, limit: int | None) -> None:
        from soce_bo.zoo.benchmark import ZooBenchmark

        self.zoo = zoo
        self.bench = ZooBenchmark(zoo / "data")
        self.items = {s: self._limited(self.bench.load(s), limit) for s in ("dev", "test")}
        self.seconds = 0.0

    @staticmethod
    def _limited(items, limit):
        if limit is None:
            return items
        seen: dict[str, int] = {}
        kept = []
        for it in items:
            seen[it.category] = seen.get(it.category, 0) + 1
            if seen[it.category] <= limit:
                kept.append(it)
        return kept

    def score(self, dirs: list[Path], weights: list[float], split: str) -> tuple[float, list[float]]:
        from soce_bo.evaluate.hf_backend import HFBackend
        from soce_bo.evaluate.runner import evaluate_items
        from soce_bo.soup.mix import iter_soup
        from soce_bo.soup.validate import validate_pool

        t0 = time.perf_counter()
        if len(dirs) == 1:
            backend = HFBackend.from_pretrained(dirs[0])
        else:
            backend = HFBackend.from_state(dirs[0], iter_soup(validate_pool(dirs), weights))
        result = evaluate_items(self.bench, backend, self.items[split], show_progress=False)
        self.seconds += time.perf_counter() - t0
        return result.overall, result.item_scores

    def categories(self, split: str) -> list[str]:
        return [it.category for it in self.items[split]]


def assess(zoo: Path, points: int, limit: int | None, seed: int) -> dict[str, Any]:
    """The per-seed record: candidate scores, reference soups, best dev soup, paired test gaps."""
    from soce_bo.analysis.paired import paired_comparison
    from soce_bo.zoo.manifest import TIMINGS, load_manifest

    manifest = load_manifest(zoo)
    scorer = Scorer(zoo, limit)
    cands = manifest.candidates
    experts = list(manifest.experts)
    single: dict[str, dict[str, Any]] = {}
    for name, cand in cands.items():
        row = {}
        for split in ("dev", "test"):
            overall, items = scorer.score([cand.path], [1.0], split)
            row[split] = {"overall": overall, "items": items}
        single[name] = row
    best = max(single, key=lambda n: single[n]["dev"]["overall"])

    def soup(names: list[str], weights: list[float], split: str) -> dict[str, Any]:
        overall, items = scorer.score([cands[n].path for n in names], weights, split)
        return {"overall": overall, "items": items}

    uniform_all = {s: soup(list(cands), [1 / len(cands)] * len(cands), s) for s in ("dev", "test")}
    rng = np.random.default_rng([seed, 12])
    tried = [np.full(len(experts), 1 / len(experts)), *rng.dirichlet(np.ones(len(experts)), size=points)]
    search = []
    for w in tried:
        search.append({"weights": dict(zip(experts, np.round(w, 6).tolist())),
                       "dev": soup(experts, list(w), "dev")["overall"]})
    pick = max(search, key=lambda r: r["dev"])
    pick_test = soup(experts, list(pick["weights"].values()), "test")
    cats = scorer.categories("test")
    vs_best = paired_comparison("best_dev_soup", best, pick_test["items"], single[best]["test"]["items"], cats)
    uni_vs_best = paired_comparison("uniform_all", best, uniform_all["test"]["items"],
                                    single[best]["test"]["items"], cats)
    timings = json.loads((zoo / TIMINGS).read_text()) if (zoo / TIMINGS).is_file() else {}
    return {
        "seed": seed,
        "zoo": str(zoo),
        "config_hash": manifest.config_hash,
        "build_total_s": timings.get("total_s"),
        "candidates": {n: {s: single[n][s]["overall"] for s in ("dev", "test")} for n in cands},
        "per_category_test": manifest.raw["scores"].get("test", {}) if limit is None else None,
        "best_single": best,
        "uniform_all": {s: uniform_all[s]["overall"] for s in ("dev", "test")},
        "best_dev_soup": {"weights": pick["weights"], "dev": pick["dev"], "test": pick_test["overall"]},
        "search": search,
        "best_dev_soup_vs_best_single_test": vs_best.to_dict(),
        "uniform_all_vs_best_single_test": uni_vs_best.to_dict(),
        "soup_wins_by_goal": bool(vs_best.difference >= GOAL_PP / 100 and vs_best.significant),
        "uniform_all_below_best_single": bool(uni_vs_best.difference < 0),
        "geometry": manifest.raw.get("geometry"),
        "scoring_s": round(scorer.seconds, 1),
        "n_items": {s: len(scorer.items[s]) for s in ("dev", "test")},
    }


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv, extra=[
        ("--seeds", {"default": ",".join(map(str, SEEDS)), "help": "comma-separated zoo seeds"}),
        ("--points", {"type": int, "default": 24, "help": "random expert weightings searched on dev"}),
        ("--zoo-root", {"type": Path, "default": REPO / "artifacts" / "zoo_seeds",
                        "help": "where the zoos of seeds other than 0 are built"})])
    single_thread_torch()
    started = time.time()
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    points, limit = (4, 20) if args.quick else (args.points, None)
    records = []
    with LoadSampler() as load:
        for seed in seeds:
            zoo = zoo_for_seed(seed, args.zoo_root, args.quick)
            console_log(f"zoo seed {seed}: {zoo}")
            records.append(assess(zoo, points, limit, seed))
    rows = [[r["seed"], r["best_single"], r["candidates"][r["best_single"]]["test"], r["uniform_all"]["test"],
             r["best_dev_soup"]["test"], r["best_dev_soup_vs_best_single_test"]["difference"] * 100,
             r["best_dev_soup_vs_best_single_test"]["p_value"], r["soup_wins_by_goal"],
             r["uniform_all_below_best_single"]] for r in records]
    print_table("zoo seeds (test)", ["seed", "best single", "its test", "uniform all", "best dev soup",
                                     "soup - best (pp)", "p", "goal met", "uniform below"], rows)
    summary = {
        "seeds": seeds,
        "soup_wins_by_goal": [r["soup_wins_by_goal"] for r in records],
        "uniform_all_below_best_single": [r["uniform_all_below_best_single"] for r in records],
        "soup_minus_best_single_pp": [round(r["best_dev_soup_vs_best_single_test"]["difference"] * 100, 2)
                                      for r in records],
        "goal_met_on_at_least_2_of_3": sum(r["soup_wins_by_goal"] and r["uniform_all_below_best_single"]
                                           for r in records) >= 2,
    }
    return write_result("zoo_seeds", {"summary": summary, "records": records}, args.out, args.quick, started, load)


def zoo_seeds_section(d: dict) -> str:
    """BENCHMARKS.md section, rendered from zoo_seeds.json by bench.report."""
    from bench.report import _origin, _table

    rows = []
    for r in d["records"]:
        c = r["best_dev_soup_vs_best_single_test"]
        u = r["uniform_all_vs_best_single_test"]
        rows.append([str(r["seed"]), r["best_single"], r["candidates"][r["best_single"]]["test"],
                     r["best_dev_soup"]["test"], f"{100 * c['difference']:+.2f} [{100 * c['ci_low']:+.2f}, "
                     f"{100 * c['ci_high']:+.2f}], p={c['p_value']:.3g}", r["uniform_all"]["test"],
                     f"{100 * u['difference']:+.2f}, p={u['p_value']:.3g}",
                     "-" if r["build_total_s"] is None else f"{r['build_total_s']:.0f}"])
    s = d["summary"]
    return "\n".join([
        "## 6. Zoo seeds (`zoo_seeds.json`)", _origin(d), "",
        "Default zoo config per seed; HF backend, greedy. Best single = best candidate on dev. Best dev soup = the best "
        "of the uniform expert soup and seeded random expert weightings, chosen on dev only. Gaps on test in pp, "
        "95 % stratified paired bootstrap interval, paired permutation p.", "",
        _table(["seed", "best single", "its test", "best dev soup test", "soup - best (pp)", "uniform all test",
                "uniform - best (pp)", "build s"], rows), "",
        f"Soup beats the best single by >= {GOAL_PP} pp, significant: {s['soup_wins_by_goal']}; uniform soup of all "
        f"below the best single: {s['uniform_all_below_best_single']}.",
    ])


if __name__ == "__main__":
    main()
