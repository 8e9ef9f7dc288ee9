"""HTTP client of one soup server: score plain checkpoints, load a pool, apply a verified soup, generate.

The driver's sequence (see the README's evaluation-server section):
1. `load_plain(path)` for every candidate: one checkpoint through vLLM's own weight loading, no
   residency; score it.
2. `load_pool(selected, storage=None)`: only the experts the analysis picked become resident, as
   per-rank shards in the model's loaded layout (`storage` overrides `server.expert_storage`).
3. `apply(weights)` per trial: sum_i w_i * shard_i written into the live parameters; score it.

Why verification on every swap: a trial scored on the wrong weights silently corrupts the whole
search. Each rank reports the digest of the (pool, weights) it applied, the number of tensors it
wrote, and a fingerprint: a checksum of a few live tensors next to the same checksum recomputed
from its resident experts under the requested weights in the same arithmetic, so bf16 rounding
cancels and the two must be identical. The prefix cache is then reset, without which cached KV
blocks computed by the previous soup are reused (observed: 0/64 outputs correct).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from soce_bo.errors import ServerError
from soce_bo.serve.worker_ext import STORAGES, canonical_weights_digest
from soce_bo.soup.weights import check_weights

log = logging.getLogger(__name__)


class Request(Protocol):
    """What generate needs (soce_bo.evaluate.benchmark.GenRequest has this shape)."""

    prompt: str
    max_tokens: int
    stop: tuple[str, ...]


@dataclass(frozen=True)
class PoolInfo:
    """What the workers made resident. Byte counts are per rank (rank order)."""

    paths: tuple[str, ...]
    storage: str  # device | host | mmap, as resolved by the workers (auto decided there)
    n_tensors: int
    dtype: str
    fingerprint_names: tuple[str, ...]
    fingerprint_distinct: bool  # False: the fingerprint tensors cannot tell these experts apart
    shard_bytes_per_expert: tuple[int, ...]  # one expert's shard in the loaded layout, per rank
    resident_bytes: tuple[int, ...]  # all experts' shards held, per rank (0 for mmap)
    measured_bytes: tuple[dict[str, int], ...]  # per rank: RSS-anon / CUDA-allocated growth while loading
    mix_path: str  # fused | eager | reload_weights
    load_s: float


@dataclass(frozen=True)
class SwapInfo:
    """One verified swap. Times in seconds: worker mix (slowest rank), prefix-cache reset, HTTP wall total."""

    weights: tuple[float, ...]
    weights_sha256: str
    checksum: tuple[float, ...]  # rank 0's live fingerprint
    expected_checksum: tuple[float, ...]  # ... and the same recomputed from its resident experts
    apply_s: float
    reset_s: float
    wall_s: float


@dataclass(frozen=True)
class PlainInfo:
    """One checkpoint loaded through vLLM's own weight loading, verified."""

    path: str
    n_tensors: int
    checksum: tuple[float, ...]
    load_s: float
    reset_s: float
    wall_s: float


