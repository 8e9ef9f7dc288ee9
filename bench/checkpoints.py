"""Synthetic Llama checkpoints of any size, written straight to disk for the merge and swap benches.

Why not `LlamaForCausalLM(config).save_pretrained`: that holds the whole model (and its init) in
memory -- 4 GB for a 1B fp32 model -- and takes minutes for the sizes benchmarked here. The
safetensors format is simple (8-byte header length, JSON header, raw little-endian data), so
soce_bo's own shard writer streams one tensor at a time: memory stays at the largest tensor. Tensor names and the config are
those of a Hugging Face Llama, so transformers, vLLM, mergekit and soce_bo all accept them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from soce_bo.atomic import atomic_file
from soce_bo.soup.checkpoint import CODE_OF
from soce_bo.soup.shards import PlannedTensor, Shard, ShardStream
from soce_bo.soup.write import CANONICAL

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
    """Write a random Llama state dict to `path` tensor by tensor; returns bytes of tensor data.

    Uses soce_bo's own streaming shard writer (`soce_bo.soup.shards`), atomically.
    """
    tensors = tuple(PlannedTensor(name, CODE_OF[dtype], dims) for name, dims in shape.tensors())
    gen = torch.Generator().manual_seed(seed)
    with atomic_file(path) as tmp:
        stream = ShardStream(tmp.parent, Shard(tmp.name, tensors))
        try:
            for planned in tensors:
                stream.write(planned.name, _random_tensor(planned.name, planned.shape, gen, dtype))
            stream.close()
        except BaseException:
            stream.abort()
            raise
    return sum(t.nbytes for t in tensors)


def make_llama(out: Path, shape: LlamaShape, seed: int, dtype: torch.dtype = torch.float32,
               tokenizer_from: Path | None = None) -> Path:
    """A complete checkpoint folder: model.safetensors, config.json (+ tokenizer files if given)."""
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors_stream(out / "model.safetensors", shape, seed, dtype)
    (out / "config.json").write_text(json.dumps(shape.config(CANONICAL[dtype]), indent=2) + "\n")
    if tokenizer_from is not None:
        for file in TOKENIZER_FILES:
            if (tokenizer_from / file).is_file():
                shutil.copyfile(tokenizer_from / file, out / file)
    return out


def make_pool(root: Path, shape: LlamaShape, k: int, dtype: torch.dtype = torch.float32,
              tokenizer_from: Path | None = None, seed0: int = 0) -> list[Path]:
    """K distinct random experts of one architecture under `root`/e<i>."""
    return [make_llama(root / f"e{i}", shape, seed0 + i, dtype, tokenizer_from) for i in range(k)]
