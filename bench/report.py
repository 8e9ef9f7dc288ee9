"""Render BENCHMARKS.md from bench/results/*.json (+ the hand-written bench/analysis.md).

Numbers only ever come from the result files; the analysis file holds the explanations of goal
misses, which need a person (it names the run it was written for, so a stale one shows).
`python -m bench.report` re-renders BENCHMARKS.md from the last full run without measuring again.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import REPO, fmt
from soce_bo.atomic import atomic_write

ANALYSIS = REPO / "bench" / "analysis.md"


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(fmt(v) if not isinstance(v, str) else v for v in row) + " |" for row in rows]
    return "\n".join(out)


def _met(flag: bool | None) -> str:
    return "-" if flag is None else ("**met**" if flag else "**missed**")


def _setting_of_the_conf_default(overhead_summary: dict) -> str:
    """The bo_overhead setting that conf/search/bo.yaml builds today (a result file's own `conf_default`
    names the default of the day it was measured)."""
    from bench.bo_overhead import conf_default_setting

    resolved = {s: {key: overhead_summary[key].get(s) for key in ("acqf", "model", "min_weight")}
                for s in overhead_summary["seconds_per_suggestion"]}
    return conf_default_setting(resolved) or overhead_summary.get("conf_default") or "cheap"


def _origin(data: dict) -> str:
    m = data["meta"]
    load = m.get("loadavg_1min_during_run") or {}
    return (f"*`{m['command']}`, finished {m['finished']}, {m['wall_s']:.0f} s, 1-min load average "
            f"{load.get('min', float('nan')):.1f}-{load.get('max', float('nan')):.1f} (median "
            f"{load.get('median', float('nan')):.1f}) on {m['machine']['nproc']} cores.*")


def _rss(summary: dict, tool: str) -> float:
    value = summary["peak_rss_above_base_over_expert_size"][tool]
    return value["at_largest"] if isinstance(value, dict) else value


def merge_section(d: dict) -> str:
    s = d["summary"]
    rows = [[r["size"], round(r["params"] / 1e6), r["k"], r["out_gb"], r["seconds"]["soce"]["warm"],
             r["seconds"]["mergekit"]["warm"],
             r["seconds"]["bound"]["warm"], r["out_gb_per_s"]["soce"], r["speedup_vs_mergekit"],
             r["speedup_vs_mergekit_cold"], r["speedup_vs_mergekit_no_fsync"], r["fraction_of_bound"],
             r["rss_above_base_gb"]["soce"], r["rss_above_base_gb"]["mergekit"],
             r["error"]["soce"]["max_abs_err"], r["error"]["mergekit"]["max_abs_err"]] for r in d["configs"]]
    text = [
        "## 1. Streaming merge (`merge.json`)", _origin(d), "",
        "soce_bo `write_soup` vs mergekit 0.1.5 `run_merge` (linear, fp32, in-process) vs the copy bound "
        "(read every byte of the K sources through a memory map, then write and fsync one output). Times are "
        "medians of warm repeats in fresh per-config worker processes, tools interleaved; mergekit's time "
        "includes an fsync of its output "
        "(soce_bo fsyncs before its atomic rename), `x mk no-fsync` leaves it out, `x mk cold` is the first "
        "merge in a fresh process; the `x` ratios are paired per round (tools run back to back), then the "
        "median, so they can differ from the ratio of the two median times. RSS+ = peak RSS above the "
        "worker's RSS after imports (first merge). "
        "Error = max |soup - float64 soup| over embeddings, lm_head, norms, first and last layer.", "",
        _table(["size", "M params", "K", "out GB", "soce s", "mergekit s", "bound s", "soce GB/s", "x mergekit",
                "x mk cold",
                "x mk no-fsync", "of bound", "RSS+ soce GB", "RSS+ mk GB", "err soce", "err mk"], rows), "",
        f"Summary ({s['statistic']}): speedup vs mergekit median **{s['speedup_vs_mergekit']['median']:.2f}x** "
        f"(min {s['speedup_vs_mergekit']['min']:.2f}, at {s['largest']} {s['speedup_vs_mergekit']['at_largest']:.2f}; "
        f"cold {s['speedup_vs_mergekit_cold']['median']:.2f}x); fraction of the copy bound median "
        f"**{s['fraction_of_bound']['median']:.0%}** (at {s['largest']} {s['fraction_of_bound']['at_largest']:.0%}). "
        f"Peak RSS above the interpreter at {s['largest']}: soce_bo "
        f"{_rss(s, 'soce'):.2f}x, mergekit {_rss(s, 'mergekit'):.2f}x one expert's size. "
        f"Goals: >= {s['goals']['speedup_vs_mergekit']}x mergekit {_met(s['goals_met']['speedup_vs_mergekit'])}, "
        f">= {s['goals']['fraction_of_bound']:.0%} of bound {_met(s['goals_met']['fraction_of_bound'])}."
        + (f" A writer running exactly at the copy bound would be {s['speedup_vs_mergekit_at_bound']['median']:.2f}x "
           f"mergekit (median; min {s['speedup_vs_mergekit_at_bound']['min']:.2f}, max "
           f"{s['speedup_vs_mergekit_at_bound']['max']:.2f}): that is the ceiling for any writer that reads the K "
           "sources and writes the soup on this machine."
           if "speedup_vs_mergekit_at_bound" in s else ""),
    ]
    if s.get("skipped"):
        text.append("Skipped: " + "; ".join(f"{x['size']} K={x['k']} ({x['reason']})" for x in s["skipped"]) + ".")
    rows = [[r["size"], r["k"], r["seconds"]["soce"]["warm"]] + [r["soce_breakdown_s"][p] for p in
                                                              ("validate", "mix", "sha256", "write_fsync")]
            + [r["cpu_speedup_vs_mergekit"]] for r in d["configs"]]
    text += ["", "Where soce_bo's time goes (same run, warm, each part timed alone in the soce_bo worker): "
             "`validate_pool`; the fp32 mix alone (`iter_soup`, output dropped); SHA-256 of the output's bytes "
             "(the manifest hashes every file); a plain write + fsync of them. `write_soup` overlaps mixing with "
             "writing + hashing in a second thread, which helps only when a second core is free. `cpu x mk` = "
             "mergekit's CPU seconds / soce_bo's (all threads; less sensitive to the box's load than wall time).", "",
             _table(["size", "K", "write_soup s", "validate s", "mix s", "sha256 s", "write+fsync s",
                     "cpu x mk"], rows)]
    return "\n".join(text)


def swap_section(d: dict) -> str:
    s = d["summary"]
    rows = [[r["size"], r.get("tp", 1), r["model_bytes"] / 1e6, r["swap_wall_median_s"], r["swap_apply_median_s"],
             r.get("single_expert_apply_median_s"), r.get("copy_bound_s"), r["fraction_of_copy_bound"],
             r.get("mmap_apply_median_s"), r.get("generate_s"), r["restart_median_s"], r["speedup_vs_restart"]]
            for r in d["sizes"]]
    fractions = s.get("mix_fraction_of_copy_bound", {})
    return "\n".join([
        "## 2. Soup swap (`swap.json`)", _origin(d), "",
        "`client.apply(weights)` on a live server (RPC + in-worker mix of the resident per-rank expert shards into "
        "the live weights + the platform's post-load repacking + fingerprint check + prefix-cache reset) vs "
        "`write_soup` + the engine's start until /health. K = 3, fp32 engine, `expert_storage=host`, one core "
        "per rank. `mix s` = the worker's part (slowest rank); `1-expert` = one expert at weight 1 (reads 1 shard "
        "instead of 3, same repack); copy bound = (K reads + 1 write) x one rank's shard bytes at the measured "
        "single-thread memory-copy bandwidth "
        f"({s['memory_copy_gb_per_s']['start']:.1f} GB/s moved); `mmap s` = the same soups with the experts "
        "memory-mapped and full tensors through vLLM's `reload_weights` (the previous design).", "",
        "`unpacked` = `server.cpu_pack_linears=false` (torch's F.linear on weights the mix writes in place, no "
        "oneDNN repack per trial); `gen s` = greedy generation of a fixed batch (32 prompts x 16 tokens), the price "
        "of unpacked linears.", "",
        _table(["size", "TP", "model MB", "swap s", "mix s", "1-expert s", "copy bound s", "of bound", "mmap s",
                "gen s", "restart s", "x restart"], rows),
        "", f"Summary ({s['statistic']}): speedup vs restart min **{s['speedup_vs_restart']['min']:.0f}x**, median "
        f"{s['speedup_vs_restart']['median']:.0f}x. Goal >= {s['goal']:.0f}x at every size: "
        f"{_met(s['goal_met_all_sizes'])}."
        + (f" Mix at >= {s['goal_fraction_of_copy_bound']:.0%} of the copy bound at every size: "
           f"{_met(s['goal_fraction_met_all_sizes'])} with vLLM's packed linears"
           + (f", {_met(s['goal_fraction_met_unpacked'])} unpacked" if s.get("goal_fraction_met_unpacked") is not None
              else "") + "."
           if fractions and "goal_fraction_met_all_sizes" in s else ""),
    ])


def gpu_check_section(d: dict | None) -> str:
    """scripts/gpu_check.sh's result, or the statement that no GPU has run it."""
    head = "## GPU check (`scripts/gpu_check.sh` -> `gpu_check.json`)"
    if d is None:
        return "\n".join([head, "", "No GPU has run `scripts/gpu_check.sh` yet: the CUDA soup mix (fused kernel, "
                          "host streaming), its equality with the float64 CPU reference and the memory plan's "
                          "predictions against `torch.cuda.max_memory_allocated` are unmeasured."])
    mix = d.get("mix_8b", {})
    lines = [head, "", f"Run {d.get('date')} on {d.get('device')} (torch {d.get('torch')}), device copy bandwidth "
             f"{d.get('copy_bandwidth_gb_per_s', 0):.0f} GB/s.", ""]
    for path, r in mix.get("paths", {}).items():
        if "best_s" in r:
            lines.append(f"- 8B-shaped bf16 soup, K = 3, {path}: {r['best_s'] * 1e3:.1f} ms = "
                         f"{r['fraction_of_copy_bound']:.0%} of the copy bound ({mix.get('layers')} of "
                         f"{mix.get('of_layers')} layers)")
    if "mix_host_streamed" in d:
        h = d["mix_host_streamed"]
        lines.append(f"- host-streamed: {min(h['seconds']) * 1e3:.1f} ms = {h['fraction_of_h2d_bound']:.0%} of the "
                     f"H2D bound ({h['h2d_gb_per_s']:.0f} GB/s), equal to the device mix: {h['equal_to_device_mix']}")
    if "cuda_vs_fp64_cpu" in d:
        lines.append(f"- CUDA vs float64 CPU reference: {json.dumps(d['cuda_vs_fp64_cpu'])}")
    if "memory_plan" in d:
        m = d["memory_plan"]
        lines.append(f"- memory plan: measured / predicted = {m['ratio_measured_over_predicted']:.2f}")
    return "\n".join(lines)


