"""The O-LoRA continual-learning benchmark format, read in place (Wang et al., 2023; data after
Qin & Joty's LFPT5 and de Masson d'Autume et al., 2019).

Layout: `DATA_DIR/GROUP/TASK/{train,test}.json` + `labels.json`; each split is a JSON list of
`{"sentence": str, "label": str}` with `label` one of `labels.json`. Every task becomes a
"choice" task over its label strings with an instruction template written here. The sentences
already carry their own field markers ("Title: ...\\nText: ...", "sentence 1: ...\\nsentence 2: ...",
"question: ...\\npassage: ..."), so the template only adds an instruction line with the options
and "Answer:"; a sentence without a marker (IMDB) gets the task's field name in front.

The literature's orders need Yahoo Answers, which the shared copy lacks, so the default stream
is a named variant, **variant-5** (dbpedia -> amazon -> agnews -> MNLI -> BoolQA), never "order 1".
Where a split is missing (dbpedia has only test.json; IMDB, yelp and MultiRC only train.json),
a test split is carved out of the present file with a fixed seed and the training examples are
drawn from the rest (no shared record, no shared sentence text); the definition records it.
Where both files exist they are used as published; sentences shared between the training pool
and the sampled test examples are counted in the definition (none in the shared copy).
Each task takes `N_TRAIN` training and `N_TEST` test records, sampled with `random.Random`
seeded from `SEED` and the task's folder (so a task's sample does not depend on the order),
balanced over labels as far as the data allows. Records labelled "-" (GLUE's "no gold label",
131 of them in MNLI's test.json) are dropped and counted.
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from hipbench.suite import Example, Suite, SuiteDataError, SuiteSpec, TaskData

VARIANT = "variant-5 (no Yahoo; not the literature's order 1, 2 or 3)"
DEFAULT_ORDER: tuple[tuple[str, str], ...] = (
    ("TC", "dbpedia"), ("SC", "amazon"), ("TC", "agnews"), ("NLI", "MNLI"), ("BoolQA", "BoolQA"))
N_TRAIN = 1000
N_TEST = 200
SEED = 1234
MAX_CHARS = 600  # per sentence, so that CPU runs stay cheap; the longest line is shortened first
ELLIPSIS = " ..."
NO_GOLD_LABEL = "-"  # GLUE's marker for pairs whose annotators did not agree: dropped, counted

# task folder name -> (instruction, field name used when the sentence carries no "Field:" marker)
TEMPLATES: dict[str, tuple[str, str]] = {
    "dbpedia": ("What is the topic of this text?", "Text"),
    "agnews": ("What is the topic of this news article?", "Article"),
    "yahoo": ("What is the topic of this question?", "Question"),
    "amazon": ("What is the rating of this review?", "Review"),
    "yelp": ("What is the rating of this review?", "Review"),
    "IMDB": ("What is the sentiment of this review?", "Review"),
    "SST-2": ("What is the sentiment of this sentence?", "Sentence"),
    "MNLI": ("What is the relation between sentence 1 and sentence 2?", "Sentences"),
    "RTE": ("Does sentence 1 entail sentence 2?", "Sentences"),
    "CB": ("What is the relation between sentence 1 and sentence 2?", "Sentences"),
    "QQP": ("Do the two questions ask the same thing?", "Questions"),
    "BoolQA": ("Based on the passage, is the answer to the question true or false?", "Input"),
    "MultiRC": ("Based on the paragraph, is the candidate answer to the question true or false?", "Input"),
    "WiC": ("Is the word used with the same meaning in both sentences?", "Input"),
    "COPA": ("Choose the right sentence.", "Input"),
}
GENERIC_TEMPLATE = ("Choose the right label.", "Input")
_FIELD_MARKER = re.compile(r"[A-Za-z][A-Za-z0-9 ]{0,24}:")


def _read_json(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SuiteDataError(f"{path}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise SuiteDataError(f"{path}: not UTF-8 text (byte {error.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SuiteDataError(f"{path}: invalid JSON at line {error.lineno} column {error.colno} "
                             f"(char {error.pos}): {error.msg}") from None


def _read_list(path: Path) -> list:
    data = _read_json(path)
    if not isinstance(data, list):
        raise SuiteDataError(f"{path}: expected a JSON list of records, got a JSON {type(data).__name__}")
    return data


def _read_labels(path: Path) -> list[str]:
    if not path.is_file():
        raise SuiteDataError(f"{path}: labels file does not exist")
    labels = _read_list(path)
    if not labels:
        raise SuiteDataError(f"{path}: empty list of labels")
    for index, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise SuiteDataError(f"{path}: label {index} is {label!r}, expected a non-empty string")
    duplicates = sorted(label for label, count in Counter(labels).items() if count > 1)
    if duplicates:
        raise SuiteDataError(f"{path}: duplicate labels {duplicates}")
    return labels


def _records(path: Path, labels: Sequence[str], dropped: dict[str, int]) -> list[tuple[str, str]]:
    """(sentence, label) pairs of one split file, checked record by record."""
    records = _read_list(path)
    if not records:
        raise SuiteDataError(f"{path}: empty split (no records)")
    allowed = set(labels)
    out = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise SuiteDataError(f"{path}: record {index} is not an object (got a JSON {type(record).__name__})")
        for field in ("sentence", "label"):
            if field not in record:
                raise SuiteDataError(f"{path}: record {index} has no string field '{field}' (missing)")
            if not isinstance(record[field], str):
                raise SuiteDataError(f"{path}: record {index} has no string field '{field}' "
                                     f"(got a JSON {type(record[field]).__name__})")
        if not record["sentence"].strip():
            raise SuiteDataError(f"{path}: record {index} field 'sentence' is empty")
        if record["label"] == NO_GOLD_LABEL and NO_GOLD_LABEL not in allowed:
            dropped[path.name] = dropped.get(path.name, 0) + 1
            continue
        if record["label"] not in allowed:
            raise SuiteDataError(f"{path}: record {index} has label '{record['label']}' not in labels.json "
                                 f"(field 'label'; allowed: {', '.join(labels)})")
        out.append((record["sentence"], record["label"]))
    if not out:
        raise SuiteDataError(f"{path}: empty split (every record lacks a gold label)")
    return out


def _stratified(records: list[tuple[str, str]], n: int, rng: random.Random) -> list[tuple[str, str]]:
    """Up to n records, labels as balanced as the data allows (round robin over the labels in
    sorted order, each label's records shuffled), returned in a shuffled order."""
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for record in records:
        by_label[record[1]].append(record)
    queues = [by_label[label] for label in sorted(by_label)]
    for queue in queues:
        rng.shuffle(queue)
    chosen: list[tuple[str, str]] = []
    while len(chosen) < n and any(queues):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop())
    rng.shuffle(chosen)
    return chosen


