"""bench.demo_time reads the phases of a timed `make demo` off the clone it ran in (the timing itself,
a fresh clone's install and demo, takes ~15 min and is left to the bench)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.demo_time import ZOO, demo_time_section, summarize_clone


def fake_clone(root: Path, base_bytes: bytes) -> Path:
    zoo = root / ZOO
    (zoo / "base").mkdir(parents=True)
    (zoo / "base" / "model.safetensors").write_bytes(base_bytes)
    (zoo / "zoo.json").write_text(json.dumps({"timings": {"total_s": 250.0},
                                              "training": {"base": {"steps": 2750, "pretrained": "teams-seed0"}}}))
    run = root / "outputs" / "2026-12-07" / "16-00-00"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({
        "run": {"wall_seconds": 300.0},
        "final_soup": {"strategy": "bo", "weights": {"tool_team": 0.3, "math_team": 0.7}},
        "comparisons": [{"a": "best of bo", "b": "math_team", "difference": 0.02, "p_value": 0.001},
                        {"a": "final soup", "b": "math_team", "difference": 0.018, "p_value": 0.0002}],
        "cost": {"grid": {"fresh": 36}, "bo": {"fresh": 9}},
    }))
    return root


def test_phases_verdict_and_zoo_identity(tmp_path):
    reference = fake_clone(tmp_path / "here", b"weights") / ZOO
    clone = fake_clone(tmp_path / "clone", b"weights")
    r = summarize_clone(clone, "abc123", 170.0, 600.0, reference)
    assert (r["install_s"], r["zoo_build_s"], r["run_wall_s"], r["total_s"]) == (170.0, 250.0, 300.0, 770.0)
    assert r["zoo_identical_to_this_checkout"] is True and r["zoo_base"] == "teams-seed0"
    assert r["final_vs_best_single"]["difference"] == 0.018 and r["fresh"] == {"grid": 36, "bo": 9}
    other = fake_clone(tmp_path / "other", b"other weights")
    assert summarize_clone(other, "abc123", 1.0, 1.0, reference)["zoo_identical_to_this_checkout"] is False
    assert summarize_clone(clone, "abc123", 1.0, 1.0, tmp_path / "none")["zoo_identical_to_this_checkout"] is None
    r["goals"] = {"total_le_15_min": True, "run_le_8_min": True}
    text = demo_time_section({"record": r, "meta": {"command": "python -m bench.demo_time", "finished": "now",
                                                    "loadavg_1min_during_run": {"min": 0.5, "median": 1.9, "max": 2.1},
                                                    "machine": {"nproc": 2}}})
    assert "| 170 s | 250 s | 300 s | 770 s (12.8 min)" in text and "**met**" in text and "+1.80 pp" in text
