"""BO's acquisition-optimiser effort: named presets, the default the run builds, and that the knobs reach Ax."""

from __future__ import annotations

import pytest

from soce_bo.errors import ConfigError
from soce_bo.search.bo import ACQF_PRESETS, BayesOpt
from soce_bo.search.configs import build_strategy
from soce_bo.search.simplex import check_on_simplex, uniform, vertex
from soce_bo.search.synthetic import three_category_soup

EXPERTS = ["a", "b", "c"]


def gen_options(bo: BayesOpt) -> dict:
    """The optimizer kwargs BO put on Ax's GP node (what optimize_acqf receives)."""
    spec = bo._client._generation_strategy.nodes_by_name["MBM"].generator_specs[0]
    return spec.generator_gen_kwargs["model_gen_options"]["optimizer_kwargs"]


def test_a_preset_name_is_the_same_as_its_mapping_and_unknown_names_are_refused():
    by_name = BayesOpt(EXPERTS, acqf="swift")
    by_mapping = BayesOpt(EXPERTS, acqf=dict(ACQF_PRESETS["swift"]))
    assert gen_options(by_name) == gen_options(by_mapping) == {
        "raw_samples": 96, "num_restarts": 3, "options": {"n_burnin": 150, "n_thinning": 2, "maxiter": 60}}
    assert by_name._description() == by_mapping._description()  # snapshots of either are adoptable by the other
    with pytest.raises(ConfigError, match="'quick'"):
        BayesOpt(EXPERTS, acqf="quick")


def test_the_configured_default_is_a_preset_and_scalar_bo_stays_reachable():
    """conf/search/bo.yaml's acqf is a named preset (not Ax's ~3 s defaults); model=scalar is a setting."""
    bo = build_strategy("bo", EXPERTS, seed=0)
    assert bo._acqf in ACQF_PRESETS.values()
    scalar = build_strategy("bo", EXPERTS, seed=0, model="scalar", min_weight=0.1)
    assert scalar.model == "scalar" and scalar.min_weight == 0.1


def test_bench_cheap_acquisition_is_the_default_preset():
    """The benches time and score BO with the acquisition the run uses by default."""
    from bench.common import CHEAP_ACQF

    assert CHEAP_ACQF == build_strategy("bo", EXPERTS, seed=0)._acqf


def test_slsqp_options_reach_the_optimiser_and_a_gp_step_runs():
    """maxiter / batch_limit go into optimize_acqf's options (with the sampler's), and BO still proposes a new soup."""
    acqf = {"raw_samples": 32, "num_restarts": 2, "n_burnin": 50, "n_thinning": 1, "maxiter": 20, "batch_limit": 1}
    bo = BayesOpt(EXPERTS, budget=2, seed=0, acqf=acqf, min_weight=0.1)
    assert gen_options(bo) == {"raw_samples": 32, "num_restarts": 2,
                               "options": {"n_burnin": 50, "n_thinning": 1, "maxiter": 20, "batch_limit": 1}}
    fn = three_category_soup(EXPERTS, n_items=500)
    seeds = [vertex(EXPERTS, e) for e in EXPERTS] + [uniform(EXPERTS)]
    for w in seeds:
        bo.prior(w, fn(w))
    (w,) = bo.suggest(1)
    check_on_simplex(w, EXPERTS, tol=1e-9)
    assert min(w.values()) >= 0.1 - 1e-9 and w not in seeds
