"""Continual metrics on hand-made accuracy matrices with hand-computed values.

Every matrix has distinct entries so that the usual bugs (off-by-one rows, including the last task
in BWT, the diagonal instead of the base row in FWT, the diagonal instead of the running max in
forgetting, a transposed matrix) give a different number from the expected one.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from hipbench import metrics

# rows: base, after task 1, after task 2, after task 3; columns: tasks 1..3
R = np.array([
    [0.10, 0.20, 0.30],
    [0.90, 0.25, 0.35],
    [0.60, 0.80, 0.45],
    [0.50, 0.70, 0.95],
])

# task 1 peaks after task 2 (0.9), above its diagonal value (0.4); the base row (0.99) must not count;
# task 2 ends higher (0.6) than it ever was during the stream (0.3), so its term is negative.
PEAK_LATER = np.array([
    [0.99, 0.00, 0.00],
    [0.40, 0.10, 0.00],
    [0.90, 0.30, 0.00],
    [0.30, 0.60, 0.70],
])


def test_average_accuracy_reads_the_last_row():
    assert metrics.average_accuracy(R) == pytest.approx((0.50 + 0.70 + 0.95) / 3)


def test_bwt_is_negative_when_old_tasks_drop():
    # tasks 1..T-1 only: ((R[3][1] - R[1][1]) + (R[3][2] - R[2][2])) / 2 = ((0.5 - 0.9) + (0.7 - 0.8)) / 2
    assert metrics.backward_transfer(R) == pytest.approx(-0.25)


def test_bwt_is_positive_when_later_training_helps():
    up = np.array([[0.0, 0.0], [0.5, 0.1], [0.8, 0.9]])
    assert metrics.backward_transfer(up) == pytest.approx(0.3)  # 0.8 - 0.5


def test_bwt_of_peak_later_uses_the_diagonal():
    # ((0.3 - 0.4) + (0.6 - 0.3)) / 2
    assert metrics.backward_transfer(PEAK_LATER) == pytest.approx(0.1)


def test_fwt_uses_the_base_row_as_reference():
    # ((R[1][2] - R[0][2]) + (R[2][3] - R[0][3])) / 2 = ((0.25 - 0.20) + (0.45 - 0.30)) / 2
    assert metrics.forward_transfer(R) == pytest.approx(0.10)


def test_fwt_is_zero_when_nothing_moves_before_training():
    flat = np.array([[0.1, 0.2], [0.9, 0.2], [0.8, 0.7]])
    assert metrics.forward_transfer(flat) == pytest.approx(0.0)


def test_forgetting_uses_the_best_earlier_accuracy_not_the_diagonal():
    # task 1: max(0.9, 0.6) - 0.5 = 0.4; task 2: max(0.8) - 0.7 = 0.1
    assert metrics.forgetting(R) == pytest.approx(0.25)
    # task 1: max(R[1], R[2]) - R[3] = 0.9 - 0.3 = 0.6 (diagonal only: 0.1; with the base row: 0.69)
    # task 2: max(R[2]) - R[3] = 0.3 - 0.6 = -0.3 (with the final row in the max: 0.0)
    assert metrics.forgetting(PEAK_LATER) == pytest.approx((0.6 - 0.3) / 2)


def test_single_task_has_no_transfer_metrics():
    one = np.array([[0.1], [0.8]])
    assert metrics.average_accuracy(one) == pytest.approx(0.8)
    assert all(math.isnan(f(one)) for f in (metrics.backward_transfer, metrics.forward_transfer, metrics.forgetting))


@pytest.mark.parametrize("bad", [R[1:], R.T, R[:, :2], np.zeros((1, 0)), np.zeros(4), [[0.1, "x"], [0.2, 0.3]]])
def test_bad_shapes_are_rejected(bad):
    for function in (metrics.average_accuracy, metrics.backward_transfer, metrics.forward_transfer,
                     metrics.forgetting):
        with pytest.raises(ValueError, match=r"\(T\+1\) x T"):
            function(bad)


def test_fact_retention_ignores_facts_the_base_got_wrong():
    base = [True, True, False, True, False]
    after = [True, False, True, True, True]
    assert metrics.fact_retention(base, after) == pytest.approx(2 / 3)  # not 4/5 over all facts
    assert metrics.fact_retention([True, True], [False, False]) == 0.0
    assert math.isnan(metrics.fact_retention([False, False], [True, True]))
    with pytest.raises(ValueError, match="differ in length"):
        metrics.fact_retention([True], [True, False])


def test_nll_delta_and_perplexity_ratio():
    assert metrics.nll_delta(2.0, 2.5) == pytest.approx(0.5)
    assert metrics.nll_delta(2.5, 2.0) == pytest.approx(-0.5)
    assert metrics.perplexity_ratio(2.0, 2.5) == pytest.approx(math.exp(0.5))
    assert metrics.perplexity_ratio(3.0, 3.0) == 1.0


def rows_for(names, T):
    # value encodes the cell: 10 * after_task + column, so a transposed or shifted matrix shows
    return [{"after_task": i, "task": t, "metric": "accuracy", "value": 10 * i + j}
            for i in range(T + 1) for j, t in enumerate(names)]


def test_accuracy_matrix_from_rows_ignores_other_metrics_and_tasks():
    names = ["a", "b"]
    rows = list(reversed(rows_for(names, 2)))
    rows.append({"after_task": 0, "task": "general", "metric": "text_nll", "value": 9.0})
    rows.append({"after_task": 1, "task": "a", "metric": "loss", "value": 99.0})
    rows.append({"after_task": 2, "task": "other", "metric": "accuracy", "value": 99.0})
    R2 = metrics.accuracy_matrix(rows, names)
    assert R2.shape == (3, 2)
    assert R2.tolist() == [[0, 1], [10, 11], [20, 21]]


def test_accuracy_matrix_raises_on_missing_cell():
    names = ["a", "b"]
    rows = [r for r in rows_for(names, 2) if not (r["after_task"] == 1 and r["task"] == "b")]
    with pytest.raises(ValueError, match=r"task 'b' after task 1"):
        metrics.accuracy_matrix(rows, names)
    # the base row is required too
    rows = [r for r in rows_for(names, 2) if r["after_task"] != 0]
    with pytest.raises(ValueError, match=r"task 'a' after task 0"):
        metrics.accuracy_matrix(rows, names)


def test_accuracy_matrix_rejects_out_of_range_rows_and_bad_names():
    names = ["a"]
    rows = rows_for(names, 1) + [{"after_task": 2, "task": "a", "metric": "accuracy", "value": 0.5}]
    with pytest.raises(ValueError, match=r"after_task 2, expected an integer in 0..1"):
        metrics.accuracy_matrix(rows, names)
    rows = rows_for(names, 1) + [{"after_task": -1, "task": "a", "metric": "accuracy", "value": 0.5}]
    with pytest.raises(ValueError, match=r"after_task -1"):
        metrics.accuracy_matrix(rows, names)
    with pytest.raises(ValueError, match="at least one task"):
        metrics.accuracy_matrix([], [])
    with pytest.raises(ValueError, match="unique"):
        metrics.accuracy_matrix([], ["a", "a"])


def test_mean_std_uses_sample_std_and_skips_nan():
    mean, std, n = metrics.mean_std([1.0, 2.0, 3.0, 4.0, float("nan")])
    assert (mean, n) == (2.5, 4)
    assert std == pytest.approx(math.sqrt(5 / 3))  # ddof=1; population std would be sqrt(5/4)
    assert metrics.mean_std([5.0]) == (5.0, 0.0, 1)
    assert metrics.mean_std([5.0, float("nan")]) == (5.0, 0.0, 1)
    mean, std, n = metrics.mean_std([])
    assert n == 0 and math.isnan(mean) and math.isnan(std)


def test_continual_metrics_collects_everything():
    result = metrics.continual_metrics(R, [True, True, False], [True, False, True], 2.0, 2.25)
    assert set(result) == {"aa", "bwt", "fwt", "forgetting", "fact_retention", "nll_delta", "ppl_ratio"}
    assert result["aa"] == pytest.approx(2.15 / 3)
    assert result["bwt"] == pytest.approx(-0.25)
    assert result["fwt"] == pytest.approx(0.10)
    assert result["forgetting"] == pytest.approx(0.25)
    assert result["fact_retention"] == pytest.approx(0.5)
    assert result["nll_delta"] == pytest.approx(0.25)
    assert result["ppl_ratio"] == pytest.approx(math.exp(0.25))
    assert all(isinstance(v, float) for v in result.values())
    with pytest.raises(ValueError, match=r"\(T\+1\) x T"):
        metrics.continual_metrics(R[1:], [True], [True], 1.0, 1.0)
    with pytest.raises(ValueError, match="differ in length"):
        metrics.continual_metrics(R, [True], [True, False], 1.0, 1.0)
