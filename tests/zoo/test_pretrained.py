"""Shipped pretrained bases: a build copies a matching one instead of training it, byte for byte the
zoo it would have trained; a stale or corrupted one is never used."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest

from soce_bo.errors import ConfigError
from soce_bo.zoo import build as build_mod
from soce_bo.zoo import pretrained
from soce_bo.zoo.build import ensure_zoo
from soce_bo.zoo.config import zoo_config
from soce_bo.zoo.manifest import load_manifest
from test_build import file_hashes, tiny_config


@pytest.mark.parametrize("kind,seed", [("experts", 0), ("teams", 0), ("teams", 1), ("teams", 2)])
def test_the_shipped_bases_match_their_recipes(kind, seed):
    """Fails when a base recipe, the split sizes or FORMAT_VERSION change without re-shipping the base
    (build with pretrained=false, then `python -m soce_bo.zoo.pretrained ZOO_DIR`)."""
    cfg = zoo_config(kind, seed)
    shipped = pretrained.find_base(cfg)
    assert shipped is not None, f"no shipped base matches {kind} seed {seed}: re-ship it (README 'The teams zoo')"
    assert (shipped.info["kind"], shipped.info["seed"]) == (kind, seed)
    assert shipped.info["training"]["steps"] >= cfg.base.steps
    assert bool(shipped.info["training"].get("probes")) == (cfg.base.probe_floor is not None)
    assert pretrained.find_base(zoo_config(kind, seed + 3)) is None  # another seed trains its own
    assert pretrained.base_key(zoo_config(kind, seed, n_test=499)) != shipped.info["key"]


@pytest.fixture(scope="module")
def trained_and_shipped(tmp_path_factory):
    """A tiny zoo built with pretrained=false, and its base shipped into a bases folder of its own."""
    root = tmp_path_factory.mktemp("pretrained")
    trained = ensure_zoo(root / "trained", replace(tiny_config(), pretrained=False))
    bases = root / "bases"
    pretrained.export_base(trained, bases, cfg=tiny_config())
    return trained, bases


def test_a_build_starts_from_the_shipped_base_and_gives_the_same_zoo(trained_and_shipped, tmp_path, monkeypatch):
    trained, bases = trained_and_shipped
    monkeypatch.setattr(pretrained, "BASES_DIR", bases)
    real_train = build_mod._train_in_worker

    def no_base_training(job):
        assert job.name != "base", "trained the base although a shipped one matches"
        return real_train(job)

    monkeypatch.setattr(build_mod, "_train_in_worker", no_base_training)
    again = ensure_zoo(tmp_path / "from_shipped", tiny_config())
    assert file_hashes(again) == file_hashes(trained)  # base, experts, data: byte-identical
    a, b = (load_manifest(z).raw for z in (trained, again))
    assert a["config_hash"] == b["config_hash"] and a["scores"] == b["scores"]
    assert b["training"]["base"] == {**a["training"]["base"], "pretrained": "custom-seed0"}
    assert "pretrained" not in a["training"]["base"]
    info = json.loads((bases / "custom-seed0" / pretrained.BASE_INFO).read_text())
    assert info["made_by"].endswith("pretrained=false") and info["seed"] == 0
    with pytest.raises(ConfigError, match="started from the shipped base custom-seed0"):
        pretrained.export_base(again, bases, cfg=tiny_config())


def test_a_corrupted_or_foreign_base_is_not_used(trained_and_shipped, tmp_path, caplog):
    import shutil

    _, bases = trained_and_shipped
    copy = tmp_path / "bases"
    shutil.copytree(bases, copy)
    assert pretrained.find_base(tiny_config(), copy) is not None
    assert pretrained.find_base(tiny_config(seed=1), copy) is None  # another seed: another base
    assert pretrained.find_base(replace(tiny_config(), base=replace(tiny_config().base, lr=1e-3)), copy) is None
    weights = copy / "custom-seed0" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])  # truncated (or a Git LFS pointer)
    with caplog.at_level(logging.WARNING, logger="soce_bo.zoo.pretrained"):
        assert pretrained.find_base(tiny_config(), copy) is None
    assert "training the base instead" in caplog.text


def test_export_names_what_is_wrong(trained_and_shipped, tmp_path):
    trained, _ = trained_and_shipped
    with pytest.raises(ConfigError, match="no readable zoo.json"):
        pretrained.export_base(tmp_path / "nothing", tmp_path / "bases")
    with pytest.raises(ConfigError, match="not a zoo of a known kind"):
        pretrained.export_base(trained, tmp_path / "bases")
    with pytest.raises(ConfigError, match="not built from the given config"):
        pretrained.export_base(trained, tmp_path / "bases", cfg=tiny_config(seed=1))
    assert not (tmp_path / "bases").exists()
