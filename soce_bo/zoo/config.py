"""What a zoo is made of: model shape, training recipes, data sizes -- and its cache key.

Everything that changes the built files lives in `ZooConfig`; `config_hash()` of it (plus
`FORMAT_VERSION`, bumped whenever generator or training code changes meaning) decides whether an
existing zoo can be reused. The number of parallel workers changes only the wall time, not the
files, so it is deliberately not part of the hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from soce_bo.errors import ConfigError

FORMAT_VERSION = 2  # 2: dev/test cut from a shuffled pool (identically distributed)


@dataclass(frozen=True)
class ModelShape:
    """A small LlamaForCausalLM. head_dim = hidden/heads must be 32 or 64 (vLLM's CPU kernel)."""

    hidden_size: int = 128
    intermediate_size: int = 256
    num_layers: int = 2
    num_heads: int = 4
    max_position_embeddings: int = 512
    tie_word_embeddings: bool = False  # untied: every weight is its own tensor in the file
    rope_theta: float = 10000.0


@dataclass(frozen=True)
class Recipe:
    """One training run: `mixture` maps category -> sampling weight (normalised)."""

    steps: int
    lr: float
    mixture: tuple[tuple[str, float], ...]
    batch_size: int = 32
    warmup: int = 30
    weight_decay: float = 0.0
    # A finite training set, as a real fine-tuning team has: (category, examples) drawn once from the
    # generators, then batches resampled from it (epochs). None = a fresh stream (the base, the parent).
    dataset: tuple[tuple[str, int], ...] | None = None
    # Train past `steps` until the model can do every category: after `steps`, and then every
    # `probe_every` steps at the schedule's final learning rate, greedy-score the zoo's held-out
    # probe split and stop once every category reaches `probe_floor` (or at `max_steps`). Pretraining
    # reaches each skill at a seed-dependent step (a phase transition), so a fixed length leaves some
    # seeds' base without a skill. None = exactly `steps`.
    probe_floor: float | None = None
    probe_every: int = 250
    max_steps: int | None = None

    def weights(self) -> dict[str, float]:
        total = sum(w for _, w in self.mixture)
        return {c: w / total for c, w in self.mixture}


def team_recipe(steps: int, lr: float, dataset: dict[str, int]) -> Recipe:
    """A fine-tune on its own finite dataset; batches come from the categories in proportion to their size."""
    return Recipe(steps=steps, lr=lr, mixture=tuple(dataset.items()), warmup=20, dataset=tuple(dataset.items()))


def uniform_mix(categories: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    return tuple((c, 1.0) for c in categories)


def focus_mix(category: str, categories: tuple[str, ...], focus: float) -> tuple[tuple[str, float], ...]:
    """`focus` of the batches on `category`, the rest replayed evenly from the others."""
    others = [c for c in categories if c != category]
    return tuple((c, focus if c == category else (1.0 - focus) / len(others)) for c in categories)


@dataclass(frozen=True)
class CandidateSpec:
    """A checkpoint fine-tuned from the base; `category` None marks a generalist."""

    name: str
    category: str | None
    recipe: Recipe


_CATS = ("tool", "math", "translate", "retrieve")


def _default_candidates() -> tuple[CandidateSpec, ...]:
    experts = tuple(
        CandidateSpec(f"{c}_expert", c, Recipe(steps=400, lr=5e-4, mixture=focus_mix(c, _CATS, 0.5), warmup=20))
        for c in _CATS
    )
    generalist = CandidateSpec("generalist", None, Recipe(steps=400, lr=5e-4, mixture=uniform_mix(_CATS), warmup=20))
    return (*experts, generalist)


def _team_candidates() -> tuple[CandidateSpec, ...]:
    """Five fine-tuning teams of one parent, each with its own finite dataset, length and learning rate.

    Three teams emphasise one category (translate's also brings math data), one over-specialised on
    retrieval with almost no replay (a weak model overall, as CoALM is in the paper's BFCL pool), and
    an all-rounder trained on an even, smaller dataset. Nothing here knows about soups.
    """
    return (
        CandidateSpec("tool_team", "tool", team_recipe(400, 5e-4, {"tool": 2500, "math": 300, "translate": 300,
                                                                   "retrieve": 300})),
        CandidateSpec("math_team", "math", team_recipe(500, 4e-4, {"tool": 300, "math": 2500, "translate": 300,
                                                                   "retrieve": 300})),
        CandidateSpec("translate_team", "translate", team_recipe(300, 6e-4, {"tool": 200, "math": 1000,
                                                                             "translate": 2000, "retrieve": 200})),
        CandidateSpec("retrieve_team", "retrieve", team_recipe(500, 1e-3, {"tool": 100, "math": 100,
                                                                           "translate": 100, "retrieve": 3000})),
        CandidateSpec("allrounder", None, team_recipe(500, 5e-4, {c: 800 for c in _CATS})),
    )


@dataclass(frozen=True)
class ZooConfig:
    seed: int = 0
    n_dev: int = 32  # items per category
    n_test: int = 64
    model: ModelShape = field(default_factory=ModelShape)
    base: Recipe = field(default_factory=lambda: Recipe(steps=1200, lr=1e-3, mixture=uniform_mix(_CATS), warmup=50))
    # An instruction-tuned parent fine-tuned from the base; candidates start from it when set, else from the base.
    parent: Recipe | None = None
    candidates: tuple[CandidateSpec, ...] = field(default_factory=_default_candidates)
    score: bool = True  # score every checkpoint (and the uniform expert soup) into zoo.json
    workers: int = 2  # parallel training/eval processes, one torch thread each (not hashed)
    # Start from a shipped pretrained base (soce_bo.zoo.pretrained) when one matches this config's
    # base; False trains it. Not hashed: the shipped base is what this config trains (on the machine
    # that made it), so the zoo is the same zoo either way.
    pretrained: bool = True

    def config_hash(self) -> str:
        """sha256 over everything that shapes the files (not `workers`, not `pretrained`).

        Fields added after a zoo kind existed (`parent`, `Recipe.dataset`, the probe rule) are left out while unset,
        so zoos built before them stay current.
        """
        payload = asdict(self)
        payload.pop("workers")
        payload.pop("pretrained")
        if payload["parent"] is None:
            payload.pop("parent")
        recipes = [payload["base"], *([payload["parent"]] if "parent" in payload else []),
                   *(c["recipe"] for c in payload["candidates"])]
        for recipe in recipes:
            if recipe["dataset"] is None:
                recipe.pop("dataset")
            if recipe["probe_floor"] is None:
                for key in ("probe_floor", "probe_every", "max_steps"):
                    recipe.pop(key)
        payload["format_version"] = FORMAT_VERSION
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def teams_config(seed: int = 0) -> ZooConfig:
    """The realistic pool (issue 12): a base trained for 2000 steps and then on until it scores 0.8 in
    every category of the probe (seeds cross the retrieval and math transitions at different steps),
    an instruction-tuned parent, five teams fine-tuned from it on finite datasets, 200 / 500 eval items."""
    return ZooConfig(seed=seed, n_dev=200, n_test=500,
                     base=Recipe(steps=2000, lr=1e-3, mixture=uniform_mix(_CATS), warmup=100,
                                 probe_floor=0.8, probe_every=250, max_steps=4000),
                     parent=Recipe(steps=200, lr=3e-4, mixture=uniform_mix(_CATS), warmup=20),
                     candidates=_team_candidates())


POOLS = {"experts": ZooConfig, "teams": teams_config}
"""Zoo kinds by name (`python -m soce_bo.zoo kind=teams`): `experts` is the small default the tests use."""


def zoo_config(kind: str, seed: int = 0, label: str = "", **overrides: Any) -> ZooConfig:
    """The ZooConfig of zoo kind `kind` with `seed` (and any other field overridden).

    `label` prefixes the setting names in errors, e.g. "pool.zoo_" -> "pool.zoo_kind must be ...".
    """
    if kind not in POOLS:
        raise ConfigError(f"{label}kind must be one of {', '.join(POOLS)}, got {kind!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"{label}seed must be an integer, got {seed!r}")
    return replace(POOLS[kind](seed=seed), **overrides)
