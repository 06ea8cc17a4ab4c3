"""The built-in `edit` suite: counterfactual requests that never touch the probe facts or each
other's locality prompts, deterministic, with portability where the tables allow it."""
from __future__ import annotations

from collections import Counter

import pytest
import torch

from hipbench import registry
from hipbench.tasks import edit as edit_suite
from hipbench.tasks import edit_facts as facts
from hipbench.tasks import general


@pytest.fixture(scope="module")
def suite():
    return edit_suite.load()


def test_suite_is_registered_for_the_edit_protocol():
    spec = registry.suite_spec("edit")
    assert spec.protocol == "edit" and not spec.needs_data_dir


def test_no_request_edits_a_fact_of_the_general_probe_or_preservation_sets():
    pairs = {"capital": (facts.CAPITALS, general.CAPITALS), "symbol": (facts.SYMBOLS, general.SYMBOLS),
             "author": (facts.AUTHORS, [(book, f"{first} {last}") for book, first, last in general.AUTHORS]),
             "currency": (facts.CURRENCIES, general.CURRENCIES), "language": (facts.LANGUAGES, general.LANGUAGES)}
    for relation, (ours, theirs) in pairs.items():
        shared = {s for s, _ in ours} & {s for s, _ in theirs}
        assert not shared, f"{relation}: {shared} are general-set facts"
    general_prompts = {fact.prompt for fact in general.preservation_set().facts + general.probe_set().facts}
    assert not general_prompts & {r.prompt for r in edit_suite.build_requests()}


def test_targets_are_other_objects_of_the_same_relation(suite):
    objects = {rel.name: {f" {o}" for _, o in rel.rows} for rel in edit_suite.RELATIONS}
    for request in suite.edits:
        assert request.target_new != request.ground_truth
        assert request.target_new in objects[request.relation] and request.ground_truth in objects[request.relation]


def test_locality_prompts_are_anchors_that_no_request_edits(suite):
    anchors = {edit_suite.sentence(rel.prompt, s) for rel in edit_suite.RELATIONS
               for i, (s, _) in enumerate(rel.rows) if edit_suite.is_anchor(i)}
    edited = {r.prompt for r in suite.edits}
    assert not anchors & edited
    for request in suite.edits:
        assert len(request.locality) == 2 and {ex.prompt for ex in request.locality} <= anchors
        same_relation = edit_suite.RELATIONS[[r.name for r in edit_suite.RELATIONS].index(request.relation)]
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
    assert all(not r.portability for r in suite.edits if r.relation in ("continent", "author", "currency"))


def test_requests_are_deterministic_and_interleaved_over_relations(suite):
    assert edit_suite.load().edits == suite.edits
    assert [r.relation for r in suite.edits[:len(edit_suite.RELATIONS)]] == [r.name for r in edit_suite.RELATIONS]
    counts = Counter(r.relation for r in suite.edits)
    for relation in edit_suite.RELATIONS:  # every row but the anchors
        assert counts[relation.name] == len(relation.rows) - len(relation.rows) // edit_suite.ANCHOR_EVERY
    assert suite.limited(5).edits == suite.edits[:5]
    assert suite.definition["filter"] == edit_suite.BASE_FILTER


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
