"""Checkpoint soups: lazy checkpoint reading, pool validation, fp32 mixing, streaming atomic writes."""

from soce_bo.soup.checkpoint import Checkpoint, open_checkpoint
from soce_bo.soup.mix import iter_soup, mix
from soce_bo.soup.validate import validate_pool
from soce_bo.soup.weights import check_weights
from soce_bo.soup.write import write_soup

__all__ = ["Checkpoint", "check_weights", "iter_soup", "mix", "open_checkpoint", "validate_pool",
           "write_soup"]
