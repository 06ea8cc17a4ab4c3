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
