"""results.json -> report.md + report.html (tables, plots, and an honest verdict).

The verdict compares on the *report* split (test), where nothing was selected or tuned: a soup
chosen on dev can lose on test, and the report says so rather than hiding it.
"""

from __future__ import annotations

import base64
from pathlib import Path

import markdown

from soce_bo.atomic import atomic_write
from soce_bo.recipe.results import RunResults, SoupRow
from soce_bo.report import plots


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def _row(row: SoupRow, cats: list[str]) -> str:
    pc = row.per_category
    cells = [f"{_pct(pc[c]['accuracy'])} ± {_pct(pc[c]['sem'])}" if c in pc else "–" for c in cats]
    wtxt = ", ".join(f"{k} {v:.2f}" for k, v in row.weights.items() if v > 1e-6)
    return f"| {row.label} | " + " | ".join(cells) + f" | **{_pct(row.objective)}** | {wtxt} |"


def _score_table(rows: list[SoupRow], cats: list[str], objective_name: str) -> list[str]:
    head = "| soup | " + " | ".join(cats) + f" | {objective_name} | weights |"
    sep = "|---" * (len(cats) + 3) + "|"
    return [head, sep] + [_row(r, cats) for r in rows]


def _pp(x: float) -> str:
    return f"{100 * x:+.2f} pp"


def _comparison_text(c: dict) -> str:
    word = "significant" if c["significant"] else "not significant"
    return (f"{_pp(c['difference'])} (95 % interval {_pp(c['ci_low'])} … {_pp(c['ci_high'])}; paired permutation "
            f"p = {c['p_value']:.3g}, {word} at 0.05; {c['n_items']} items)")


def verdict(results: RunResults) -> list[str]:
    """Sentences on whether the search paid off on the report split; never more than the numbers say.

    The reference is the candidate that was best on the select split (dev), so nothing here is
    chosen on the report split; every difference comes with a paired test on the same items.
    """
    split = results.splits["report"]
    rows = {(r.kind, r.name): r for r in results.rows(split)}
    ref = rows.get(("expert", results.best_candidate))
    if ref is None:
        return ["No report-split evaluations recorded."]
    by_pair = {(c["a"], c["b"]): c for c in results.comparisons}
    lines = []
    for (kind, name), r in rows.items():
        if kind != "best":
            continue
        diff = r.objective - ref.objective
        word = "beat" if diff > 0 else ("tied" if diff == 0 else "did NOT beat")
        c = by_pair.get((f"best of {name}", ref.name))
        detail = _comparison_text(c) if c else f"{_pp(diff)}"
        lines.append(f"- **{name}** soup {word} the best single candidate on {results.splits['select']} "
                     f"({ref.name}) on {split}: {_pct(r.objective)} vs {_pct(ref.objective)}, {detail}.")
    c = by_pair.get(("best of bo", "best of grid"))
    if c:
        n_bo, n_grid = results.evaluations.get("bo"), results.evaluations.get("grid")
        lines.append(f"- BO ({n_bo} trials) minus the paper's grid ({n_grid} trials) on {split}: "
                     f"{_comparison_text(c)}.")
    if results.retries:
        lines.append(f"- {results.retries} evaluation(s) were retried after their server died or hung "
                     "(see `retries` in the ledger).")
    return lines


def cost_section(results: RunResults) -> list[str]:
    """What each search spent: fresh evaluations (soups not already in the ledger) and items generated."""
    if not results.cost:
        return []
    n = results.benchmark.get("n_items", {}).get(results.splits["select"])
    lines = ["## Cost of each search", ""]
    if results.racing:
        zone = results.racing.get("indifference", 0.0)
        below = (f"that cannot beat its strategy's incumbent by {100 * zone:g} pp" if zone else
                 "significantly below its strategy's incumbent")
        lines.append(f"Racing on (stages {', '.join(f'{s:g}' for s in results.racing['stages'])} of every "
                     f"category's items, α = {results.racing['alpha']}): a soup {below} is stopped early "
                     "and costs only the items it was scored on.")
    else:
        lines.append("Racing off: every fresh evaluation scores the whole split.")
    lines += ["", "| search | trials | fresh evaluations | stopped early | items generated | full-split items |",
              "|---|---|---|---|---|---|"]
    for name, c in results.cost.items():
        full = c["fresh"] * n if n else "–"
        lines.append(f"| {name} | {c['trials']} | {c['fresh']} | {c['stopped_early']} | {c['items']} | {full} |")
    return [*lines, ""]


def what_to_use(results: RunResults) -> list[str]:
    """The box at the top: which checkpoint to take, and how sure we are it is better."""
    fs = results.final_soup
    if not fs:
        return []
    split = results.splits["report"]
    rows = {(r.kind, r.name): r for r in results.rows(split)}
    final = next((r for r in results.rows(split) if r.weights == fs["weights"]), None)
    ref = rows.get(("expert", results.best_candidate))
    c = next((c for c in results.comparisons if c["a"] == "final soup"), None)
    weights = ", ".join(f"{k} {v:.3f}" for k, v in fs["weights"].items())
    lines = ["> **What to use:** the checkpoint at `" + fs["path"] + "`", ">",
             f"> the best {results.splits['select']} soup (strategy {fs['strategy']}): {weights}."]
    if final is not None and ref is not None:
        lines += [">", f"> On {split}: {_pct(final.objective)} ± {_pct(final.sem)} against {_pct(ref.objective)} ± "
                  f"{_pct(ref.sem)} for the best single candidate ({ref.name})"
                  + (f": {_comparison_text(c)}." if c else ".")]
    return lines + [""]


