"""The report: rebuilt from results.json alone, and what a person sees in a real browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def sample_results() -> dict:
    """A small results.json (schema 2) with every section the report draws."""
    cats = {"a": {"accuracy": 0.5, "n": 10, "sem": 0.1}, "b": {"accuracy": 0.3, "n": 10, "sem": 0.1}}
    better = {"a": {"accuracy": 0.5, "n": 10, "sem": 0.1}, "b": {"accuracy": 0.4, "n": 10, "sem": 0.1}}
    return {
        "schema_version": 2, "best_candidate": "x",
        "comparisons": [{"a": "best of bo", "b": "x", "difference": 0.05, "ci_low": -0.01, "ci_high": 0.11,
                         "p_value": 0.2, "n_items": 20, "significant": False}],
        "final_soup": {"path": "/runs/t/best_soup", "strategy": "bo", "weights": {"x": 0.5, "y": 0.5}},
        "shapley": {"values": {"x": 0.2, "y": 0.15, "z": 0.05}, "sem": None, "exact": True, "coalitions": 7,
                    "v_empty": 0.0, "split": "dev"},
        "published": {"published_overall": {"x": 72.37}, "paper_soce": {"weights": {"x": 0.7, "y": 0.3}, "overall": 76.5}},
        "run": {"experiment": "t", "seed": 0, "wall_seconds": 1.0}, "splits": {"select": "dev", "report": "test"},
        "benchmark": {"name": "zoo", "categories": ["a", "b"], "objective": "mean"}, "pool": {},
        "analysis": {"mode": "tau", "tau": 0.5, "categories": ["a", "b", "c"], "low_corr": ["a"],
                     "correlation": [[1, 0.1, 0.5], [0.1, 1, 0.2], [0.5, 0.2, 1]], "clusters": [["a", "c"], ["b"]],
                     "experts": [{"model": "x", "categories": ["a"]}, {"model": "y", "categories": ["b"]},
                                 {"model": "z", "categories": ["c"]}]},
        "experts": ["x", "y", "z"], "strategies": ["grid", "bo"],
        "trials": [{"strategy": "bo", "weights": {"x": 0.2, "y": 0.3, "z": 0.5}}],
        "evaluations": {"bo": 2, "grid": 3}, "fresh_evaluations": 5,
        "curves": {"bo": [0.1, 0.3], "grid": [0.2, 0.2, 0.25]}, "reference_lines": {"best single candidate": 0.2},
        "best": {"bo": {"weights": {"x": 0.2, "y": 0.3, "z": 0.5}, "objective": 0.3}},
        "surrogate": {"points": [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3]], "mean": [0.1, 0.2, 0.3, 0.4]},
        "tables": {"test": [
            {"kind": "expert", "name": "x", "weights": {"x": 1}, "objective": 0.4, "sem": 0.01, "per_category": cats},
            {"kind": "best", "name": "bo", "weights": {"x": 0.5, "y": 0.5}, "objective": 0.45, "sem": 0.01,
             "per_category": better},
        ]},
    }


def test_report_rebuilds_from_results(tmp_path: Path):
    """`python -m soce_bo.report run_dir=...` needs nothing but results.json."""
    results = sample_results()
    (tmp_path / "results.json").write_text(json.dumps(results))
    out = subprocess.run([sys.executable, "-m", "soce_bo.report", f"run_dir={tmp_path}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "report.md").read_text()
    assert "**bo** soup beat the best single candidate on dev (x) on test" in md
    assert "p = 0.2, not significant at 0.05" in md
    assert "**What to use:** the checkpoint at `/runs/t/best_soup`" in md
    assert "| x | 20.00 | yes |" in md and "exact over all 7 coalitions" in md
    assert "| x | 72.37 |" in md and "The paper's SoCE soup: overall 76.5 (weights: x 0.7, y 0.3)" in md
    for fig in ("correlation", "best_so_far", "categories", "weights", "ternary", "shapley"):
        assert (tmp_path / "figures" / f"{fig}.png").stat().st_size > 1000
    assert "data:image/png;base64" in (tmp_path / "report.html").read_text()
    missing = subprocess.run([sys.executable, "-m", "soce_bo.report", f"run_dir={tmp_path / 'nope'}"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no results.json" in missing.stderr


# Marks each <img> with its decoded width once the page has loaded; --dump-dom prints the result.
PROBE = ("<script>window.addEventListener('load', () => document.body.setAttribute('data-figures', "
         "[...document.images].map(i => i.complete ? i.naturalWidth : 0).join(',')));</script>")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None and os.environ.get("CI") != "true",
                    reason="no chromium here (apt-get install chromium; CI installs it)")
def test_report_renders_in_a_real_browser(tmp_path: Path):
    """What a user opens: report.html in headless Chromium renders, and every figure loads."""
    from soce_bo.report.report import build_report

    (tmp_path / "results.json").write_text(json.dumps(sample_results()))
    html = build_report(tmp_path)
    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    browser = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run([*browser, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    widths = dom.split('data-figures="', 1)[1].split('"', 1)[0].split(",") if "data-figures" in dom else []
    assert len(widths) == 6, f"expected 6 figures in the page, found {widths}"
    assert all(int(w) > 100 for w in widths), f"a figure did not load: widths {widths}"
    assert "What to use:" in dom and "Shapley values" in dom
    shot = tmp_path / "report.png"
    subprocess.run([*browser, "--window-size=1200,3000", f"--screenshot={shot}", html.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
