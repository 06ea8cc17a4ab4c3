"""A method's measurements of itself (`Method.task_statistics`), as record fields and table columns.

HiP-LoRA's claim is a budget that binds; whether it did is a fact of each trained unit (a task of
the stream, an edit, a single-task adapter of a merge), not of the final weights. Every protocol
asks the method after training a unit and before `end_task`, keeps the report in that unit's log
entry (`method_statistics`), and puts the mean over units of each `METHOD_COLUMNS` key in the
metrics (`method_columns`), where every unit reported it. The columns are optional: a table shows
them only where a record has them, so tables of other methods and older records stay as they were.
"""
from __future__ import annotations

METHOD_COLUMNS = [
    ("budget_usage", "Budget usage"),
    ("projection_active", "Projection active"),
]
METHOD_OPTIONAL = {
    "budget_usage": ("Budget usage = HiP-LoRA's Σ w (Δσ)² / R² at the end of each trained unit (task, edit or "
                     "single-task adapter), mean over adapted layers and units (≤ 1 when its budget holds; per "
                     "layer type, mean and max, in the record's train log); Projection active = share of "
                     "optimizer steps at which its budget projection moved the principal channel, mean over layers "
                     "and units; n/a for other methods, for budget=inf (no budget to use) and for records made "
                     "before they were measured."),
    "projection_active": "",
}


def with_statistics(entry: dict, statistics: dict) -> dict:
    """A unit's log entry with the method's report on it (`method_statistics`), where it made one."""
    return {**({"method_statistics": statistics} if statistics else {}), **entry}


def method_columns(log: list[dict]) -> dict[str, float]:
    """The `METHOD_COLUMNS` every unit's `method_statistics` reported, each the mean over units;
    a key some unit lacks (HiP-LoRA's budget usage at budget=inf) is left out, never guessed."""
    entries = [unit.get("method_statistics", {}) for unit in log]
    return {key: sum(entry[key] for entry in entries) / len(entries)
            for key, _ in METHOD_COLUMNS if entries and all(key in entry for entry in entries)}