def shapley_section(results: RunResults) -> list[str]:
    """The cooperative-game view of the pool (post-hoc: it played no part in selection or weights)."""
    sh = results.shapley
    if not sh:
        return []
    how = (f"exact over all {sh['coalitions']} coalitions" if sh["exact"]
           else f"Monte-Carlo over random orders ({sh['coalitions']} coalitions scored), ± one standard error")
    lines = ["## Shapley values (post-hoc)",
             f"Players: the candidates; v(S) = {sh['split']} objective of the uniform soup of S, v(∅) = 0; {how}. "
             "The values add up to the score of the uniform soup of all candidates.", "",
             "| candidate | Shapley value | expert |", "|---|---|---|"]
    for name, value in sorted(sh["values"].items(), key=lambda kv: -kv[1]):
        err = f" ± {100 * sh['sem'][name]:.2f}" if sh.get("sem") else ""
        lines.append(f"| {name} | {100 * value:.2f}{err} | {'yes' if name in results.experts else ''} |")
    return lines + [""]


def published_section(results: RunResults) -> list[str]:
    """The paper's published numbers for this pool: a reference, not a comparison on equal terms."""
    pub = results.published or {}
    if not pub:
        return []
    lines = ["## Published reference (from the pool config)",
             "The paper selected experts and tuned weights on the test scores it reports; this run selects on "
             f"{results.splits['select']} and reports {results.splits['report']}, so these numbers are a reference "
             "line, not a like-for-like comparison.", ""]
    if pub.get("published_overall"):
        lines += ["| candidate | published overall |", "|---|---|"]
        lines += [f"| {name} | {score} |" for name, score in pub["published_overall"].items()]
        lines.append("")
    soce = pub.get("paper_soce") or {}
    if soce:
        weights = ", ".join(f"{k} {v}" for k, v in (soce.get("weights") or {}).items()) or "not given"
        lines += [f"The paper's SoCE soup: overall {soce.get('overall')} (weights: {weights}).", ""]
    return lines


def build_report(run_dir: str | Path) -> Path:
    """Write report.md, report.html and the PNG figures into run_dir; return report.html's path."""
    run_dir = Path(run_dir)
    results = RunResults.load(run_dir)
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    figs = {
        "Category correlation": plots.correlation_heatmap(results, fig_dir / "correlation.png"),
        "Best-so-far versus evaluations": plots.best_so_far(results, fig_dir / "best_so_far.png"),
        "Per-category report-split scores": plots.category_bars(
            results, fig_dir / "categories.png", results.splits["report"]),
        "Weights of the best soups": plots.soup_weights(results, fig_dir / "weights.png"),
        "BO surrogate mean (3 experts)": plots.ternary_surrogate(results, fig_dir / "ternary.png"),
        "Shapley values": plots.shapley_bars(results, fig_dir / "shapley.png"),
    }
    cats = results.benchmark["categories"]
    obj = results.benchmark.get("objective", "objective")
    an = results.analysis or {}
    md: list[str] = [
        f"# SoCE report — {results.run.get('experiment') or 'run'}",
        "",
        f"Benchmark **{results.benchmark['name']}**, selection on **{results.splits['select']}**, "
        f"headline numbers on **{results.splits['report']}**; objective: {obj}. "
        f"Seed {results.run.get('seed')}; {len(results.trials)} trials ({results.fresh_evaluations} fresh "
        f"evaluations) in {results.run.get('wall_seconds', 0):.0f} s.",
        "",
        *what_to_use(results),
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
    for split in (results.splits["report"], results.splits["select"]):
        rows = results.rows(split)
        if rows:
            md += [f"## Scores on {split}", *_score_table(rows, cats, obj), ""]
    md += cost_section(results)
    md += shapley_section(results)
    md += published_section(results)
    if results.final_soup:
        fs = results.final_soup
        md += ["## Final soup", f"`{fs['path']}` — strategy {fs['strategy']}, weights "
               + ", ".join(f"{k} {v:.3f}" for k, v in fs["weights"].items()), ""]
    md.append("## Figures")
    for title, p in figs.items():
        if p is not None:
            md += [f"### {title}", f"![{title}](figures/{p.name})", ""]
    text = "\n".join(md) + "\n"
    atomic_write(run_dir / "report.md", text)
    html_body = markdown.markdown(text, extensions=["tables"])
    for p in figs.values():  # self-contained HTML: inline the images
        if p is not None:
            b64 = base64.b64encode(p.read_bytes()).decode()
            html_body = html_body.replace(f'src="figures/{p.name}"', f'src="data:image/png;base64,{b64}"')
    html = ("<!doctype html><html><head><meta charset='utf-8'><title>SoCE report</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px}"
            "img{max-width:100%}</style></head><body>" + html_body + "</body></html>")
    atomic_write(run_dir / "report.html", html)
    return run_dir / "report.html"
