"""The per-trial arithmetic (no vLLM): float32 accumulation, chunking that changes no bit, the
host-streaming buckets covering every element once."""

from __future__ import annotations

import pytest
import torch

from soce_bo.serve.shard_mix import StreamedMixer, mix_into, mixed
from soce_bo.serve.worker_ext import fingerprint_of


def experts(k: int, shape: tuple[int, ...], dtype: torch.dtype, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen).to(dtype) for _ in range(k)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_mix_is_within_one_rounding_of_fp64(dtype):
    srcs, w = experts(3, (513, 77), dtype), [0.2, 0.5, 0.3]
    exact = sum(s.double() * x for s, x in zip(srcs, w))
    scale = sum(s.double().abs() * x for s, x in zip(srcs, w))  # rounding is relative to this, not to |sum|
    out = mixed(srcs, w, dtype)
    eps = 2.0**-8 if dtype == torch.bfloat16 else 2.0**-24
    assert ((out.double() - exact).abs() <= eps * exact.abs() + 4 * 2.0**-24 * scale).all()


def test_chunking_changes_no_bit_and_zero_weights_are_skipped():
    srcs, w = experts(3, (3000, 333), torch.bfloat16), [0.25, 0.0, 0.75]
    whole = torch.empty_like(srcs[0])
    mix_into(whole, srcs, w, chunk=1 << 30)
    for chunk in (1024, 4096 * 7):
        out = torch.empty_like(srcs[0])
        mix_into(out, srcs, w, chunk=chunk)
        assert torch.equal(out, whole)
    poisoned = [srcs[0], torch.full_like(srcs[1], float("nan")), srcs[2]]
    assert torch.equal(mixed(poisoned, w, torch.bfloat16), whole)


def test_fingerprint_sees_a_005_change_in_bf16():
    srcs = experts(3, (4096, 64), torch.bfloat16)
    w = [0.5, 0.3, 0.2]
    live = mixed(srcs, w, torch.bfloat16)
    assert fingerprint_of([live]) == fingerprint_of([mixed(srcs, w, torch.bfloat16)])
    assert fingerprint_of([live]) != fingerprint_of([mixed(srcs, [0.55, 0.3, 0.15], torch.bfloat16)])


def test_streamed_buckets_cover_every_element_once():
    mixer = StreamedMixer(torch.device("cpu"), bucket_bytes=64 << 10)
    targets = [torch.empty(n, dtype=torch.bfloat16) for n in (10, 70_000, 1024, 300_001)]
    jobs = [(t, experts(2, t.shape, torch.bfloat16, seed=i)) for i, t in enumerate(targets)]
    buckets = mixer._buckets([(t, s) for t, s in jobs])
    seen = {id(t): 0 for t in targets}
    for bucket in buckets:
        assert sum(-(-p.target.numel() * 2 // 256) * 256 for p in bucket) <= 64 << 10
        for piece in bucket:
            owner = next(t for t in targets if piece.target.data_ptr() >= t.data_ptr()
                         and piece.target.data_ptr() < t.data_ptr() + t.numel() * 2)
            seen[id(owner)] += piece.target.numel()
    assert all(seen[id(t)] == t.numel() for t in targets)
    mixer.mix(jobs, [0.4, 0.6])
    for target, srcs in jobs:
        assert torch.equal(target, mixed(srcs, [0.4, 0.6], torch.bfloat16))
