"""The in-place soup swap against the references: a fresh engine on the written soup, and HF.

One server on the zoo's first expert and one fresh server on the soup written to disk are shared
by the whole module (each start costs 15-40 s); they start side by side, each pinned to its own core.
"""

from __future__ import annotations

import json
import statistics

import httpx
import pytest

from soce_bo.errors import ServerError
from soce_bo.evaluate.hf_backend import HFBackend
from soce_bo.evaluate.runner import evaluate_items
from soce_bo.serve.server import SoupServer
from soce_bo.soup.write import write_soup

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def soup_weights(n: int) -> list[float]:
    """A soup that is no single expert: 1, 2, ..., n normalised."""
    return [(i + 1) / (n * (n + 1) / 2) for i in range(n)]


def one_hot(n: int, k: int) -> list[float]:
    return [1.0 if i == k else 0.0 for i in range(n)]


@pytest.fixture(scope="module")
def requests_(bench, items):
    return [bench.request(it) for it in items]


@pytest.fixture(scope="module")
def soup_dir(pool_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("soup") / "soup"
    return write_soup(pool_dirs, soup_weights(len(pool_dirs)), out, dtype="float32", progress=False)


@pytest.fixture(scope="module")
def engines(pool_dirs, soup_dir, tmp_path_factory, cpu_config):
    """The swap server on the first expert (core 0) and a fresh server on the soup written to disk
    (core 1): the reference, and the cost of a full engine restart. Both start at once (one start's
    wait instead of two); each engine has its own core, so the restart time stays an engine's own."""
    logs = tmp_path_factory.mktemp("logs")
    swap_server = SoupServer(pool_dirs[0], cpu_config(log_dir=str(logs), cpu_bind="0"), replica=0)
    fresh_server = SoupServer(soup_dir, cpu_config(log_dir=str(logs), cpu_bind="1"), replica=1)
    try:
        for server in (swap_server, fresh_server):
            server.start(wait=False)
        for server in (swap_server, fresh_server):
            server.wait_ready()
        yield swap_server, fresh_server
    finally:
        for server in (swap_server, fresh_server):
            server.stop()


@pytest.fixture(scope="module")
def swap(engines, pool_dirs, requests_):
    """(server, client, outputs of the first expert as vLLM loaded it, before any swap)."""
    server = engines[0]
    with server.client() as client:
        initial = client.generate(requests_)
        client.load_pool(pool_dirs)
        yield server, client, initial


@pytest.fixture(scope="module")
def fresh(engines):
    with engines[1].client() as client:
        yield engines[1], client


def test_soup_matches_fresh_engine_and_hf(swap, fresh, soup_dir, pool_dirs, requests_):
    _, client, initial = swap
    info = client.apply(soup_weights(len(pool_dirs)))
    assert info.checksum == info.expected_checksum
    swapped = client.generate(requests_)
    assert swapped != initial, "the soup answers exactly like expert 0: the swap did nothing"
    assert swapped == fresh[1].generate(requests_)
    assert swapped == HFBackend.from_pretrained(soup_dir).generate(requests_)


def test_swap_back_restores_each_expert(swap, pool_dirs, requests_):
    _, client, initial = swap
    n = len(pool_dirs)
    client.apply(soup_weights(n))
    client.apply(one_hot(n, 0))
    assert client.generate(requests_) == initial
    client.apply(one_hot(n, n - 1))
    some = requests_[::4]  # a quarter of every category keeps the HF reference quick
    assert client.generate(some) == HFBackend.from_pretrained(pool_dirs[-1]).generate(some)


def _first_token_logprobs(url: str, prompts: list[str]) -> list[dict[str, float]]:
    """Top-5 logprobs of the first generated token for each prompt (one batched request)."""
    body = {"model": "soup", "prompt": prompts, "max_tokens": 1, "temperature": 0.0, "logprobs": 5}
    resp = httpx.post(url + "/v1/completions", json=body, timeout=120, trust_env=False)
    resp.raise_for_status()
    choices = sorted(resp.json()["choices"], key=lambda c: c["index"])
    return [c["logprobs"]["top_logprobs"][0] for c in choices]


def _close(a: dict[str, float], b: dict[str, float], tol: float = 1e-4) -> bool:
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= tol for k in a)


