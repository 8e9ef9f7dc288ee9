"""BFCL (Berkeley Function-Calling Leaderboard) through bfcl-eval's own data, prompts and checkers.

One package, imported in one direction: `checker.py` (bfcl's decoder + AST checker, lean import)
and `prompt.py` (system prompt, chat formats) at the bottom, `overall.py` (leaderboard formulas),
`multi_turn.py` (conversation episodes with bfcl's executable backends), then `benchmark.py`
(`BFCLBenchmark`, the class conf/benchmark/bfcl.yaml builds).
"""

from soce_bo.evaluate.benchmarks.bfcl.benchmark import (AST_CATEGORIES, GROUPS, MULTI_TURN_CATEGORIES,
                                                       RELEVANCE_CATEGORIES, SUPPORTED, BFCLBenchmark,
                                                       resolve_categories)

__all__ = ["AST_CATEGORIES", "GROUPS", "MULTI_TURN_CATEGORIES", "RELEVANCE_CATEGORIES", "SUPPORTED", "BFCLBenchmark",
           "resolve_categories"]
