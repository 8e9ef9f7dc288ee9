"""Run strategies on a synthetic objective into a ledger; test_resume.py kills and reruns it.

Usage: python tests/search/resume_script.py LEDGER STRATEGY[,STRATEGY...] DELAY_SECONDS
Prints "<strategy> resumed_from=<how> evaluated=<n>" per strategy.
"""

from __future__ import annotations

import sys
from pathlib import Path

from soce_bo.search.ledger import Ledger
from soce_bo.search.scheduler import run_search
from soce_bo.search.synthetic import three_category_soup

EXPERTS = ["a", "b", "c"]


def make(name: str):
    if name == "grid":
        from soce_bo.search.grid import GridSearch
        return GridSearch(EXPERTS, seed=0)
    if name == "cmaes":
        from soce_bo.search.cmaes import CMAES
        return CMAES(EXPERTS, budget=24, seed=0, popsize=6)
    if name == "bo":
        import torch

        from soce_bo.search.bo import BayesOpt
        torch.set_num_threads(1)
        light = {"raw_samples": 256, "num_restarts": 8, "n_burnin": 500, "n_thinning": 4}
        return BayesOpt(EXPERTS, budget=8, seed=0, acqf=light)
    raise SystemExit(f"unknown strategy {name}")


def main() -> None:
    ledger_path, names, delay = Path(sys.argv[1]), sys.argv[2].split(","), float(sys.argv[3])
    evaluators = [three_category_soup(EXPERTS, delay=delay), three_category_soup(EXPERTS, delay=delay)]
    ledger = Ledger(ledger_path)
    for name in names:
        run = run_search(make(name), evaluators, ledger, progress=False)
        print(f"{name} resumed_from={run.resumed_from} evaluated={run.evaluated}", flush=True)


if __name__ == "__main__":
    main()
