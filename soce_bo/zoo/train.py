"""One training run (the base from scratch, or a candidate from the base) -> an HF checkpoint.

Runs single-threaded so two runs share the two cores of a small machine without fighting, and
is deterministic: same job, same bytes (seeded init, seeded data stream, one thread, fixed order).
The loss covers only the answer and the closing <eos>, so the model learns to stop -- vLLM ends
a completion only when the model emits EOS (or a stop string).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from soce_bo.zoo.config import ModelShape, Recipe
from soce_bo.zoo.data import PROBE_SPLIT, dataset_batches, read_prompts, stable_seed, training_batches
from soce_bo.zoo.tasks import Example
from soce_bo.zoo.tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB, build_tokenizer, encode, save_tokenizer

IGNORE = -100


@dataclass(frozen=True)
class TrainJob:
    """Everything a worker process needs (picklable)."""

    name: str
    out_dir: str
    data_dir: str
    recipe: Recipe
    model: ModelShape
    seed: int
    init_dir: str | None = None  # None: train from scratch (the base)


@dataclass(frozen=True)
class TrainResult:
    name: str
    seconds: float
    steps: int
    final_loss: float
    probes: tuple[tuple[int, dict[str, float]], ...] = ()  # (step, per-category probe score), if probed


def llama_config(shape: ModelShape):  # -> transformers.LlamaConfig
    from transformers import LlamaConfig

    if shape.hidden_size // shape.num_heads not in (32, 64):
        raise ValueError("head_dim (hidden_size / num_heads) must be 32 or 64 for vLLM's CPU attention")
    return LlamaConfig(
        vocab_size=len(VOCAB), hidden_size=shape.hidden_size, intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers, num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_heads, max_position_embeddings=shape.max_position_embeddings,
        rope_theta=shape.rope_theta, tie_word_embeddings=shape.tie_word_embeddings,
        bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID, dtype="float32",
    )


def collate(batch: list[Example]) -> dict[str, torch.Tensor]:
    """Right-padded ids, mask and labels; labels are -100 except on answer + <eos>."""
    seqs, labels = [], []
    for ex in batch:
        prompt = [BOS_ID, *encode(ex.prompt)]
        answer = [*encode(ex.answer), EOS_ID]
        seqs.append(prompt + answer)
        labels.append([IGNORE] * len(prompt) + answer)
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), PAD_ID, dtype=torch.long)
    lab = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (s, l) in enumerate(zip(seqs, labels)):
        ids[i, : len(s)] = torch.tensor(s)
        lab[i, : len(l)] = torch.tensor(l)
        mask[i, : len(s)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": lab}


def lr_at(step: int, recipe: Recipe) -> float:
    """Linear warmup, then cosine decay to 10 % of the peak."""
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    progress = min(1.0, (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup))  # past `steps`: the floor
    return recipe.lr * (0.1 + 0.45 * (1.0 + math.cos(math.pi * progress)))


def _load_model(job: TrainJob):
    from transformers import GenerationConfig, LlamaForCausalLM

    torch.manual_seed(stable_seed("init", job.seed, job.name))
    if job.init_dir is None:
        model = LlamaForCausalLM(llama_config(job.model))
    else:
        model = LlamaForCausalLM.from_pretrained(job.init_dir, dtype=torch.float32)
    model.generation_config = GenerationConfig(bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID)
    return model


def run_training(job: TrainJob, report: Any = None) -> TrainResult:
    """Train `job` and save the checkpoint to `job.out_dir`.

    `report(name, step, loss)` is called every 10 steps if given, and `report(name, step, loss, probe)`
    after each probe of a probed recipe."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = _load_model(job)
    model.train()
    recipe = job.recipe
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, betas=(0.9, 0.98),
                                  weight_decay=recipe.weight_decay)
    seed, held_out = stable_seed("data", job.seed, job.name), read_prompts(Path(job.data_dir))
    if recipe.dataset is None:
        batches = training_batches(recipe.weights(), recipe.batch_size, seed, held_out)
    else:
        batches = dataset_batches(dict(recipe.dataset), recipe.batch_size, seed, held_out)
    smoothed, step, stop_at, probes = float("nan"), 0, recipe.steps, []
    while True:
        for step in range(step, stop_at):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, recipe)
            _, batch = next(batches)
            loss = model(**collate(batch)).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            value = loss.item()
            smoothed = value if math.isnan(smoothed) else 0.95 * smoothed + 0.05 * value
            if report is not None and (step % 10 == 9 or step == stop_at - 1):
                report(job.name, step + 1, smoothed)
        step = stop_at
        if recipe.probe_floor is None:
            break
        scores = probe_scores(model, Path(job.data_dir))
        probes.append((step, scores))
        limit = recipe.max_steps or recipe.steps
        passed = min(scores.values()) >= recipe.probe_floor
        if report is not None:
            report(job.name, step, smoothed, scores)
        if passed or step >= limit:
            break
        stop_at = min(limit, step + recipe.probe_every)
        model.train()
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    save_tokenizer(out)
    return TrainResult(job.name, time.perf_counter() - t0, step, smoothed, tuple(probes))


def probe_scores(model, data_dir: Path) -> dict[str, float]:
    """Greedy per-category scores of the model in training on the zoo's probe split."""
    from soce_bo.evaluate.hf_backend import HFBackend
    from soce_bo.evaluate.runner import evaluate_items
    from soce_bo.zoo.benchmark import ZooBenchmark

    bench = ZooBenchmark(data_dir)
    backend = HFBackend(model, build_tokenizer())
    result = evaluate_items(bench, backend, bench.load(PROBE_SPLIT), show_progress=False)
    return {c: round(s.accuracy, 6) for c, s in result.per_category.items()}
