"""Paired comparisons of two methods: pure statistics, no records and no formatting.

Runs of different methods with the same seed share the data order and the test examples, so a
method is compared with the baseline through *paired* differences. Two sources of uncertainty
matter and each interval here covers one of them:

- **Seeds** (`paired_t_interval`): the per-seed differences d_s, s = 1..n, give
  mean(d) ± t_{(1+c)/2, n-1} · sd(d) / √n (Student t, n − 1 degrees of freedom). With 3 seeds a
  bootstrap over seeds has only 10 distinct resamples, so its percentiles are meaningless; the
  t-interval is exact under normal per-seed differences and says how wide "3 seeds" really is
  (t_{0.975, 2} ≈ 4.3). Every seed scores the same test examples, so this interval measures
  training (seed-to-seed) variation only, not the choice of test examples.
- **Test examples** (`example_bootstrap`): where per-example outcomes are recorded, a paired
  percentile bootstrap over examples. An example is a cluster: its difference is averaged over
  the seeds in which both methods scored it, and examples, not (seed, example) pairs, are
  resampled, because the same example recurs in every seed and treating its copies as
  independent would narrow the interval without new information.

`verdict` calls a difference distinguishable from zero only when every interval available for it
excludes zero, so neither source of uncertainty is ignored where the records allow measuring it.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from hipbench.mergefail import BOOTSTRAP_SAMPLES, CONFIDENCE, bootstrap_ci

BASELINE = "lora"  # every method of a table is compared with this one (the plain low-rank adapter)
BOOTSTRAP_SEED = 0  # one fixed generator seed: a rebuild gives the same intervals, byte for byte
EXCLUDES, INCLUDES, UNDETERMINED = "excludes 0", "includes 0", "undetermined"
_BISECTIONS = 200  # halvings of the quantile's bracket: far below double precision long before


def t_cdf(x: float, df: int) -> float:
    """P(T <= x) for Student's t with integer `df` >= 1, in closed form (Abramowitz & Stegun
    26.7.3 for odd, 26.7.4 for even df): exact, so no scipy is needed for a t quantile."""
    if isinstance(df, bool) or int(df) != df or df < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df!r}")
    df = int(df)
    theta = math.atan(abs(x) / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2:  # A = 2/pi (theta + sin cos [1 + 2/3 cos^2 + (2*4)/(3*5) cos^4 + ...]), terms to cos^(df-2)
        term = total = math.cos(theta) if df > 1 else 0.0
        for k in range(3, df - 1, 2):
            term *= c2 * (k - 1) / k
            total += term
        inside = 2 / math.pi * (theta + s * total)
    else:  # A = sin [1 + 1/2 cos^2 + (1*3)/(2*4) cos^4 + ...], terms to cos^(df-2)
        term = total = 1.0
        for k in range(2, df - 1, 2):
            term *= c2 * (k - 1) / k
            total += term
        inside = s * total
    return 0.5 + math.copysign(inside / 2, x)


def t_quantile(p: float, df: int) -> float:
    """The x with P(T <= x) = p, by bisection on `t_cdf` (monotone, so bisection cannot miss)."""
    if not 0 < p < 1:
        raise ValueError(f"a quantile needs 0 < p < 1, got {p}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2 * high
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2


def paired_t_interval(diffs: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, float]:
    """Mean of the per-seed differences and its t-interval; lo/hi nan below 2 differences (no
    spread can be estimated). Non-finite differences are dropped."""
    kept = np.asarray([d for d in diffs if d is not None and math.isfinite(d)], dtype=float)
    n = int(kept.size)
    if n == 0:
        return {"diff": math.nan, "lo": math.nan, "hi": math.nan, "n": 0, "sd": math.nan}
    mean = math.fsum(kept) / n  # exact sum: differences that cancel give 0, not 1e-17
    if n < 2:
        return {"diff": mean, "lo": math.nan, "hi": math.nan, "n": n, "sd": math.nan}
    sd = float(kept.std(ddof=1))
    half = t_quantile((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)
    return {"diff": mean, "lo": mean - half, "hi": mean + half, "n": n, "sd": sd}


def example_bootstrap(method: Mapping[int, Mapping[str, float]], baseline: Mapping[int, Mapping[str, float]],
                      samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE,
                      seed: int = BOOTSTRAP_SEED) -> dict[str, float]:
    """Paired percentile bootstrap over test examples. `method[seed][example]` and
    `baseline[seed][example]` are per-example scores (an example's contribution to the metric);
    pairs are (seed, example) present in both, each example's difference is averaged over its
    seeds, and examples are resampled. lo/hi nan below 2 examples."""
    per_example: dict[str, list[float]] = {}
    for run_seed in sorted(set(method) & set(baseline)):
        ours, theirs = method[run_seed], baseline[run_seed]
        for example in sorted(set(ours) & set(theirs)):
            a, b = ours[example], theirs[example]
            if math.isfinite(a) and math.isfinite(b):
                per_example.setdefault(example, []).append(a - b)
    diffs = [float(np.mean(per_example[e])) for e in sorted(per_example)]
    if not diffs:
        return {"diff": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    if len(diffs) < 2:
        return {"diff": diffs[0], "lo": math.nan, "hi": math.nan, "n": 1}
    low, high = bootstrap_ci(diffs, seed, samples, confidence)
    return {"diff": float(np.mean(diffs)), "lo": low, "hi": high, "n": len(diffs)}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _excludes_zero(interval: Mapping[str, float]) -> bool:
    return interval["lo"] > 0 or interval["hi"] < 0


def verdict(seeds: Mapping[str, float], examples: Mapping[str, float] | None) -> tuple[str, str]:
    """(EXCLUDES | INCLUDES | UNDETERMINED, reason). `examples` is None where no per-example
    outcomes are recorded for the metric. A difference excludes zero only when every available
    interval does; undetermined when one of them cannot be computed, or when the t-interval alone
    has zero width (the same difference on every seed: nothing measured bounds it)."""
    if math.isnan(seeds["lo"]):
        return UNDETERMINED, f"{_count(seeds['n'], 'paired seed')}; a t-interval needs 2"
    if not _excludes_zero(seeds):
        return INCLUDES, ""
    if examples is not None:
        if math.isnan(examples["lo"]):
            return UNDETERMINED, f"{_count(examples['n'], 'paired example')}; a bootstrap needs 2"
        return (EXCLUDES, "") if _excludes_zero(examples) else (INCLUDES, "")
    if seeds["lo"] == seeds["hi"]:
        return UNDETERMINED, "the same difference on every seed and no per-example outcomes to bound it"
    return EXCLUDES, ""
