"""Pool geometry diagnostics (drift from a parent, midpoint loss barriers) on the built zoo."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from soce_bo.zoo.geometry import distance, pool_geometry


def test_distance_is_zero_to_itself_and_relative_to_the_parent(zoo_dir: Path) -> None:
    base = load_file(str(zoo_dir / "base" / "model.safetensors"))
    expert = load_file(str(zoo_dir / "experts" / "tool_expert" / "model.safetensors"))
    assert distance(base, base) == (0.0, 0.0)
    l2, rel = distance(expert, base)
    norm = sum(float(t.double().pow(2).sum()) for t in base.values()) ** 0.5
    assert l2 > 0 and rel == pytest.approx(l2 / norm)


def test_a_pair_with_itself_has_no_barrier_and_a_real_pair_is_recorded(zoo_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"  # a short dev split keeps the loss evaluations quick
    data.mkdir()
    lines = (zoo_dir / "data" / "dev.jsonl").read_text().splitlines()
    (data / "dev.jsonl").write_text("\n".join(lines[::8]) + "\n")
    tool, math = str(zoo_dir / "experts" / "tool_expert"), str(zoo_dir / "experts" / "math_expert")
    geo = pool_geometry(str(zoo_dir / "base"), {"a": tool, "b": tool, "m": math}, str(data))
    assert set(geo["candidates"]) == {"a", "b", "m"}
    by_pair = {tuple(b["pair"]): b for b in geo["midpoint_barriers"]}
    assert set(by_pair) == {("a", "b"), ("a", "m"), ("b", "m")}
    assert by_pair[("a", "b")]["barrier"] == pytest.approx(0.0, abs=1e-6)
    assert geo["candidates"]["a"] == geo["candidates"]["b"]
    # the fine-tunes fit their answers better than the base they started from
    assert geo["candidates"]["a"]["dev_loss"] < geo["parent_dev_loss"]