def shorten(text: str, limit: int = MAX_CHARS) -> str:
    """`text` stripped and cut to at most `limit` characters by shortening its longest line
    (a passage or review body) at a word boundary and marking the cut with " ...", so the short
    lines (question, candidate answer, title) survive."""
    text = text.strip()
    lines = text.split("\n")
    for _ in range(len(lines)):
        if len(text) <= limit:
            return text
        i = max(range(len(lines)), key=lambda k: len(lines[k]))
        if len(lines[i]) <= len(ELLIPSIS):
            break
        keep = len(lines[i]) - (len(text) - limit) - len(ELLIPSIS)
        cut = lines[i][:max(keep, 0)]
        if " " in cut[len(cut) // 2:]:
            cut = cut.rsplit(" ", 1)[0]
        lines[i] = (cut.rstrip() + ELLIPSIS).strip()
        text = "\n".join(lines)
    if len(text) > limit:  # many short lines: plain cut
        text = text[:limit - len(ELLIPSIS)].rstrip() + ELLIPSIS
    return text


def _prompt(name: str, labels: Sequence[str], sentence: str) -> str:
    instruction, field = TEMPLATES.get(name, GENERIC_TEMPLATE)
    body = shorten(sentence)
    if not _FIELD_MARKER.match(body):
        body = f"{field}: {body}"
    return f"{instruction} Options: {', '.join(labels)}.\n{body}\nAnswer:"


def load_task(folder: Path, n_train: int, n_test: int, root: Path | None = None) -> tuple[TaskData, dict]:
    """One task folder -> (TaskData, its entry in the suite definition)."""
    root = root or folder.parent.parent
    if not folder.is_dir():
        raise SuiteDataError(f"task folder {folder} does not exist")
    labels = _read_labels(folder / "labels.json")
    train_path, test_path = folder / "train.json", folder / "test.json"
    present = [p for p in (train_path, test_path) if p.is_file()]
    if not present:
        raise SuiteDataError(f"{folder}: neither train.json nor test.json exists")
    relative = folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(folder)
    rng = random.Random(f"{SEED}/{relative}")
    dropped: dict[str, int] = {}
    carved = None
    if len(present) == 2:
        train_pool, test_pool = _records(train_path, labels, dropped), _records(test_path, labels, dropped)
        pool_sizes = {"train.json": len(train_pool), "test.json": len(test_pool)}
        test = _stratified(test_pool, n_test, rng)
    else:
        source = present[0]
        pool = _records(source, labels, dropped)
        if len(pool) < 2:
            raise SuiteDataError(f"{source}: only {len(pool)} usable record(s), cannot carve a second split")
        pool_sizes = {source.name: len(pool)}
        test = _stratified(pool, min(n_test, len(pool) // 2), rng)
        taken = Counter(test)
        train_pool = []
        for record in pool:  # the rest, minus one copy of each record taken for test
            if taken[record]:
                taken[record] -= 1
            else:
                train_pool.append(record)
        carved = f"{'test' if source == train_path else 'train'} carved from {source.name} (disjoint)"
    test_sentences = {sentence for sentence, _ in test}
    overlap = sum(sentence in test_sentences for sentence, _ in train_pool)
    if carved:  # a carved split must not share text with the test examples (duplicates in the file)
        train_pool = [record for record in train_pool if record[0] not in test_sentences]
    train = _stratified(train_pool, n_train, rng)
    if not train or not test:
        raise SuiteDataError(f"{folder}: no {'training' if not train else 'test'} records left after carving")

    name = folder.name
    options = tuple(f" {label}" for label in labels)

    def example(record: tuple[str, str]) -> Example:
        return Example(_prompt(name, labels, record[0]), f" {record[1]}", options)

    task = TaskData(name, "choice", tuple(map(example, train)), tuple(map(example, test)),
                    f"{relative}: {len(labels)}-way choice over labels.json")
    info = {
        "task": relative,
        "files": [f"{relative}/{p.name}" for p in present],
        "pool": pool_sizes,
        "train": len(train),
        "test": len(test),
        "carved": carved,
        # pool records whose sentence is also a test example's: removed when carving, counted otherwise
        "train_pool_test_overlap": overlap,
        "dropped_without_gold_label": dropped,
        "labels": list(labels),
        "train_label_counts": dict(sorted(Counter(label for _, label in train).items())),
        "test_label_counts": dict(sorted(Counter(label for _, label in test).items())),
        "truncated_prompts": sum(len(s.strip()) > MAX_CHARS for s, _ in train + test),
    }
    return task, info


def load(data_dir: Path | None, *, order: Sequence[tuple[str, str]] = DEFAULT_ORDER, n_train: int = N_TRAIN,
         n_test: int = N_TEST) -> Suite:
    """The stream `order` of `DATA_DIR/GROUP/TASK` folders, `n_train`/`n_test` examples per task."""
    if data_dir is None:
        raise SuiteDataError("--data-dir is required for suite cl-benchmark")
    root = Path(data_dir)
    if not root.is_dir():
        raise SuiteDataError(f"data directory {root} does not exist")
    order = tuple((str(group), str(name)) for group, name in order)
    if not order:
        raise SuiteDataError("cl-benchmark: the task order is empty")
    if n_train < 1 or n_test < 1:
        raise SuiteDataError(f"cl-benchmark: n_train and n_test must be positive, got {n_train} and {n_test}")
    names = [name for _, name in order]
    if len(set(names)) != len(names):
        raise SuiteDataError(f"cl-benchmark: a task appears twice in the order {names}")
    tasks, infos = [], []
    for group, name in order:
        task, info = load_task(root / group / name, n_train, n_test, root)
        tasks.append(task)
        infos.append(info)

    from hipbench.tasks.general import preservation_set, probe_set

    definition = {
        "variant": VARIANT if order == DEFAULT_ORDER else "custom order",
        "order": [f"{group}/{name}" for group, name in order],
        "data_layout": "O-LoRA CL_Benchmark: GROUP/TASK/{train,test}.json + labels.json",
        "seed": SEED,
        "sampling": "random.Random(f'{seed}/{GROUP}/{TASK}'); labels balanced round robin; test drawn first",
        "n_train": n_train,
        "n_test": n_test,
        "max_chars": MAX_CHARS,
        "scoring": "choice over ' ' + each label of labels.json",
        "tasks": infos,
    }
    return Suite("cl-benchmark", tuple(tasks), preservation_set(), probe_set(), definition)


SUITE = SuiteSpec(name="cl-benchmark",
                  description="O-LoRA CL benchmark files (--data-dir); default stream variant-5: "
                              "dbpedia, amazon, agnews, MNLI, BoolQA (no Yahoo)",
                  load=load, needs_data_dir=True)
