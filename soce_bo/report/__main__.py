"""`python -m soce_bo.report run_dir=DIR`: rebuild report.md/report.html from DIR/results.json."""

from __future__ import annotations

from omegaconf import DictConfig

from soce_bo.cli import hydra_cli
from soce_bo.errors import ConfigError
from soce_bo.report.report import build_report


@hydra_cli("report")
def main(cfg: DictConfig) -> None:
    if not cfg.run_dir:
        raise ConfigError("run_dir is required: python -m soce_bo.report run_dir=DIR")
    print(f"report: {build_report(cfg.run_dir)}")


if __name__ == "__main__":
    main()
