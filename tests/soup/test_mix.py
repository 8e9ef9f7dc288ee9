"""Soup arithmetic on plain tensors and in-memory sources (no files)."""

from __future__ import annotations

import pytest
import torch

from soce_bo.errors import PoolError
from soce_bo.soup.mix import iter_soup, mix
from soce_bo.soup.order import layer_order


class DictSource:
    """An in-memory source, like the vLLM worker's resident copies."""

    def __init__(self, tensors: dict[str, torch.Tensor], path: str = "") -> None:
        self.tensors, self.path, self.reads = tensors, path or None, 0

    def names(self) -> list[str]:
        return list(self.tensors)

    def get(self, name: str) -> torch.Tensor:
        self.reads += 1
        return self.tensors[name]


def random_sources(n: int, dtype=torch.float32, seed: int = 0) -> list[DictSource]:
    gen = torch.Generator().manual_seed(seed)
    shapes = {"model.embed_tokens.weight": (50, 8), "model.layers.10.w": (8, 8),
              "model.layers.2.w": (8, 8), "model.norm.weight": (8,), "lm_head.weight": (50, 8)}
    return [DictSource({k: torch.randn(s, generator=gen).to(dtype) for k, s in shapes.items()},
                       path=f"m{i}") for i in range(n)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_mix_matches_float64_and_keeps_inputs(dtype):
    sources = random_sources(4, dtype)
    tensors = [s.tensors["model.layers.2.w"] for s in sources]
    before = [t.clone() for t in tensors]
    weights = [0.1, 0.2, 0.3, 0.4]
    out = mix(tensors, weights)
    exact = sum(w * t.double() for w, t in zip(weights, tensors))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), exact, rtol=1e-6, atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(tensors, before))


def test_layer_order_is_natural():
    names = ["lm_head.weight", "model.norm.weight", "model.layers.10.w", "model.layers.2.w",
             "model.embed_tokens.weight", "model.layers.2.a"]
    assert layer_order(names) == ["model.embed_tokens.weight", "model.layers.2.a", "model.layers.2.w",
                                  "model.layers.10.w", "model.norm.weight", "lm_head.weight"]


def test_iter_soup_order_dtype_and_values():
    sources = random_sources(3)
    weights = [0.5, 0.25, 0.25]
    got = list(iter_soup(sources, weights, dtype=torch.bfloat16))
    assert [n for n, _ in got] == layer_order(sources[0].names())
    for name, tensor in got:
        exact = sum(w * s.tensors[name].double() for w, s in zip(weights, sources))
        assert tensor.dtype == torch.bfloat16
        torch.testing.assert_close(tensor.double(), exact, rtol=2**-8, atol=1e-6)


def test_zero_weight_source_is_not_read():
    sources = random_sources(3)
    dict(iter_soup(sources, [0.5, 0.0, 0.5]))
    assert sources[1].reads == 0 and sources[0].reads == 5


def test_explicit_names_subset_in_given_order():
    sources = random_sources(2)
    got = [n for n, _ in iter_soup(sources, [0.5, 0.5], names=["lm_head.weight", "model.layers.2.w"])]
    assert got == ["lm_head.weight", "model.layers.2.w"]


def test_nan_in_a_source_names_tensor_and_model():
    sources = random_sources(3)
    sources[2].tensors["model.layers.10.w"][3, 3] = float("nan")
    soup = iter_soup(sources, [0.2, 0.3, 0.5])
    with pytest.raises(PoolError, match=r"tensor 'model.layers.10.w' of model m2 contains NaN or Inf"):
        list(soup)


def test_overflow_on_cast_is_reported():
    sources = random_sources(2)
    sources[0].tensors["model.norm.weight"][0] = 1e30
    with pytest.raises(PoolError, match=r"soup of tensor 'model.norm.weight' overflows torch.float16"):
        list(iter_soup(sources, [0.5, 0.5], dtype=torch.float16))


def test_missing_and_extra_tensor_and_shape_named():
    sources = random_sources(2)
    del sources[1].tensors["model.norm.weight"]
    with pytest.raises(PoolError, match=r"tensor 'model.norm.weight' is missing from model m1"):
        list(iter_soup(sources, [0.5, 0.5]))
    sources = random_sources(2)
    sources[1].tensors["extra.bias"] = torch.zeros(3)
    with pytest.raises(PoolError, match=r"model m1 has extra tensor 'extra.bias'"):
        list(iter_soup(sources, [0.5, 0.5]))
    sources = random_sources(2)
    sources[1].tensors["model.layers.2.w"] = torch.zeros(8, 9)
    with pytest.raises(PoolError, match=r"'model.layers.2.w' has shape \[8, 9\] in model m1 but \[8, 8\]"):
        list(iter_soup(sources, [0.5, 0.5]))


def test_integer_buffers_pass_through_only_when_equal():
    sources = random_sources(2)
    for s in sources:
        s.tensors["model.pos_ids"] = torch.arange(5)
    assert torch.equal(dict(iter_soup(sources, [0.5, 0.5]))["model.pos_ids"], torch.arange(5))
    sources[1].tensors["model.pos_ids"] = torch.arange(5) + 1
    with pytest.raises(PoolError, match=r"non-float tensor 'model.pos_ids' differs between models m0 and m1"):
        list(iter_soup(sources, [0.5, 0.5]))


def test_layer_order_other_naming_schemes():
    names = ["output.weight", "layers.10.attention.wq.weight", "norm.weight", "tok_embeddings.weight",
             "layers.9.feed_forward.output.weight"]
    assert layer_order(names) == ["tok_embeddings.weight", "layers.9.feed_forward.output.weight",
                                  "layers.10.attention.wq.weight", "norm.weight", "output.weight"]
