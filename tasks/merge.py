"""The built-in merging suite `merge`: the four tasks of the offline `continual` suite, one
single-task adapter each, merged in every subset of 2..4 tasks (protocol `merge`, MergeFail).

`hipbench run --suite merge --tasks-from SUITE` takes the tasks of another suite instead
(`cl-benchmark` with `--data-dir`); the runner loads that suite and this loader is not called.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hipbench.suite import Suite, SuiteSpec
from hipbench.tasks import continual


def load(data_dir: Path | None = None) -> Suite:
    """The continual suite's tasks and general sets, renamed; its definition is kept."""
    source = continual.load(data_dir)
    return replace(source, name="merge", definition={"tasks_from": "continual", **source.definition})


SUITE = SuiteSpec(name="merge",
                  description="MergeFail: one adapter per task of the continual suite (or --tasks-from), "
                              "merged by task arithmetic or TIES",
                  load=load, protocol="merge")
