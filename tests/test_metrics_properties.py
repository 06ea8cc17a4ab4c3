"""Properties of the continual metrics on generated accuracy matrices (hypothesis).

Each property follows from the definitions in hipbench/metrics.py; a wrong index (an off-by-one
between the base row and task rows, say) breaks at least one of them on some matrix."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hipbench import metrics

accuracy = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def matrices(draw, min_tasks: int = 1, max_tasks: int = 7) -> np.ndarray:
    tasks = draw(st.integers(min_tasks, max_tasks))
    return draw(arrays(np.float64, (tasks + 1, tasks), elements=accuracy))


@settings(max_examples=200, deadline=None)
@given(matrices())
def test_aa_is_the_mean_of_the_last_row_and_stays_in_range(R):
    aa = metrics.average_accuracy(R)
    assert 0.0 <= aa <= 1.0
    assert math.isclose(aa, sum(R[-1]) / R.shape[1], abs_tol=1e-12)


@settings(max_examples=200, deadline=None)
@given(matrices(min_tasks=2))
def test_forgetting_is_at_least_minus_bwt(R):
    """F takes, per task, the best row from its own on; -BWT takes its own row: F >= -BWT."""
    assert metrics.forgetting(R) >= -metrics.backward_transfer(R) - 1e-12


@settings(max_examples=200, deadline=None)
@given(matrices(min_tasks=2), st.lists(st.floats(-0.5, 0.5), min_size=7, max_size=7))
def test_per_task_offsets_cancel_in_transfer_and_forgetting(R, offsets):
    """BWT, FWT and F compare cells of the same column, so adding a constant to a column (a task
    that is easier for every model) changes none of them; AA moves by the mean offset."""
    shift = np.asarray(offsets[: R.shape[1]])
    moved = R + shift
    for measure in (metrics.backward_transfer, metrics.forward_transfer, metrics.forgetting):
        assert math.isclose(measure(moved), measure(R), abs_tol=1e-9)
    assert math.isclose(metrics.average_accuracy(moved), metrics.average_accuracy(R) + shift.mean(), abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(matrices(min_tasks=2))
def test_a_stream_that_never_changes_a_learned_task_has_no_forgetting(R):
    """Freeze every column from the row where its task was trained: BWT = F = 0."""
    frozen = R.copy()
    for j in range(R.shape[1]):
        frozen[j + 1:, j] = R[j + 1, j]
    assert metrics.backward_transfer(frozen) == 0.0
    assert metrics.forgetting(frozen) == 0.0


@settings(max_examples=200, deadline=None)
@given(matrices(min_tasks=2))
def test_fwt_reads_only_the_cells_before_each_task_is_trained(R):
    """Changing cells at or below the diagonal row of each task (the task trained or later) must not
    change FWT, which compares R[j-1][j] with the base row."""
    changed = R.copy()
    for j in range(R.shape[1]):
        changed[j + 1:, j] = 1.0 - changed[j + 1:, j]
    assert math.isclose(metrics.forward_transfer(changed), metrics.forward_transfer(R), abs_tol=1e-12)


@settings(max_examples=100, deadline=None)
@given(matrices())
def test_accuracy_matrix_rebuilds_any_matrix_from_its_rows(R):
    names = [f"task-{j}" for j in range(R.shape[1])]
    rows = [{"after_task": i, "task": names[j], "metric": "accuracy", "value": float(R[i, j])}
            for i in range(R.shape[0]) for j in range(R.shape[1])]
    rows.reverse()  # order of measurement rows must not matter
    assert np.array_equal(metrics.accuracy_matrix(rows, names), R)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=50))
def test_fact_retention_counts_only_facts_the_base_knew(pairs):
    base = [b for b, _ in pairs]
    after = [a for _, a in pairs]
    value = metrics.fact_retention(base, after)
    known = [a for b, a in pairs if b]
    if not known:
        assert math.isnan(value)
    else:
        assert value == sum(known) / len(known)
        assert metrics.fact_retention(base, base) == 1.0
