"""Pretrained bases shipped with the project: a zoo build starts from one instead of training it.

A real candidate pool starts from a base that someone else pretrained and published; nobody
pretrains it again before fine-tuning. The teams zoo's base is 2000-4000 steps, over half of its
build, so the project ships the bases of teams seeds 0-2 in `soce_bo/zoo/bases/<kind>-seed<N>/`.
They were trained by this project's own code (`python -m soce_bo.zoo kind=teams seed=N
pretrained=false`) and copied out of that zoo with `python -m soce_bo.zoo.pretrained ZOO_DIR`.

A build uses a shipped base only when its key -- everything that shapes the base: FORMAT_VERSION,
seed, model shape, base recipe and the split sizes (held-out prompts never enter training) --
equals the config's, and the checkpoint's sha256 equals the recorded one; otherwise it trains the
base as before. The key leaves out the parent and the candidates, so a new team recipe still starts
from the shipped base. Shipping the bytes also gives every machine the same base (training it on
another CPU gives other bytes). Nothing here knows about soups.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from soce_bo.atomic import atomic_dir
from soce_bo.errors import ConfigError
from soce_bo.zoo.config import FORMAT_VERSION, POOLS, ZooConfig, zoo_config
from soce_bo.zoo.data import PROBE_ITEMS
from soce_bo.zoo.manifest import CHECKPOINT_FILES, MANIFEST

log = logging.getLogger(__name__)
BASES_DIR = Path(__file__).with_name("bases")
BASE_INFO = "base.json"


@dataclass(frozen=True)
class ShippedBase:
    path: Path
    info: dict[str, Any]  # base.json: key, kind, seed, sha256, training (steps, final_loss, probes), made_by


def base_key(cfg: ZooConfig) -> str:
    """sha256 over what shapes the base's bytes (on one machine); the parent and candidates do not."""
    payload = {"format_version": FORMAT_VERSION, "seed": cfg.seed, "model": asdict(cfg.model),
               "base": asdict(cfg.base), "n_dev": cfg.n_dev, "n_test": cfg.n_test,
               "probe_items": PROBE_ITEMS if cfg.base.probe_floor is not None else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_base(cfg: ZooConfig, bases_dir: Path | None = None) -> ShippedBase | None:
    """The shipped base for `cfg`, or None. A matching base whose checkpoint does not hash to the
    recorded sha256 (a truncated copy, a Git LFS pointer) is skipped with a warning: the build trains."""
    bases_dir = BASES_DIR if bases_dir is None else bases_dir
    key = base_key(cfg)
    for info_path in sorted(bases_dir.glob(f"*/{BASE_INFO}")):
        try:
            info = json.loads(info_path.read_text())
        except (OSError, json.JSONDecodeError):
            log.warning("pretrained base %s: unreadable %s; ignored", info_path.parent, BASE_INFO)
            continue
        if info.get("key") != key:
            continue
        weights = info_path.parent / "model.safetensors"
        if not weights.is_file() or file_sha256(weights) != info.get("sha256"):
            log.warning("pretrained base %s matches this zoo but its model.safetensors is missing or not the "
                        "recorded one (sha256 %s); training the base instead", info_path.parent, info.get("sha256"))
            continue
        return ShippedBase(info_path.parent, info)
    return None


def install_base(base: ShippedBase, out_dir: Path) -> None:
    """Copy the shipped checkpoint into the zoo's base folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in CHECKPOINT_FILES:
        shutil.copyfile(base.path / name, out_dir / name)


def kind_of(zoo_dir: Path, raw: dict[str, Any]) -> tuple[str, ZooConfig]:
    """The zoo kind, and its config, whose config (with the zoo's seed and split sizes) has the zoo's hash."""
    sizes = {k: raw["config"][k] for k in ("n_dev", "n_test")}
    for kind in POOLS:
        cfg = zoo_config(kind, raw["seed"], **sizes)
        if cfg.config_hash() == raw["config_hash"]:
            return kind, cfg
    raise ConfigError(f"{zoo_dir} is not a zoo of a known kind ({', '.join(POOLS)}) built by this version "
                      f"(config hash {raw['config_hash']}); rebuild it first")


def export_base(zoo_dir: Path, bases_dir: Path | None = None, cfg: ZooConfig | None = None) -> Path:
    """Ship the base of a built zoo: copy it to `bases_dir/<kind>-seed<N>/` with its base.json.

    `cfg`: the zoo's config when it is not one of the known kinds (its folder is then custom-seed<N>)."""
    bases_dir = BASES_DIR if bases_dir is None else bases_dir
    zoo_dir = Path(zoo_dir).expanduser().resolve()
    try:
        raw = json.loads((zoo_dir / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{zoo_dir}: no readable {MANIFEST} ({err}); build the zoo first") from None
    if cfg is None:
        kind, cfg = kind_of(zoo_dir, raw)
    elif cfg.config_hash() == raw["config_hash"]:
        kind = "custom"
    else:
        raise ConfigError(f"{zoo_dir} was not built from the given config (hash {raw['config_hash']}, "
                          f"not {cfg.config_hash()})")
    training = raw["training"]["base"]
    if "pretrained" in training:
        raise ConfigError(f"{zoo_dir} started from the shipped base {training['pretrained']}; export a zoo "
                          "built with pretrained=false")
    base_dir = zoo_dir / raw["base"]["path"]
    info = {"key": base_key(cfg), "kind": kind, "seed": cfg.seed, "sha256": file_sha256(base_dir / "model.safetensors"),
            "training": {k: training[k] for k in ("steps", "final_loss", "probes") if k in training},
            "made_by": f"python -m soce_bo.zoo kind={kind} seed={cfg.seed} pretrained=false",
            "versions": raw.get("versions", {})}
    out = bases_dir / f"{kind}-seed{cfg.seed}"
    with atomic_dir(out, overwrite=True) as tmp:
        for name in CHECKPOINT_FILES:
            shutil.copyfile(base_dir / name, tmp / name)
        (tmp / BASE_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    """`python -m soce_bo.zoo.pretrained ZOO_DIR [--bases-dir DIR]`: ship a built zoo's base."""
    from soce_bo.cli import report_and_exit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo_dir", type=Path, help="a zoo built with pretrained=false")
    parser.add_argument("--bases-dir", type=Path, default=BASES_DIR)
    args = parser.parse_args(argv)
    try:
        out = export_base(args.zoo_dir, args.bases_dir)
    except Exception as err:  # noqa: BLE001 - user errors become one line, bugs keep their traceback
        report_and_exit(err)
    print(f"shipped base -> {out}")


if __name__ == "__main__":
    main()
