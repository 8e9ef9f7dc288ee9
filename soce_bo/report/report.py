"""results.json -> report.md + report.html (tables, plots, and an honest verdict).

The verdict compares on the *report* split (test), where nothing was selected or tuned: a soup
chosen on dev can lose on test, and the report says so rather than hiding it.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path

import markdown

from soce_bo.errors import ConfigError
from soce_bo.report import plots


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def _row(label: str, entry: dict, cats: list[str]) -> str:
    pc = entry["per_category"]
    cells = [f"{_pct(pc[c]['accuracy'])} ± {_pct(pc[c]['sem'])}" if c in pc else "–" for c in cats]
    w = entry.get("weights") or {}
    wtxt = ", ".join(f"{k} {v:.2f}" for k, v in w.items() if v > 1e-6)
    return f"| {label} | " + " | ".join(cells) + f" | **{_pct(entry.get('objective'))}** | {wtxt} |"


def _score_table(rows: dict, cats: list[str], objective_name: str) -> list[str]:
    head = "| soup | " + " | ".join(cats) + f" | {objective_name} | weights |"
    sep = "|---" * (len(cats) + 3) + "|"
    return [head, sep] + [_row(label, e, cats) for label, e in rows.items()]


def verdict(results: dict) -> list[str]:
    """Sentences on whether the search paid off on the report split; never more than the numbers say."""
    test = results.get("tables", {}).get(results["splits"]["report"]) or {}
    lines = []
    experts = {k: v for k, v in test.items() if k.startswith("expert:")}
    if not experts:
        return ["No test evaluations recorded."]
    best_label, best_expert = max(experts.items(), key=lambda kv: kv[1]["objective"])
    for label in [k for k in test if k.startswith("best:")]:
        e = test[label]
        diff = e["objective"] - best_expert["objective"]
        word = "beat" if diff > 0 else ("tied" if diff == 0 else "did NOT beat")
        lines.append(f"- **{label[5:]}** soup {word} the best single candidate ({best_label[7:]}) on "
                     f"{results['splits']['report']}: {_pct(e['objective'])} vs "
                     f"{_pct(best_expert['objective'])} ({100 * diff:+.2f} pp; SEM ≈ {_pct(e.get('sem'))}).")
    if "best:bo" in test and "best:grid" in test:
        d = test["best:bo"]["objective"] - test["best:grid"]["objective"]
        n_bo = results.get("evaluations", {}).get("bo")
        n_grid = results.get("evaluations", {}).get("grid")
        word = "beat" if d > 0 else ("tied" if d == 0 else "did NOT beat")
        lines.append(f"- BO ({n_bo} evaluations) {word} the paper's grid ({n_grid} evaluations) on "
                     f"{results['splits']['report']}: {100 * d:+.2f} pp.")
    if any(abs(test[k]["objective"] - best_expert["objective"]) < 2 * (test[k].get("sem") or 0)
           for k in test if k.startswith("best:")):
        lines.append("- Differences within two standard errors are not significant on a split this size.")
    return lines


def build_report(run_dir: str | Path) -> Path:
    """Write report.md, report.html and the PNG figures into run_dir; return report.html's path."""
    run_dir = Path(run_dir)
    res_path = run_dir / "results.json"
    if not res_path.is_file():
        raise ConfigError(f"no results.json in run_dir {run_dir} (has the run finished its search?)")
    results = json.loads(res_path.read_text())
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    figs = {
        "Category correlation": plots.correlation_heatmap(results, fig_dir / "correlation.png"),
        "Best-so-far versus evaluations": plots.best_so_far(results, fig_dir / "best_so_far.png"),
        "Per-category report-split scores": plots.category_bars(
            results, fig_dir / "categories.png", results["splits"]["report"]),
        "Weights of the best soups": plots.soup_weights(results, fig_dir / "weights.png"),
        "BO surrogate mean (3 experts)": plots.ternary_surrogate(results, fig_dir / "ternary.png"),
    }
    cats = results["benchmark"]["categories"]
    obj = results["benchmark"].get("objective", "objective")
    an = results.get("analysis") or {}
    md: list[str] = [
        f"# SoCE report — {results['run'].get('experiment') or 'run'}",
        "",
        f"Benchmark **{results['benchmark']['name']}**, selection on **{results['splits']['select']}**, "
        f"headline numbers on **{results['splits']['report']}**; objective: {obj}. "
        f"Seed {results['run'].get('seed')}; {len(results.get('trials', []))} evaluations in "
        f"{results['run'].get('wall_seconds', 0):.0f} s.",
        "",
        "## Verdict",
        *verdict(results),
        "",
        "## Analysis (SoCE steps 1–2)",
        f"Mode **{an.get('mode')}** (τ = {an.get('tau')}); low-correlation categories: "
        f"{', '.join(an.get('low_corr') or []) or '–'}; clusters: "
        f"{'; '.join('{' + ', '.join(c) + '}' for c in an.get('clusters') or []) or '–'}"
        + (f"; left out (every candidate tied): {', '.join(an['settings']['uninformative'])}"
           if (an.get("settings") or {}).get("uninformative") else "") + ".",
        "",
        "| expert | won |",
        "|---|---|",
        *[f"| {e['model']} | {', '.join(e['categories'])} |" for e in an.get("experts", [])],
        "",
    ]
    for split in (results["splits"]["report"], results["splits"]["select"]):
        rows = results.get("tables", {}).get(split) or {}
        if rows:
            md += [f"## Scores on {split}", *_score_table(rows, cats, obj), ""]
    if results.get("final_soup"):
        fs = results["final_soup"]
        md += ["## Final soup", f"`{fs['path']}` — strategy {fs['strategy']}, weights "
               + ", ".join(f"{k} {v:.3f}" for k, v in fs["weights"].items()), ""]
    md.append("## Figures")
    for title, p in figs.items():
        if p is not None:
            md += [f"### {title}", f"![{title}](figures/{p.name})", ""]
    text = "\n".join(md) + "\n"
    _atomic_write(run_dir / "report.md", text)
    html_body = markdown.markdown(text, extensions=["tables"])
    for p in figs.values():  # self-contained HTML: inline the images
        if p is not None:
            b64 = base64.b64encode(p.read_bytes()).decode()
            html_body = html_body.replace(f'src="figures/{p.name}"', f'src="data:image/png;base64,{b64}"')
    html = ("<!doctype html><html><head><meta charset='utf-8'><title>SoCE report</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px}"
            "img{max-width:100%}</style></head><body>" + html_body + "</body></html>")
    _atomic_write(run_dir / "report.html", html)
    return run_dir / "report.html"


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
