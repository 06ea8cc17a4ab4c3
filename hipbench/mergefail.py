"""MergeFail (PROTOCOLS.md section 3; HiP-LoRA paper, appendix C.3): instances, failures, CIs.

Pure functions of recorded accuracies; randomness only through an explicitly seeded numpy
generator.

- A **merge instance** of size t is a set of t distinct tasks. `draw_instances` returns distinct
  subsets only: when the suite has at most as many subsets of size t as instances are asked for
  (4 tasks give C(4, 2) = 6, C(4, 3) = 4, C(4, 4) = 1 < 20), every subset is used once;
  otherwise `n` distinct subsets are drawn uniformly without replacement. A repeated subset would
  give the same merged model again (the adapters are fixed for a seed), so counting it twice
  would only narrow the confidence interval without adding information.
- An instance **fails** when any task in it drops below `tau * a_single(task)`, tau = 0.9
  (`instance_failed`); `MergeFail(t)` is the fraction of failed instances (`mergefail`).
  A task whose single-task accuracy is 0 cannot drop, so it never fails an instance.
- **Retention** of a task in an instance is `a_merged / a_single` (nan when `a_single` is 0).
- Confidence intervals are 95% percentile bootstraps over instances (`bootstrap_ci`); the
  difference between two methods resamples the same instances for both (`paired_difference`),
  which is why every method is evaluated on the same instances.
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np

TAU = 0.9
BOOTSTRAP_SAMPLES = 10_000
CONFIDENCE = 0.95
_EPS = 1e-12  # an accuracy exactly at the threshold is retained, whatever the float rounding


def draw_instances(n_tasks: int, size: int, n: int, rng: np.random.Generator) -> tuple[list[tuple[int, ...]], int]:
    """Up to `n` distinct task subsets (sorted index tuples) of `size` out of `n_tasks`, and how
    many distinct subsets exist. All of them, in lexicographic order, when there are at most
    `n`; otherwise `n` distinct ones in the order drawn (each draw uniform, repeats rejected)."""
    if n < 1:
        raise ValueError(f"--merge-instances must be at least 1 (got {n})")
    if not 1 <= size <= n_tasks:
        raise ValueError(f"merge size {size} is not in 1..{n_tasks}")
    available = math.comb(n_tasks, size)
    if available <= n:
        return list(itertools.combinations(range(n_tasks), size)), available
    chosen: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    while len(chosen) < n:
        subset = tuple(sorted(int(i) for i in rng.choice(n_tasks, size=size, replace=False)))
        if subset not in seen:
            seen.add(subset)
            chosen.append(subset)
    return chosen, available


def retention(merged: float, single: float) -> float:
    """a_merged / a_single; nan when the single-task adapter scored 0 (nothing to retain)."""
    return float(merged) / float(single) if single > 0 else math.nan


def instance_failed(merged: Sequence[float], single: Sequence[float], tau: float = TAU) -> bool:
    """True when any task of the instance has `a_merged < tau * a_single` (appendix C.3)."""
    if len(merged) != len(single) or not merged:
        raise ValueError(f"an instance needs one merged and one single accuracy per task, "
                         f"got {len(merged)} and {len(single)}")
    return any(m < tau * s - _EPS for m, s in zip(merged, single))


def mergefail(failed: Sequence[bool]) -> float:
    """MergeFail = fraction of failed instances; nan when there are none."""
    return float(np.mean(np.asarray(failed, dtype=float))) if len(failed) else math.nan


def bootstrap_ci(values: Sequence[float], seed: int | Sequence[int], samples: int = BOOTSTRAP_SAMPLES,
                 confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (one value per instance): resample the
    instances with replacement `samples` times. Deterministic for a given seed; (nan, nan) for
    no values, and the single value twice for one (no spread can be estimated)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(samples, data.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def paired_difference(failed_a: Sequence[bool], failed_b: Sequence[bool], seed: int | Sequence[int],
                      samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE) -> dict[str, float]:
    """MergeFail(A) - MergeFail(B) on the same instances, with a paired bootstrap CI: each
    resample draws instances once and takes both methods' outcomes on them, so the variation
    that comes from which subsets were drawn cancels. `failed_a[i]` and `failed_b[i]` must be the
    same instance."""
    if len(failed_a) != len(failed_b):
        raise ValueError(f"paired difference needs the same instances: {len(failed_a)} vs {len(failed_b)}")
    diff = np.asarray(failed_a, dtype=float) - np.asarray(failed_b, dtype=float)
    low, high = bootstrap_ci(diff, seed, samples, confidence)
    return {"diff": float(diff.mean()) if diff.size else math.nan, "lo": low, "hi": high, "n": int(diff.size)}


def summarize_size(instances: Sequence[Sequence[str]], merged: Sequence[Sequence[float]],
                   single: dict[str, float], seed: int | Sequence[int], tau: float = TAU) -> dict:
    """Everything recorded for one merge size: per-instance failure and per-task retention,
    MergeFail with its bootstrap CI, mean retention and mean retention per task, and the share of
    (instance, task) pairs below tau (`pair_failure`, a finer view than the instance-level rule)."""
    if len(instances) != len(merged):
        raise ValueError(f"{len(instances)} instances but {len(merged)} rows of merged accuracies")
    failed, retained = [], []
    by_task: dict[str, list[float]] = {}
    for tasks, accuracies in zip(instances, merged):
        singles = [single[task] for task in tasks]
        failed.append(instance_failed(accuracies, singles, tau))
        row = [retention(m, s) for m, s in zip(accuracies, singles)]
        retained.append(row)
        for task, value in zip(tasks, row):
            by_task.setdefault(task, []).append(value)
    low, high = bootstrap_ci(failed, seed)
    pairs = [m < tau * single[task] - _EPS for tasks, row in zip(instances, merged) for task, m in zip(tasks, row)]
    return {"failed": failed, "retention": retained, "mergefail": mergefail(failed), "lo": low, "hi": high,
            "pair_failure": mergefail(pairs),
            "mean_retention": _nanmean([v for row in retained for v in row]),
            "retention_by_task": {task: _nanmean(values) for task, values in sorted(by_task.items())}}


def _nanmean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan
