"""The tiny expert zoo: a char-level Llama base and category experts fine-tuned from it.

It stands in for a real pool of fine-tunes (BFCL / MGSM / FLORES / ∞-Bench experts) so that the
whole SoCE pipeline -- correlation analysis, expert selection, weight search, the hot-swapping
server -- runs end to end on a CPU in minutes. `ensure_zoo(out)` builds it once per config hash.
"""

from soce_bo.zoo.config import ZooConfig

__all__ = ["ZooConfig", "ensure_zoo"]


def ensure_zoo(out, cfg: ZooConfig | None = None, **kwargs):  # noqa: ANN001 - see build.ensure_zoo
    """Lazy re-export of `soce_bo.zoo.build.ensure_zoo` (keeps `import soce_bo.zoo` light)."""
    from soce_bo.zoo.build import ensure_zoo as _ensure_zoo

    return _ensure_zoo(out, cfg, **kwargs)
