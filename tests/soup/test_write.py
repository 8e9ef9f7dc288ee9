"""write_soup end to end: exact values, dtypes, shards, transformers loading, atomicity."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

import soce_bo.soup.write as write_module
from soce_bo.errors import ConfigError, PoolError
from soce_bo.soup.write import write_soup

WEIGHTS = [0.2, 0.3, 0.5]


def assert_manifest_matches_files(out):
    manifest = json.loads((out / "soce_manifest.json").read_text())
    on_disk = {p.name for p in out.iterdir()} - {"soce_manifest.json"}
    assert set(manifest["files"]) == on_disk
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    return manifest


def test_fp32_soup_equals_float64_reference(tiny_pool, tmp_path, soup64, read_state):
    result = write_soup(tiny_pool, WEIGHTS, tmp_path / "soup", progress=False)
    out = result.path
    got, want = read_state(out), soup64(tiny_pool, WEIGHTS)
    assert set(got) == set(want) and result.tensors == len(want)
    for name, tensor in got.items():
        assert tensor.dtype == torch.float32
        torch.testing.assert_close(tensor.double(), want[name], rtol=1e-6, atol=1e-7, msg=name)
    assert sorted(p.name for p in out.iterdir()) == sorted([
        "README.md", "config.json", "generation_config.json", "mergekit.yaml", "model.safetensors",
        "soce_manifest.json", "tokenizer.json", "tokenizer_config.json"])
    manifest = assert_manifest_matches_files(out)
    assert manifest["models"] == [str(p) for p in tiny_pool]
    assert manifest["weights"] == pytest.approx(WEIGHTS) and manifest["dtype"] == "float32"
    assert result.bytes == (out / "model.safetensors").stat().st_size - 8 - int.from_bytes(
        (out / "model.safetensors").read_bytes()[:8], "little")


def test_bf16_sharded_output_with_index(bf16_sharded_pool, tmp_path, soup64, read_state):
    out = write_soup(bf16_sharded_pool, [0.4, 0.6], tmp_path / "soup", dtype="bfloat16",
                     shard_size="30KB", progress=False)
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(shards) > 3 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert set(index["weight_map"].values()) == set(shards)
    got, want = read_state(out), soup64(bf16_sharded_pool, [0.4, 0.6])
    assert set(index["weight_map"]) == set(got) == set(want)
    assert index["metadata"]["total_size"] == sum(t.numel() * 2 for t in got.values())
    for name, tensor in got.items():
        assert tensor.dtype == torch.bfloat16
        torch.testing.assert_close(tensor.double(), want[name], rtol=2**-8, atol=1e-6, msg=name)
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert_manifest_matches_files(out)


def test_soup_loads_in_transformers_and_generates(tiny_pool, tmp_path, soup64):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = write_soup(tiny_pool, WEIGHTS, tmp_path / "soup", dtype="bfloat16", progress=False)
    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not any(info.values()), info
    assert model.dtype == torch.bfloat16
    want = soup64(tiny_pool, WEIGHTS)
    torch.testing.assert_close(model.state_dict()["model.layers.1.mlp.down_proj.weight"].double(),
                               want["model.layers.1.mlp.down_proj.weight"], rtol=2**-8, atol=1e-6)
    tokenizer = AutoTokenizer.from_pretrained(out)
    inputs = tokenizer("a b c 1 2", return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=5, do_sample=False, min_new_tokens=5)
    assert generated.shape == (1, inputs["input_ids"].shape[1] + 5)


def test_tied_embeddings_stay_tied(tied_pool, tmp_path, read_state):
    from transformers import AutoModelForCausalLM

    out = write_soup(tied_pool, [0.5, 0.5], tmp_path / "soup", progress=False)
    assert "lm_head.weight" not in read_state(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_iterator_failure_midway_leaves_nothing(tiny_pool, tmp_path, monkeypatch):
    real = write_module.iter_soup

    def failing(*args, **kwargs):
        for count, item in enumerate(real(*args, **kwargs)):
            if count == 7:
                raise RuntimeError("disk on fire")
            yield item

    monkeypatch.setattr(write_module, "iter_soup", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_soup(tiny_pool, WEIGHTS, tmp_path / "soup", shard_size="20KB", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_nan_input_fails_before_commit(tiny_pool, tmp_path):
    bad = shutil.copytree(tiny_pool[1], tmp_path / "bad")
    state = load_file(bad / "model.safetensors")
    state["model.layers.1.self_attn.v_proj.weight"][0, 0] = float("inf")
    save_file(state, bad / "model.safetensors", metadata={"format": "pt"})
    pattern = rf"'model.layers.1.self_attn.v_proj.weight' of model {bad} contains NaN or Inf"
    with pytest.raises(PoolError, match=pattern):
        write_soup([tiny_pool[0], bad], [0.5, 0.5], tmp_path / "soup", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]


def test_existing_output_refused_then_replaced(tiny_pool, tmp_path, read_state):
    out = tmp_path / "soup"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with pytest.raises(ConfigError, match=rf"output {out} already exists"):
        write_soup(tiny_pool, WEIGHTS, out, progress=False)
    write_soup(tiny_pool, WEIGHTS, out, progress=False, overwrite=True)
    assert not (out / "stale.txt").exists() and (out / "model.safetensors").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["soup"]


def test_bad_arguments_named(tiny_pool, tmp_path):
    with pytest.raises(ConfigError, match=r"dtype 'int8' not supported"):
        write_soup(tiny_pool, WEIGHTS, tmp_path / "o", dtype="int8", progress=False)
    with pytest.raises(ConfigError, match=r"shard_size 'lots' is not a size"):
        write_soup(tiny_pool, WEIGHTS, tmp_path / "o", shard_size="lots", progress=False)
    with pytest.raises(ConfigError, match=r"copy_from=3 is not a model index"):
        write_soup(tiny_pool, WEIGHTS, tmp_path / "o", copy_from=3, progress=False)
    with pytest.raises(ConfigError, match=r"overlaps input model"):
        write_soup(tiny_pool, WEIGHTS, tiny_pool[0] / "soup", progress=False)
    assert not (tmp_path / "o").exists() and not (tiny_pool[0] / "soup").exists()


def test_copy_from_and_recipe(tiny_pool, tmp_path):
    second = shutil.copytree(tiny_pool[1], tmp_path / "second")
    gen = json.loads((second / "generation_config.json").read_text())
    gen["max_new_tokens"] = 77
    (second / "generation_config.json").write_text(json.dumps(gen))
    models = [tiny_pool[0], second]
    out = write_soup(models, [0.25, 0.75], tmp_path / "soup", dtype="float16", copy_from=1, progress=False)
    assert json.loads((out / "generation_config.json").read_text())["max_new_tokens"] == 77
    recipe = yaml.safe_load((out / "mergekit.yaml").read_text())
    assert recipe["merge_method"] == "linear" and recipe["out_dtype"] == "float16"
    assert recipe["dtype"] == "float32" and recipe["parameters"] == {"normalize": False}
    assert [m["model"] for m in recipe["models"]] == [str(m) for m in models]
    assert [m["parameters"]["weight"] for m in recipe["models"]] == [0.25, 0.75]
    card = (out / "README.md").read_text()
    assert str(second) in card and "0.75" in card


def test_disk_error_in_writer_thread_surfaces_and_cleans_up(tiny_pool, tmp_path, monkeypatch):
    real_write = write_module.ShardStream.write
    calls = []

    def flaky(self, name, tensor):
        calls.append(name)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        real_write(self, name, tensor)

    monkeypatch.setattr(write_module.ShardStream, "write", flaky)
    with pytest.raises(OSError, match="No space left"):
        write_soup(tiny_pool, WEIGHTS, tmp_path / "soup", shard_size="20KB", progress=False)
    assert list(tmp_path.iterdir()) == []
    assert len(calls) == 5  # nothing was written after the failure


def test_peak_memory_is_a_few_tensors_not_models(synthetic_pool, tmp_path):
    """Peak RSS growth while souping two ~75 MB models stays below one model's size.

    Measured here: ~43 MB (a few 4 MB tensors in flight plus malloc arenas); without
    Checkpoint.release the mapped inputs alone push it to ~175 MB, and a writer that buffers a
    shard would need at least the 38 MB bf16 output on top of that.
    """
    import subprocess
    import sys
    from pathlib import Path

    script = f"""
import torch, sys
torch.set_num_threads(1)
from soce_bo.soup.write import write_soup
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key + ':'):
            return int(line.split()[1]) * 1024
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak (VmHWM) to the current RSS
base = status('VmRSS')
write_soup({[str(p) for p in synthetic_pool]!r}, [0.5, 0.5], {str(tmp_path / 'soup')!r},
           dtype='bfloat16', progress=False)
print(status('VmHWM') - base)
"""
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True,
                          timeout=120, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    growth = int(proc.stdout.split()[-1])
    model_bytes = (synthetic_pool[0] / "model.safetensors").stat().st_size
    assert growth < 0.8 * model_bytes, (growth, model_bytes)