def search_section(d: dict, figure: str = "bench/results/search_curves.png") -> str:
    s = d["summary"]
    rows = []
    for group, agg in d["groups"].items():
        for name in [n for n, v in agg.items() if isinstance(v, dict) and "reach" in v]:  # strategies, run order
            r = agg[name]["reach"]
            rows.append([group, name, agg[name]["n_trials_median"], r["half_sem"]["fraction_within_20"],
                         r["half_sem"]["median_evals"], r["zero"]["fraction_within_20"],
                         agg[name]["incumbent_gap_to_grid_best_median"], agg[name].get("on_face_fraction_mean")])
    zoo = [p for p in d["problems"] if p["kind"] == "zoo"]
    zoo_note = ""
    if zoo:
        z = zoo[0]
        zoo_note = (f"Zoo: experts {', '.join(z['experts'])}, {z['dev_items']} dev items, "
                    f"{max(p['fresh_evaluations'] for p in zoo)} distinct soups evaluated through one server "
                    f"for all strategies and {len(zoo)} seeds; grid best (dev) {z['grid_best_true']:.4f}.")
        if all("picks" in p for p in zoo):
            zoo_note += " Returned soups on the test split (BO at 20 fresh evaluations vs the full grid): " + "; ".join(
                f"seed {p['seed']}: BO {p['picks']['bo']['test']:.4f} ({p['picks']['bo']['fresh']} fresh) vs grid "
                f"{p['picks']['grid']['test']:.4f} ({p['picks']['grid']['fresh']} fresh)" for p in zoo) + (
                f". Goal (BO ties or beats the grid on test in >= 2 of 3 seeds with <= 1/4 of its fresh "
                f"evaluations): {_met(s['zoo_goal_met'])}." if s.get("zoo_goal_met") is not None else ".")
    return "\n".join([
        "## 3. Search efficiency (`search.json`, `results/search_curves.png`)", _origin(d), "",
        "Strategies with their default configs (bo/random/cmaes 20 trials; BO's include "
        f"its K + 1 seeds; greedy 2K - 1; grid the full SoCE grid), through `run_search` on the zoo and the same "
        f"ask/tell loop without ledger on the synthetic problems. BO acquisition: `{json.dumps(s['bo_acqf'])}`, "
        "one torch thread. Reach = the best true value among the first 20 trials is within tol of the grid's "
        "best true value, tol = 0.5 x the SEM of one observation at the grid's best soup (strict: tol = 0). "
        "`pick - grid best` = true value of the best-observed trial at the end minus the grid's best true value "
        "(median over seeds). `on a face` = share of trials with some expert at weight 0 (BO: after its seeds). "
        "`bo` = the conf default (`min_weight` 0 since 2026-12-01; 0.1 before: every expert >= 0.1 in BO's own "
        "suggestions, the grid's domain; see the run's command and date); "
        "`bo_simplex` = the same BO over the whole simplex (`min_weight: 0`).", "",
        _table(["problem", "strategy", "trials", "reach <= 20", "median evals", "reach <= 20 (tol 0)",
                "pick - grid best", "on a face"], rows), "",
        zoo_note,
        f"Summary over {s['cases']['total']} cases ({s['cases']['synthetic']} synthetic, {s['cases']['zoo']} zoo): "
        f"BO reaches the grid's best within 20 evaluations in **{s['bo_reaches_grid_best_fraction']:.0%}** "
        f"(strict {s['bo_reaches_grid_best_fraction_strict']:.0%}); BO at 20 beats the full grid's pick in "
        f"{s['bo_at_20_beats_full_grid_fraction']:.0%} (ties or beats "
        f"{s['bo_at_20_ties_or_beats_full_grid_fraction']:.0%}) "
        f"and CMA-ES at 20 in {s['bo_beats_cmaes_at_20_fraction']:.0%} (ties or beats "
        f"{s['bo_ties_or_beats_cmaes_at_20_fraction']:.0%}). Goal >= {s['goal']:.0%}: {_met(s['goal_met'])}."
        + (f" Over the whole simplex (`bo_simplex`) BO reaches it in {s['bo_simplex_reaches_grid_best_fraction']:.0%}."
           if s.get("bo_simplex_reaches_grid_best_fraction") is not None else ""),
        "`median evals` is `-` when fewer than half of the seeds reached the grid's best at all.",
        "", f"![best-so-far curves]({figure})",
    ])


