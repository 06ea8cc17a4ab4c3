"""Rotation drift in records and tables: every protocol records it beside boundary drift, a table
shows its columns only where a record carries it (older records: no column, or n/a beside a new
one), and a merge run that reuses an adapter stored before it was measured measures it."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from conftest import make_suite
from hipbench import runner
from hipbench.config import RunConfig
from hipbench.drift import ROTATION_COLUMNS
from hipbench.leaderboard import write_leaderboards
from hipbench.records import COMPLETE, read_layers
from hipbench.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")
ROTATION_KEYS = [key for key, _ in ROTATION_COLUMNS]


def continual_run(loaded, name, out, seed):
    cfg = RunConfig(method=name, suite="tiny", model="tiny-llama", seed=seed, train=TrainConfig(steps=3, batch_size=4))
    outcome = runner.run_one(loaded, make_suite(), cfg, out, {}, False, {"hardware": "cpu", "git_commit": "test"})
    assert outcome.status == COMPLETE
    return outcome


def strip_rotation(directory) -> None:
    """Make a record look as if it was made before rotation drift was measured."""
    path = directory / "metrics.json"
    metrics = {k: v for k, v in json.loads(path.read_text()).items() if k not in ROTATION_KEYS}
    path.write_text(json.dumps(metrics))


def header_cells(md: str) -> list[str]:
    line = next(line for line in md.splitlines() if line.startswith("| Method"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_a_continual_table_shows_rotation_drift_beside_boundary_drift_only_where_recorded(tiny_loaded, tmp_path):
    runs = tmp_path / "runs"
    new = continual_run(tiny_loaded, "lora", runs, seed=1)
    old = continual_run(tiny_loaded, "lora", runs, seed=2)
    metrics = new.metrics
    assert all(0.0 <= metrics[key] <= 1.0 for key in ("drift_left", "drift_right", *ROTATION_KEYS))
    layers = read_layers(new.directory)["spectral"]  # what the finished record keeps on disk
    assert len(layers) == metrics["adapted_modules"] and layers == metrics["spectral"]["by_layer"]
    assert all(2 <= layer["rotation_k"] <= 64 for layer in layers.values())

    strip_rotation(old.directory)
    write_leaderboards(runs, tmp_path / "mixed")
    md = next((tmp_path / "mixed").glob("tiny__*.md")).read_text()
    titles = header_cells(md)
    at = titles.index("Boundary drift U")
    assert titles[at:at + 4] == ["Boundary drift U", "Boundary drift V", "Rotation drift U", "Rotation drift V"]
    assert "Drift U" not in titles
    row = json.loads(next((tmp_path / "mixed").glob("tiny__*.json")).read_text())["rows"][0]
    assert row["rotation_drift_left"]["n"] == 1 and row["rotation_drift_left"]["mean"] == metrics["rotation_drift_left"]
    assert "Rotation drift U mean" in next((tmp_path / "mixed").glob("tiny__*.csv")).read_text().splitlines()[0]

    strip_rotation(new.directory)
    write_leaderboards(runs, tmp_path / "old")
    for path in (tmp_path / "old").glob("tiny__*"):
        text = path.read_text()
        assert "Rotation drift" not in text and "rotation_drift" not in text, path.name
    assert "Boundary drift U" in header_cells(next((tmp_path / "old").glob("tiny__*.md")).read_text())


def test_a_merge_run_measures_rotation_drift_of_an_adapter_stored_before_it_existed(tiny_loaded, tmp_path):
    cfg = RunConfig(method="lora", suite="merge", model="tiny-llama", seed=5, train=TrainConfig(steps=2),
                    protocol_options={"merge_rule": "sum", "merge_instances": 1})
    outcome = runner.run_one(tiny_loaded, make_suite(), cfg, tmp_path, {}, False, {"hardware": "cpu"}, "merge")
    first = outcome.metrics
    assert all(key in first for key in ROTATION_KEYS)
    stored_layers = read_layers(outcome.directory)["adapters"]  # each adapter's detail, beside the record
    assert len(stored_layers) == 2 and stored_layers == [a["spectral"]["by_layer"] for a in first["adapters"]]
    assert all(stored_layers) and "by_layer" not in json.loads((outcome.directory / "metrics.json").read_text())["adapters"][0]["spectral"]
    stored = sorted(tmp_path.rglob("adapter.json"))
    assert len(stored) == 2
    for path in stored:  # as an adapter cache written before rotation drift was measured
        meta = json.loads(path.read_text())
        for key in ROTATION_KEYS:
            del meta["training"]["spectral"]["mean"][key]
        path.write_text(json.dumps(meta))
    ties = replace(cfg, protocol_options={"merge_rule": "ties", "merge_instances": 1})
    second = runner.run_one(tiny_loaded, make_suite(), ties, tmp_path, {}, False, {"hardware": "cpu"}, "merge").metrics
    assert second["adapters_reused"] == 2
    for key in ROTATION_KEYS:
        assert second[key] == pytest.approx(first[key], abs=1e-9)
