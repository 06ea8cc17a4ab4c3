"""The built-in `continual` suite and the shared general-capability sets: data invariants only."""
from __future__ import annotations

import json
import random

import pytest

from hipbench.suite import GeneralSet, Suite, SuiteSpec
from hipbench.tasks import continual, general


@pytest.fixture(scope="module")
def suite() -> Suite:
    return continual.load()


def test_spec_points_at_load():
    assert isinstance(continual.SUITE, SuiteSpec)
    assert continual.SUITE.name == "continual" and not continual.SUITE.needs_data_dir
    assert continual.SUITE.load(None) == continual.load()


def test_loading_is_deterministic_and_leaves_global_random_alone(suite):
    random.seed(123)
    expected = random.random()
    random.seed(123)
    again = continual.load()
    assert random.random() == expected
    assert again == suite
    assert general.preservation_set() == general.preservation_set()
    assert general.probe_set() == general.probe_set()


def test_at_least_four_named_tasks(suite):
    assert suite.name == "continual"
    assert len(suite.tasks) >= 4
    names = [t.name for t in suite.tasks]
    assert len(set(names)) == len(names)
    assert names[0] == "fictional-capitals"
    for task in suite.tasks:
        assert task.scoring in ("choice", "exact")
        assert 300 <= len(task.train) <= 600, task.name
        assert 50 <= len(task.test) <= 100, task.name


def test_train_and_test_are_disjoint(suite):
    for task in suite.tasks:
        train_prompts = {ex.prompt for ex in task.train}
        assert not train_prompts & {ex.prompt for ex in task.test}, task.name
        assert len({ex.prompt for ex in task.test}) == len(task.test), f"{task.name}: duplicate test prompt"


def test_held_out_items_are_really_held_out(suite):
    tasks = {t.name: t for t in suite.tasks}
    # word codes: no test word appears in any training prompt
    codes = tasks["word-codes"]
    train_words = {ex.prompt.split(":", 1)[1].split("\n")[0].strip() for ex in codes.train
                   if ex.prompt.startswith("Word:")}
    test_words = {ex.prompt.split(":", 1)[1].split("\n")[0].strip() for ex in codes.test}
    assert train_words and not train_words & test_words
    for word in test_words:
        assert not any(f" {word}\n" in ex.prompt or f" {word} " in ex.prompt or f" {word}?" in ex.prompt
                       for ex in codes.train), word
    # number words: disjoint numbers
    numbers = tasks["number-words"]
    assert not {ex.prompt for ex in numbers.train} & {ex.prompt for ex in numbers.test}
    # arithmetic: no unordered operand pair in both splits
    def pairs(examples):
        out = set()
        for ex in examples:
            a, b = ex.prompt.removeprefix("Q: ").split(" =")[0].split(" + ")
            out.add(frozenset((int(a), int(b))))
        return out
    assert not pairs(tasks["arithmetic"].train) & pairs(tasks["arithmetic"].test)
    # fictional facts: the same facts, but the test phrasings never occur in training
    facts = tasks["fictional-capitals"]
    assert {ex.answer for ex in facts.test} == {ex.answer for ex in facts.train}
    train_templates = set(continual.CAPITAL_TRAIN)
    assert not train_templates & set(continual.CAPITAL_TEST)


def test_answers_are_correct(suite):
    tasks = {t.name: t for t in suite.tasks}
    for ex in tasks["arithmetic"].train + tasks["arithmetic"].test:
        a, b = ex.prompt.removeprefix("Q: ").split(" =")[0].split(" + ")
        assert int(ex.answer) == int(a) + int(b)
    assert continual.number_in_words(437) == "four hundred thirty-seven"
    assert continual.number_in_words(15) == "fifteen"
    assert continual.number_in_words(900) == "nine hundred"
    assert continual.number_in_words(210) == "two hundred ten"
    capital = dict(zip(continual.COUNTRIES, continual.CITIES))
    for ex in tasks["fictional-capitals"].train + tasks["fictional-capitals"].test:
        country = next(c for c in capital if c in ex.prompt)
        assert ex.answer == f" {capital[country]}"


def test_examples_are_well_formed(suite):
    for task in suite.tasks:
        for ex in task.train + task.test:
            assert ex.answer.startswith(" ") and not ex.answer.startswith("  "), (task.name, ex)
            assert ex.answer.strip(), (task.name, ex)
            assert ex.prompt and not ex.prompt.endswith(" "), (task.name, ex)
            if task.scoring == "choice":
                assert ex.answer in ex.options, (task.name, ex)
                assert len(set(ex.options)) == len(ex.options) >= 2, (task.name, ex)
                assert all(o.startswith(" ") for o in ex.options)
            else:
                assert ex.options == (), (task.name, ex)


def test_choice_option_order_is_shuffled(suite):
    for task in suite.tasks:
        if task.scoring == "choice":
            positions = {ex.options.index(ex.answer) for ex in task.test}
            assert len(positions) > 1, task.name


def test_prefix_is_a_mixed_sample(suite):
    """`--limit N` takes prefixes, so the first examples must not all be of one kind."""
    codes = next(t for t in suite.tasks if t.name == "word-codes")
    assert len({ex.answer for ex in codes.test[:16]}) >= 4
    facts = next(t for t in suite.tasks if t.name == "fictional-capitals")
    assert len({ex.answer for ex in facts.train[:16]}) >= 8
    probe_kinds = {ex.prompt.split(" ")[1] for ex in suite.probes.facts[:8]}
    assert len(probe_kinds) >= 4


def test_general_sets_are_disjoint_and_sized(suite):
    pres, probes = suite.preservation, suite.probes
    assert isinstance(pres, GeneralSet) and isinstance(probes, GeneralSet)
    assert pres == general.preservation_set() and probes == general.probe_set()
    for half in (pres, probes):
        assert 30 <= len(half.texts) <= 60
        assert 60 <= len(half.facts) <= 90
        assert len(set(half.texts)) == len(half.texts)
        assert len({f.prompt for f in half.facts}) == len(half.facts)
        for fact in half.facts:
            assert fact.answer.startswith(" ") and fact.answer.strip() and not fact.prompt.endswith(" ")
            assert fact.options == ()
    assert not set(pres.texts) & set(probes.texts)
    assert not {f.prompt for f in pres.facts} & {f.prompt for f in probes.facts}


def test_texts_do_not_give_away_probe_answers(suite):
    everything = " ".join(suite.preservation.texts + suite.probes.texts)
    for fact in suite.probes.facts + suite.preservation.facts:
        assert fact.prompt + fact.answer not in everything


def test_limited_caps_every_split(suite):
    small = suite.limited(5)
    assert len(small.tasks) == len(suite.tasks)
    for full, task in zip(suite.tasks, small.tasks):
        assert task.train == full.train[:5] and task.test == full.test[:5]
    for half in (small.preservation, small.probes):
        assert len(half.texts) <= 5 and len(half.facts) <= 5
    assert suite.limited(None) is suite


def test_definition_is_json_and_describes_the_tasks(suite):
    text = json.dumps(suite.definition, sort_keys=True)
    data = json.loads(text)
    assert data["generator_seed"] == continual.SEED
    assert [t["name"] for t in data["tasks"]] == [t.name for t in suite.tasks]
    for entry, task in zip(data["tasks"], suite.tasks):
        assert entry["train"] == len(task.train) and entry["test"] == len(task.test)
        assert entry["scoring"] == task.scoring
