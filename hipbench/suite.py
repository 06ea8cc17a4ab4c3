"""What a suite hands the runner: tasks with train/test examples, plus the general-capability sets.

Suites are plain data. The runner knows nothing task-specific: every task is a list of
`Example`s and a scoring rule, so all methods see exactly the same examples in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

Scoring = Literal["choice", "exact"]


@dataclass(frozen=True)
class Example:
    """One prompt and its gold continuation.

    `answer` is appended to `prompt` verbatim (so it usually starts with a space). For
    "choice" tasks `options` lists every candidate continuation and contains `answer`.
    """

    prompt: str
    answer: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskData:
    """One task of a stream. `scoring` says how the test split is scored:
    "choice" = arg-max option log-likelihood, "exact" = greedy decoding + normalised exact match."""

    name: str
    scoring: Scoring
    train: tuple[Example, ...]
    test: tuple[Example, ...]
    description: str = ""
    validation: tuple[Example, ...] = ()  # held out of `train` by `with_data_split`; empty until then

    def limited(self, limit: int | None) -> "TaskData":
        if limit is None:
            return self
        return replace(self, train=self.train[:limit], test=self.test[:limit])


@dataclass(frozen=True)
class GeneralSet:
    """General text and known-fact probes (fact probes are `Example`s scored by greedy match).

    Two disjoint instances exist per suite: `preservation` is given to methods that need to know
    what to preserve (LaLoRA's curvature, SC-LoRA's preserved subspace), identically for all;
    `probes` is held out and used only to measure general-capability degradation.
    """

    texts: tuple[str, ...]
    facts: tuple[Example, ...]

    def limited(self, limit: int | None) -> "GeneralSet":
        if limit is None:
            return self
        return GeneralSet(self.texts[:limit], self.facts[:limit])


@dataclass(frozen=True)
class EditRequest:
    """One knowledge edit (PROTOCOLS.md section 2), in EasyEdit's terms.

    `target_new` and `ground_truth` are continuations appended to `prompt` verbatim, like
    `Example.answer` (so they start with a space); `ground_truth` is None where the data has no old
    answer. `locality` pairs a prompt the edit must not change with the answer whose tokens are
    compared before and after the edit; `portability` pairs a prompt whose answer should follow
    from the edit with that answer. Rephrases, locality and portability are test-only: only
    `prompt` -> `target_new` is ever trained on.
    """

    prompt: str
    subject: str
    target_new: str
    ground_truth: str | None = None
    rephrase_prompts: tuple[str, ...] = ()
    locality: tuple[Example, ...] = ()
    portability: tuple[Example, ...] = ()
    relation: str = ""  # the fact table it comes from (built-in suite); "" for external data


@dataclass(frozen=True)
class Suite:
    name: str
    tasks: tuple[TaskData, ...]
    preservation: GeneralSet
    probes: GeneralSet
    definition: dict = field(default_factory=dict)
    edits: tuple[EditRequest, ...] = ()  # candidate edit requests (editing suites; empty otherwise)
    validation_edits: tuple[EditRequest, ...] = ()  # held out of `edits` by `with_data_split`

    def limited(self, limit: int | None) -> "Suite":
        """Cap every split at `limit` examples (smoke runs); recorded by the runner."""
        if limit is None:
            return self
        return replace(
            self,
            tasks=tuple(t.limited(limit) for t in self.tasks),
            preservation=self.preservation.limited(limit),
            probes=self.probes.limited(limit),
            edits=self.edits[:limit],
        )


@dataclass(frozen=True)
class SuiteSpec:
    """What a `hipbench.suites` entry point must point at.

    `load(data_dir)` builds the suite; `data_dir` is None unless the suite reads external files,
    in which case a missing directory must raise `SuiteDataError` naming it. `protocol` names the
    module of `hipbench.protocols` that runs it (sequential tuning unless said otherwise).
    """

    name: str
    description: str
    load: Callable[[Path | None], Suite]
    needs_data_dir: bool = False
    protocol: str = "continual"


class SuiteDataError(ValueError):
    """Bad or missing suite data; the message names the file, record index and field."""


# --- validation splits -------------------------------------------------------------------------

# How a run uses a suite's data (`RunConfig.data_split`):
#   "all-train"          every training example trains, test scores (every record made before
#                        validation splits existed)
#   "holdout-test"       VALIDATION_SHARE of each task's training examples (and of the edit
#                        requests) is held out and never trained on; test scores (test runs)
#   "holdout-validation" the same hold-out, and the held-out examples score instead of test (tuning
#                        trials: no test example is ever read, so no choice can depend on one)
DATA_SPLITS = ("all-train", "holdout-test", "holdout-validation")
VALIDATION_SHARE = 0.1
VALIDATION_SEED = 0


def _held_out(count: int, salt: str) -> set[int]:
    """Which of `count` items are held out: a fixed-seed draw of round(share * count), at least one."""
    import random

    chosen = random.Random(f"{VALIDATION_SEED}:{salt}").sample(range(count), max(1, round(VALIDATION_SHARE * count)))
    return set(chosen)


APPENDED_AFTER = "published_requests"  # a suite definition's count of requests that others were appended after


def _held_out_edits(count: int, published: int | None) -> set[int]:
    """Which edit requests are held out. Where a suite appended requests after `published` ones
    (the built-in edit suite's extension), the published ones are drawn exactly as when they were
    all there was and the appended ones by a draw of their own, so a suite that grows keeps every
    earlier request on its side of the split (and runs made before it grew keep their requests)."""
    if not published or count <= published:
        return _held_out(count, "edits")
    appended = _held_out(count - published, "edits appended") if count - published >= 2 else set()
    return _held_out(published, "edits") | {published + i for i in appended}


def hold_out_validation(suite: Suite) -> Suite:
    """Carve each task's validation split from its training examples, and validation requests from
    the edit requests, by a fixed-seed draw per task (so every method, seed and run sees the same
    split); what stays keeps its order. Recorded in the suite definition."""
    tasks = []
    for task in suite.tasks:
        if len(task.train) < 2:
            raise SuiteDataError(f"task {task.name} has {len(task.train)} training example(s): too few to hold "
                                 "out a validation split (raise --limit)")
        held = _held_out(len(task.train), task.name)
        tasks.append(replace(task, train=tuple(e for i, e in enumerate(task.train) if i not in held),
                             validation=tuple(e for i, e in enumerate(task.train) if i in held)))
    edits, validation_edits = suite.edits, ()
    if len(suite.edits) >= 2:
        held = _held_out_edits(len(suite.edits), suite.definition.get(APPENDED_AFTER))
        edits = tuple(r for i, r in enumerate(suite.edits) if i not in held)
        validation_edits = tuple(r for i, r in enumerate(suite.edits) if i in held)
    split = {"share": VALIDATION_SHARE, "seed": VALIDATION_SEED,
             "validation_examples": {t.name: len(t.validation) for t in tasks}, "validation_edits": len(validation_edits)}
    return replace(suite, tasks=tuple(tasks), edits=edits, validation_edits=validation_edits,
                   definition={**suite.definition, "validation_split": split})


def with_data_split(suite: Suite, data_split: str) -> Suite:
    """The suite as a run with `data_split` (see DATA_SPLITS) trains and scores on it."""
    if data_split not in DATA_SPLITS:
        raise ValueError(f"--data-split {data_split}: expected one of {', '.join(DATA_SPLITS)}")
    if data_split == "all-train":
        return suite
    split = hold_out_validation(suite)
    if data_split == "holdout-test":
        return split
    return replace(split, tasks=tuple(replace(t, test=t.validation) for t in split.tasks), edits=split.validation_edits,
                   definition={**split.definition, "scored_split": "validation"})