def test_prefix_cache_reset_matters(swap, pool_dirs, requests_):
    """Without the reset, KV blocks cached under expert A are reused for expert B's prompts."""
    server, client, _ = swap
    n = len(pool_dirs)
    long_prompts = [r.prompt for r in requests_ if len(r.prompt) > 2 * server.cfg.block_size][:48]
    assert len(long_prompts) >= 8, "need prompts spanning at least two KV blocks"
    client.apply(one_hot(n, n - 1))
    expected_b = _first_token_logprobs(server.url, long_prompts)  # B, computed from scratch
    client.apply(one_hot(n, 0))
    _first_token_logprobs(server.url, long_prompts)  # warms the prefix cache with A's KV

    client.apply(one_hot(n, n - 1), reset=False)
    stale = _first_token_logprobs(server.url, long_prompts)
    stale_wrong = sum(not _close(s, e) for s, e in zip(stale, expected_b))

    client.reset_prefix_cache()
    fresh_b = _first_token_logprobs(server.url, long_prompts)
    assert all(_close(f, e) for f, e in zip(fresh_b, expected_b))
    print(f"\nprefix cache not reset: {stale_wrong}/{len(long_prompts)} prompts scored wrongly")
    assert stale_wrong >= len(long_prompts) // 2


def test_scores_swap_equal_written_checkpoint(swap, fresh, bench, items, pool_dirs):
    _, client, _ = swap
    client.apply(soup_weights(len(pool_dirs)))
    via_swap = evaluate_items(bench, client, items, show_progress=False)
    via_checkpoint = evaluate_items(bench, fresh[1], items, show_progress=False)
    assert via_swap.completions == via_checkpoint.completions
    assert via_swap.per_category == via_checkpoint.per_category
    assert set(via_swap.per_category) == set(bench.categories())
    print(f"\ngeneration of {len(items)} test items: swap server {via_swap.timings['generation_s']:.2f} s, "
          f"fresh server {via_checkpoint.timings['generation_s']:.2f} s; per category "
          + json.dumps({c: round(s.accuracy, 3) for c, s in via_swap.per_category.items()}))


def test_wrong_soup_is_refused(swap, pool_dirs):
    _, client, _ = swap
    n = len(pool_dirs)
    w = soup_weights(n)
    client.apply(w)
    off = [w[0] + 0.05, *w[1:-1], w[-1] - 0.05]
    with pytest.raises(ServerError, match="fingerprint mismatch"):
        client.verify(off)  # the live model is not the soup `off`
    with pytest.raises(ServerError, match="expected .* finite weights"):
        client.rpc("soup_apply", json.dumps([1.0]))  # the worker reports, the engine survives
    assert client.apply(w).weights_sha256


def test_swap_is_much_faster_than_restart(swap, fresh, pool_dirs):
    """Swap wall time over HTTP (apply + verify + prefix-cache reset) vs starting a fresh engine on
    the written soup until /health answers (what a restart per trial would cost at least)."""
    _, client, _ = swap
    n = len(pool_dirs)
    walls, applies = [], []
    for k in range(6):
        info = client.apply(soup_weights(n) if k % 2 else one_hot(n, k % n))
        walls.append(info.wall_s)
        applies.append(info.apply_s)
    restart = fresh[0].startup_s
    print(f"\nswap wall {statistics.median(walls) * 1e3:.1f} ms (worker mix+reload "
          f"{statistics.median(applies) * 1e3:.1f} ms) vs fresh engine start until /health {restart:.1f} s")
    assert statistics.median(walls) * 20 < restart
