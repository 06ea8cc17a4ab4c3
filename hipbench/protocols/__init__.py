"""Protocols: a suite, a method and a run config in; a run record out.

A suite names its protocol (`SuiteSpec.protocol`). Each protocol module provides

    run(loaded, method, suite, cfg, record, save_adapters) -> dict   # metrics.json content
    LEADERBOARD_COLUMNS: list[tuple[str, str]]                       # (metrics key, column title)
    LEADERBOARD_NOTE: str                                            # what the columns mean

and optionally, for the leaderboard,

    PAIRED_COLUMNS: tuple[str, ...]                                  # metrics compared with lora
    example_scores(metrics, rows) -> {key: (unit, {example: score})}  # per-example outcomes
    write_extras(records, stem)                                      # more text below the table
    write_plots(records, header, rows, stem) -> list[Path]           # figures, with --plots only

and the runner and leaderboard look them up here, so a new protocol is one module and one line.
The metrics dict must hold `budget`, `rank`, `trainable_params` and `planned_trainable` (for a
knowledge editor, `protocols/edit_editors.py`: budget and plan None, the changed-entry count and
the rank of the change).

A protocol that can resume an interrupted run also provides

    read_checkpoint(record, suite) -> dict | None   # the record's checkpoint, with `rows` and `at`

and takes `resume=` (that dict) in `run`; the runner then calls `RunRecord.resume(config,
state["rows"], state["at"])` instead of `RunRecord.start`. Checkpoints are written with
`RunRecord.save_checkpoint`, which stamps `rows`; `at` describes the boundary for config.json.
"""
from __future__ import annotations

import importlib
from types import ModuleType

PROTOCOLS = {
    "continual": "hipbench.protocols.continual",
    "edit": "hipbench.protocols.edit",
    "merge": "hipbench.protocols.merge",
}


def protocol_module(name: str) -> ModuleType:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol '{name}'; known: {', '.join(sorted(PROTOCOLS))}")
    return importlib.import_module(PROTOCOLS[name])
