"""The soup engine on the real tiny zoo (trained experts): exact values, loads and generates."""

from __future__ import annotations

import pytest
import torch

from soce_bo.soup.write import write_soup

pytest.importorskip("soce_bo.zoo.build", reason="the zoo builder is not in the tree yet")


@pytest.mark.slow
def test_soup_of_zoo_experts(zoo_dir, tmp_path, soup64, read_state):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    experts = sorted(p.parent for p in (zoo_dir / "experts").glob("*/config.json"))
    assert len(experts) >= 2
    weights = [1 / len(experts)] * len(experts)
    out = write_soup(experts, weights, tmp_path / "soup", dtype="bfloat16", progress=False)
    got, want = read_state(out), soup64(experts, weights)
    assert set(got) == set(want)
    for name, tensor in got.items():
        torch.testing.assert_close(tensor.double(), want[name], rtol=2**-8, atol=1e-6, msg=name)
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    inputs = tokenizer("1+2=", return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 3
