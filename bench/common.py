"""Shared plumbing of the bench scripts: CLI flags, machine facts, result files, tables, timers.

Every script writes one JSON file with a top-level `summary` (its headline figures), the raw
measurements, and `meta` (machine, load average during the run, command, quick or full), so the
numbers in BENCHMARKS.md can always be traced back to a file and a command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import statistics
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from soce_bo.atomic import atomic_write

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
QUICK_RESULTS = RESULTS / "quick"
# BO's acquisition effort in the benches = the run's default, conf/search/bo.yaml `acqf: swift`
# (soce_bo.search.bo.ACQF_PRESETS["swift"]; tests/search/test_bo_acqf.py keeps them equal). Spelled out
# here so bench.common stays free of torch/Ax imports and result files record the numbers.
CHEAP_ACQF = {"raw_samples": 96, "num_restarts": 3, "n_burnin": 150, "n_thinning": 2, "maxiter": 60}


ZOO_SOUP_EXPERTS = ("tool_expert", "math_expert", "translate_expert")


def zoo_pool() -> list[Path]:
    """Three of the zoo's experts: the pool the swap and throughput questions soup."""
    zoo = zoo_dir()
    return [zoo / "experts" / name for name in ZOO_SOUP_EXPERTS]


def zoo_dir() -> Path:
    """The tiny zoo at $SOCE_ZOO_DIR or artifacts/zoo (as `make zoo` and the tests), built if missing.

    An existing complete zoo is used as it is, even when built from an older zoo config: a rebuild
    (~8 min of training on both cores) in the middle of a benchmark would distort it, and
    `make bench` runs `make zoo` first anyway.
    """
    from soce_bo.zoo.build import ensure_zoo
    from soce_bo.zoo.manifest import MANIFEST

    out = Path(os.environ.get("SOCE_ZOO_DIR", REPO / "artifacts" / "zoo")).resolve()
    return out if (out / MANIFEST).is_file() else ensure_zoo(out)


def single_thread_torch() -> None:
    """One intra-op thread: stable timings on a shared 2-core box (and what the tools use)."""
    import torch

    torch.set_num_threads(1)


class OneLineErrors(argparse.ArgumentParser):
    """argparse under the project's error contract: one `error:` line and exit 2, no usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(description: str, argv: Sequence[str] | None = None,
               extra: Iterable[tuple[str, dict]] = ()) -> argparse.Namespace:
    parser = OneLineErrors(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats: a smoke run of seconds")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default bench/results, or bench/results/quick with --quick)")
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    args = parser.parse_args(argv)
    # SIGTERM -> SystemExit, so `finally` blocks remove temp checkpoints and stop servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.out is None:
        args.out = QUICK_RESULTS if args.quick else RESULTS
    return args


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    import psutil

    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "available_gib_at_start": round(psutil.virtual_memory().available / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
    }


class LoadSampler:
    """Samples the 1-minute load average in the background: how busy the shared box was."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.samples: list[float] = []
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self._every)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        s = self.samples or [os.getloadavg()[0]]
        return {"min": min(s), "median": statistics.median(s), "max": max(s), "n": len(s)}


def write_result(name: str, payload: dict[str, Any], out_dir: Path, quick: bool, started: float,
                 load: LoadSampler | None = None, indent: int | None = 1, module: str | None = None) -> Path:
    """Write <out_dir>/<name>.json atomically with `meta` added, log it; returns the path.

    `module`: the bench script that ran, when it is not `bench.<name>` (one script, several files)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "summary": payload.pop("summary"),
        **payload,
        "meta": {
            "name": name,
            "quick": quick,
            "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, "-m", module or f"bench.{name}",
                                                         *sys.argv[1:]]),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_s": round(time.time() - started, 1),
            "machine": machine_info(),
            "loadavg_1min_during_run": load.summary() if load else None,
            "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        },
    }
    path = atomic_write(out_dir / f"{name}.json", json.dumps(payload, indent=indent, default=_jsonable) + "\n")
    console_log(f"wrote {path}")
    return path


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*(fmt(v) for v in row))
    Console(width=160).print(table)


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return f"{value:.2e}"
    return str(value)


def median(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and v == v]
    return statistics.median(vals) if vals else float("nan")


def console_log(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).log(message)