def bo_section(d: dict) -> str:
    s = d["summary"]
    ks = sorted({r["k"] for r in d["rows"]})
    ns = sorted({r["n"] for r in d["rows"]})
    lines = ["## 4. BO overhead (`bo_overhead.json`)", _origin(d), "",
             "Seconds per `BayesOpt.suggest(1)` (GP fit + acquisition optimisation), one torch thread, "
             "after n completed trials (n < K + 1 is not measurable: the seeds come first).", ""]
    for setting in s["seconds_per_suggestion"]:
        rows = [[f"K={k}"] + [next((r["seconds"] for r in d["rows"] if r["setting"] == setting and r["k"] == k
                                     and r["n"] == n), None) for n in ns] for k in ks]
        acqf = s["acqf"][setting]
        lines += [f"**{setting}** (`acqf: {json.dumps(acqf) if acqf else 'null (Ax defaults)'}`)", "",
                  _table(["K"] + [f"n={n}" for n in ns], rows), ""]
    lines.append(f"Summary ({s['statistic']}): " + "; ".join(
        f"{setting}: " + ", ".join(f"K={k} {v:.2f} s" for k, v in per.items())
        for setting, per in s["seconds_per_suggestion"].items()) + ".")
    return "\n".join(lines)


def throughput_section(d: dict) -> str:
    s = d["summary"]
    rows = [[name, r["items"], r["items_per_s"]["hf"], r["items_per_s"]["vllm"], r["vllm_over_hf"],
             f"{r['identical_outputs']}/{r['items']}", r["mean_item_score"]["hf"], r["mean_item_score"]["vllm"]]
            for name, r in d["models"].items()]
    return "\n".join([
        "## 5. Generation throughput (`throughput.json`)", _origin(d), "",
        "Zoo test split, uniform soup of three zoo experts (tool, math, translate), greedy, fp32. "
        "HF = `HFBackend` timed "
        "before and after vLLM (batch 64, one torch thread); vLLM = `SoupServer` + `client.generate` (worker "
        "bound to one core; prefix cache reset before each pass). `25M` = uniform soup of three random "
        "25M-parameter Llamas "
        "with the zoo's tokenizer on every 4th test item (outputs are gibberish; only speed and identity "
        "count).", "",
        _table(["model", "items", "HF items/s", "vLLM items/s", "vLLM / HF", "identical", "score HF", "score vLLM"],
               rows), "",
        f"vLLM / HF on the zoo = **{s['vllm_over_hf']:.2f}x**; identical outputs {s['identical_outputs']}/{s['items']} "
        f"({s['statistic']}).",
    ])


