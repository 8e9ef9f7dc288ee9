"""Every way a pool can be wrong yields one PoolError that names the culprit."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from soce_bo.errors import PoolError
from soce_bo.soup.validate import validate_pool
from soce_bo.soup.weights import check_weights


def copy_of(src: Path, dst: Path) -> Path:
    return shutil.copytree(src, dst)


def edit_weights(path: Path, edit) -> None:
    file = path / "model.safetensors"
    state = load_file(file)
    edit(state)
    save_file(state, file, metadata={"format": "pt"})


def edit_json(file: Path, edit) -> None:
    data = json.loads(file.read_text())
    edit(data)
    file.write_text(json.dumps(data))


def test_valid_pool_and_ignored_config_keys(tiny_pool, tmp_path):
    other = copy_of(tiny_pool[1], tmp_path / "other")
    edit_json(other / "config.json", lambda c: c.update(
        _name_or_path="somewhere/else", transformers_version="0.0.1", dtype="bfloat16", torch_dtype="x"))
    checkpoints = validate_pool([tiny_pool[0], other, tiny_pool[2]], [0.2, 0.3, 0.5])
    assert [c.path for c in checkpoints] == [tiny_pool[0], other, tiny_pool[2]]


def test_architecture_difference_names_key_and_models(tiny_pool, tmp_path):
    other = copy_of(tiny_pool[1], tmp_path / "other")
    edit_json(other / "config.json", lambda c: c.update(rms_norm_eps=1e-5))
    with pytest.raises(PoolError) as err:
        validate_pool([tiny_pool[0], other])
    assert "'rms_norm_eps'" in str(err.value)
    assert str(tiny_pool[0]) in str(err.value) and str(other) in str(err.value)


def test_nested_config_difference_is_dotted(tiny_pool, tmp_path):
    other = copy_of(tiny_pool[1], tmp_path / "other")
    edit_json(other / "config.json", lambda c: c["rope_parameters"].update(rope_theta=5e5))
    pattern = r"config key 'rope_parameters.rope_theta' is 10000.0 in .* but 500000.0"
    with pytest.raises(PoolError, match=pattern):
        validate_pool([tiny_pool[0], other])


def test_missing_tensor_named(tiny_pool, tmp_path):
    other = copy_of(tiny_pool[1], tmp_path / "other")
    edit_weights(other, lambda s: s.pop("model.layers.1.mlp.up_proj.weight"))
    pattern = rf"tensor 'model.layers.1.mlp.up_proj.weight' is missing from model {other}"
    with pytest.raises(PoolError, match=pattern):
        validate_pool([tiny_pool[0], other])


def test_extra_tensor_named(tiny_pool, tmp_path):
    other = copy_of(tiny_pool[1], tmp_path / "other")
    edit_weights(other, lambda s: s.update({"model.extra.bias": s["model.norm.weight"].clone()}))
    with pytest.raises(PoolError, match=rf"model {other} has extra tensor 'model.extra.bias'"):
        validate_pool([tiny_pool[0], other])


def test_shape_mismatch_names_tensor_shapes_and_models(tiny_pool, tmp_path):
    other = copy_of(tiny_pool[1], tmp_path / "other")
    edit_weights(other, lambda s: s.update({"model.norm.weight": s["model.norm.weight"][:32].clone()}))
    with pytest.raises(PoolError) as err:
        validate_pool([tiny_pool[0], other])
    message = str(err.value)
    assert "'model.norm.weight'" in message and "[32]" in message and "[64]" in message
    assert str(other) in message and str(tiny_pool[0]) in message


def test_different_vocab_names_models_and_token(tiny_pool, tmp_path):
    other = copy_of(tiny_pool[1], tmp_path / "other")

    def swap(tok):
        vocab = tok["model"]["vocab"]
        vocab["a"], vocab["b"] = vocab["b"], vocab["a"]

    edit_json(other / "tokenizer.json", swap)
    with pytest.raises(PoolError) as err:
        validate_pool([tiny_pool[0], other])
    message = str(err.value)
    assert "tokenizer differs" in message and "model.vocab.a" in message
    assert str(tiny_pool[0]) in message and str(other) in message


def test_missing_tokenizer_file_named(tiny_pool, tmp_path):
    other = copy_of(tiny_pool[1], tmp_path / "other")
    (other / "tokenizer.json").unlink()
    with pytest.raises(PoolError, match=rf"{tiny_pool[0]} has tokenizer.json but {other} does not"):
        validate_pool([tiny_pool[0], other])


def test_chat_template_change_is_allowed(tiny_pool, tmp_path):
    other = copy_of(tiny_pool[1], tmp_path / "other")
    edit_json(other / "tokenizer_config.json", lambda c: c.update(chat_template="{{ messages }}"))
    assert len(validate_pool([tiny_pool[0], other])) == 2


def test_corrupt_file_in_pool_named(tiny_pool, tmp_path):
    other = copy_of(tiny_pool[1], tmp_path / "other")
    file = other / "model.safetensors"
    file.write_bytes(file.read_bytes()[:-10])
    with pytest.raises(PoolError, match=rf"corrupt safetensors file {file}"):
        validate_pool([tiny_pool[0], other])


def test_missing_path_named(tiny_pool, tmp_path):
    with pytest.raises(PoolError, match=rf"does not exist: {tmp_path / 'ghost'}"):
        validate_pool([tiny_pool[0], tmp_path / "ghost"])


def test_duplicates_by_path_link_and_content(tiny_pool, tmp_path):
    with pytest.raises(PoolError, match=r"listed twice"):
        validate_pool([tiny_pool[0], tiny_pool[1], tiny_pool[0]])
    link = tmp_path / "link"
    link.symlink_to(tiny_pool[1])
    with pytest.raises(PoolError, match=rf"model {link} is listed twice \(same folder as {tiny_pool[1]}\)"):
        validate_pool([tiny_pool[1], link])
    clone = copy_of(tiny_pool[2], tmp_path / "clone")
    with pytest.raises(PoolError, match=rf"models {tiny_pool[2]} and {clone} have identical weights"):
        validate_pool([tiny_pool[2], clone])


def test_weights_policy():
    models = ["a", "b", "c"]
    assert check_weights([0.2, 0.3, 0.5], models) == pytest.approx((0.2, 0.3, 0.5))
    nearly = check_weights([0.2, 0.3, 0.5 + 5e-7], models)
    assert math.fsum(nearly) == pytest.approx(1.0, abs=1e-15)
    assert check_weights({"b": 0.5, "a": 0.5, "c": 0.0}, models) == (0.5, 0.5, 0.0)
    cases = [
        ([0.5, 0.5], r"got 2 weights for 3 models"),
        ([0.5, -0.1, 0.6], r"weight for model b is negative \(-0.1\)"),
        ([0.5, float("nan"), 0.5], r"weight for model b is nan"),
        ([0.5, float("inf"), 0.5], r"weight for model b is inf"),
        ([0.2, 0.3, 0.4], r"weights sum to 0.9"),
        ([0.2, "x", 0.4], r"weight 'x' for model b is not a number"),
        ({"a": 0.5, "b": 0.5, "z": 0.0}, r"missing \['c'\], unknown \['z'\]"),
    ]
    for weights, pattern in cases:
        with pytest.raises(PoolError, match=pattern):
            check_weights(weights, models)


def test_bad_weights_refused_before_opening(tiny_pool):
    with pytest.raises(PoolError, match=r"got 2 weights for 3 models"):
        validate_pool(tiny_pool, [0.5, 0.5])