class SoupClient:
    """Client of one server (a `GenerationBackend`). `server`, when given, is checked on failures."""

    def __init__(self, url: str, *, model_name: str = "soup", server: Any = None,
                 timeout_s: float = 600.0, max_in_flight: int = 64, prompts_per_request: int = 16,
                 seed: int = 0, storage: str = "auto", host_bucket_bytes: int = 64 << 20,
                 ranks_per_host: int = 1, cpu_pack_linears: bool = True) -> None:
        self.url = url.rstrip("/")
        self.model_name = model_name
        self.server = server
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self.prompts_per_request = max(1, int(prompts_per_request))
        self.seed = seed
        if storage not in STORAGES:
            raise ServerError(f"expert storage must be one of {STORAGES}, got {storage!r}")
        self.storage = storage
        self.host_bucket_bytes = int(host_bucket_bytes)
        self.ranks_per_host = max(1, int(ranks_per_host))
        self.cpu_pack_linears = bool(cpu_pack_linears)
        self.pool: PoolInfo | None = None
        self.plain: str | None = None  # the checkpoint last loaded with load_plain
        self.weights: tuple[float, ...] | None = None
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=10.0), trust_env=False)

    @classmethod
    def from_config(cls, url: str, cfg: Any, server: Any = None) -> SoupClient:
        """A client with the request settings of a `ServerConfig`."""
        return cls(url, model_name=cfg.served_model_name, server=server, timeout_s=cfg.request_timeout_s,
                   max_in_flight=cfg.max_in_flight, prompts_per_request=cfg.prompts_per_request,
                   seed=cfg.seed, storage=cfg.expert_storage, host_bucket_bytes=cfg.host_bucket_mb << 20,
                   ranks_per_host=cfg.tensor_parallel_size, cpu_pack_linears=cfg.cpu_pack_linears)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SoupClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------

    def _fail(self, what: str, err: Exception | str, transport: bool = False, status: int = 0) -> ServerError:
        """The error for a failed request: a dead server is named as such, with its log tail."""
        if self.server is not None:
            try:
                if transport:  # a killed server's sockets close just before its exit shows
                    self.server.wait_exit(timeout=2.0)
                elif status >= 500 and hasattr(self.server, "wait_engine_failure"):
                    # vLLM answers 500 EngineDeadError as its engine dies: let the watchdog name it
                    self.server.wait_engine_failure(timeout=2.0)
                self.server.check_alive()
            except ServerError as dead:
                return ServerError(f"{what} failed: {dead}")
        return ServerError(f"{what} failed on {self.url}: {err}")

    def _post(self, path: str, body: dict | None = None, timeout: float | None = None) -> Any:
        try:
            resp = self._http.post(self.url + path, json=body,
                                   timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as err:
            raise self._fail(f"POST {path}", f"{type(err).__name__}: {err}", transport=True) from err
        if resp.status_code == 404 and path in ("/collective_rpc", "/reset_prefix_cache"):
            raise ServerError(f"{self.url} has no {path}: start vLLM with VLLM_SERVER_DEV_MODE=1")
        if resp.status_code != 200:
            raise self._fail(f"POST {path}", f"HTTP {resp.status_code}: {resp.text[:500]}", status=resp.status_code)
        return resp.json() if resp.content else None

    def health(self) -> bool:
        """True when /health answers 200."""
        try:
            return self._http.get(self.url + "/health", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def rpc(self, method: str, arg: str, timeout: float | None = None) -> list[dict]:
        """Call a worker-extension method on every rank; returns one dict per rank."""
        body = {"method": method, "args": [arg]}
        results = (self._post("/collective_rpc", body, timeout=timeout) or {}).get("results")
        if not isinstance(results, list) or not results:
            raise ServerError(f"{method} on {self.url} returned no results ({results!r})")
        for res in results:
            if not isinstance(res, dict):
                raise ServerError(f"{method} on {self.url} returned {res!r}; is the worker extension loaded?")
            if "error" in res:
                raise ServerError(f"{method} on {self.url} (rank {res.get('rank')}): {res['error']}")
        return results

    # -- pool and swap -------------------------------------------------------------------

    def load_plain(self, path: str | Path, reset: bool = True) -> PlainInfo:
        """Swap ONE checkpoint into the live engine through vLLM's own weight loading, verified,
        prefix cache reset. Nothing becomes resident; a pool loaded before stays loaded (and a
        later `apply` overwrites this checkpoint), but `weights` is cleared."""
        resolved = str(Path(path).expanduser().resolve())
        t0 = time.perf_counter()
        results = self.rpc("soup_load_plain", json.dumps({"path": resolved}))
        digest = hashlib.sha256(resolved.encode()).hexdigest()
        for res in results:
            rank = res.get("rank")
            if res.get("path_sha256") != digest:
                raise ServerError(f"rank {rank} of {self.url} loaded {res.get('path')!r}, not {resolved}")
            if int(res.get("n_tensors", -1)) != int(res.get("expected_tensors", -2)):
                raise ServerError(f"rank {rank} of {self.url} loaded {res.get('n_tensors')} of "
                                  f"{res.get('expected_tensors')} tensors of {resolved}")
            self._check_fingerprint(res, f"the checkpoint {resolved}")
        self.weights = None
        self.plain = resolved
        reset_s = self.reset_prefix_cache() if reset else 0.0
        return PlainInfo(path=resolved, n_tensors=int(results[0]["n_tensors"]),
                         checksum=tuple(results[0]["checksum"]), load_s=max(float(r["seconds"]) for r in results),
                         reset_s=reset_s, wall_s=time.perf_counter() - t0)

    def load_pool(self, paths: Sequence[str | Path], storage: str | None = None) -> PoolInfo:
        """Make exactly these experts resident on every rank (the previous pool is dropped first).

        storage: device | host | mmap | auto; None = the client's (server.expert_storage).
        device/host keep each expert as this rank's shard in the model's loaded layout (1/TP of
        it) in GPU / pinned host memory; mmap keeps the files mapped and mixes full tensors
        through vLLM's reload (no residency: for pools too large to hold, e.g. every candidate
        for the uniform-of-all baseline); auto picks from the memory free on each rank.
        """
        storage = storage or self.storage
        if storage not in STORAGES:
            raise ServerError(f"expert storage must be one of {STORAGES}, got {storage!r}")
        resolved = [str(Path(p).expanduser().resolve()) for p in paths]
        spec = json.dumps({"paths": resolved, "storage": storage, "bucket_bytes": self.host_bucket_bytes,
                           "host_ranks": self.ranks_per_host, "cpu_pack": self.cpu_pack_linears})
        self.pool = None
        self.weights = None
        results = self.rpc("soup_load", spec)
        first = results[0]
        for res in results[1:]:
            for key in ("storage", "n_tensors", "pool"):
                if res[key] != first[key]:
                    raise ServerError(f"ranks of {self.url} disagree on the pool's {key}: "
                                      f"{res[key]!r} (rank {res['rank']}) != {first[key]!r}")
        if not all(r["fingerprint_distinct"] for r in results):
            log.warning("the fingerprint tensors of %s are identical in some experts of %s: a swap "
                        "between those is verified by digest only", self.url, resolved)
        self.pool = PoolInfo(
            paths=tuple(first["pool"]),
            storage=str(first["storage"]),
            n_tensors=int(first["n_tensors"]),
            dtype=str(first["dtype"]),
            fingerprint_names=tuple(first["fingerprint_names"]),
            fingerprint_distinct=all(r["fingerprint_distinct"] for r in results),
            shard_bytes_per_expert=tuple(int(r["shard_bytes_per_expert"]) for r in results),
            resident_bytes=tuple(int(r["resident_bytes"]) for r in results),
            measured_bytes=tuple(dict(r["measured"]) for r in results),
            mix_path=str(first["mix_path"]),
            load_s=max(float(r["seconds"]) for r in results),
        )
        return self.pool

    def release_pool(self) -> None:
        """Drop the resident experts on every rank (their memory is given back)."""
        self.rpc("soup_release", "")
        self.pool = None
        self.weights = None

    def memory(self) -> list[dict[str, int]]:
        """Per rank: measured anonymous RSS and CUDA-allocated bytes of the worker process."""
        return self.rpc("soup_memory", "")

    def apply(self, weights: Sequence[float] | Mapping[str, float], reset: bool = True) -> SwapInfo:
        """Swap the soup sum_i w_i * expert_i in, verify it, reset the prefix cache.

        `weights`: one per pool member (pool order) or keyed by the paths given to `load_pool`.
        `reset=False` exists only to demonstrate why the reset matters; never use it for scoring.
        """
        if self.pool is None:
            raise ServerError("apply() before load_pool(): the server has no pool loaded")
        ws = check_weights(_keyed_by_resolved(weights), list(self.pool.paths))
        t0 = time.perf_counter()
        results = self.rpc("soup_apply", json.dumps(list(ws)))
        t1 = time.perf_counter()
        expected_digest = canonical_weights_digest(self.pool.paths, ws)
        for res in results:
            if res.get("weights_sha256") != expected_digest:
                raise ServerError(
                    f"rank {res.get('rank')} of {self.url} applied a different soup than requested "
                    f"(digest {res.get('weights_sha256')} != {expected_digest})"
                )
            if int(res.get("n_tensors", -1)) != self.pool.n_tensors:
                raise ServerError(
                    f"rank {res.get('rank')} of {self.url} wrote {res.get('n_tensors')} tensors, "
                    f"the pool has {self.pool.n_tensors}"
                )
            self._check_fingerprint(res, f"the soup {list(ws)}")
        self.weights = ws
        self.plain = None
        reset_s = self.reset_prefix_cache() if reset else 0.0
        return SwapInfo(
            weights=ws, weights_sha256=expected_digest, checksum=tuple(results[0]["checksum"]),
            expected_checksum=tuple(results[0]["expected_checksum"]),
            apply_s=max(float(r["seconds"]) for r in results),
            reset_s=reset_s, wall_s=time.perf_counter() - t0 if reset else t1 - t0,
        )

    def verify(self, weights: Sequence[float] | Mapping[str, float]) -> list[dict]:
        """Check, without swapping, that the live model is the pool's soup under `weights`
        (ServerError if any rank's fingerprint differs); returns the per-rank reports."""
        if self.pool is None:
            raise ServerError("verify() before load_pool(): the server has no pool loaded")
        ws = check_weights(_keyed_by_resolved(weights), list(self.pool.paths))
        results = self.rpc("soup_verify", json.dumps(list(ws)))
        for res in results:
            self._check_fingerprint(res, f"the soup {list(ws)}")
        return results

    def _check_fingerprint(self, res: Mapping[str, Any], what: str) -> None:
        live, expected = res.get("checksum"), res.get("expected_checksum")
        if not res.get("fingerprint_match") or live != expected:
            raise ServerError(
                f"fingerprint mismatch on rank {res.get('rank')} of {self.url}: live {live!r} != "
                f"{expected!r} recomputed for {what}; the engine is not running what was requested"
            )

    def reset_prefix_cache(self, timeout_s: float = 60.0) -> float:
        """POST /reset_prefix_cache until it succeeds (it fails while requests hold blocks)."""
        t0 = time.perf_counter()
        while True:
            res = self._post("/reset_prefix_cache") or {}
            if res.get("success", True):
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout_s:
                raise ServerError(f"{self.url} refused to reset its prefix cache for {timeout_s:.0f} s")
            time.sleep(0.05)

    # -- generation ----------------------------------------------------------------------

    def generate(self, requests: Sequence[Request],
                 progress: Callable[[int], None] | None = None) -> list[str]:
        """Greedy completions, sent concurrently (at most `max_in_flight` HTTP requests of up to
        `prompts_per_request` prompts each) so the engine batches them.

        Semantics match the HF reference backend: stop strings and EOS are not part of the text.
        """
        if not requests:
            return []
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["out"] = asyncio.run(self._generate_all(requests, progress))
            except BaseException as err:  # re-raised in the caller's thread
                result["err"] = err

        # A private thread keeps this usable from code that already runs an event loop.
        thread = threading.Thread(target=run, name="soup-generate", daemon=True)
        thread.start()
        thread.join()
        if "err" in result:
            raise result["err"]
        return result["out"]

    def completion_body(self, prompts: list[str], max_tokens: int, stop: Sequence[str]) -> dict[str, Any]:
        """One /v1/completions request for prompts that share their decoding limits (greedy)."""
        return {
            "model": self.model_name,
            "prompt": prompts,
            "max_tokens": int(max_tokens),
            "temperature": 0.0,
            "top_p": 1.0,
            "seed": self.seed,
            "n": 1,
            "stop": list(stop),
            "include_stop_str_in_output": False,
            "skip_special_tokens": True,
            "ignore_eos": False,
        }

    def chunks(self, requests: Sequence[Request]) -> list[list[int]]:
        """Request indices grouped by (max_tokens, stop), cut into `prompts_per_request` pieces.

        Why: each HTTP request costs the API server ~25 ms of parsing and detokenising on a busy
        CPU; 256 single-prompt requests took ~7 s where 4 list requests took 0.7 s, same outputs.
        """
        groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault((int(req.max_tokens), tuple(req.stop)), []).append(i)
        k = self.prompts_per_request
        return [idx[j:j + k] for idx in groups.values() for j in range(0, len(idx), k)]

    async def _generate_all(self, requests: Sequence[Request],
                            progress: Callable[[int], None] | None) -> list[str]:
        limit = asyncio.Semaphore(self.max_in_flight)
        limits = httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=self.max_in_flight)
        timeout = httpx.Timeout(self.timeout_s, connect=10.0)
        texts: list[str | None] = [None] * len(requests)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as http:

            async def send(chunk: list[int]) -> None:
                first = requests[chunk[0]]
                what = f"completion request for items {chunk[0]}..{chunk[-1]} ({len(chunk)} prompts)"
                body = self.completion_body([requests[i].prompt for i in chunk], first.max_tokens, first.stop)
                async with limit:
                    try:
                        resp = await http.post(self.url + "/v1/completions", json=body)
                    except httpx.HTTPError as err:
                        raise self._fail(what, f"{type(err).__name__}: {err}", transport=True) from err
                if resp.status_code != 200:
                    raise self._fail(what, f"HTTP {resp.status_code}: {resp.text[:300]}", status=resp.status_code)
                choices = resp.json()["choices"]
                if len(choices) != len(chunk):
                    raise ServerError(f"{what}: got {len(choices)} completions for {len(chunk)} prompts")
                for choice in choices:
                    texts[chunk[int(choice["index"])]] = choice["text"]
                if progress is not None:
                    progress(len(chunk))

            tasks = [asyncio.ensure_future(send(chunk)) for chunk in self.chunks(requests)]
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        return [t if t is not None else "" for t in texts]


def _keyed_by_resolved(weights: Sequence[float] | Mapping[str, float]) -> Sequence[float] | Mapping[str, float]:
    """Mapping keys are model paths as the caller wrote them; compare them resolved."""
    if isinstance(weights, Mapping):
        return {str(Path(k).expanduser().resolve()): v for k, v in weights.items()}
    return weights
