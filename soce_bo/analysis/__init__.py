"""SoCE steps 1-3: category correlations, the low-correlation set / clusters, and the experts.

    table = load_score_table("dev_scores.csv")      # or ScoreTable.from_mapping({...})
    result = analyze(table, mode="tau", tau=0.5)     # -> Analysis (result.expert_names)
"""

from soce_bo.analysis.correlation import category_correlation, cluster_categories, low_correlation_set
from soce_bo.analysis.experts import Analysis, Expert, analyze, select_experts
from soce_bo.analysis.scores import ScoreTable, load_score_table

__all__ = [
    "Analysis", "Expert", "ScoreTable", "analyze", "category_correlation", "cluster_categories",
    "load_score_table", "low_correlation_set", "select_experts",
]
