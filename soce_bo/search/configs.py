"""The strategies as configured in conf/search/: their names and one way to build each.

conf/search/<name>.yaml is the one list of strategies: the run composes it, and tests and the
benches ask this module instead of keeping their own list, so a new strategy is one file under
soce_bo/search/ plus one config here. Keys equal constructor arguments (see README "Strategies").

    strategy = build_strategy("bo", experts=["a", "b", "c"], seed=0, acqf={...})
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from soce_bo.errors import ConfigError
from soce_bo.search.base import Strategy

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "search"


def strategy_names() -> list[str]:
    """Every configured strategy, sorted by name."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml"))


def strategy_config(config: str) -> DictConfig:
    """conf/search/<config>.yaml as a config node (what `search=[<config>]` puts under `search.<config>`)."""
    path = CONF_DIR / f"{config}.yaml"
    if not path.is_file():
        raise ConfigError(f"no search strategy {config!r}: {path} does not exist; known: {', '.join(strategy_names())}")
    return OmegaConf.load(path)


def build_strategy(config: str, experts: Sequence[str], seed: int, **overrides: Any) -> Strategy:
    """`hydra.utils.instantiate` of conf/search/<config>.yaml with the run's arguments (and keys overridden,
    `name=` included)."""
    cfg = strategy_config(config)
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ConfigError(f"search.{config} has no key(s) {sorted(unknown)}; its keys: {sorted(set(cfg) - {'_target_'})}")
    return instantiate(cfg, experts=list(experts), seed=int(seed), **overrides)
