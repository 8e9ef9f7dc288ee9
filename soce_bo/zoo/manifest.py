"""zoo.json: what a built zoo contains, and the check that it is complete and current.

Schema (paths relative to the zoo folder):
  config_hash, format_version, seed, config (the full ZooConfig), categories,
  base: {path}, parent: {path} (only when the config has a parent stage), candidates: {name: {path, category (null = generalist), kind}},
  experts: {name: path} (category experts only), data: {split: path},
  scores: {split: {model: {category: score}}} for the base and every candidate (HF greedy),
  overall: {split: {model: macro mean}}, reference_soups: {name: {weights, scores, overall}},
  geometry: {parent_dev_loss, candidates: {name: {l2_from_parent, relative_to_parent, dev_loss}},
             midpoint_barriers: [{pair, midpoint_dev_loss, barrier}]} (null when not scored),
  model: {architecture, parameters, bytes per checkpoint, ...}, timings: {stage: seconds}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soce_bo.errors import SoceError

MANIFEST = "zoo.json"
CHECKPOINT_FILES = ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                    "tokenizer_config.json")


@dataclass(frozen=True)
class Candidate:
    name: str
    path: Path
    category: str | None  # None: a generalist (no category of its own)


@dataclass(frozen=True)
class ZooManifest:
    root: Path
    raw: dict[str, Any]

    @property
    def config_hash(self) -> str:
        return self.raw["config_hash"]

    @property
    def base(self) -> Path:
        return self.root / self.raw["base"]["path"]

    @property
    def candidates(self) -> dict[str, Candidate]:
        return {n: Candidate(n, self.root / c["path"], c["category"]) for n, c in self.raw["candidates"].items()}

    @property
    def experts(self) -> dict[str, Candidate]:
        return {n: c for n, c in self.candidates.items() if c.category is not None}

    def scores(self, split: str) -> dict[str, dict[str, float]]:
        """{model: {category: score}} of `split` ('dev' or 'test'), base included."""
        try:
            return self.raw["scores"][split]
        except KeyError:
            raise SoceError(f"{self.root / MANIFEST}: no scores for split {split!r}") from None


def load_manifest(zoo_dir: str | Path) -> ZooManifest:
    """Read `<zoo_dir>/zoo.json`; a missing or unreadable file is one clear error."""
    root = Path(zoo_dir).expanduser().resolve()
    path = root / MANIFEST
    if not path.is_file():
        raise SoceError(f"no zoo manifest at {path} (build it: python -m soce_bo.zoo out={root})")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SoceError(f"{path}: not valid JSON ({err.msg})") from None
    return ZooManifest(root, raw)


def missing_files(zoo_dir: Path, raw: dict[str, Any]) -> list[Path]:
    """Files the manifest promises that are not there (empty list = complete)."""
    stems = [raw[k]["path"] for k in ("base", "parent") if k in raw]
    dirs = [*stems, *(c["path"] for c in raw["candidates"].values())]
    wanted = [zoo_dir / d / f for d in dirs for f in CHECKPOINT_FILES]
    wanted += [zoo_dir / p for p in raw["data"].values()]
    return [p for p in wanted if not p.is_file()]


def is_current(zoo_dir: Path, config_hash: str) -> bool:
    """True when `zoo_dir` holds a complete zoo built from a config with `config_hash`."""
    path = zoo_dir / MANIFEST
    if not path.is_file():
        return False
    try:
        raw = json.loads(path.read_text())
        return raw.get("config_hash") == config_hash and not missing_files(zoo_dir, raw)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return False
