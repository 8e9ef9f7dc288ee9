"""Search over soup weights: strategies (one file each), the ledger and the async scheduler.

    strategy = hydra.utils.instantiate(cfg.search.bo, experts=names, budget=20, seed=0)
    outcome = run_search(strategy, evaluators, Ledger(state_dir / "ledger.jsonl"))

Strategies are imported from their own modules (bo.py pulls in Ax, which takes ~2 s).
"""

from soce_bo.search.base import Evaluator, Strategy, SupportsSnapshot, TrialResult, Weights
from soce_bo.search.ledger import Ledger, TrialRecord, read_ledger
from soce_bo.search.scheduler import SearchRun, run_search
from soce_bo.search.simplex import weights_key

__all__ = [
    "Evaluator", "Ledger", "SearchRun", "Strategy", "SupportsSnapshot", "TrialRecord", "TrialResult",
    "Weights", "read_ledger", "run_search", "weights_key",
]
