"""CLI: `python -m soce_bo.zoo out=DIR [kind=experts|teams] [seed=0] [force=false]` -- build or reuse a zoo."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from soce_bo.cli import hydra_cli
from soce_bo.errors import ConfigError
from soce_bo.zoo.config import ZooConfig, zoo_config
from soce_bo.zoo.manifest import ZooManifest, load_manifest


def config_from_cli(cfg: DictConfig) -> ZooConfig:
    """The ZooConfig the command line asks for (the pool's defaults for everything it does not name)."""
    base = zoo_config(cfg.kind, cfg.seed)
    sizes = {k: getattr(base, k) if cfg[k] is None else cfg[k] for k in ("n_dev", "n_test")}
    for key, value in (*sizes.items(), ("workers", cfg.workers)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        if value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    if not isinstance(cfg.pretrained, bool):
        raise ConfigError(f"pretrained must be true or false, got {cfg.pretrained!r}")
    return replace(base, score=bool(cfg.score), workers=cfg.workers, pretrained=bool(cfg.pretrained), **sizes)


def score_tables(manifest: ZooManifest) -> list[Table]:
    """One rich table per split: models x categories, plus the macro mean; best per column bold."""
    raw = manifest.raw
    tables = []
    for split in ("dev", "test"):
        rows = dict(raw["scores"].get(split, {}))
        for name, soup in raw.get("reference_soups", {}).items():
            if split in soup.get("scores", {}):
                rows[f"{name} (soup)"] = soup["scores"][split]
        if not rows:
            continue
        cats = raw["categories"]
        best = {c: max(r[c] for r in rows.values()) for c in cats}
        table = Table(title=f"zoo {split} scores (HF greedy)")
        table.add_column("model")
        for c in [*cats, "mean"]:
            table.add_column(c, justify="right")
        for name, r in rows.items():
            cells = [f"[bold]{r[c]:.3f}[/]" if r[c] == best[c] else f"{r[c]:.3f}" for c in cats]
            table.add_row(name, *cells, f"{sum(r[c] for c in cats) / len(cats):.3f}")
        tables.append(table)
    return tables


@hydra_cli("zoo")
def main(cfg: DictConfig) -> None:
    from soce_bo.zoo.build import ensure_zoo
    from soce_bo.zoo.manifest import is_current

    console = Console(soft_wrap=True)  # no hard wraps in logs: paths stay greppable
    zcfg = config_from_cli(cfg)
    out = Path(str(cfg.out)).expanduser().resolve()
    reused = not cfg.force and is_current(out, zcfg.config_hash())
    t0 = time.perf_counter()
    ensure_zoo(out, zcfg, force=bool(cfg.force), console=Console(stderr=True, soft_wrap=True))
    elapsed = time.perf_counter() - t0
    manifest = load_manifest(out)
    console.print(f"zoo at [bold]{out}[/] (config {manifest.config_hash}) "
                  f"{'reused from cache' if reused else f'built in {elapsed:.0f} s'}")
    for table in score_tables(manifest):
        console.print(table)
    model = manifest.raw["model"]
    console.print(f"{len(manifest.candidates)} candidates + base, {model['parameters']:,} parameters, "
                  f"{model['checkpoint_bytes'] / 1e6:.1f} MB per checkpoint ({model['dtype']}); "
                  f"build timings: {manifest.raw['timings']}")


if __name__ == "__main__":
    main()
