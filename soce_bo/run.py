"""`python -m soce_bo.run +experiment=demo`: the whole SoCE method (see `soce_bo.recipe.soce`).

This module is only the command line: Hydra config in, `SoceRecipe(cfg).run()`, then the report
from its results.json, and the best dev objective out (what Hydra sweepers optimise).
Re-running with the same `run_dir` resumes.
"""

from __future__ import annotations

import logging
import warnings

from omegaconf import DictConfig

from soce_bo.cli import hydra_cli
from soce_bo.recipe.soce import SoceRecipe, check_config, console
from soce_bo.report.report import build_report


LIBRARY_LOGGERS = ("ax", "botorch", "linear_operator", "gpytorch")


def _not_library_chatter(record: logging.LogRecord) -> bool:
    """Ax/BoTorch warnings (e.g. "2 trials requested but only 1 could be generated") are for the log."""
    return record.levelno >= logging.ERROR or record.name.split(".")[0] not in LIBRARY_LOGGERS


def quiet_console() -> None:
    """The terminal shows progress, results and our warnings; INFO lines (server command lines, start-up
    times) and the optimisation libraries' warnings go only to the run's log file (Hydra's `<job>.log`
    beside `.hydra/`)."""
    import ax.utils.common.logger  # noqa: F401 - creates Ax's root logger and its own stderr handler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)
            handler.addFilter(_not_library_chatter)
    ax_root = logging.getLogger("ax")  # Ax prints through its own handler and does not propagate
    for handler in list(ax_root.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            ax_root.removeHandler(handler)
    ax_root.propagate = True  # -> the root logger: the log file keeps it, the filter keeps it off the console


def precheck(cfg: DictConfig) -> None:
    """Before a multirun submits anything: the run's own checks, and the cluster's."""
    check_config(cfg)
    launcher = str(cfg.get("hydra", {}).get("launcher", {}).get("_target_", ""))
    if "SlurmLauncher" in launcher or cfg.servers.get("slurm"):
        from soce_bo.serve.slurm import check_slurm_launch

        check_slurm_launch(cfg)


@hydra_cli("run", precheck=precheck)
def main(cfg: DictConfig) -> float | None:
    warnings.filterwarnings("ignore", message=".*Pandas4Warning.*")
    warnings.filterwarnings("ignore", category=FutureWarning)
    for noisy in ("httpx", "ax", "botorch"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet_console()
    recipe = SoceRecipe(cfg)
    results = recipe.run()
    if results is None:
        return None
    console.print(f"[bold green]report[/bold green]: {build_report(recipe.run_dir)}")
    if results.final_soup is None:
        return None
    return results.best[results.final_soup["strategy"]]["objective"]


if __name__ == "__main__":
    # Call the importable copy (soce_bo.run), not this __main__ one: submitit launchers pickle the
    # task function, and __main__ functions are pickled by value with their globals (rich Console).
    from soce_bo.run import main as _main

    _main()
