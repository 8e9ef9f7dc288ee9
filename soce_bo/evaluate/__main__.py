"""`python -m soce_bo.evaluate 'models=[A,B,C]' 'weights=[...]' benchmark=zoo split=test`.

Scores one soup per category: with backend=vllm it starts a server on the first model (or uses
`server.url`), loads the pool, swaps the soup in (verified) and sends every item concurrently;
with backend=hf it builds the same soup in-process with HF transformers. Prints a table and, with
`out=FILE`, writes the result as JSON (atomically).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from soce_bo.atomic import atomic_write
from soce_bo.cli import hydra_cli
from soce_bo.errors import BenchmarkError, ConfigError
from soce_bo.evaluate.benchmark import Benchmark, Item, macro_mean
from soce_bo.evaluate.runner import EvalResult, evaluate_items
from soce_bo.evaluate.subset import round_robin_subset
from soce_bo.soup.weights import check_weights

log = logging.getLogger("soce_bo.evaluate")


def evaluate_vllm(cfg: DictConfig, models: list[str], weights: tuple[float, ...],
                  benchmark: Benchmark, items: list[Item]) -> tuple[EvalResult, dict[str, Any]]:
    """Start (or reach) a server, load the pool, apply the soup, generate and score."""
    from soce_bo.serve.client import SoupClient
    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.server import SoupServer

    server_cfg = ServerConfig.from_mapping(cfg.server)
    extra: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        if server_cfg.url:
            client = stack.enter_context(SoupClient.from_config(server_cfg.url, server_cfg))
            if not client.health():
                raise ConfigError(f"no healthy server at server.url={server_cfg.url}")
        else:
            server = stack.enter_context(SoupServer(models[0], server_cfg))
            client = stack.enter_context(server.client())
            extra["server_log"] = str(server.log_path)
        t1 = time.perf_counter()
        pool = client.load_pool(models)
        swap = client.apply(weights)
        result = evaluate_items(benchmark, client, items, show_progress=bool(cfg.progress),
                                description=f"{benchmark.name}/{cfg.split}")
    result.timings.update({
        "server_start_s": t1 - t0, "load_pool_s": pool.load_s,
        "swap_s": swap.wall_s, "swap_apply_s": swap.apply_s, "swap_reset_s": swap.reset_s,
    })
    extra.update({"weights_sha256": swap.weights_sha256, "checksum": swap.checksum,
                  "engine_dtype": pool.dtype})
    return result, extra


def evaluate_hf(models: list[str], weights: tuple[float, ...], benchmark: Benchmark,
                items: list[Item], progress: bool, split: str) -> tuple[EvalResult, dict[str, Any]]:
    """The in-process HF transformers reference on the same fp32 soup iterator."""
    from soce_bo.evaluate.hf_backend import HFBackend
    from soce_bo.soup.mix import iter_soup
    from soce_bo.soup.validate import validate_pool

    t0 = time.perf_counter()
    backend = HFBackend.from_state(models[0], iter_soup(validate_pool(models), weights))
    t1 = time.perf_counter()
    result = evaluate_items(benchmark, backend, items, show_progress=progress, description=f"{benchmark.name}/{split}")
    result.timings["swap_s"] = t1 - t0
    return result, {}


def print_table(result: EvalResult, title: str, console: Console) -> None:
    table = Table(title=title)
    table.add_column("category")
    table.add_column("accuracy", justify="right")
    table.add_column("± sem", justify="right")
    table.add_column("n", justify="right")
    for cat, score in result.per_category.items():
        table.add_row(cat, f"{score.accuracy:.3f}", f"{score.sem:.3f}", str(score.n))
    n = sum(s.n for s in result.per_category.values())
    table.add_row("[bold]overall[/bold]", f"[bold]{result.overall:.3f}[/bold]", f"{result.overall_sem:.3f}", str(n))
    console.print(table)
    console.print(", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()))


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """The result as indented JSON, written atomically: a reader never sees half a file."""
    atomic_write(path, json.dumps(payload, indent=2) + "\n")


@hydra_cli("evaluate")
def main(cfg: DictConfig) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    from soce_bo.soup.validate import validate_pool

    t_start = time.perf_counter()
    raw_models = OmegaConf.to_container(cfg.models, resolve=True)
    if isinstance(raw_models, str):
        raw_models = [raw_models]
    models = [str(Path(m).expanduser().resolve()) for m in raw_models]
    raw_weights = OmegaConf.to_container(cfg.weights, resolve=True) if cfg.weights is not None else None
    weights = check_weights(raw_weights if raw_weights is not None else [1.0 / len(models)] * len(models), models)
    validate_pool(models, weights)
    if cfg.backend not in ("vllm", "hf"):
        raise ConfigError(f"backend must be 'vllm' or 'hf', got {cfg.backend!r}")
    try:
        benchmark: Benchmark = instantiate(cfg.benchmark)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, BenchmarkError):
            raise cause from None
        raise BenchmarkError(f"cannot build benchmark {cfg.benchmark.get('_target_')}: {cause or err}") from err
    items = round_robin_subset(benchmark.load(str(cfg.split)), cfg.limit)
    if not items:
        raise BenchmarkError(f"split {cfg.split!r} of benchmark {benchmark.name} has no items")
    if cfg.backend == "vllm":
        result, extra = evaluate_vllm(cfg, models, weights, benchmark, items)
    else:
        result, extra = evaluate_hf(models, weights, benchmark, items, bool(cfg.progress), str(cfg.split))
    result.timings["total_s"] = time.perf_counter() - t_start
    payload = {
        "benchmark": benchmark.name, "split": str(cfg.split), "backend": str(cfg.backend),
        "models": models, "weights": list(weights), "n_items": len(items),
        **result.as_dict(), "macro_mean": macro_mean(result.per_category), **extra,
    }
    print_table(result, f"{benchmark.name} / {cfg.split} ({cfg.backend})", Console())
    if cfg.out:
        out = Path(str(cfg.out)).expanduser().resolve()
        write_json_atomic(out, payload)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
