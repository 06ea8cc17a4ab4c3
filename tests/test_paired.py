"""Paired statistics against closed forms, an independent implementation and hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hipbench.mergefail import bootstrap_ci
from hipbench.paired import (BOOTSTRAP_SEED, EXCLUDES, INCLUDES, UNDETERMINED, example_bootstrap, paired_t_interval,
                             t_cdf, t_quantile, verdict)

P = (0.6, 0.9, 0.95, 0.975, 0.995)


@pytest.mark.parametrize("p", P)
def test_t_quantile_matches_the_closed_forms_for_one_two_and_four_degrees_of_freedom(p):
    assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-12)  # Cauchy
    assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-12)
    alpha = 4 * p * (1 - p)
    q = math.cos(math.acos(math.sqrt(alpha)) / 3) / math.sqrt(alpha)
    assert t_quantile(p, 4) == pytest.approx(2 * math.sqrt(q - 1), rel=1e-10)


@pytest.mark.parametrize("df", [1, 2, 3, 5, 6, 9, 29, 200])
def test_t_distribution_matches_mpmaths_incomplete_beta(df):
    mpmath = pytest.importorskip("mpmath")
    for x in (-3.0, -0.7, 0.0, 0.4, 2.0, 8.0):
        tail = mpmath.betainc(df / 2, 0.5, 0, df / (df + x * x), regularized=True) / 2
        assert t_cdf(x, df) == pytest.approx(float(1 - tail if x >= 0 else tail), abs=1e-13)
    for p in P:
        assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-13)
        assert t_quantile(1 - p, df) == pytest.approx(-t_quantile(p, df))


def test_t_quantile_tends_to_the_normal_one():
    assert t_quantile(0.975, 100_000) == pytest.approx(1.959964, abs=1e-4)


@pytest.mark.parametrize("df", [0, -1, 2.5, True])
def test_t_needs_a_positive_integer_df(df):
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_cdf(1.0, df)


def test_paired_t_interval_by_hand():
    # mean 0.2, sample sd 0.1, n 3; t(0.975, 2) = 4.302652729749464 (tables; 2 / sqrt(2 * 0.975 * 0.025) * 0.95)
    out = paired_t_interval([0.1, 0.3, 0.2])
    half = 4.302652729749464 * 0.1 / math.sqrt(3)
    assert (out["diff"], out["n"]) == (pytest.approx(0.2), 3)
    assert out["lo"] == pytest.approx(0.2 - half, rel=1e-12) and out["hi"] == pytest.approx(0.2 + half, rel=1e-12)
    assert paired_t_interval([0.5, 0.7], confidence=0.9)["hi"] == pytest.approx(0.6 + 6.313751514675 * 0.1, rel=1e-9)


def test_paired_t_interval_drops_non_finite_values_and_needs_two():
    assert paired_t_interval([0.1, math.nan, 0.3, None])["n"] == 2
    one = paired_t_interval([0.4])
    assert one["diff"] == 0.4 and math.isnan(one["lo"]) and math.isnan(one["hi"])
    assert paired_t_interval([])["n"] == 0
    assert paired_t_interval([1 / 6, -1 / 3, 1 / 6])["diff"] == 0.0  # exact sum: no 1e-17 residue


def test_example_bootstrap_pairs_by_seed_and_example_and_averages_seeds_per_example():
    method = {1: {"a": 1.0, "b": 0.0, "c": 1.0, "only-here": 1.0}, 2: {"a": 1.0, "b": 1.0, "c": 0.0}, 3: {"a": 1.0}}
    baseline = {1: {"a": 0.0, "b": 0.0, "c": 0.0}, 2: {"a": 1.0, "b": 0.0, "c": 0.0}}  # seed 3 is unpaired
    out = example_bootstrap(method, baseline)
    per_example = [0.5, 0.5, 0.5]  # a: (1 + 0) / 2, b: (0 + 1) / 2, c: (1 + 0) / 2
    assert out["n"] == 3 and out["diff"] == pytest.approx(0.5)
    assert (out["lo"], out["hi"]) == bootstrap_ci(per_example, BOOTSTRAP_SEED)


def test_example_bootstrap_treats_an_example_repeated_across_seeds_as_one_example():
    rng = np.random.default_rng(0)
    diffs = {f"e{i}": float(v) for i, v in enumerate(rng.integers(-1, 2, size=40))}
    one_seed = example_bootstrap({1: diffs}, {1: {e: 0.0 for e in diffs}})
    three_seeds = example_bootstrap({s: diffs for s in (1, 2, 3)}, {s: {e: 0.0 for e in diffs} for s in (1, 2, 3)})
    # the same outcomes again in two more seeds add no information about the examples: same interval
    assert (three_seeds["lo"], three_seeds["hi"]) == (one_seed["lo"], one_seed["hi"])
    assert three_seeds["n"] == 40
    # whereas resampling (seed, example) pairs as if independent would narrow it by about sqrt(3)
    pairs = bootstrap_ci([v for _ in range(3) for v in diffs.values()], BOOTSTRAP_SEED)
    assert (pairs[1] - pairs[0]) < 0.7 * (one_seed["hi"] - one_seed["lo"])


def test_example_bootstrap_needs_two_examples():
    out = example_bootstrap({1: {"a": 1.0}}, {1: {"a": 0.0}})
    assert out["n"] == 1 and math.isnan(out["lo"])
    assert example_bootstrap({1: {"a": 1.0}}, {2: {"a": 0.0}})["n"] == 0


def _ci(lo: float, hi: float, n: int = 3) -> dict:
    return {"lo": lo, "hi": hi, "n": n}


@pytest.mark.parametrize("seeds,examples,expected", [
    (_ci(0.1, 0.3), None, EXCLUDES),
    (_ci(-0.3, -0.1), _ci(-0.2, -0.05, 50), EXCLUDES),
    (_ci(0.1, 0.3), _ci(-0.01, 0.2, 50), INCLUDES),  # the test examples could explain it
    (_ci(-0.01, 0.3), _ci(0.1, 0.2, 50), INCLUDES),  # the seeds could explain it
    (_ci(0.2, 0.2), None, UNDETERMINED),  # the same difference on every seed, nothing else bounds it
    (_ci(0.2, 0.2), _ci(0.05, 0.4, 10), EXCLUDES),
    (_ci(0.0, 0.0), None, INCLUDES),
    (_ci(math.nan, math.nan, 1), None, UNDETERMINED),
    (_ci(0.1, 0.3), _ci(math.nan, math.nan, 1), UNDETERMINED),
])
def test_verdict_needs_every_available_interval_to_exclude_zero(seeds, examples, expected):
    outcome, reason = verdict(seeds, examples)
    assert outcome == expected
    assert bool(reason) == (expected == UNDETERMINED)