def _beside_its_script(module: str, function: str):
    """A section whose renderer lives with its bench script (imported only when its result file exists)."""
    def render(d: dict) -> str:
        return getattr(importlib.import_module(module), function)(d)

    return render


RACING_HEADLINES = ("racing_suite", "racing_zoo_teams_seed1", "racing_zoo_teams_seed2", "racing_zoo_teams_seed0")
"""Racing results with the current settings: sections and headline rows."""
RACING_EARLIER = ("racing_suite_no_zone", "racing_suite_sem_zone", "racing_zoo_teams_no_zone", "racing_zoo")
"""Racing results with earlier settings: sections only."""

SECTIONS = {"merge": merge_section, "swap": swap_section, "search": search_section,
            "search_suite": _beside_its_script("bench.search_suite", "search_suite_section"),
            "bo_overhead": bo_section, "throughput": throughput_section,
            "zoo_seeds": _beside_its_script("bench.zoo_seeds", "zoo_seeds_section"),
            "zoo_seeds_teams": _beside_its_script("bench.zoo_seeds", "zoo_seeds_section"),
            "teams_runs": _beside_its_script("bench.teams_runs", "teams_runs_section"),
            "demo_time": _beside_its_script("bench.demo_time", "demo_time_section"),
            **{name: _beside_its_script("bench.racing", "racing_section")
               for name in RACING_HEADLINES + RACING_EARLIER}}


def headline_rows(data: dict[str, dict]) -> list[list[str]]:
    rows = []
    if "merge" in data:
        s = data["merge"]["summary"]
        rows.append(["merge: speedup vs mergekit (median)", f"{s['speedup_vs_mergekit']['median']:.2f}x", ">= 2x",
                     _met(s["goals_met"]["speedup_vs_mergekit"])])
        rows.append(["merge: fraction of copy bound (median)", f"{s['fraction_of_bound']['median']:.0%}", ">= 60 %",
                     _met(s["goals_met"]["fraction_of_bound"])])
    if "swap" in data:
        s = data["swap"]["summary"]
        rows.append(["swap: speedup vs restart (min over sizes)", f"{s['speedup_vs_restart']['min']:.0f}x",
                     ">= 100x", _met(s["goal_met_all_sizes"])])
        if "goal_fraction_met_all_sizes" in s:
            fr = s["mix_fraction_of_copy_bound"]
            packed = [v for k, v in fr.items() if "unpacked" not in k]
            unpacked = [v for k, v in fr.items() if "unpacked" in k]
            rows.append(["swap: mix fraction of copy bound (min, packed linears)", f"{min(packed):.0%}", ">= 60 %",
                         _met(s["goal_fraction_met_all_sizes"])])
            if unpacked:
                rows.append(["swap: mix fraction of copy bound (min, cpu_pack_linears=false)", f"{min(unpacked):.0%}",
                             ">= 60 %", _met(s.get("goal_fraction_met_unpacked"))])
    if "search" in data:
        s = data["search"]["summary"]
        rows.append(["search: BO reaches grid best within 20", f"{s['bo_reaches_grid_best_fraction']:.0%}",
                     ">= 80 %", _met(s["goal_met"])])
    if "bo_overhead" in data:
        summary = data["bo_overhead"]["summary"]
        default = _setting_of_the_conf_default(summary)
        s, slowest = summary["seconds_per_suggestion"][default], summary["max_seconds"][default]
        rows.append([f"BO s/suggestion (setting `{default}` = conf/search/bo.yaml as is; median per K, max over K and n)",
                     ", ".join(f"{k}: {v:.2f}" for k, v in s.items()) + f"; max {slowest:.2f}",
                     "<= 1 s at K <= 8", _met(slowest <= 1.0)])
    for name in ("zoo_seeds", "zoo_seeds_teams"):
        if name in data:
            s = data[name]["summary"]
            rows.append([f"zoo seeds ({s.get('kind', 'experts')}): best dev soup - best single, test pp (per seed)",
                         ", ".join(f"{v:+.2f}" for v in s["soup_minus_best_single_pp"]),
                         ">= 1.5 pp, p < 0.05, uniform-all below, on 2 of 3", _met(s["goal_met_on_at_least_2_of_3"])])
    if "teams_runs" in data:
        s = data["teams_runs"]["summary"]
        rows.append(["teams runs: BO soup - best single, test pp (per zoo seed)",
                     ", ".join(f"{v:+.2f}" for v in s["bo_minus_best_single_pp"]),
                     ">= 1.5 pp, p < 0.05, uniform-all below, on 2 of 3", _met(s["soup_goals_met_on_at_least_2_of_3"])])
        rows.append(["teams runs: BO soup - grid soup, test pp (per zoo seed)",
                     ", ".join(f"{v:+.2f}" for v in s["bo_minus_grid_pp"]), ">= -0.5 pp",
                     _met(all(v >= -0.5 for v in s["bo_minus_grid_pp"]))])
        records = data["teams_runs"]["records"]
        rows.append(["teams runs: fresh evaluations, BO / grid (per zoo seed)",
                     ", ".join(f"{r['fresh']['bo']} / {r['fresh']['grid']}" for r in records), "<= 1/4",
                     _met(all(r["goals"]["bo_quarter_of_grid_fresh"] for r in records))])
    if "demo_time" in data:
        s = data["demo_time"]["summary"]
        rows.append(["make demo from a fresh clone: install + zoo + run (run alone)",
                     f"{s['total_s'] / 60:.1f} min ({s['run_wall_s'] / 60:.1f} min)", "<= 15 min (<= 8 min)",
                     _met(all(s["goals"].values()))])
    if "search_suite" in data:
        for bo, res in data["search_suite"]["summary"]["results"].items():
            rows.append([f"suite ({bo}): BO >= CMA-ES / >= random, min over K = 3..8",
                         f"{res['min_vs_cmaes']:.0%} / {res['min_vs_random']:.0%}", ">= 70 %",
                         _met(res["goals_met"]["vs_cmaes"] and res["goals_met"]["vs_random"])])
            rows.append([f"suite ({bo}): BO reaches the grid's best, min over K <= 6",
                         f"{res['min_reach_k_le_6']:.0%}", ">= 95 %", _met(res["goals_met"]["reach_k_le_6"])])
    for name in RACING_HEADLINES:
        if name in data:
            from bench.racing import summarize as racing_summary

            for kind, k in racing_summary(data[name]["rows"]).items():
                rows.append([f"racing ({kind}, `{name}.json`): items off / on per run, no worse than 0.5 pp",
                             f"{k['ratio']:.2f}x, {k['no_worse_fraction']:.0%} of runs", ">= 2x at the same score",
                             _met(k["goal_met"])])
    if "throughput" in data:
        s = data["throughput"]["summary"]
        rows.append(["throughput: vLLM / HF", f"{s['vllm_over_hf']:.1f}x "
                     f"({s['identical_outputs']}/{s['items']} identical)", "-", "-"])
    return rows


