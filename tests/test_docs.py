"""README quotes no performance figure that BENCHMARKS.md does not show (numbers with a source).

BENCHMARKS.md is rendered from bench/results/*.json by `python -m bench.report`; README links to it
instead of quoting, and a figure it does quote must appear there verbatim.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# A number (or a range) followed by a unit of time, throughput or a speed ratio.
# (A "×" with a space before it is a product, e.g. "8 × 80 GB", not a speed ratio.)
FIGURE = re.compile(r"(?<![\w.])[~≈]?\d+(?:\.\d+)?(?:\s?[–-]\s?\d+(?:\.\d+)?)?"
                    r"(?:\s?(?:ms|s|min|minutes|seconds|GB/s|MB/s|items/s)|×|x)(?![\w/])")


def performance_figures(text: str) -> list[str]:
    return [m.group(0).lstrip("~≈") for m in FIGURE.finditer(text)]


def test_the_pattern_finds_figures():
    found = performance_figures("swap 18-53 ms, 28 s, 0.27–0.59 GB/s, 1.20× median, 1195x; 4 experts, 2 GB")
    assert found == ["18-53 ms", "28 s", "0.27–0.59 GB/s", "1.20×", "1195x"]


def test_readme_figures_come_from_benchmarks_md():
    readme = (REPO / "README.md").read_text()
    benchmarks = (REPO / "BENCHMARKS.md").read_text()
    unsourced = [f for f in performance_figures(readme) if f not in benchmarks]
    assert not unsourced, f"README quotes figures BENCHMARKS.md does not show: {unsourced}"
