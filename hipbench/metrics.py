"""Continual-learning metrics: pure functions of recorded measurements (no model code).

`R` is the (T+1) x T accuracy matrix: row 0 is the base model before any training, row i
(1..T) is measured after training on task i, column j (0-based) is task j+1. In the formulas
below tasks are 1-indexed, so "R[i][j]" means row i, task j, i.e. `R[i, j - 1]` in numpy.

- AA  = mean_j R[T][j]                                     (average accuracy after the stream)
- BWT = mean_{j<T} (R[T][j] - R[j][j])                     (Lopez-Paz & Ranzato, 2017, GEM eq. 3)
- FWT = mean_{j>1} (R[j-1][j] - R[0][j])                   (GEM eq. 4, base model as reference b_j)
- F   = mean_{j<T} max_{l in j..T-1} (R[l][j] - R[T][j])   (Chaudhry et al., 2018, RWalk)
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np


def _check(R) -> np.ndarray:
    """R as a float array, or ValueError unless it is (T+1) x T with T >= 1."""
    try:
        R = np.asarray(R, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"accuracy matrix must be a numeric (T+1) x T array: {error}") from None
    if R.ndim != 2 or R.shape[1] < 1 or R.shape[0] != R.shape[1] + 1:
        raise ValueError(f"accuracy matrix must be (T+1) x T with a base row (row 0), got shape {R.shape}")
    return R


def average_accuracy(R) -> float:
    """AA = mean_j R[T][j]: mean accuracy over all tasks after training on the last one."""
    R = _check(R)
    return float(R[-1].mean())


def backward_transfer(R) -> float:
    """BWT = mean_{j<T} (R[T][j] - R[j][j]) (Lopez-Paz & Ranzato, 2017, GEM eq. 3), over tasks
    1..T-1; negative means later training made earlier tasks worse (forgetting). nan for T = 1."""
    R = _check(R)
    T = R.shape[1]
    if T < 2:
        return math.nan
    return float(np.mean([R[T, j - 1] - R[j, j - 1] for j in range(1, T)]))


def forward_transfer(R) -> float:
    """FWT = mean_{j>1} (R[j-1][j] - R[0][j]) (GEM eq. 4 with the base model, row 0, as the
    reference b_j): how much training on tasks 1..j-1 helps task j before it is trained.
    nan for T = 1."""
    R = _check(R)
    T = R.shape[1]
    if T < 2:
        return math.nan
    return float(np.mean([R[j - 1, j - 1] - R[0, j - 1] for j in range(2, T + 1)]))


def forgetting(R) -> float:
    """F = mean_{j<T} max_{l in j..T-1} (R[l][j] - R[T][j]) (Chaudhry et al., 2018, RWalk):
    the drop from each earlier task's best accuracy during the stream (from the row where it was
    trained up to the row before the last; the base row is excluded) to its final accuracy.
    nan for T = 1."""
    R = _check(R)
    T = R.shape[1]
    if T < 2:
        return math.nan
    drops = [max(R[l, j - 1] for l in range(j, T)) - R[T, j - 1] for j in range(1, T)]
    return float(np.mean(drops))


def retained_facts(base_correct: Sequence[bool], after_correct: Sequence[bool]) -> dict[int, bool]:
    """Per probe fact the base model answers correctly (by index): still answered correctly after
    training? The per-example outcomes behind `fact_retention`, kept apart so that differences
    between methods can be resampled over facts (`hipbench.paired.example_bootstrap`)."""
    if len(base_correct) != len(after_correct):
        raise ValueError(f"fact lists differ in length: base has {len(base_correct)}, "
                         f"after has {len(after_correct)}")
    return {i: bool(after) for i, (base, after) in enumerate(zip(base_correct, after_correct)) if base}


def fact_retention(base_correct: Sequence[bool], after_correct: Sequence[bool]) -> float:
    """Of the probe facts the base model answers correctly, the share still answered correctly
    after training (facts the base got wrong are ignored). nan when the base knows none."""
    known = list(retained_facts(base_correct, after_correct).values())
    return float(sum(known) / len(known)) if known else math.nan


def nll_delta(base_nll: float, after_nll: float) -> float:
    """General-text NLL change per token, after minus base (positive = degraded)."""
    return float(after_nll - base_nll)


def perplexity_ratio(base_nll: float, after_nll: float) -> float:
    """exp(NLL_after - NLL_base) = PPL_after / PPL_base (> 1 = degraded)."""
    return float(math.exp(after_nll - base_nll))


def accuracy_matrix(rows: Iterable[dict], task_names: Sequence[str]) -> np.ndarray:
    """Build R from measurement rows {"after_task": i (0..T), "task": name, "metric": "accuracy",
    "value": v}; rows with another metric or a task not in `task_names` are ignored.
    ValueError naming the (after_task, task) cell when one is missing or out of range."""
    names = list(task_names)
    if not names:
        raise ValueError("accuracy matrix needs at least one task name")
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    T = len(names)
    column = {name: j for j, name in enumerate(names)}
    R = np.full((T + 1, T), np.nan)
    for row in rows:
        if row.get("metric") != "accuracy" or row.get("task") not in column:
            continue
        after = row.get("after_task")
        if isinstance(after, bool) or not isinstance(after, (int, np.integer)) or not 0 <= after <= T:
            raise ValueError(f"accuracy row for task '{row['task']}' has after_task {after!r}, "
                             f"expected an integer in 0..{T}")
        R[int(after), column[row["task"]]] = float(row["value"])
    missing = np.argwhere(np.isnan(R))
    if len(missing):
        i, j = missing[0]
        raise ValueError(f"no accuracy measured for task '{names[j]}' after task {i} "
                         f"(cell after_task={i}, task='{names[j]}'; {len(missing)} cell(s) missing)")
    return R


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof = 1; 0.0 for one value) and n, ignoring nan and
    None (n counts the values kept). (nan, nan, 0) when nothing is left."""
    kept = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not kept:
        return math.nan, math.nan, 0
    std = float(np.std(kept, ddof=1)) if len(kept) > 1 else 0.0
    return float(np.mean(kept)), std, len(kept)


def continual_metrics(R, base_fact_correct: Sequence[bool], final_fact_correct: Sequence[bool],
                      base_nll: float, final_nll: float) -> dict[str, float]:
    """All final metrics of one run: AA, BWT, FWT and F from R (see the module docstring), probe
    fact retention from base to final, and the general-text NLL delta and perplexity ratio."""
    R = _check(R)
    return {
        "aa": average_accuracy(R),
        "bwt": backward_transfer(R),
        "fwt": forward_transfer(R),
        "forgetting": forgetting(R),
        "fact_retention": fact_retention(base_fact_correct, final_fact_correct),
        "nll_delta": nll_delta(base_nll, final_nll),
        "ppl_ratio": perplexity_ratio(base_nll, final_nll),
    }
