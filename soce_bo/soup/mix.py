"""Soup arithmetic: Σ wᵢ·θᵢ per tensor, accumulated in float32. No files here.

Why float32: summing bf16 checkpoints in bf16 loses ~3 significant digits per add; accumulating in
fp32 and casting once at the end keeps the soup within one rounding of the exact value.

A *source* is anything with `names() -> list[str]` and `get(name) -> torch.Tensor`
(`soce_bo.soup.checkpoint.Checkpoint`, or the vLLM worker's resident copies); an optional
`release(name)` is called once a tensor has been mixed, so memory-mapped sources can unmap it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import torch

from soce_bo.errors import PoolError
from soce_bo.soup.order import layer_order
from soce_bo.soup.weights import check_weights


class Source(Protocol):
    def names(self) -> list[str]: ...

    def get(self, name: str) -> torch.Tensor: ...


def mix(tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """Σ wᵢ·tensorᵢ as a new float32 tensor (inputs of any float dtype, never modified)."""
    if len(tensors) != len(weights) or not tensors:
        raise ValueError(f"mix needs one weight per tensor, got {len(tensors)} and {len(weights)}")
    first = tensors[0]
    if first.dtype == torch.float32:
        acc = first * weights[0]  # one pass, new tensor
    else:
        acc = first.to(torch.float32).mul_(weights[0])  # .to made a copy, safe to scale in place
    for tensor, weight in zip(tensors[1:], weights[1:]):
        acc.add_(tensor, alpha=weight)  # in-place on fp32 promotes bf16/fp16 inputs to fp32
    return acc


def source_label(source: object, index: int) -> str:
    """How to name a source in an error: its path if it has one, else its position."""
    path = getattr(source, "path", None)
    return str(path) if path is not None else f"source #{index}"


def _check_names(sources: Sequence[Source], labels: Sequence[str], names: Sequence[str] | None) -> list[str]:
    """Every wanted name must exist in every source; without explicit names the sets must be equal."""
    reference = layer_order(sources[0].names()) if names is None else list(names)
    wanted = set(reference)
    for label, source in zip(labels, sources):
        have = set(source.names())
        missing = sorted(wanted - have)
        if missing:
            raise PoolError(f"tensor {missing[0]!r} is missing from model {label}")
        extra = sorted(have - wanted) if names is None else []
        if extra:
            raise PoolError(f"model {label} has extra tensor {extra[0]!r} (not in model {labels[0]})")
    return reference


def _finite(tensor: torch.Tensor) -> bool:
    """Cheap test first (a sum is non-finite if any element is), exact test only to confirm."""
    if torch.isfinite(tensor.sum(dtype=torch.float32)):
        return True
    return bool(torch.isfinite(tensor).all())


def _raise_non_finite(name: str, active: Sequence[tuple[str, Source]], dtype: torch.dtype) -> None:
    for label, source in active:
        if not bool(torch.isfinite(source.get(name)).all()):
            raise PoolError(f"tensor {name!r} of model {label} contains NaN or Inf values")
    raise PoolError(f"the soup of tensor {name!r} overflows {dtype} (inputs are finite)")


def iter_soup(
    sources: Sequence[Source],
    weights: Sequence[float] | Mapping[str, float],
    dtype: torch.dtype = torch.float32,
    names: Sequence[str] | None = None,
    check_finite: bool = True,
) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield (name, soup tensor in `dtype`) one tensor at a time, in layer order.

    Memory stays at about one output tensor (plus whatever `get` materialises). Sources with
    weight 0 are never read. Non-float tensors (integer buffers) must be identical in every
    source and pass through unchanged.

    Args:
        sources: models to mix, all with the same tensor names and shapes.
        weights: one per source, >= 0, summing to 1 (see `soce_bo.soup.weights`).
        dtype: output dtype of float tensors; arithmetic is float32 regardless.
        names: tensors to produce, in this order; default all, in layer order.
        check_finite: raise PoolError (naming tensor and model) on NaN/Inf before yielding it.
            Callers that validated their sources once may switch it off to save a pass.
    """
    labels = [source_label(source, index) for index, source in enumerate(sources)]
    ws = check_weights(weights, labels)
    names = _check_names(sources, labels, names)
    active = [(label, source) for label, source, w in zip(labels, sources, ws) if w != 0.0]
    active_weights = [w for w in ws if w != 0.0]
    for name in names:
        tensors = [source.get(name) for _, source in active]
        for (label, _), tensor in zip(active, tensors):
            if tensor.shape != tensors[0].shape:
                raise PoolError(
                    f"tensor {name!r} has shape {list(tensor.shape)} in model {label} but "
                    f"{list(tensors[0].shape)} in model {active[0][0]}"
                )
        if not tensors[0].is_floating_point():
            _check_identical(name, active, tensors)
            yield name, tensors[0]
            continue
        out = mix(tensors, active_weights)
        del tensors
        _release(name, active)
        if dtype != torch.float32:
            out = out.to(dtype)
        if check_finite and not _finite(out):
            _raise_non_finite(name, active, dtype)
        yield name, out


def _release(name: str, active: Sequence[tuple[str, Source]]) -> None:
    """Let sources that can (Checkpoint.release) drop the pages of a tensor already mixed."""
    for _, source in active:
        release = getattr(source, "release", None)
        if release is not None:
            release(name)


def _check_identical(
    name: str, active: Sequence[tuple[str, Source]], tensors: Sequence[torch.Tensor]
) -> None:
    """Integer buffers cannot be averaged; they are only accepted when all sources agree."""
    for (label, _), tensor in zip(active[1:], tensors[1:]):
        if not torch.equal(tensor, tensors[0]):
            raise PoolError(
                f"non-float tensor {name!r} differs between models {active[0][0]} and {label}; "
                "it cannot be averaged"
            )
