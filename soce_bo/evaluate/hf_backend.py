"""In-process greedy generation with HF transformers: the reference the vLLM server must match.

Used to score the zoo at build time, to check the server's outputs token for token, and on
machines without vLLM. Decoding mirrors vLLM's greedy path: argmax every step (no sampling, no
repetition penalty), stop at EOS or after `max_tokens` generated tokens (EOS counts as one), and
stop strings are searched in the newly decoded text the way vLLM does and cut from the output,
as is EOS. Requests are batched with left padding; sorted by (max_tokens, prompt length) so a
batch has similar shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from soce_bo.errors import SoceError
from soce_bo.evaluate.backend import Progress
from soce_bo.evaluate.benchmark import GenRequest


def find_stop(text: str, new_chars: int, stops: Sequence[str]) -> int | None:
    """Index where the output is cut, if a stop string ends inside the `new_chars` last characters.

    Same rule as vLLM's `check_stop_strings`: stops are tried in the given order, each searched
    from the first position where it could overlap the new text; the first hit wins.
    """
    for stop in stops:
        if not stop:
            continue
        index = text.find(stop, max(0, len(text) - new_chars - len(stop) + 1))
        if index != -1:
            return index
    return None


class HFBackend:
    """Greedy batched generation with a `transformers` causal LM (implements GenerationBackend)."""

    def __init__(self, model, tokenizer, batch_size: int = 64) -> None:
        if tokenizer.eos_token_id is None:
            raise SoceError("tokenizer has no eos_token; greedy generation could never stop early")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = model.generation_config.eos_token_id if model.generation_config is not None else None
        ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self.eos_ids = frozenset([tokenizer.eos_token_id, *ids])

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, dtype: torch.dtype = torch.float32, batch_size: int = 64):
        """Load a checkpoint folder (safetensors only, no remote code)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise SoceError(f"not a checkpoint folder (no config.json): {model_dir}")
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype, use_safetensors=True)
        return cls(model, AutoTokenizer.from_pretrained(str(model_dir)), batch_size)

    @classmethod
    def from_state(
        cls,
        config_dir: str | Path,
        named_tensors: Iterable[tuple[str, torch.Tensor]],
        dtype: torch.dtype = torch.float32,
        batch_size: int = 64,
    ):
        """A model built from `config_dir`'s config and tokenizer, with weights from `named_tensors`.

        The soup engine's iterator feeds this, so a soup is scored without writing it to disk.
        Every parameter must be given (a tied lm_head may be omitted); an unknown name or a shape
        mismatch is an error naming the tensor.
        """
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        config = AutoConfig.from_pretrained(str(config_dir))
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        state = model.state_dict()
        seen = set()
        with torch.no_grad():
            for name, tensor in named_tensors:
                if name not in state:
                    raise SoceError(f"tensor {name!r} is not a parameter of the model in {config_dir}")
                if tuple(tensor.shape) != tuple(state[name].shape):
                    raise SoceError(f"tensor {name!r}: shape {tuple(tensor.shape)}, model expects "
                                    f"{tuple(state[name].shape)}")
                state[name].copy_(tensor.to(dtype))
                seen.add(name)
        tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
        missing = sorted(set(state) - seen - tied)
        if missing:
            raise SoceError(f"{len(missing)} tensor(s) missing for {config_dir}, e.g. {missing[0]!r}")
        if tied:
            model.tie_weights()
        return cls(model, AutoTokenizer.from_pretrained(str(config_dir)), batch_size)

    def generate(self, requests: Sequence[GenRequest], progress: Progress | None = None) -> list[str]:
        order = sorted(range(len(requests)),
                       key=lambda i: (requests[i].max_tokens, len(requests[i].prompt), i))
        outputs: list[str] = [""] * len(requests)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for i, text in zip(chunk, self._generate_batch([requests[i] for i in chunk])):
                outputs[i] = text
            if progress is not None:
                progress(len(chunk))
        return outputs

    @torch.no_grad()
    def _generate_batch(self, requests: Sequence[GenRequest]) -> list[str]:
        prompts = [self.tokenizer(r.prompt)["input_ids"] for r in requests]
        width = max(map(len, prompts))
        n = len(prompts)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[row, width - len(p):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        generated: list[list[int]] = [[] for _ in range(n)]
        texts = [""] * n
        done = [r.max_tokens <= 0 for r in requests]
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        cache = out.past_key_values
        for _ in range(max(r.max_tokens for r in requests)):
            if all(done):
                break
            next_ids = out.logits[:, -1, :].argmax(-1)
            for row in range(n):
                if done[row]:
                    continue
                token = int(next_ids[row])
                generated[row].append(token)
                if token in self.eos_ids:
                    done[row] = True
                    continue
                text = self.tokenizer.decode(generated[row], skip_special_tokens=True)
                cut = find_stop(text, len(text) - len(texts[row]), requests[row].stop)
                texts[row] = text if cut is None else text[:cut]
                done[row] = cut is not None or len(generated[row]) >= requests[row].max_tokens
            if all(done):
                break
            mask = torch.cat([mask, torch.ones((n, 1), dtype=torch.long)], dim=1)
            positions = positions[:, -1:] + 1
            out = self.model(input_ids=next_ids[:, None], attention_mask=mask, position_ids=positions,
                             past_key_values=cache, use_cache=True)
            cache = out.past_key_values
        return texts
