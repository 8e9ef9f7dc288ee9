"""HFBackend: greedy, batched = unbatched, stop strings and max_tokens as vLLM applies them."""

from __future__ import annotations

import pytest
import torch

from soce_bo.errors import SoceError
from soce_bo.evaluate.benchmark import GenRequest
from soce_bo.evaluate.hf_backend import HFBackend, find_stop
from soce_bo.zoo.config import ModelShape
from soce_bo.zoo.tokenizer import save_tokenizer
from soce_bo.zoo.train import llama_config

PROMPTS = ["question: ana has 3 eggs.\nanswer: ", "kv: 12=a\nquery: a\nvalue: ", "x", "tools: f(a)\ncall: "]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A random (untrained) 1-layer Llama with the zoo tokenizer: it never says EOS by chance."""
    from transformers import LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config(ModelShape(hidden_size=64, intermediate_size=128, num_layers=1,
                                                     num_heads=2)))
    with torch.no_grad():  # bigger weights -> varied, non-degenerate greedy text
        for p in model.parameters():
            p.mul_(8.0)
    model.save_pretrained(path)
    save_tokenizer(path)
    return path


def test_find_stop_matches_vllm_rule():
    assert find_stop("abc\nd", 2, ["\n"]) == 3
    assert find_stop("abc\nd", 1, ["\n"]) is None  # the stop was in text already checked
    assert find_stop("xxENDyy", 2, ["END"]) is None
    assert find_stop("xxENDyy", 3, ["END"]) == 2  # the new "D" completes the stop
    assert find_stop("xxEND", 1, ["END"]) == 2
    assert find_stop("ab", 1, ["zz", "b"]) == 1
    assert find_stop("abc", 1, []) is None


def test_max_tokens_and_determinism(tiny_dir):
    backend = HFBackend.from_pretrained(tiny_dir)
    reqs = [GenRequest(p, max_tokens=n) for p, n in zip(PROMPTS, (1, 5, 12, 0))]
    out = backend.generate(reqs)
    assert [len(o) for o in out] == [1, 5, 12, 0]  # char-level: one character per token
    assert out == backend.generate(reqs)


def test_batched_equals_one_by_one_and_progress(tiny_dir):
    reqs = [GenRequest(p, max_tokens=16) for p in PROMPTS * 3]
    batched = HFBackend.from_pretrained(tiny_dir, batch_size=5)
    seen = []
    together = batched.generate(reqs, progress=seen.append)
    assert sum(seen) == len(reqs)
    single = HFBackend.from_pretrained(tiny_dir, batch_size=1)
    assert together == single.generate(reqs)


def test_stop_strings_cut_the_text_like_vllm(tiny_dir):
    backend = HFBackend.from_pretrained(tiny_dir)
    free = backend.generate([GenRequest(PROMPTS[0], max_tokens=30)])[0]
    stop = free[5:7]
    cut = backend.generate([GenRequest(PROMPTS[0], max_tokens=30, stop=(stop,))])[0]
    assert cut == free[: free.find(stop)]
    assert stop not in cut
    both = backend.generate([GenRequest(PROMPTS[0], max_tokens=30, stop=("\u00a7", stop))])[0]
    assert both == cut


def test_from_state_equals_from_pretrained(tiny_dir):
    from safetensors.torch import load_file

    tensors = load_file(str(tiny_dir / "model.safetensors"))
    reqs = [GenRequest(p, max_tokens=10) for p in PROMPTS]
    expected = HFBackend.from_pretrained(tiny_dir).generate(reqs)
    assert HFBackend.from_state(tiny_dir, tensors.items()).generate(reqs) == expected
    changed = {k: (v * 0.5 if "mlp" in k else v) for k, v in tensors.items()}
    assert HFBackend.from_state(tiny_dir, changed.items()).generate(reqs) != expected


def test_from_state_rejects_bad_tensors_by_name(tiny_dir):
    from safetensors.torch import load_file

    tensors = load_file(str(tiny_dir / "model.safetensors"))
    name = "model.layers.0.mlp.up_proj.weight"
    with pytest.raises(SoceError, match="missing.*"):
        HFBackend.from_state(tiny_dir, [(k, v) for k, v in tensors.items() if k != name])
    with pytest.raises(SoceError, match="'model.bogus'"):
        HFBackend.from_state(tiny_dir, [*tensors.items(), ("model.bogus", torch.zeros(1))])
    with pytest.raises(SoceError, match=name.replace(".", r"\.") + ".*shape"):
        HFBackend.from_state(tiny_dir, [(k, v[:1] if k == name else v) for k, v in tensors.items()])


def test_not_a_checkpoint_is_one_clear_error(tmp_path):
    with pytest.raises(SoceError, match="no config.json"):
        HFBackend.from_pretrained(tmp_path)
