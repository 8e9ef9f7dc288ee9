"""Text that travels with a soup: a mergekit recipe that reproduces it and a model card.

The recipe mirrors our arithmetic exactly: `dtype: float32` (mergekit casts every input to it and
its linear method accumulates in fp32, as we do), `out_dtype` = our output dtype, our already
renormalised weights with `normalize: false` (so nothing is divided again), absolute model paths
(relative `a/b` paths send mergekit to the Hugging Face hub). Tokenizers were checked identical,
so mergekit's default (first model's tokenizer) gives the same vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml


def mergekit_config(models: Sequence[str | Path], weights: Sequence[float], dtype: str) -> dict:
    """mergekit's merge configuration (merge_method: linear) for the soup Σ wᵢ·θᵢ saved in `dtype`."""
    return {
        "merge_method": "linear",
        "dtype": "float32",
        "out_dtype": dtype,
        "parameters": {"normalize": False},
        "models": [
            {"model": str(Path(model).resolve()), "parameters": {"weight": float(weight)}}
            for model, weight in zip(models, weights)
        ],
    }


def mergekit_recipe(models: Sequence[str | Path], weights: Sequence[float], dtype: str) -> str:
    """`mergekit_config` as the YAML file that travels with the soup."""
    header = "# Reproduce this soup with mergekit:  mergekit-yaml mergekit.yaml OUTPUT_DIR\n"
    return header + yaml.safe_dump(mergekit_config(models, weights, dtype), sort_keys=False)


def model_card(models: Sequence[Path], weights: Sequence[float], dtype: str, recipe: str) -> str:
    """README.md for the soup folder: what went in, with which weights, and how to redo it."""
    rows = "\n".join(f"| `{model}` | {weight:.6g} |" for model, weight in zip(models, weights))
    model_args = ",".join(str(m) for m in models)
    weight_args = ",".join(repr(float(w)) for w in weights)
    return f"""---
tags:
- merge
- model-soup
- soce_bo
---
# Model soup

Linear soup Σ wᵢ·θᵢ of {len(models)} checkpoints, accumulated in float32 and saved as {dtype}
by `soce_bo.soup`.

| model | weight |
|---|---|
{rows}

Reproduce with soce_bo:

```bash
python -m soce_bo.merge 'models=[{model_args}]' 'weights=[{weight_args}]' dtype={dtype} out=OUTPUT_DIR
```

or with mergekit (`mergekit.yaml` in this folder):

```yaml
{recipe.strip()}
```

`soce_manifest.json` lists the SHA-256 of every file written.
"""
