"""The mergekit.yaml written beside a soup reproduces it with mergekit itself (run in-process)."""

from __future__ import annotations

import pytest
import torch
import yaml

from soce_bo.soup.write import write_soup

mergekit_merge = pytest.importorskip("mergekit.merge")
from mergekit.config import MergeConfiguration  # noqa: E402


def run_mergekit(recipe_file, out) -> None:
    config = MergeConfiguration.model_validate(yaml.safe_load(recipe_file.read_text()))
    # write_model_card=False: mergekit would look up model cards on the (offline) hub otherwise
    options = mergekit_merge.MergeOptions(write_model_card=False, quiet=True)
    mergekit_merge.run_merge(config, str(out), options)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_mergekit_reproduces_our_soup(tiny_pool, tmp_path, read_state, dtype):
    weights = [0.15, 0.6, 0.25]
    ours = write_soup(tiny_pool, weights, tmp_path / "ours", dtype=dtype, progress=False)
    run_mergekit(ours / "mergekit.yaml", tmp_path / "mergekit")
    got, theirs = read_state(ours), read_state(tmp_path / "mergekit")
    assert set(got) == set(theirs)
    for name, tensor in got.items():
        assert tensor.dtype == theirs[name].dtype == getattr(torch, dtype)
        # same fp32 arithmetic; allow one rounding of the output dtype
        tol = 1e-6 if dtype == "float32" else 2**-8
        torch.testing.assert_close(tensor.double(), theirs[name].double(), rtol=tol, atol=1e-7, msg=name)


def test_mergekit_reproduces_tied_soup(tied_pool, tmp_path, read_state):
    ours = write_soup(tied_pool, [0.7, 0.3], tmp_path / "ours", progress=False)
    run_mergekit(ours / "mergekit.yaml", tmp_path / "mergekit")
    got, theirs = read_state(ours), read_state(tmp_path / "mergekit")
    assert set(got) == set(theirs) and "lm_head.weight" not in got
    for name, tensor in got.items():
        torch.testing.assert_close(tensor, theirs[name], rtol=1e-6, atol=1e-7, msg=name)
