"""Property-based tests (hypothesis) of MergeFail, its bootstrap, and the data loaders on
generated records: invariants that must hold for any input, not just the hand-made cases."""
from __future__ import annotations

import json
import math
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hipbench.edit_formats import load_edit_file
from hipbench.mergefail import _EPS, TAU, bootstrap_ci, instance_failed, mergefail, paired_difference
from hipbench.suite import SuiteDataError
from hipbench.tasks.cl_benchmark import load_task

accuracies = st.floats(0.0, 1.0, allow_nan=False)
outcomes = st.lists(st.booleans(), min_size=1, max_size=40)
# words without JSON- or whitespace-trouble, so a generated prompt survives a round trip as itself
words = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
phrases = st.lists(words, min_size=1, max_size=6).map(" ".join)
CASES = itertools.count()  # a fresh folder per generated example (tmp_path is shared by all of them)
FILES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(st.lists(st.tuples(accuracies, accuracies), min_size=1, max_size=6))
def test_an_instance_fails_exactly_when_some_task_keeps_less_than_tau(pairs):
    merged, single = [m for m, _ in pairs], [s for _, s in pairs]
    expected = any(m < TAU * s - _EPS for m, s in pairs)  # the rule's own tolerance (1e-9 here once disagreed)
    assert instance_failed(merged, single) == expected
    assert not instance_failed(single, single)  # a merge that loses nothing never fails


@given(outcomes, st.integers(0, 2**32 - 1))
def test_bootstrap_interval_brackets_mergefail_and_stays_in_unit_range(failed, seed):
    rate = mergefail(failed)
    low, high = bootstrap_ci(failed, seed, samples=400)
    assert 0.0 <= low <= high <= 1.0
    assert low - 1e-12 <= rate <= high + 1e-12  # the percentile interval of resampled means holds the mean
    if len(set(failed)) == 1:  # no spread: the interval is the point
        assert low == high == rate
    assert bootstrap_ci(failed, seed, samples=400) == (low, high)  # deterministic for a seed


@given(outcomes, st.integers(0, 2**32 - 1))
def test_paired_difference_of_a_method_with_itself_is_exactly_zero(failed, seed):
    result = paired_difference(failed, failed, seed, samples=200)
    assert result == {"diff": 0.0, "lo": 0.0, "hi": 0.0, "n": len(failed)}


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=40), st.integers(0, 1000))
def test_paired_difference_is_antisymmetric_and_equals_the_difference_of_rates(pairs, seed):
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    ab, ba = paired_difference(a, b, seed, samples=200), paired_difference(b, a, seed, samples=200)
    assert math.isclose(ab["diff"], mergefail(a) - mergefail(b), abs_tol=1e-12)
    assert math.isclose(ab["diff"], -ba["diff"], abs_tol=1e-12)
    assert math.isclose(ab["lo"], -ba["hi"], abs_tol=1e-9) and math.isclose(ab["hi"], -ba["lo"], abs_tol=1e-9)


def _write_task(folder: Path, labels: list[str], train: list[dict] | None, test: list[dict] | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.json").write_text(json.dumps(labels))
    for split, rows in (("train", train), ("test", test)):
        if rows is not None:
            (folder / f"{split}.json").write_text(json.dumps(rows))


@st.composite
def labelled_splits(draw):
    labels = draw(st.lists(words, min_size=2, max_size=4, unique=True))
    row = st.fixed_dictionaries({"sentence": phrases, "label": st.sampled_from(labels)})
    train = draw(st.lists(row, min_size=2, max_size=30))
    test = draw(st.lists(row, min_size=2, max_size=30))
    return labels, train, test


@FILES
@given(labelled_splits(), st.integers(1, 20), st.integers(1, 20))
def test_cl_benchmark_loader_keeps_labels_sizes_and_records_of_generated_files(tmp_path, splits, n_train, n_test):
    labels, train, test = splits
    folder = tmp_path / f"case{next(CASES)}" / "G" / "task"
    _write_task(folder, labels, train, test)
    task, info = load_task(folder, n_train, n_test)
    assert len(task.train) == min(n_train, len(train)) and len(task.test) == min(n_test, len(test))
    assert all(ex.options == tuple(f" {label}" for label in labels) for ex in task.train + task.test)
    assert all(ex.answer in ex.options for ex in task.train + task.test)
    for examples, rows in ((task.train, train), (task.test, test)):  # each example is a record of its split
        for ex in examples:
            assert any(r["sentence"] in ex.prompt and f" {r['label']}" == ex.answer for r in rows)
    assert info["train"] == len(task.train) and info["test"] == len(task.test) and info["carved"] is None


@FILES
@given(labelled_splits())
def test_a_carved_test_split_shares_no_sentence_with_training(tmp_path, splits):
    labels, rows, _ = splits
    folder = tmp_path / f"case{next(CASES)}" / "G" / "task"
    _write_task(folder, labels, rows, None)
    try:
        task, info = load_task(folder, 50, 50)
    except SuiteDataError as error:  # too few distinct sentences to carve two splits: said in one line
        assert "\n" not in str(error) and str(folder) in str(error)
        return
    assert info["carved"] and set(ex.prompt for ex in task.train).isdisjoint(ex.prompt for ex in task.test)


@st.composite
def easyedit_requests(draw):
    request = {"prompt": draw(phrases), "subject": draw(words), "target_new": draw(phrases),
               "ground_truth": draw(phrases), "rephrase_prompt": draw(phrases),
               "locality_prompt": draw(phrases), "locality_ground_truth": draw(phrases)}
    return request


@FILES
@given(st.lists(easyedit_requests(), min_size=1, max_size=8))
def test_easyedit_requests_load_as_written(tmp_path, requests):
    path = tmp_path / f"edits{next(CASES)}.json"
    path.write_text(json.dumps(requests))
    kind, loaded = load_edit_file(path)
    assert kind == "easyedit" and len(loaded) == len(requests)
    for written, request in zip(requests, loaded):
        assert request.prompt == written["prompt"] and request.subject == written["subject"]
        assert request.target_new.strip() == written["target_new"]
        assert request.target_new.startswith(" ")  # continuations are appended to the prompt verbatim
        assert request.ground_truth.strip() == written["ground_truth"]
        assert request.rephrase_prompts == (written["rephrase_prompt"],)
        assert [(ex.prompt, ex.answer.strip()) for ex in request.locality] == \
            [(written["locality_prompt"], written["locality_ground_truth"])]


@FILES
@given(st.lists(easyedit_requests(), min_size=2, max_size=8), st.data())
def test_a_record_missing_its_target_is_reported_by_index_and_field(tmp_path, requests, data):
    broken = data.draw(st.integers(1, len(requests) - 1))
    del requests[broken]["target_new"]
    path = tmp_path / f"bad{next(CASES)}.json"
    path.write_text(json.dumps(requests))
    with pytest.raises(SuiteDataError) as error:
        load_edit_file(path)
    message = str(error.value)
    assert "\n" not in message and f"record {broken}" in message and "target_new" in message
