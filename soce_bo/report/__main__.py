"""`python -m soce_bo.report run_dir=DIR`: rebuild report.md/report.html from DIR/results.json."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from soce_bo.errors import ConfigError, exit_on_user_error
from soce_bo.report.report import build_report


@hydra.main(config_path="../../conf", config_name="report", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    if not cfg.run_dir:
        raise ConfigError("run_dir is required: python -m soce_bo.report run_dir=DIR")
    print(f"report: {build_report(cfg.run_dir)}")


if __name__ == "__main__":
    main()
