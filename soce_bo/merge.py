"""CLI: write one soup of checkpoints to disk (see conf/merge.yaml).

    python -m soce_bo.merge 'models=[A,B,C]' 'weights=[0.2,0.3,0.5]' out=DIR [dtype=bfloat16]
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from soce_bo.cli import hydra_cli
from soce_bo.errors import ConfigError

REQUIRED = ("models", "weights", "out")


def _as_list(cfg: DictConfig, key: str) -> list:
    value = OmegaConf.to_container(cfg, resolve=True)[key]
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list like {key}=[a,b], got {value!r}")
    return value


def run(cfg: DictConfig) -> None:
    """Validate, write, and print a one-line summary (tensors, bytes, seconds, GB/s)."""
    missing = [key for key in REQUIRED if OmegaConf.is_missing(cfg, key)]
    if missing:
        raise ConfigError(
            f"missing {', '.join(missing)}; usage: python -m soce_bo.merge "
            "'models=[A,B]' 'weights=[0.5,0.5]' out=DIR"
        )
    from soce_bo.soup.write import write_soup  # torch import only once the arguments look sane

    result = write_soup(
        models=[str(m) for m in _as_list(cfg, "models")],
        weights=_as_list(cfg, "weights"),
        out=str(cfg.out),
        dtype=str(cfg.dtype),
        shard_size=cfg.shard_size,
        copy_from=int(cfg.copy_from),
        progress=bool(cfg.progress),
        overwrite=bool(cfg.overwrite),
    )
    size = f"{result.bytes / 1e9:.2f} GB" if result.bytes >= 1e8 else f"{result.bytes / 1e6:.2f} MB"
    print(
        f"wrote {result.path}: {result.tensors} tensors, {size} in {result.seconds:.2f} s "
        f"({result.gb_per_s:.3f} GB/s)"
    )


@hydra_cli("merge")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
