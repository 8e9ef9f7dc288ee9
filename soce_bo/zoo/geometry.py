"""Where the candidates sit around their parent: weight distance and midpoint loss barriers.

Diagnostics written into zoo.json after training, measured on the dev split only: how far each
fine-tune drifted from the instruction-tuned parent (L2 over all parameters, and relative to the
parent's norm), and for every pair of candidates the loss barrier of their midpoint -- the dev
loss of the 0.5/0.5 average minus the mean of the two endpoints' dev losses. A barrier near zero
(or negative) says the pair lies in one linearly connected basin, as fine-tunes of one open model
usually do. Training never sees any of this.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from soce_bo.zoo.benchmark import ZooBenchmark

_LOSS_BATCH = 64


def _state(model_dir: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


def distance(state: Mapping[str, torch.Tensor], parent: Mapping[str, torch.Tensor]) -> tuple[float, float]:
    """(L2 norm of state - parent over every tensor, that norm / the parent's L2 norm)."""
    diff = sum(float((state[k].double() - parent[k].double()).pow(2).sum()) for k in parent)
    norm = sum(float(parent[k].double().pow(2).sum()) for k in parent)
    return diff ** 0.5, (diff / norm) ** 0.5


def answer_loss(model_dir: str, state: Mapping[str, torch.Tensor], data_dir: str, split: str = "dev") -> float:
    """Mean cross-entropy per answer token (+ <eos>) of `state` on `split`: the training objective."""
    from transformers import AutoConfig, LlamaForCausalLM

    from soce_bo.zoo.tasks import Example
    from soce_bo.zoo.train import IGNORE, collate

    model = LlamaForCausalLM(AutoConfig.from_pretrained(model_dir)).eval()
    model.load_state_dict(dict(state), strict=True)
    items = ZooBenchmark(data_dir).load(split)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(items), _LOSS_BATCH):
            batch = collate([Example(it.prompt, str(it.answer)) for it in items[start:start + _LOSS_BATCH]])
            labels = batch.pop("labels")
            logits = model(**batch).logits[:, :-1]
            target = labels[:, 1:]
            losses = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                       ignore_index=IGNORE, reduction="sum")
            total += float(losses)
            count += int((target != IGNORE).sum())
    return total / count


def pool_geometry(parent_dir: str, candidate_dirs: Mapping[str, str], data_dir: str) -> dict[str, Any]:
    """zoo.json's `geometry`: per-candidate drift and dev loss, per-pair midpoint barrier."""
    torch.set_num_threads(1)
    parent = _state(parent_dir)
    states = {name: _state(d) for name, d in candidate_dirs.items()}
    losses = {name: answer_loss(parent_dir, s, data_dir) for name, s in states.items()}
    drift = {}
    for name, s in states.items():
        l2, rel = distance(s, parent)
        drift[name] = {"l2_from_parent": round(l2, 6), "relative_to_parent": round(rel, 6),
                       "dev_loss": round(losses[name], 6)}
    barriers = []
    for a, b in itertools.combinations(states, 2):
        mid = {k: 0.5 * states[a][k] + 0.5 * states[b][k] for k in parent}
        mid_loss = answer_loss(parent_dir, mid, data_dir)
        barriers.append({"pair": [a, b], "midpoint_dev_loss": round(mid_loss, 6),
                         "barrier": round(mid_loss - 0.5 * (losses[a] + losses[b]), 6)})
    return {"parent_dev_loss": round(answer_loss(parent_dir, parent, data_dir), 6), "candidates": drift,
            "midpoint_barriers": barriers}

