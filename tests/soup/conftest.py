"""Tiny random Llama checkpoints (hidden 64, 2 layers, vocab 100) with a real tokenizer, built once.

Each model is a different random init, so soups of them are non-trivial; they load in transformers
and in mergekit like any Hugging Face checkpoint.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

VOCAB = 100


def make_tokenizer():
    """A word-level tokenizer with 100 ids: 4 specials, 26 letters, 10 digits, filler words."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<s>", "</s>", "<unk>"] + [chr(c) for c in range(97, 123)]
    words += [str(d) for d in range(10)]
    words += [f"w{i}" for i in range(VOCAB - len(words))]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )


def make_llama(out: Path, seed: int, tie: bool = False, shard: str | None = None,
               dtype: torch.dtype = torch.float32, **config_overrides) -> Path:
    """Save a random tiny LlamaForCausalLM (+ tokenizer, generation config) to `out`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32, vocab_size=VOCAB, max_position_embeddings=128,
        tie_word_embeddings=tie, bos_token_id=1, eos_token_id=2, pad_token_id=0, **config_overrides,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(dtype)
    with torch.no_grad():  # random norms too, so every tensor differs between models
        for name, param in model.named_parameters():
            if "norm" in name:
                param.add_(0.1 * torch.randn_like(param))
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(out, **kwargs)
    make_tokenizer().save_pretrained(out)
    return out


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="session")
def tiny_pool(tmp_path_factory) -> list[Path]:
    """Three untied tiny Llamas with different random weights (fp32, single file)."""
    root = tmp_path_factory.mktemp("pool")
    return [make_llama(root / f"m{i}", seed=i) for i in range(3)]


@pytest.fixture(scope="session")
def tied_pool(tmp_path_factory) -> list[Path]:
    """Two tiny Llamas with tie_word_embeddings=True (no lm_head.weight stored)."""
    root = tmp_path_factory.mktemp("tied")
    return [make_llama(root / f"t{i}", seed=10 + i, tie=True) for i in range(2)]


@pytest.fixture(scope="session")
def bf16_sharded_pool(tmp_path_factory) -> list[Path]:
    """Two bf16 tiny Llamas saved in several shards (index.json), like large hub checkpoints."""
    root = tmp_path_factory.mktemp("sharded")
    return [make_llama(root / f"s{i}", seed=20 + i, shard="40KB", dtype=torch.bfloat16)
            for i in range(2)]


def reference_soup(paths: list[Path], weights: list[float]) -> dict[str, torch.Tensor]:
    """Independent float64 soup straight from safetensors.torch.load_file, for comparisons."""
    from safetensors.torch import load_file

    total: dict[str, torch.Tensor] = {}
    for path, weight in zip(paths, weights):
        state: dict[str, torch.Tensor] = {}
        for file in sorted(path.glob("*.safetensors")):
            state.update(load_file(file))
        for name, tensor in state.items():
            total[name] = total.get(name, 0) + weight * tensor.to(torch.float64)
    return total


def load_state(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for file in sorted(path.glob("*.safetensors")):
        state.update(load_file(file))
    return state


@pytest.fixture(scope="session")
def build_llama():
    """The `make_llama` builder, for tests that need a variant model."""
    return make_llama


@pytest.fixture(scope="session")
def soup64():
    """The float64 reference soup function: (paths, weights) -> {name: tensor}."""
    return reference_soup


@pytest.fixture(scope="session")
def read_state():
    """Load every tensor of a checkpoint folder: path -> {name: tensor}."""
    return load_state


def make_synthetic(out: Path, seed: int, layers: int = 4, hidden: int = 512,
                   dtype: torch.dtype = torch.float32) -> Path:
    """A Llama-shaped checkpoint of random tensors (no tokenizer), sized by layers x hidden.

    About (2*vocab*h + layers*12*h^2) elements with vocab = 4h; for benchmarks and kill tests,
    where loading it in transformers is not needed.
    """
    import json

    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    shapes = {"model.embed_tokens.weight": (4 * hidden, hidden), "model.norm.weight": (hidden,),
              "lm_head.weight": (4 * hidden, hidden)}
    for i in range(layers):
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            shapes[f"model.layers.{i}.self_attn.{proj}.weight"] = (hidden, hidden)
        for proj in ("gate_proj", "up_proj"):
            shapes[f"model.layers.{i}.mlp.{proj}.weight"] = (4 * hidden, hidden)
        shapes[f"model.layers.{i}.mlp.down_proj.weight"] = (hidden, 4 * hidden)
        shapes[f"model.layers.{i}.input_layernorm.weight"] = (hidden,)
        shapes[f"model.layers.{i}.post_attention_layernorm.weight"] = (hidden,)
    out.mkdir(parents=True)
    state = {name: torch.randn(shape, generator=gen).to(dtype) for name, shape in shapes.items()}
    save_file(state, out / "model.safetensors", metadata={"format": "pt"})
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
              "intermediate_size": 4 * hidden, "num_hidden_layers": layers, "vocab_size": 4 * hidden,
              "num_attention_heads": hidden // 64, "num_key_value_heads": hidden // 64,
              "tie_word_embeddings": False}
    (out / "config.json").write_text(json.dumps(config))
    return out


@pytest.fixture(scope="session")
def synthetic_pool(tmp_path_factory) -> list[Path]:
    """Two ~50 MB fp32 synthetic checkpoints (slow enough to write that a kill lands mid-way)."""
    root = tmp_path_factory.mktemp("synthetic")
    return [make_synthetic(root / f"x{i}", seed=30 + i, layers=4, hidden=512) for i in range(2)]
