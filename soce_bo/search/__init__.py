"""Search over soup weights: strategies (one file each), the ledger and the async scheduler.

    strategy = hydra.utils.instantiate(compose("search/bo").search.bo, experts=names, seed=0)
    outcome = run_search(strategy, evaluators, Ledger(state_dir / "ledger.jsonl"))

or ask/tell by hand: `strategy.suggest(n)` -> weights, `strategy.observe(weights, TrialResult(...))`
with `TrialResult` and `CategoryScore` from this package, until `strategy.done()`.

Strategies are imported from their own modules (bo.py pulls in Ax, which takes ~2 s).
"""

from soce_bo.search.base import Evaluator, Strategy, SupportsPrior, SupportsSnapshot
from soce_bo.search.ledger import Ledger, TrialRecord, read_ledger
from soce_bo.search.scheduler import SearchRun, run_search
from soce_bo.search.simplex import weights_key
from soce_bo.values import CategoryScore, TrialResult, Weights

__all__ = [
    "CategoryScore", "Evaluator", "Ledger", "SearchRun", "Strategy", "SupportsPrior", "SupportsSnapshot", "TrialRecord", "TrialResult",
    "Weights", "read_ledger", "run_search", "weights_key",
]
