"""What the evaluation loop needs from a model: greedy completions for a list of requests.

Two implementations share this shape: the vLLM server client (`soce_bo.serve.client`) and the
in-process HF transformers reference (`soce_bo.evaluate.hf_backend`), used for correctness checks
and on machines without vLLM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from soce_bo.evaluate.benchmark import GenRequest

Progress = Callable[[int], None]
"""Called with the number of newly finished requests."""


class GenerationBackend(Protocol):
    def generate(self, requests: Sequence[GenRequest], progress: Progress | None = None) -> list[str]:
        """Greedy (temperature 0) completion text for each request, in order."""
        ...
