"""Opening checkpoints: single file and sharded, lazy reads, and corrupt files named in the error."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch

from soce_bo.errors import PoolError
from soce_bo.soup.checkpoint import open_checkpoint


def test_single_file_matches_safetensors(tiny_pool, read_state):
    ckpt = open_checkpoint(tiny_pool[0])
    state = read_state(tiny_pool[0])
    assert set(ckpt.names()) == set(state)
    assert ckpt.config["hidden_size"] == 64
    for name in ckpt.names():
        assert torch.equal(ckpt.get(name), state[name])
    assert ckpt.nbytes == sum(t.numel() * t.element_size() for t in state.values())


def test_sharded_checkpoint_reads_every_shard(bf16_sharded_pool, read_state):
    ckpt = open_checkpoint(bf16_sharded_pool[0])
    state = read_state(bf16_sharded_pool[0])
    assert len(ckpt.weight_files) > 1
    assert set(ckpt.names()) == set(state)
    name = "model.layers.1.mlp.down_proj.weight"
    assert ckpt.get(name).dtype == torch.bfloat16
    assert torch.equal(ckpt.get(name), state[name])


def test_names_in_layer_order(tiny_pool):
    names = open_checkpoint(tiny_pool[0]).names()
    assert names[0] == "model.embed_tokens.weight"
    assert names[-2:] == ["model.norm.weight", "lm_head.weight"]
    assert names.index("model.layers.0.mlp.up_proj.weight") < names.index("model.layers.1.mlp.up_proj.weight")


@pytest.fixture
def model_copy(tiny_pool, tmp_path):
    return shutil.copytree(tiny_pool[0], tmp_path / "copy")


def test_truncated_file_named(model_copy):
    file = model_copy / "model.safetensors"
    data = file.read_bytes()
    file.write_bytes(data[: len(data) - 1000])
    with pytest.raises(PoolError, match=rf"corrupt safetensors file {file}.*truncated"):
        open_checkpoint(model_copy)


def test_garbage_header_named(model_copy):
    file = model_copy / "model.safetensors"
    file.write_bytes(struct.pack("<Q", 16) + b"{not json at all" + b"\0" * 64)
    with pytest.raises(PoolError, match=rf"corrupt safetensors file {file}: unreadable header"):
        open_checkpoint(model_copy)


def test_tiny_file_named(model_copy):
    file = model_copy / "model.safetensors"
    file.write_bytes(b"abc")
    with pytest.raises(PoolError, match=rf"corrupt safetensors file {file}"):
        open_checkpoint(model_copy)


def test_header_length_beyond_file_named(model_copy):
    file = model_copy / "model.safetensors"
    file.write_bytes(struct.pack("<Q", 10**7) + b"{}")
    with pytest.raises(PoolError, match=rf"{file}: header length"):
        open_checkpoint(model_copy)


def test_missing_shard_named(bf16_sharded_pool, tmp_path):
    copy = shutil.copytree(bf16_sharded_pool[0], tmp_path / "sharded")
    (copy / "model-00002-of-00006.safetensors").unlink()
    with pytest.raises(PoolError, match=r"shard .*model-00002-of-00006.safetensors .* is missing"):
        open_checkpoint(copy)


def test_index_pointing_to_wrong_shard_named(bf16_sharded_pool, tmp_path):
    copy = shutil.copytree(bf16_sharded_pool[0], tmp_path / "sharded")
    index_file = copy / "model.safetensors.index.json"
    index = json.loads(index_file.read_text())
    index["weight_map"]["model.norm.weight"] = "model-00001-of-00006.safetensors"
    index_file.write_text(json.dumps(index))
    with pytest.raises(PoolError, match=r"places tensor 'model.norm.weight' in model-00001"):
        open_checkpoint(copy)


def test_missing_path_and_missing_weights(tmp_path):
    with pytest.raises(PoolError, match=r"does not exist: .*nowhere"):
        open_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(PoolError, match=r"no model.safetensors or model.safetensors.index.json in .*empty"):
        open_checkpoint(tmp_path / "empty")


def test_missing_config_named(model_copy):
    (model_copy / "config.json").unlink()
    with pytest.raises(PoolError, match=rf"no config.json in {model_copy}"):
        open_checkpoint(model_copy)


def test_release_drops_pages_but_data_stays_correct(tiny_pool, read_state):
    ckpt = open_checkpoint(tiny_pool[1])
    state = read_state(tiny_pool[1])
    name = "model.layers.0.mlp.gate_proj.weight"
    tensor = ckpt.get(name)
    for other in ckpt.names():
        ckpt.release(other)
    assert torch.equal(tensor, state[name])  # pages fault back in from the file
    assert torch.equal(ckpt.get(name), state[name])
