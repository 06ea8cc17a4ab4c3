"""Checkpoints of the edit protocol: when to write one (`Cadence`) and which one a run may resume from.

What a checkpoint holds, per mode, is described in `hipbench.protocols.edit`'s docstring.
"""
from __future__ import annotations

import time
from typing import Callable

from hipbench.records import RunRecord
from hipbench.suite import EditRequest, Suite

CHECKPOINT_VERSION = 1
RESUMABLE_MODES = ("single", "sequential")
CHECKPOINT_SHARE = 0.1  # checkpoints may take about this share of the editing time (`Cadence`)


class Cadence:
    """Whether an edit is followed by a checkpoint: once the edits since the last checkpoint took
    at least `1 / share` times as long as writing that one did, so checkpoints cost about `share`
    of the editing time or less, whatever their size, model and disk. The first one is written
    after the first edit (nothing is known of its cost before). Which edits get one changes no
    result: a run resumes exactly from any of them."""

    def __init__(self, share: float = CHECKPOINT_SHARE, clock: Callable[[], float] = time.perf_counter) -> None:
        self.share, self.clock = share, clock
        self.cost, self.since = 0.0, clock()

    def due(self) -> bool:
        return (self.clock() - self.since) * self.share >= self.cost

    def write(self, save: Callable[[], None]) -> None:
        """Run `save` (the checkpoint) and remember what it cost."""
        start = self.clock()
        save()
        self.since = self.clock()
        self.cost = self.since - start


def request_pairs(requests: list[EditRequest]) -> list[list[str]]:
    """(prompt, target_new) per request: what a checkpoint checks its requests by."""
    return [[r.prompt, r.target_new] for r in requests]


def read_checkpoint(record: RunRecord, suite: Suite) -> dict | None:
    """The record's checkpoint if this run can resume from it: this protocol's format, a resumable
    mode, strictly inside the stream (none is written after the last edit) and naming requests
    this suite holds at the same positions; with `at` and `rows` for `RunRecord.resume`."""
    state = record.load_checkpoint()
    if state is None or state.get("version") != CHECKPOINT_VERSION or state.get("protocol") != "edit":
        return None
    if state["mode"] not in RESUMABLE_MODES or not 0 < state["edits_done"] < len(state["selected"]):
        return None
    if any(i >= len(suite.edits) for i in state["selected"]):
        return None
    if request_pairs([suite.edits[i] for i in state["selected"]]) != state["requests"]:
        return None
    return {**state, "at": {"edits_done": state["edits_done"]}}
