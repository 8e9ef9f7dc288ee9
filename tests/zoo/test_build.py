"""Zoo building on a seconds-sized config: deterministic, cached by hash, atomic on failure."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from soce_bo.zoo import build as build_mod
from soce_bo.zoo.build import ensure_zoo
from soce_bo.zoo.config import CandidateSpec, ModelShape, Recipe, ZooConfig, focus_mix, uniform_mix
from soce_bo.zoo.manifest import MANIFEST, is_current, load_manifest
from soce_bo.zoo.tasks import CATEGORIES
from soce_bo.zoo.tokenizer import BOS_ID, EOS_ID, PAD_ID


def tiny_config(seed: int = 0, workers: int = 1) -> ZooConfig:
    """Same code path as the real zoo, but a 1-layer h64 model and a handful of steps."""
    def recipe(steps, mixture):
        return Recipe(steps=steps, lr=3e-3, mixture=mixture, batch_size=4, warmup=1)

    return ZooConfig(
        seed=seed, n_dev=2, n_test=3,
        model=ModelShape(hidden_size=64, intermediate_size=64, num_layers=1, num_heads=2),
        base=recipe(6, uniform_mix(CATEGORIES)),
        candidates=(CandidateSpec("tool_expert", "tool", recipe(3, focus_mix("tool", CATEGORIES, 0.8))),
                    CandidateSpec("math_expert", "math", recipe(3, focus_mix("math", CATEGORIES, 0.8)))),
        workers=workers,
    )


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST}


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory) -> Path:
    return ensure_zoo(tmp_path_factory.mktemp("zoo") / "tiny", tiny_config())


def test_layout_and_manifest(tiny_zoo):
    m = load_manifest(tiny_zoo)
    assert m.raw["categories"] == list(CATEGORIES)
    assert set(m.candidates) == {"tool_expert", "math_expert"}
    assert {n: c.category for n, c in m.experts.items()} == {"tool_expert": "tool", "math_expert": "math"}
    assert m.raw["experts"] == {"tool_expert": "experts/tool_expert", "math_expert": "experts/math_expert"}
    for split in ("dev", "test"):
        assert set(m.scores(split)) == {"base", "tool_expert", "math_expert"}
        for row in m.scores(split).values():
            assert set(row) == set(CATEGORIES) and all(0.0 <= v <= 1.0 for v in row.values())
    soup = m.raw["reference_soups"]["uniform_experts"]
    assert soup["weights"] == {"tool_expert": 0.5, "math_expert": 0.5} and set(soup["scores"]) == {"dev", "test"}
    assert m.raw["model"]["checkpoint_bytes"] == (m.base / "model.safetensors").stat().st_size


def test_checkpoints_load_offline_with_eos_wired(tiny_zoo):
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    for path in [load_manifest(tiny_zoo).base, *(c.path for c in load_manifest(tiny_zoo).candidates.values())]:
        cfg = AutoConfig.from_pretrained(path)
        gen = GenerationConfig.from_pretrained(path)
        tok = AutoTokenizer.from_pretrained(path)
        assert cfg.architectures == ["LlamaForCausalLM"]
        assert cfg.hidden_size // cfg.num_attention_heads in (32, 64)
        assert (cfg.eos_token_id, gen.eos_token_id, tok.eos_token_id) == (EOS_ID,) * 3
        assert (cfg.bos_token_id, cfg.pad_token_id) == (BOS_ID, PAD_ID)
        assert tok("ab")["input_ids"] == [BOS_ID, tok.convert_tokens_to_ids("a"), tok.convert_tokens_to_ids("b")]


def test_cache_hit_does_not_rebuild(tiny_zoo, monkeypatch):
    before = (tiny_zoo / MANIFEST).stat().st_mtime_ns

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt a current zoo")

    monkeypatch.setattr(build_mod, "build_zoo", no_build)
    assert ensure_zoo(tiny_zoo, tiny_config(workers=2)) == tiny_zoo  # workers are not part of the hash
    assert (tiny_zoo / MANIFEST).stat().st_mtime_ns == before
    assert not is_current(tiny_zoo, tiny_config(seed=1).config_hash())


def test_missing_file_makes_the_zoo_stale(tiny_zoo, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_zoo, copy)
    assert is_current(copy, tiny_config().config_hash())
    (copy / "experts" / "math_expert" / "model.safetensors").unlink()
    assert not is_current(copy, tiny_config().config_hash())
    (copy / MANIFEST).write_text("{broken")
    assert not is_current(copy, tiny_config().config_hash())


def test_failed_build_leaves_old_zoo_and_no_temp_dirs(tiny_zoo, tmp_path, monkeypatch):
    import shutil

    out = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, out)
    before = file_hashes(out)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("soce_bo.zoo.score.score_checkpoint", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ensure_zoo(out, tiny_config(seed=1), force=True)
    assert file_hashes(out) == before and is_current(out, tiny_config().config_hash())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".zoo.lock") == ["zoo"]
    fresh = tmp_path / "never_built"
    with pytest.raises(RuntimeError):
        ensure_zoo(fresh, tiny_config(seed=1))
    assert not fresh.exists()


def test_a_folder_holding_another_zoo_is_not_overwritten(tiny_zoo, tmp_path):
    """Pointing a run or a build at a zoo of another kind or seed once rebuilt the default zoo over
    an 11-minute `teams` zoo: now it is an error naming both, and force=true replaces it."""
    import shutil

    from soce_bo.errors import ConfigError

    out = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, out)
    before = file_hashes(out)
    for other in (tiny_config(seed=1), replace(tiny_config(), candidates=tiny_config().candidates[:1])):
        with pytest.raises(ConfigError, match=r"holds another zoo \(seed 0, candidates tool_expert, math_expert\)"):
            ensure_zoo(out, other)
    assert file_hashes(out) == before
    stale = replace(tiny_config(), n_test=4)  # same zoo, another version of it: rebuilt in place
    assert load_manifest(ensure_zoo(out, stale)).config_hash == stale.config_hash()


@pytest.mark.slow
def test_same_config_same_bytes_with_and_without_workers(tiny_zoo, tmp_path):
    """Two builds (inline, then 2 spawned workers) give byte-identical checkpoints and data."""
    again = ensure_zoo(tmp_path / "again", tiny_config(workers=2))
    assert file_hashes(again) == file_hashes(tiny_zoo)
    a, b = (json.loads((z / MANIFEST).read_text()) for z in (tiny_zoo, again))
    assert a["scores"] == b["scores"] and a["config_hash"] == b["config_hash"]
    other = ensure_zoo(tmp_path / "seed1", tiny_config(seed=1))
    assert file_hashes(other)["base/model.safetensors"] != file_hashes(tiny_zoo)["base/model.safetensors"]


def test_a_parent_stage_and_team_datasets(tmp_path):
    """base -> parent -> teams on finite datasets: the parent is built, scored and is where drift is measured."""
    def recipe(steps, dataset=None):
        mixture = uniform_mix(CATEGORIES) if dataset is None else tuple(dataset.items())
        return Recipe(steps=steps, lr=3e-3, mixture=mixture, batch_size=4, warmup=1,
                      dataset=None if dataset is None else tuple(dataset.items()))

    cfg = replace(tiny_config(), parent=recipe(2), candidates=(
        CandidateSpec("tool_team", "tool", recipe(3, {"tool": 8, "math": 2})),
        CandidateSpec("allrounder", None, recipe(3, {c: 3 for c in CATEGORIES}))))
    assert cfg.config_hash() != tiny_config().config_hash()
    m = load_manifest(ensure_zoo(tmp_path / "teams", cfg))
    assert m.raw["parent"] == {"path": "parent"} and (m.root / "parent" / "model.safetensors").is_file()
    assert list(m.scores("dev")) == ["base", "parent", "tool_team", "allrounder"]
    geo = m.raw["geometry"]
    assert set(geo["candidates"]) == {"tool_team", "allrounder"}
    assert [b["pair"] for b in geo["midpoint_barriers"]] == [["tool_team", "allrounder"]]
    parent = load_file(str(m.root / "parent" / "model.safetensors"))
    base = load_file(str(m.base / "model.safetensors"))
    assert any(not torch.equal(parent[k], base[k]) for k in base)  # the parent trained on
    l2 = sum(float((load_file(str(m.candidates["tool_team"].path / "model.safetensors"))[k] - parent[k])
                   .double().pow(2).sum()) for k in parent) ** 0.5
    assert geo["candidates"]["tool_team"]["l2_from_parent"] == pytest.approx(l2, rel=1e-5)  # drift from the parent


def test_a_probed_base_trains_on_until_every_category_passes(tmp_path, monkeypatch):
    """Past `steps`, the base trains in `probe_every` chunks at the final learning rate until the
    probe passes or `max_steps`; the manifest records each probe, and the probe split is held out."""
    from soce_bo.zoo.train import lr_at

    monkeypatch.setattr(build_mod, "PROBE_ITEMS", 3)
    never = replace(tiny_config().base, probe_floor=1.01, probe_every=2, max_steps=10)
    assert lr_at(6, never) == lr_at(9, never) == pytest.approx(0.1 * never.lr)  # the floor, not a new cosine
    m = load_manifest(ensure_zoo(tmp_path / "never", replace(tiny_config(), base=never)))
    base = m.raw["training"]["base"]
    assert base["steps"] == 10 and [p["step"] for p in base["probes"]] == [6, 8, 10]
    assert all(set(p["scores"]) == set(CATEGORIES) for p in base["probes"])
    expert = m.raw["training"]["tool_expert"]
    assert expert["steps"] == 3 and "probes" not in expert  # an unprobed recipe runs exactly its steps
    probe = (m.root / "data" / "probe.jsonl").read_text().splitlines()
    assert len(probe) == 3 * len(CATEGORIES)
    at_once = replace(never, probe_floor=0.0)
    m = load_manifest(ensure_zoo(tmp_path / "at_once", replace(tiny_config(), base=at_once)))
    assert m.raw["training"]["base"]["steps"] == 6 and len(m.raw["training"]["base"]["probes"]) == 1
    assert tiny_config().config_hash() not in {replace(tiny_config(), base=r).config_hash() for r in (never, at_once)}


def test_the_default_zoo_hash_ignores_the_unset_new_fields():
    """Zoos built before `parent` and `Recipe.dataset` existed stay current."""
    plain = json.dumps(asdict(tiny_config()), sort_keys=True, default=str)
    assert '"parent": null' in plain and '"dataset": null' in plain
    assert tiny_config().config_hash() == replace(tiny_config(), parent=None).config_hash()
