"""scripts/rotation_drift_swaps.py (the generator of leaderboards/checks/rotation-drift-swaps.txt): it
counts a per-layer rotation drift as an exchange only when it is n/k' of that layer's own k', leaves
values at the floor, tuning trials and unfinished runs out, and groups records by their leaderboard row."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import load_module

from hipbench.records import write_layers

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "rotation_drift_swaps.py"


def make_record(root: Path, name: str, options: dict, layers: dict, split: str = "holdout-test",
                status: str = "complete") -> None:
    directory = root / name
    directory.mkdir(parents=True)
    config = {"method": "hiplora", "method_options": options, "data_split": split, "train": {"lr": 5e-4}}
    (directory / "config.json").write_text(json.dumps({"config": config}))
    (directory / "metrics.json").write_text(json.dumps({"status": status}))
    write_layers(directory, {"spectral": layers})


def layer(left: float, right: float, k: int) -> dict:
    return {"rotation_drift_left": left, "rotation_drift_right": right, "rotation_k": k}


def test_exchanges_are_whole_multiples_of_each_layers_own_width():
    script = load_module(SCRIPT)
    assert script.is_exchange(2 / 20, 20) and script.is_exchange(1 / 17, 17)
    assert not script.is_exchange(1 / 17, 20)  # a multiple of another layer's width is not one here
    assert not script.is_exchange(0.003, 20)  # a small turn: sin²θ / k'
    assert not script.is_exchange(1e-7, 20)  # n = 0 is no exchange


def test_rows_count_values_above_the_floor_and_leave_trials_out(tmp_path):
    script = load_module(SCRIPT)
    make_record(tmp_path, "a/seed-1", {"budget": "1.0"}, {
        "l0": layer(1 / 16, 1 / 16, 16), "l1": layer(0.004, 5e-7, 20), "l2": layer(3 / 19, 0.0, 19)})
    make_record(tmp_path, "a/seed-2", {"budget": "1.0"}, {"l0": layer(2e-3, 2e-3, 16)})
    make_record(tmp_path, "b/seed-1", {"budget": "0.2"}, {"l0": layer(1 / 16, 0.0, 16)})
    make_record(tmp_path, "c/trial", {"budget": "1.0"}, {"l0": layer(1 / 16, 1 / 16, 16)},
                split="holdout-validation")
    make_record(tmp_path, "e/partial", {"budget": "0.2"}, {"l0": layer(1 / 16, 1 / 16, 16)}, status="running")
    (tmp_path / "d" / "unfinished").mkdir(parents=True)
    (tmp_path / "d" / "unfinished" / "config.json").write_text("{}")
    rows = script.count_rows(tmp_path, floor=1e-6)
    assert rows == {"hiplora [budget=1.0]": [2, 6, 3], "hiplora [budget=0.2]": [1, 1, 1]}