def render(results: Path, run: dict[str, Any], target_dir: Path = REPO) -> str:
    data = {name: d for name in SECTIONS if (d := _load(results, name)) is not None}
    m, load = run["machine"], run["load"]
    parts = [
        "# Benchmarks",
        "",
        f"Generated by `{run['command']}` (started {run['started']}, {run['wall_s'] / 60:.1f} min). "
        "Every ratio below was measured side by side in one run on the machine below, which was shared with "
        "other work (see the load average): absolute times are noisy, ratios of interleaved runs much less so."
        + (" **Quick mode: smoke-test sizes, not the benchmark numbers.**" if run["quick"] else ""),
        "",
        "## Machine",
        "",
        _table(["cores (nproc)", "CPU", "RAM GiB", "Python", "1-min load avg during run (min / median / max)"],
               [[str(m["nproc"]), m["cpu_model"], str(m["ram_gib"]), m["python"],
                 f"{load['min']:.1f} / {load['median']:.1f} / {load['max']:.1f}"]]),
        "",
        "Threads: OMP_NUM_THREADS=1, torch.set_num_threads(1) everywhere; the vLLM worker is bound to core 0.",
        "",
        "## Headlines",
        "",
        _table(["question", "measured", "goal", ""], headline_rows(data)),
        "",
        "Status of this run: "
        + ", ".join(f"{n} exit {s['exit_code']} ({s['wall_s']:.0f} s)" for n, s in run["status"].items())
        + ".",
    ]
    stale = [n for n in data if n not in run["status"]]
    if stale:
        parts.append(f"Not rerun in this invocation (older files): {', '.join(stale)}.")
    figure = os.path.relpath(results / "search_curves.png", target_dir)
    for name, section in SECTIONS.items():
        if name in data:
            parts += ["", section(data[name], figure) if name == "search" else section(data[name])]
    parts += ["", gpu_check_section(_load(results, "gpu_check"))]
    if ANALYSIS.is_file():
        parts += ["", ANALYSIS.read_text().strip()]
    return "\n".join(parts) + "\n"


def main() -> None:
    """Re-render BENCHMARKS.md from bench/results and its run_all.json (e.g. after editing analysis.md)."""
    from bench.common import RESULTS

    run = json.loads((RESULTS / "run_all.json").read_text())
    target = atomic_write(REPO / "BENCHMARKS.md", render(RESULTS, run, REPO))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
