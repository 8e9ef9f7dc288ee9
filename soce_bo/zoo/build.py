"""Build the zoo (data -> base -> candidates -> scores -> zoo.json), or reuse a current one.

The base is copied from a shipped pretrained base when one matches (soce_bo.zoo.pretrained), as a
real pool starts from a published base; otherwise it is trained here.

Stages run in a pool of single-threaded worker processes (`cfg.workers`, default 2): the base
first, then the instruction-tuned parent if the config has one, then the candidates two at a time,
with scoring jobs filling idle workers; last, the pool's geometry (drift from the parent, midpoint
loss barriers) when scores are asked for. The zoo is
built in a temporary folder beside `out` and renamed into place only when complete, under a
file lock, so an interrupted or concurrent build never leaves a folder that looks valid.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import queue
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from soce_bo.atomic import atomic_dir, atomic_write
from soce_bo.errors import ConfigError
from soce_bo.zoo.config import ZooConfig
from soce_bo.zoo.data import PROBE_ITEMS, PROBE_SPLIT, SPLITS, make_splits, write_jsonl
from soce_bo.zoo.manifest import MANIFEST, is_current
from soce_bo.zoo.tasks import CATEGORIES

_QUEUE: Any = None  # per worker: where training progress goes


def _init_worker(progress_queue) -> None:
    global _QUEUE
    _QUEUE = progress_queue
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.disable_progress_bar()  # our rich bars say it; tqdm lines would garble them
    transformers.utils.logging.set_verbosity_error()


def _train_in_worker(job):
    from soce_bo.zoo.train import run_training

    return run_training(job, report=lambda *update: _QUEUE.put(update))


class _InlineExecutor:
    """`workers=1`: run jobs in this process, in submission order (no spawn cost, same results)."""

    def __init__(self) -> None:
        self._jobs: list[tuple[Future, Any, tuple]] = []

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        self._jobs.append((fut, fn, args))
        return fut

    def run_next(self) -> None:
        if self._jobs:
            fut, fn, args = self._jobs.pop(0)
            try:
                fut.set_result(fn(*args))
            except BaseException as err:  # noqa: BLE001 - handed to the caller via the future
                fut.set_exception(err)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._jobs.clear()


def _executor(workers: int, progress_queue):
    if workers == 1:
        _init_worker(progress_queue)
        return _InlineExecutor()
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(progress_queue,))


@contextmanager
def _locked(out: Path):
    """Exclusive lock beside `out`: a second builder waits, then finds the zoo current."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_zoo(out: Path, cfg: ZooConfig | None = None, force: bool = False,
               console: Console | None = None) -> Path:
    """The zoo folder `out`, built only if missing, incomplete or stale (or `force`).

    Stale means built from an older version of the same zoo (same seed and candidates: the code or a
    recipe changed). A folder holding another zoo (another kind or seed) is an error unless `force`:
    rebuilding over it would silently destroy a zoo that took minutes to build."""
    cfg = cfg or ZooConfig()
    out = Path(out).expanduser().resolve()
    if not force and is_current(out, cfg.config_hash()):
        return out
    with _locked(out):  # a build under way (forced, or of this very zoo) finishes before we look again
        if force or not is_current(out, cfg.config_hash()):
            other = None if force else another_zoo(out, cfg)
            if other is not None:
                raise ConfigError(f"{out} holds another zoo ({other}); this one has seed {cfg.seed} and candidates "
                                  f"{', '.join(c.name for c in cfg.candidates)}: choose that zoo's kind and seed, "
                                  "another folder, or force=true to replace it")
            build_zoo(out, cfg, console)
    return out


def another_zoo(out: Path, cfg: ZooConfig) -> str | None:
    """What `out` holds if it is a zoo of other candidates or another seed than `cfg`'s, else None."""
    try:
        raw = json.loads((out / MANIFEST).read_text())
        seed, names = raw["seed"], list(raw["candidates"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None  # nothing there, or a broken leftover: building over it loses nothing
    if seed == cfg.seed and names == [c.name for c in cfg.candidates]:
        return None
    return f"seed {seed}, candidates {', '.join(names)}"


def build_zoo(out: Path, cfg: ZooConfig, console: Console | None = None) -> dict[str, Any]:
    """Build the whole zoo into `out` (replacing it atomically) and return the manifest."""
    console = console or Console(stderr=True, soft_wrap=True)
    out = Path(out).expanduser().resolve()
    with atomic_dir(out, overwrite=True) as tmp:
        manifest = _build_into(tmp, cfg, console)
        atomic_write(tmp / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def _build_into(root: Path, cfg: ZooConfig, console: Console) -> dict[str, Any]:
    from soce_bo.zoo.geometry import pool_geometry
    from soce_bo.zoo.score import score_checkpoint, score_soup
    from soce_bo.zoo.pretrained import find_base, install_base
    from soce_bo.zoo.train import TrainJob, TrainResult

    shipped = find_base(cfg) if cfg.pretrained else None
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    data_dir = root / "data"
    data_dir.mkdir()
    sizes = {"dev": cfg.n_dev, "test": cfg.n_test}
    probed = [r for r in (cfg.base, cfg.parent, *(c.recipe for c in cfg.candidates))
              if r is not None and r.probe_floor is not None]
    if probed:
        sizes[PROBE_SPLIT] = PROBE_ITEMS
    for split, rows in make_splits(cfg.seed, sizes).items():
        write_jsonl(data_dir / f"{split}.jsonl", rows)
    timings["data_s"] = time.perf_counter() - t_start
    console.log(f"[bold]zoo[/] data: {'+'.join(map(str, sizes.values()))} items per category "
                f"({', '.join(sizes)}) -> {data_dir}")

    base_job = TrainJob("base", str(root / "base"), str(data_dir), cfg.base, cfg.model, cfg.seed)
    parent_job = (None if cfg.parent is None else
                  TrainJob("parent", str(root / "parent"), str(data_dir), cfg.parent, cfg.model, cfg.seed,
                           init_dir=base_job.out_dir))
    start_dir = base_job.out_dir if parent_job is None else parent_job.out_dir
    cand_jobs = [TrainJob(c.name, str(root / "experts" / c.name), str(data_dir), c.recipe, cfg.model, cfg.seed,
                          init_dir=start_dir) for c in cfg.candidates]
    stem_jobs = [base_job] if parent_job is None else [base_job, parent_job]
    workers = max(1, min(cfg.workers, os.cpu_count() or 1))
    progress_queue = queue.Queue() if workers == 1 else multiprocessing.get_context("spawn").Queue()
    scores: dict[str, Any] = {s: {} for s in SPLITS}
    overall: dict[str, Any] = {s: {} for s in SPLITS}
    soups: dict[str, Any] = {}
    results: dict[str, Any] = {}
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn())
    with _executor(workers, progress_queue) as pool, Progress(*columns, console=console) as bar:
        cfg_recipes = {j.name: j.recipe for j in [*stem_jobs, *cand_jobs]}
        bars = {j.name: bar.add_task(f"train {j.name}", total=j.recipe.steps, info="")
                for j in [*stem_jobs, *cand_jobs]}
        score_bar = bar.add_task("score", total=(len(stem_jobs) + 1 + len(cand_jobs) if cfg.score else 0), info="")
        pending: dict[Future, tuple[str, str]] = {}

        def submit(kind: str, name: str, fn, *args) -> None:
            pending[pool.submit(fn, *args)] = (kind, name)

        def drain() -> None:
            while True:
                try:
                    name, step, loss, *probe = progress_queue.get_nowait()
                except queue.Empty:
                    return
                if probe:
                    floor = cfg_recipes[name].probe_floor
                    verdict = "passed" if min(probe[0].values()) >= floor else "below the floor"
                    console.log(f"[bold]zoo[/] {name} step {step}: probe "
                                + " ".join(f"{c} {v:.2f}" for c, v in probe[0].items())
                                + f" ({verdict} {floor})")
                if step > bar.tasks[bars[name]].total:  # trained past its steps until the probe passed
                    bar.update(bars[name], total=step)
                bar.update(bars[name], completed=step, info=f"loss {loss:.3f}")

        def run_until_empty(on_done) -> None:
            try:
                while pending:
                    if isinstance(pool, _InlineExecutor):
                        pool.run_next()
                    done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
                    drain()
                    for fut in done:
                        kind, name = pending.pop(fut)
                        on_done(kind, name, fut.result())  # re-raises a worker's exception
                drain()
            except BaseException:
                for fut in pending:  # queued jobs never start; running ones finish before tmp is removed
                    fut.cancel()
                raise

        splits = list(SPLITS)
        for job in stem_jobs:  # the base, then the parent: each starts from the one before
            t0 = time.perf_counter()
            if job is base_job and shipped is not None:
                install_base(shipped, Path(job.out_dir))
                record = shipped.info["training"]
                results["base"] = TrainResult("base", 0.0, record["steps"], record["final_loss"],
                                              tuple((p["step"], p["scores"]) for p in record.get("probes", [])))
                bar.update(bars["base"], total=record["steps"], completed=record["steps"], info="pretrained")
                console.log(f"[bold]zoo[/] base: the shipped pretrained base {shipped.path.name} "
                            f"({record['steps']} steps, made by `{shipped.info['made_by']}`); pretrained=false trains it")
            else:
                submit("train", job.name, _train_in_worker, job)
                run_until_empty(lambda kind, name, res: results.__setitem__(name, res))
            timings[f"{job.name}_s"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        for job in cand_jobs:
            submit("train", job.name, _train_in_worker, job)
        if cfg.score:
            for job in stem_jobs:
                submit("score", job.name, score_checkpoint, job.out_dir, str(data_dir), splits)
        expert_dirs = [j.out_dir for j, c in zip(cand_jobs, cfg.candidates) if c.category is not None]

        def on_done(kind: str, name: str, res) -> None:
            if kind == "train":
                results[name] = res
                timings[f"train_{name}_s"] = res.seconds
                if cfg.score:
                    submit("score", name, score_checkpoint, str(root / "experts" / name), str(data_dir), splits)
                    if all(Path(d).name in results for d in expert_dirs) and "uniform_experts" not in soups:
                        soups["uniform_experts"] = {}
                        w = [1.0 / len(expert_dirs)] * len(expert_dirs)
                        submit("soup", "uniform_experts", score_soup, expert_dirs, w, str(data_dir), splits)
                return
            per_split, total = res
            if kind == "soup":
                names = [Path(d).name for d in expert_dirs]
                soups[name] = {"weights": dict(zip(names, [1.0 / len(names)] * len(names))),
                               "scores": per_split, "overall": total}
            else:
                for split in splits:
                    scores[split][name] = per_split[split]
                    overall[split][name] = total[split]
            bar.update(score_bar, advance=1, info=name)

        run_until_empty(on_done)
        timings["candidates_and_scoring_s"] = time.perf_counter() - t1
    geometry = None
    if cfg.score:
        t2 = time.perf_counter()
        geometry = pool_geometry(start_dir, {j.name: j.out_dir for j in cand_jobs}, str(data_dir))
        timings["geometry_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t_start
    training = {name: {"steps": r.steps, "final_loss": round(r.final_loss, 6),
                       **({"probes": [{"step": st, "scores": sc} for st, sc in r.probes]} if r.probes else {})}
                for name, r in results.items()}
    if shipped is not None:
        training["base"]["pretrained"] = shipped.path.name  # soce_bo/zoo/bases/<this>: not trained in this build
    return _manifest(root, cfg, scores, overall, soups, timings, geometry, training)


def _manifest(root: Path, cfg: ZooConfig, scores, overall, soups, timings, geometry, training) -> dict[str, Any]:
    import torch
    import transformers
    from safetensors.torch import load_file

    order = ["base", *(["parent"] if cfg.parent is not None else []), *(c.name for c in cfg.candidates)]
    n_params = sum(t.numel() for t in load_file(str(root / "base" / "model.safetensors")).values())
    return {
        "format_version": 1,
        "config_hash": cfg.config_hash(),
        "seed": cfg.seed,
        "categories": list(CATEGORIES),
        "base": {"path": "base"},
        **({"parent": {"path": "parent"}} if cfg.parent is not None else {}),
        "candidates": {c.name: {"path": f"experts/{c.name}", "category": c.category,
                                "kind": "expert" if c.category else "generalist"} for c in cfg.candidates},
        "experts": {c.name: f"experts/{c.name}" for c in cfg.candidates if c.category},
        "data": {s: f"data/{s}.jsonl" for s in SPLITS},  # the probe split, if any, is for training only
        "scores": {s: {m: scores[s][m] for m in order if m in scores[s]} for s in SPLITS},
        "overall": {s: {m: overall[s][m] for m in order if m in overall[s]} for s in SPLITS},
        "reference_soups": soups,
        "geometry": geometry,
        "training": training,  # steps run (a probed recipe may run past its `steps`), final loss, probes
        "model": {"architecture": "LlamaForCausalLM", "parameters": n_params, "dtype": "float32",
                  "checkpoint_bytes": (root / "base" / "model.safetensors").stat().st_size,
                  **asdict(cfg.model)},
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "config": asdict(cfg),
    }

