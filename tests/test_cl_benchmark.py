"""The `cl-benchmark` loader on tiny fixture files written here (the real data is never copied into
the repository), plus one test on the shared real data, skipped when it is absent."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hipbench.suite import Suite, SuiteDataError
from hipbench.tasks import cl_benchmark

REAL_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cl_benchmark"
ORDER = (("G", "first"), ("H", "second"))


def write_task(root: Path, group: str, name: str, labels, train=None, test=None) -> Path:
    """A task folder; a split given as a str is written verbatim (for broken JSON)."""
    folder = root / group / name
    folder.mkdir(parents=True)
    (folder / "labels.json").write_text(labels if isinstance(labels, str) else json.dumps(labels))
    for split, content in (("train", train), ("test", test)):
        if content is not None:
            (folder / f"{split}.json").write_text(content if isinstance(content, str) else json.dumps(content))
    return folder


def records(n: int, labels, tag: str):
    return [{"sentence": f"{tag} sentence {i}", "label": labels[i % len(labels)]} for i in range(n)]


def two_tasks(root: Path) -> None:
    write_task(root, "G", "first", ["yes", "no"], records(20, ["yes", "no"], "tr"), records(10, ["yes", "no"], "te"))
    write_task(root, "H", "second", ["a", "b", "c"], records(30, ["a", "b", "c"], "tr"),
               records(9, ["a", "b", "c"], "te"))


def load(root: Path, order=ORDER, n_train: int = 6, n_test: int = 6) -> Suite:
    return cl_benchmark.load(root, order=order, n_train=n_train, n_test=n_test)


def test_spec_points_at_load_and_needs_data():
    spec = cl_benchmark.SUITE
    assert spec.name == "cl-benchmark" and spec.needs_data_dir and spec.load is cl_benchmark.load
    assert "\n" not in spec.description and spec.description
    assert cl_benchmark.DEFAULT_ORDER == (("TC", "dbpedia"), ("SC", "amazon"), ("TC", "agnews"),
                                          ("NLI", "MNLI"), ("BoolQA", "BoolQA"))


def test_loads_tasks_in_order_as_choice_examples(tmp_path):
    two_tasks(tmp_path)
    suite = load(tmp_path)
    assert suite.name == "cl-benchmark"
    assert [t.name for t in suite.tasks] == ["first", "second"]
    assert suite.definition["order"] == ["G/first", "H/second"]
    assert suite.definition["variant"] == "custom order"
    for task, labels, tag in zip(suite.tasks, (["yes", "no"], ["a", "b", "c"]), ("tr", "te")):
        assert task.scoring == "choice"
        assert len(task.train) == 6 and len(task.test) == 6
        for ex in task.train + task.test:
            assert ex.options == tuple(f" {label}" for label in labels)  # labels.json order
            assert ex.answer in ex.options
            assert ex.prompt.endswith("Answer:") and not ex.prompt.endswith(" ")
            assert f"Options: {', '.join(labels)}." in ex.prompt
        assert all(" tr sentence " in ex.prompt for ex in task.train)  # train from train.json
        assert all(" te sentence " in ex.prompt for ex in task.test)  # test from test.json
    # balanced labels: 6 over 2 labels = 3 + 3, 6 over 3 labels = 2 + 2 + 2
    assert Counter(ex.answer for ex in suite.tasks[0].train) == {" yes": 3, " no": 3}
    assert Counter(ex.answer for ex in suite.tasks[1].test) == {" a": 2, " b": 2, " c": 2}
    json.dumps(suite.definition)


def test_prompt_keeps_the_sentence_and_its_label_is_the_answer(tmp_path):
    write_task(tmp_path, "G", "first", ["yes", "no"], [{"sentence": "the sky is blue", "label": "no"}],
               [{"sentence": "Title: t\nText: grass is green", "label": "yes"}])
    task = load(tmp_path, order=ORDER[:1]).tasks[0]
    assert task.train[0].answer == " no"
    assert task.train[0].prompt == "Choose the right label. Options: yes, no.\nInput: the sky is blue\nAnswer:"
    # a sentence with its own "Field:" markers is not given another one
    assert task.test[0].prompt == "Choose the right label. Options: yes, no.\nTitle: t\nText: grass is green\nAnswer:"


def test_named_task_uses_its_template(tmp_path):
    write_task(tmp_path, "TC", "dbpedia", ["Company", "Film"], records(4, ["Company", "Film"], "tr"),
               records(4, ["Company", "Film"], "te"))
    ex = load(tmp_path, order=(("TC", "dbpedia"),), n_train=2, n_test=2).tasks[0].test[0]
    assert ex.prompt.startswith("What is the topic of this text? Options: Company, Film.\nText: te sentence ")


def test_long_sentences_are_shortened_keeping_the_short_lines(tmp_path):
    passage = " ".join(["word"] * 400)
    sentence = f"question: is it long\npassage: {passage}"
    write_task(tmp_path, "G", "first", ["True", "False"], [{"sentence": sentence, "label": "True"}],
               [{"sentence": "paragraph: " + passage + "\nquestion: why\ncandidate answer: because", "label": "False"}])
    task = load(tmp_path, order=ORDER[:1]).tasks[0]
    train_body = task.train[0].prompt.split("\n", 1)[1].rsplit("\nAnswer:", 1)[0]
    test_body = task.test[0].prompt.split("\n", 1)[1].rsplit("\nAnswer:", 1)[0]
    for body in (train_body, test_body):
        assert len(body) <= cl_benchmark.MAX_CHARS
        assert body.endswith(("...", "because"))
    assert train_body.startswith("question: is it long\npassage: word word") and train_body.endswith(" ...")
    assert test_body.endswith(" ...\nquestion: why\ncandidate answer: because")  # question survives
    assert cl_benchmark.shorten("short\ntext") == "short\ntext"
    assert len(cl_benchmark.shorten("\n".join(["ab"] * 400))) <= cl_benchmark.MAX_CHARS


def test_loading_is_deterministic_and_independent_of_the_order(tmp_path):
    two_tasks(tmp_path)
    first = load(tmp_path)
    assert first == load(tmp_path)
    alone = load(tmp_path, order=ORDER[1:])
    reversed_ = load(tmp_path, order=ORDER[::-1])
    assert alone.tasks[0] == first.tasks[1] == reversed_.tasks[0]
    # sampled and shuffled, not the file's first records in file order
    chosen = [ex.prompt.split("\n")[1] for ex in first.tasks[1].train]
    assert chosen != [f"Input: tr sentence {i}" for i in range(6)]
    assert chosen != sorted(chosen, key=lambda line: int(line.rsplit(" ", 1)[1]))


def test_sizes_are_capped_by_the_data(tmp_path):
    two_tasks(tmp_path)
    suite = load(tmp_path, n_train=1000, n_test=1000)
    assert [(len(t.train), len(t.test)) for t in suite.tasks] == [(20, 10), (30, 9)]
    assert [(i["train"], i["test"]) for i in suite.definition["tasks"]] == [(20, 10), (30, 9)]


@pytest.mark.parametrize("present", ["train", "test"])
def test_carves_a_disjoint_split_when_one_file_is_missing(tmp_path, present):
    data = records(40, ["yes", "no"], "only")
    write_task(tmp_path, "G", "first", ["yes", "no"], **{present: data})
    suite = load(tmp_path, order=ORDER[:1], n_train=30, n_test=8)
    task, info = suite.tasks[0], suite.definition["tasks"][0]
    assert len(task.test) == 8 and len(task.train) == 30
    assert {ex.prompt for ex in task.train}.isdisjoint({ex.prompt for ex in task.test})
    assert Counter(ex.answer for ex in task.test) == {" yes": 4, " no": 4}  # stratified carve
    missing = "test" if present == "train" else "train"
    assert info["carved"] == f"{missing} carved from {present}.json (disjoint)"
    assert info["files"] == [f"G/first/{present}.json"]
    assert info["pool"] == {f"{present}.json": 40}
    # everything not carved for test is available for training
    assert len(load(tmp_path, order=ORDER[:1], n_train=1000, n_test=8).tasks[0].train) == 32
    assert suite == load(tmp_path, order=ORDER[:1], n_train=30, n_test=8)


def test_carving_a_tiny_file_takes_half_and_drops_duplicate_text(tmp_path):
    data = records(6, ["yes", "no"], "d") * 2  # every sentence twice
    write_task(tmp_path, "G", "first", ["yes", "no"], test=data)
    task = load(tmp_path, order=ORDER[:1], n_train=100, n_test=100).tasks[0]
    assert len(task.test) == 6  # half of 12
    assert {ex.prompt for ex in task.train}.isdisjoint({ex.prompt for ex in task.test})


def test_split_files_given_are_used_as_published(tmp_path):
    two_tasks(tmp_path)
    info = load(tmp_path).definition["tasks"]
    assert [i["carved"] for i in info] == [None, None]
    assert info[0]["files"] == ["G/first/train.json", "G/first/test.json"]
    assert info[0]["pool"] == {"train.json": 20, "test.json": 10}
    assert info[0]["train_pool_test_overlap"] == 0


def test_records_without_gold_label_are_dropped_and_counted(tmp_path):
    test = records(6, ["yes", "no"], "te") + [{"sentence": "undecided", "label": "-"}]
    write_task(tmp_path, "G", "first", ["yes", "no"], records(6, ["yes", "no"], "tr"), test)
    suite = load(tmp_path, order=ORDER[:1], n_train=6, n_test=10)
    assert suite.definition["tasks"][0]["dropped_without_gold_label"] == {"test.json": 1}
    assert len(suite.tasks[0].test) == 6


def test_definition_records_the_default_variant_and_the_seed(tmp_path):
    for group, name in cl_benchmark.DEFAULT_ORDER:
        write_task(tmp_path, group, name, ["x", "y"], records(4, ["x", "y"], "tr"), records(4, ["x", "y"], "te"))
    definition = cl_benchmark.load(tmp_path, n_train=2, n_test=2).definition
    assert definition["variant"].startswith("variant-5") and "order 1" in definition["variant"]
    assert definition["order"] == ["TC/dbpedia", "SC/amazon", "TC/agnews", "NLI/MNLI", "BoolQA/BoolQA"]
    assert definition["seed"] == cl_benchmark.SEED
    assert (definition["n_train"], definition["n_test"]) == (2, 2)
    json.dumps(definition)


# --- errors: one-line SuiteDataError naming the file, record index and field --------------------------

def _raises(root: Path, *patterns: str, order=ORDER[:1]) -> str:
    with pytest.raises(SuiteDataError) as caught:
        load(root, order=order)
    message = str(caught.value)
    assert "\n" not in message
    for pattern in patterns:
        assert pattern in message, message
    return message


@pytest.mark.parametrize("content,parts", [
    ('[{"sentence": 1', ["test.json", "invalid JSON at line 1 column"]),
    ('[\n{"sentence": "s", "label": "yes"},\n]', ["test.json", "invalid JSON at line 3 column 1"]),
    ({"sentence": "s", "label": "yes"}, ["test.json", "expected a JSON list"]),
    ([{"sentence": "s", "label": "yes"}, "oops"], ["test.json", "record 1 is not an object"]),
    ([{"sentence": "s", "label": "yes"}, {"label": "yes"}], ["test.json", "record 1", "field 'sentence'", "missing"]),
    ([{"sentence": "s"}], ["test.json", "record 0", "field 'label'", "missing"]),
    ([{"sentence": 3, "label": "yes"}], ["test.json", "record 0", "field 'sentence'", "int"]),
    ([{"sentence": "s", "label": True}], ["test.json", "record 0", "field 'label'", "bool"]),
    ([{"sentence": "  ", "label": "yes"}], ["test.json", "record 0", "field 'sentence' is empty"]),
    ([{"sentence": "s", "label": "yes"}, {"sentence": "s", "label": "maybe"}],
     ["test.json", "record 1", "label 'maybe' not in labels.json", "field 'label'"]),
    ([], ["test.json", "empty split"]),
    ([{"sentence": "s", "label": "-"}], ["test.json", "empty split"]),
])
def test_bad_test_records_are_named_by_file_index_and_field(tmp_path, content, parts):
    folder = write_task(tmp_path, "G", "first", ["yes", "no"], records(4, ["yes", "no"], "tr"), content)
    message = _raises(tmp_path, *parts)
    assert str(folder / "test.json") in message


def test_bad_train_records_name_train_json(tmp_path):
    folder = write_task(tmp_path, "G", "first", ["yes", "no"],
                        records(3, ["yes", "no"], "tr") + [{"sentence": "s", "label": "nope"}],
                        records(4, ["yes", "no"], "te"))
    _raises(tmp_path, str(folder / "train.json"), "record 3", "label 'nope'")


def test_errors_in_a_later_task_name_that_task(tmp_path):
    write_task(tmp_path, "G", "first", ["yes", "no"], records(4, ["yes", "no"], "tr"), records(4, ["yes", "no"], "te"))
    folder = write_task(tmp_path, "H", "second", ["a"], records(2, ["a"], "tr"), [{"sentence": "s", "label": 1}])
    _raises(tmp_path, str(folder / "test.json"), "record 0", "field 'label'", order=ORDER)


@pytest.mark.parametrize("labels,part", [
    ("[\"yes\", ", "invalid JSON"),
    ({"yes": 1}, "expected a JSON list"),
    ([], "empty list of labels"),
    (["yes", 2], "label 1 is 2"),
    (["yes", "yes"], "duplicate labels ['yes']"),
])
def test_bad_labels_file_is_named(tmp_path, labels, part):
    folder = write_task(tmp_path, "G", "first", labels, records(4, ["yes", "no"], "tr"))
    _raises(tmp_path, str(folder / "labels.json"), part)


def test_missing_files_and_directories_are_named(tmp_path):
    with pytest.raises(SuiteDataError, match="--data-dir is required for suite cl-benchmark"):
        cl_benchmark.load(None)
    with pytest.raises(SuiteDataError, match=f"data directory {tmp_path / 'nope'} does not exist"):
        cl_benchmark.load(tmp_path / "nope")
    _raises(tmp_path, "task folder", str(tmp_path / "G" / "first"), "does not exist")
    folder = tmp_path / "G" / "first"
    folder.mkdir(parents=True)
    _raises(tmp_path, str(folder / "labels.json"), "does not exist")
    (folder / "labels.json").write_text('["yes", "no"]')
    _raises(tmp_path, str(folder), "neither train.json nor test.json")
    (folder / "train.json").write_text(json.dumps([{"sentence": "only one", "label": "yes"}]))
    _raises(tmp_path, str(folder / "train.json"), "cannot carve")


def test_bad_arguments_are_rejected(tmp_path):
    two_tasks(tmp_path)
    with pytest.raises(SuiteDataError, match="twice"):
        load(tmp_path, order=ORDER + ORDER[:1])
    with pytest.raises(SuiteDataError, match="empty"):
        load(tmp_path, order=())
    with pytest.raises(SuiteDataError, match="positive"):
        load(tmp_path, n_train=0)


# --- the shared real data -----------------------------------------------------------------------------

@pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"shared O-LoRA data not present at {REAL_DATA.resolve()}")
def test_reads_the_shared_real_data():
    suite = cl_benchmark.load(REAL_DATA)
    assert [t.name for t in suite.tasks] == ["dbpedia", "amazon", "agnews", "MNLI", "BoolQA"]
    assert suite.definition["variant"].startswith("variant-5")
    for task in suite.tasks:
        assert len(task.train) == cl_benchmark.N_TRAIN and len(task.test) == cl_benchmark.N_TEST
        assert all(ex.answer in ex.options for ex in task.train + task.test)
        assert all(ex.prompt.endswith("Answer:") for ex in task.train + task.test)
        assert {ex.prompt for ex in task.train}.isdisjoint({ex.prompt for ex in task.test})
        assert len({ex.answer for ex in task.test}) == len(task.test[0].options)  # every label is tested
    info = {i["task"]: i for i in suite.definition["tasks"]}
    assert info["TC/dbpedia"]["carved"] == "train carved from test.json (disjoint)"
    assert [i["carved"] for i in suite.definition["tasks"][1:]] == [None] * 4
    assert info["NLI/MNLI"]["dropped_without_gold_label"] == {"test.json": 131}
    assert suite.probes.facts and suite.preservation.texts
    json.dumps(suite.definition)
