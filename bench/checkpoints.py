"""Synthetic Llama checkpoints of any size, written straight to disk for the merge and swap benches.

Why not `LlamaForCausalLM(config).save_pretrained`: that holds the whole model (and its init) in
memory -- 4 GB for a 1B fp32 model -- and takes minutes for the sizes benchmarked here. The
safetensors format is simple (8-byte header length, JSON header, raw little-endian data), so we
stream one tensor at a time: memory stays at the largest tensor. Tensor names and the config are
those of a Hugging Face Llama, so transformers, vLLM, mergekit and soce_bo all accept them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "generation_config.json", "tokenizer.model")


@dataclass(frozen=True)
class LlamaShape:
    """Architecture of a synthetic Llama (untied embeddings, like most 7B-class checkpoints)."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    def tensors(self) -> Iterator[tuple[str, tuple[int, ...]]]:
        """(name, shape) in the order a HF Llama stores them."""
        h, q, kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        yield "model.embed_tokens.weight", (self.vocab, h)
        for i in range(self.layers):
            p = f"model.layers.{i}."
            yield p + "input_layernorm.weight", (h,)
            yield p + "self_attn.q_proj.weight", (q, h)
            yield p + "self_attn.k_proj.weight", (kv, h)
            yield p + "self_attn.v_proj.weight", (kv, h)
            yield p + "self_attn.o_proj.weight", (h, q)
            yield p + "post_attention_layernorm.weight", (h,)
            yield p + "mlp.gate_proj.weight", (self.intermediate, h)
            yield p + "mlp.up_proj.weight", (self.intermediate, h)
            yield p + "mlp.down_proj.weight", (h, self.intermediate)
        yield "model.norm.weight", (h,)
        yield "lm_head.weight", (self.vocab, h)

    @property
    def params(self) -> int:
        total = 0
        for _, shape in self.tensors():
            n = 1
            for d in shape:
                n *= d
            total += n
        return total

    def config(self, dtype: str = "float32") -> dict:
        return {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": self.hidden, "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers, "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads, "head_dim": self.head_dim, "vocab_size": self.vocab,
            "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "hidden_act": "silu",
            "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
            "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False,
            "tie_word_embeddings": False, "initializer_range": 0.02, "pretraining_tp": 1,
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "use_cache": True, "dtype": dtype,
        }



# Served by vLLM with the zoo's tokenizer (vocab 100), head_dim 64 (vLLM's CPU kernel): swap and throughput
SHAPE_25M = LlamaShape(512, 2048, 6, 8, 8, 64, 100)
SHAPE_100M = LlamaShape(1024, 4096, 6, 16, 16, 64, 100)

def _random_tensor(name: str, shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """Norms near 1 (as trained), matrices ~N(0, 0.02) -- soups of them stay well-conditioned."""
    if name.endswith("norm.weight"):
        return (1.0 + 0.1 * torch.randn(shape, generator=gen)).to(dtype)
    return (0.02 * torch.randn(shape, generator=gen)).to(dtype)


def write_safetensors_stream(path: Path, shape: LlamaShape, seed: int, dtype: torch.dtype) -> int:
    """Write a random Llama state dict to `path` tensor by tensor; returns bytes of tensor data."""
    code = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}[dtype]
    itemsize = torch.empty((), dtype=dtype).element_size()
    header: dict[str, dict] = {}
    offset = 0
    specs = list(shape.tensors())
    for name, dims in specs:
        n = 1
        for d in dims:
            n *= d
        header[name] = {"dtype": code, "shape": list(dims), "data_offsets": [offset, offset + n * itemsize]}
        offset += n * itemsize
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # data starts 8-byte aligned
    gen = torch.Generator().manual_seed(seed)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(len(raw).to_bytes(8, "little"))
        fh.write(raw)
        for name, dims in specs:
            tensor = _random_tensor(name, dims, gen, dtype).contiguous()
            fh.write(memoryview(tensor.view(-1).view(torch.uint8).numpy()))
    os.replace(tmp, path)
    return offset


def make_llama(out: Path, shape: LlamaShape, seed: int, dtype: torch.dtype = torch.float32,
               tokenizer_from: Path | None = None) -> Path:
    """A complete checkpoint folder: model.safetensors, config.json (+ tokenizer files if given)."""
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors_stream(out / "model.safetensors", shape, seed, dtype)
    name = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype]
    (out / "config.json").write_text(json.dumps(shape.config(name), indent=2) + "\n")
    if tokenizer_from is not None:
        for file in TOKENIZER_FILES:
            if (tokenizer_from / file).is_file():
                shutil.copyfile(tokenizer_from / file, out / file)
    return out


def make_pool(root: Path, shape: LlamaShape, k: int, dtype: torch.dtype = torch.float32,
              tokenizer_from: Path | None = None, seed0: int = 0) -> list[Path]:
    """K distinct random experts of one architecture under `root`/e<i>."""
    return [make_llama(root / f"e{i}", shape, seed0 + i, dtype, tokenizer_from) for i in range(k)]
