"""The report's figures, each a function RunResults -> PNG path (matplotlib, no display).

Everything is drawn from results.json alone, so `python -m soce_bo.report run_dir=...` can rebuild
a report without Ax, a server or the checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from soce_bo.recipe.results import RunResults  # noqa: E402

PALETTE = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink",
           "tab:olive", "tab:cyan", "tab:gray")


def strategy_colors(results: RunResults) -> dict[str, str]:
    """A colour per strategy, in the run's `search` order: no list of strategy names here."""
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(results.strategies)}
    return {**colors, "expert": "black", "uniform_all": "tab:gray"}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def correlation_heatmap(results: RunResults, path: Path) -> Path | None:
    """Pearson correlation between categories (across models), ordered and boxed by cluster."""
    an = results.analysis or {}
    cats = an.get("categories")
    corr = an.get("correlation")
    if not cats or corr is None:
        return None
    clusters: list[list[str]] = an.get("clusters") or [[c] for c in cats]
    order = [c for cl in clusters for c in cl] + [c for c in cats if not any(c in cl for cl in clusters)]
    idx = [cats.index(c) for c in order]
    m = np.asarray(corr, dtype=float)[np.ix_(idx, idx)]
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(order), 1.0 + 0.6 * len(order)))
    im = ax.imshow(m, vmin=-1, vmax=1, cmap="coolwarm")
    ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
    ax.set_yticks(range(len(order)), order)
    for i in range(len(order)):
        for j in range(len(order)):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8)
    start = 0
    for cl in clusters:  # a box around each cluster
        size = len([c for c in cl if c in order])
        ax.add_patch(plt.Rectangle((start - 0.5, start - 0.5), size, size, fill=False, lw=2, ec="k"))
        start += size
    fig.colorbar(im, ax=ax, shrink=0.8, label="Pearson ρ")
    ax.set_title("Category correlation across candidates\n(boxes: clusters)", fontsize=10)
    return _save(fig, path)


def best_so_far(results: RunResults, path: Path) -> Path | None:
    """Best dev objective versus number of evaluations, one line per strategy.

    Seeds (the experts, the uniform soup) count as the first evaluations of every strategy that
    starts from them, so the x axis is what each strategy actually paid.
    """
    curves = results.curves
    if not curves:
        return None
    colors = strategy_colors(results)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, ys in curves.items():
        if len(ys) == 0:
            continue
        ax.step(range(1, len(ys) + 1), ys, where="post", label=f"{name} ({len(ys)})",
                color=colors.get(name), lw=2 if name == "bo" else 1.3)
    ref = results.reference_lines
    for label, y in ref.items():
        ax.axhline(y, ls="--", lw=0.9, color="k" if "expert" in label else "tab:orange", alpha=0.7)
        ax.text(ax.get_xlim()[1], y, f" {label}", va="center", fontsize=8)
    ax.set_xlabel("evaluations (full dev-split benchmark runs)")
    ax.set_ylabel("best dev objective so far")
    ax.set_title("Search efficiency")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def category_bars(results: RunResults, path: Path, split: str = "test") -> Path | None:
    """Per-category scores with SEM error bars for experts, uniform soups and the best soups."""
    rows = results.rows(split)
    if not rows:
        return None
    cats = list(rows[0].per_category)
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(cats) + 0.3 * len(rows)) + 2.5, 4.5))
    for i, row in enumerate(rows):
        ys = [row.per_category[c]["accuracy"] for c in cats]
        es = [row.per_category[c]["sem"] for c in cats]
        ax.bar(np.arange(len(cats)) + i * width, ys, width, yerr=es, label=row.label, capsize=2)
    ax.set_xticks(np.arange(len(cats)) + 0.4 - width / 2, cats)
    ax.set_ylabel(f"{split} accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")  # beside the bars, never over them
    ax.set_title(f"Per-category {split} scores (± binomial SEM)")
    return _save(fig, path)


def soup_weights(results: RunResults, path: Path) -> Path | None:
    """Stacked bars: the expert weights of each strategy's best soup."""
    best = results.best
    experts = results.experts
    if not best or not experts:
        return None
    names = list(best)
    fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(names), 4))
    bottom = np.zeros(len(names))
    for e in experts:
        vals = np.array([best[n]["weights"].get(e, 0.0) for n in names])
        ax.bar(names, vals, bottom=bottom, label=e)
        bottom += vals
    ax.set_ylabel("weight")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    ax.set_title("Weights of each strategy's best soup")
    return _save(fig, path)


def _ternary_xy(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric (K=3) -> 2-D triangle coordinates (vertex 0 bottom-left, 1 bottom-right, 2 top)."""
    return w[:, 1] + 0.5 * w[:, 2], (np.sqrt(3) / 2) * w[:, 2]


def ternary_surrogate(results: RunResults, path: Path) -> Path | None:
    """For 3 experts: the BO surrogate's mean over the simplex, with every evaluated soup."""
    sur = results.surrogate or {}
    experts = results.experts
    colors = strategy_colors(results)
    if len(experts) != 3 or not sur.get("points"):
        return None
    pts = np.asarray(sur["points"], dtype=float)
    mean = np.asarray(sur["mean"], dtype=float)
    x, y = _ternary_xy(pts)
    fig, ax = plt.subplots(figsize=(6, 5.2))
    tri = ax.tricontourf(x, y, mean, levels=14, cmap="viridis")
    fig.colorbar(tri, ax=ax, label="surrogate mean (dev objective)")
    for t in results.trials:
        w = np.array([[t["weights"].get(e, 0.0) for e in experts]])
        tx, ty = _ternary_xy(w)
        ax.scatter(tx, ty, s=14, c=colors.get(t["strategy"], "white"), edgecolors="white", lw=0.4)
    for (vx, vy), name in zip([(0, 0), (1, 0), (0.5, np.sqrt(3) / 2)], experts):
        ax.annotate(name, (vx, vy), textcoords="offset points", xytext=(0, -12 if vy == 0 else 6),
                    ha="center", fontsize=9)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("BO surrogate mean on the simplex (dots: evaluated soups)")
    return _save(fig, path)


def shapley_bars(results: RunResults, path: Path) -> Path | None:
    """Each candidate's Shapley value (with its Monte-Carlo standard error when estimated)."""
    sh = results.shapley
    if not sh:
        return None
    names = list(sh["values"])
    vals = [sh["values"][n] for n in names]
    errs = [sh["sem"][n] for n in names] if sh.get("sem") else None
    experts = set(results.experts)
    fig, ax = plt.subplots(figsize=(1.8 + 1.1 * len(names), 4))
    ax.bar(names, vals, yerr=errs, capsize=3, color=["tab:red" if n in experts else "tab:gray" for n in names])
    ax.set_ylabel(f"Shapley value ({sh.get('split', 'dev')} objective)")
    ax.set_title("Shapley values of the candidates (red: selected experts)", fontsize=10)
    ax.tick_params(axis="x", rotation=30)
    return _save(fig, path)
