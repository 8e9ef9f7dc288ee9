"""The uniform soup (Wortsman et al. 2022): the paper's two baselines in one strategy.

With all candidates it is baseline 1 ("uniform, all"); with the SoCE-selected experts it is
baseline 2 ("uniform, selection"). The run builds baseline 1 itself (`name="uniform_all"`) and
baseline 2 from conf/search/uniform.yaml, so the ledger keeps both under their own names.
"""

from __future__ import annotations

from collections.abc import Sequence

from soce_bo.errors import ConfigError
from soce_bo.search.points import PlannedSearch
from soce_bo.search.simplex import check_experts, uniform


class UniformSoup(PlannedSearch):
    """One trial: every expert at weight 1/K.

    `seed` is part of every strategy's constructor (the run passes it to all of them); the
    uniform soup draws nothing, so no seed changes it. `budget` can only be 1: anything else is
    refused rather than silently ignored.
    """

    def __init__(self, experts: Sequence[str], budget: int | None = 1, seed: int = 0, name: str = "uniform") -> None:
        if budget not in (None, 1):
            raise ConfigError(f"search.{name}.budget must be 1 (the uniform soup is one trial), got {budget!r}")
        super().__init__(name, [uniform(check_experts(experts, name))])
