"""The built-in `edit` suite: counterfactual requests that never touch the probe facts or each
other's locality prompts, deterministic, with portability where the tables allow it."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from hipbench import registry
from hipbench.records import read_measurements
from hipbench.tasks import edit as edit_suite
from hipbench.tasks import edit_facts as facts
from hipbench.tasks import edit_facts_extension as more
from hipbench.tasks import general

EVERY_RELATION = edit_suite.RELATIONS + edit_suite.EXTENSION
RUNS = Path(__file__).parents[1] / "leaderboards" / "runs" / "edit"
# sha256 of the first 439 requests as JSON: those of the tables before the extension, which the
# published records drew from (made with the code of commit b4da40b)
PUBLISHED_SHA256 = "09955846dc44f8b5871911abe4ce7b649c9dc70db57669e2dcc934bd27b8b956"


@pytest.fixture(scope="module")
def suite():
    return edit_suite.load()


def test_suite_is_registered_for_the_edit_protocol():
    spec = registry.suite_spec("edit")
    assert spec.protocol == "edit" and not spec.needs_data_dir


def test_no_request_edits_a_fact_of_the_general_probe_or_preservation_sets():
    pairs = {"capital": (facts.CAPITALS + more.MORE_CAPITALS + more.STATE_CAPITALS + more.PROVINCE_CAPITALS,
                         general.CAPITALS),
             "symbol": (facts.SYMBOLS + more.MORE_SYMBOLS, general.SYMBOLS),
             "author": (facts.AUTHORS + more.MORE_AUTHORS,
                        [(book, f"{first} {last}") for book, first, last in general.AUTHORS]),
             "currency": (facts.CURRENCIES + more.MORE_CURRENCIES, general.CURRENCIES),
             "language": (facts.LANGUAGES + more.MORE_LANGUAGES, general.LANGUAGES)}
    for relation, (ours, theirs) in pairs.items():
        shared = {s for s, _ in ours} & {s for s, _ in theirs}
        assert not shared, f"{relation}: {shared} are general-set facts"
    general_prompts = {fact.prompt for fact in general.preservation_set().facts + general.probe_set().facts}
    assert not general_prompts & {r.prompt for r in edit_suite.build_requests()}


def test_targets_are_other_objects_of_the_same_relation(suite):
    objects: dict[str, set[str]] = {}
    for rel in EVERY_RELATION:
        objects.setdefault(rel.name, set()).update(f" {o}" for _, o in rel.rows)
    for request in suite.edits:
        assert request.target_new != request.ground_truth
        assert request.target_new in objects[request.relation] and request.ground_truth in objects[request.relation]


def test_locality_prompts_are_anchors_that_no_request_edits(suite):
    anchors = {edit_suite.sentence(rel.prompt, s) for rel in EVERY_RELATION
               for i, (s, _) in enumerate(rel.rows) if edit_suite.is_anchor(i)}
    edited = {r.prompt for r in suite.edits}
    assert not anchors & edited
    for request in suite.edits:
        assert len(request.locality) == 2 and {ex.prompt for ex in request.locality} <= anchors
        same_relation = next(r for r in EVERY_RELATION if r.name == request.relation)
        assert request.locality[0].prompt.startswith(same_relation.prompt.split("{s}")[0])
    assert len(edited) == len(suite.edits)  # every request edits a different prompt


def test_portability_follows_the_counterfactual(suite):
    by_prompt = {r.prompt: r for r in suite.edits}
    poland = by_prompt["The capital of Poland is the city of"]
    assert poland.portability[0].prompt == f"{poland.target_new.strip()} is the capital of"
    assert poland.portability[0].answer == " Poland"
    munich = by_prompt["Munich is a city in the country of"]
    new_country = munich.target_new.strip()
    assert munich.portability[0].prompt == "In Munich, most people speak"
    assert munich.portability[0].answer == f" {facts.COUNTRY_LANGUAGE[new_country]}"
    assert facts.COUNTRY_LANGUAGE[new_country] != "German"
    moved = [r for r in suite.edits if r.relation in ("city-country", "landmark")]
    assert all(r.portability[0].answer != " English" for r in moved)  # the base model's default guess
    assert all(not r.portability for r in suite.edits
               if r.relation in ("continent", "author", "currency", "company-country", "city-state"))
    languages = {**facts.COUNTRY_LANGUAGE, **more.MORE_COUNTRY_LANGUAGES}
    for request in moved:  # the extension's too: the new country's language, never the old one's
        assert request.portability[0].answer == f" {languages[request.target_new.strip()]}"
        assert languages.get(request.ground_truth.strip()) != languages[request.target_new.strip()]


def test_requests_are_deterministic_and_interleaved_over_relations(suite):
    assert edit_suite.load().edits == suite.edits
    assert [r.relation for r in suite.edits[:len(edit_suite.RELATIONS)]] == [r.name for r in edit_suite.RELATIONS]
    counts = Counter(r.relation for r in suite.edits)
    expected: Counter = Counter()
    for relation in EVERY_RELATION:  # every row but the anchors
        expected[relation.name] += len(relation.rows) - len(relation.rows) // edit_suite.ANCHOR_EVERY
    assert counts == expected
    extension = suite.edits[edit_suite.PUBLISHED_REQUESTS:]  # interleaved among themselves too
    assert [r.relation for r in extension[:len(edit_suite.EXTENSION)]] == [r.name for r in edit_suite.EXTENSION]
    assert suite.limited(5).edits == suite.edits[:5]
    assert suite.definition["filter"] == edit_suite.BASE_FILTER


def test_the_published_requests_keep_their_order_and_meaning(suite):
    """The extension tables only append: the first 439 requests are those every record made before
    them edited, field for field (a changed table, draw or order changes the hash)."""
    published = suite.edits[:edit_suite.PUBLISHED_REQUESTS]
    text = json.dumps([dataclasses.asdict(r) for r in published], sort_keys=True, ensure_ascii=False)
    assert hashlib.sha256(text.encode()).hexdigest() == PUBLISHED_SHA256
    assert len(suite.edits) > edit_suite.PUBLISHED_REQUESTS
    assert edit_suite.build_requests()[:edit_suite.PUBLISHED_REQUESTS] == published


def test_the_published_records_edited_published_requests_in_suite_order(suite):
    """What each published edit record selected (its `selection` row) is a subsequence of the first
    439 requests: the same requests in the same order would be selected today. Records of before the
    extension chose among those 439 (all-train) or their validation share (tuning trials); records
    made after it among the test or validation side of all requests, whose first requests are the
    same (`test_the_published_requests_keep_their_side_of_the_validation_split`)."""
    from hipbench.leaderboard import config_value
    from hipbench.suite import hold_out_validation

    published = edit_suite.PUBLISHED_REQUESTS
    positions = {(r.prompt, r.target_new, r.ground_truth, r.relation): i
                 for i, r in enumerate(edit_suite.build_requests()[:published])}
    before = hold_out_validation(dataclasses.replace(suite, edits=suite.edits[:published], definition={
        k: v for k, v in suite.definition.items() if k != "published_requests"}))
    grown = hold_out_validation(suite)
    candidates = {"holdout-validation": {len(before.validation_edits), len(grown.validation_edits)},
                  "all-train": {published}, "holdout-test": {len(grown.edits)}}
    records = sorted(path.parent for path in RUNS.glob("*/*/*/metrics.json"))
    assert records
    for path in records:
        split = config_value(json.loads((path / "config.json").read_text())["config"], "data_split")
        rows = read_measurements(path / "measurements.jsonl", strict=True)
        selection = next(row for row in rows if row.get("stage") == "selection")
        picked = [positions[(e["prompt"], e["target_new"], e["ground_truth"], e["relation"])]
                  for e in selection["edits"]]
        assert picked == sorted(picked), path
        assert selection["filter_candidates"] in candidates[split], path


def test_the_published_requests_keep_their_side_of_the_validation_split(suite):
    """A run with --data-split holdout-* made before the extension edited (or validated on) the
    same published requests as one made after it."""
    from hipbench.suite import VALIDATION_SHARE, hold_out_validation

    grown = hold_out_validation(suite)
    published = edit_suite.PUBLISHED_REQUESTS
    before = hold_out_validation(dataclasses.replace(suite, edits=suite.edits[:published], definition={
        k: v for k, v in suite.definition.items() if k != "published_requests"}))
    assert grown.validation_edits[:len(before.validation_edits)] == before.validation_edits
    assert grown.edits[:len(before.edits)] == before.edits
    appended = len(suite.edits) - published
    assert len(grown.validation_edits) == len(before.validation_edits) + round(VALIDATION_SHARE * appended)
    assert set(grown.edits).isdisjoint(grown.validation_edits)


def test_extension_rows_are_new_facts_with_one_subject_each():
    for name in {r.name for r in EVERY_RELATION}:
        subjects = [s for r in EVERY_RELATION if r.name == name for s, _ in r.rows]
        assert len(subjects) == len(set(subjects)), f"{name}: a subject listed twice"
    for relation in edit_suite.EXTENSION:
        assert len({o for _, o in relation.rows}) >= 2, relation.name  # a counterfactual target exists


@pytest.mark.real_model
def test_default_model_knows_the_early_requests(suite):
    """The filter leaves enough edits: of the first 45 requests (5 per relation), the default model
    predicts the old answer of at least a third (on the whole table: 228 of 439, 52%)."""
    from hipbench.models import load_model
    from hipbench.scoring import teacher_forced

    loaded = load_model("smollm2-135m")
    first = suite.edits[:45]
    scores = teacher_forced(loaded.model, loaded.tokenizer, [(r.prompt, r.ground_truth) for r in first],
                            torch.device("cpu"), batch_size=45)
    assert sum(s.predicted == s.target for s in scores) >= 15
