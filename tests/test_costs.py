"""Cost in every record and table (`hipbench.costs`): each protocol's record holds the costs it
measured, consistent with its own training log and export, and a leaderboard shows the cost
columns only where a record has them, n/a where one lacks them, never a number it did not measure."""
from __future__ import annotations

import json
import math
import time
from dataclasses import replace

import pytest
import torch

from conftest import make_suite
from hipbench import runner
from hipbench.config import RunConfig
from hipbench.costs import COST_COLUMNS, CostMeter, peft_export_mb
from hipbench.export import export_peft_adapter
from hipbench.leaderboard import _fmt, write_leaderboards
from hipbench.records import COMPLETE
from hipbench.suite import EditRequest, Example, Suite
from hipbench.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")
COST_KEYS = [key for key, _ in COST_COLUMNS]


def continual_run(loaded, name, out, seed=3):
    cfg = RunConfig(method=name, suite="tiny", model="tiny-llama", seed=seed, train=TrainConfig(steps=3, batch_size=4))
    outcome = runner.run_one(loaded, make_suite(), cfg, out, {}, False, {"hardware": "cpu", "git_commit": "test"})
    assert outcome.status == COMPLETE
    return outcome


def test_a_continual_record_holds_costs_consistent_with_its_train_log(tiny_loaded, tmp_path):
    metrics = continual_run(tiny_loaded, "lora", tmp_path).metrics
    log = metrics["train"]
    seconds, steps, tokens = (sum(entry[k] for entry in log) for k in ("seconds", "steps", "tokens"))
    assert metrics["seconds_per_step"] > 0
    assert metrics["seconds_per_step"] == pytest.approx(seconds / steps, rel=1e-12)
    assert metrics["tokens_per_second"] == pytest.approx(tokens / seconds, rel=1e-12)
    assert metrics["cost_units"] == 2 and metrics["frozen_params"] == 0
    assert metrics["peak_memory_kind"] == "host" and 0.01 < metrics["peak_memory_gb"] < 1000
    assert metrics["setup_seconds"] >= 0


def test_adapter_mb_is_the_size_of_the_peft_export_files(tiny_loaded, tmp_path):
    outcome = continual_run(tiny_loaded, "lora", tmp_path / "runs")
    # the same run with --save-adapters exports the final adapter; its files are what adapter_mb measured
    cfg = RunConfig(method="lora", suite="tiny", model="tiny-llama", seed=3, train=TrainConfig(steps=3, batch_size=4))
    saved = runner.run_one(tiny_loaded, make_suite(), cfg, tmp_path / "saved", {}, True, {"hardware": "cpu"})
    final = saved.directory / "adapters" / "02-shout"
    size = sum(path.stat().st_size for path in final.iterdir()) / 10 ** 6
    assert {path.name for path in final.iterdir()} == {"adapter_model.safetensors", "adapter_config.json"}
    assert outcome.metrics["adapter_mb"] == pytest.approx(size, rel=1e-12) and size > 0
    assert saved.metrics["adapter_mb"] == outcome.metrics["adapter_mb"]


def test_olora_keeps_one_frozen_adapter_after_two_tasks_and_pissa_times_its_svd(tiny_loaded, tmp_path):
    olora = continual_run(tiny_loaded, "olora", tmp_path).metrics
    assert olora["frozen_params"] == olora["trainable_params"] > 0  # task 1's adapter: r (m + n) per module
    pissa = continual_run(tiny_loaded, "pissa", tmp_path, seed=4).metrics
    assert pissa["setup_seconds"] > 0 and pissa["frozen_params"] == 0


def test_a_resumed_process_counts_only_the_tasks_it_trained(tiny_loaded, tmp_path, monkeypatch):
    from test_resume import Killed, kill_after_checkpoint, three_task_suite

    cfg = RunConfig(method="lora", suite="tiny", model="tiny-llama", seed=3, train=TrainConfig(steps=3, batch_size=4))
    env, suite = {"hardware": "cpu"}, three_task_suite()
    with monkeypatch.context() as patch:
        kill_after_checkpoint(patch, 2)
        with pytest.raises(Killed):
            runner.run_one(tiny_loaded, suite, cfg, tmp_path, {}, False, env)
    metrics = runner.run_one(tiny_loaded, suite, cfg, tmp_path, {}, False, env).metrics
    last = metrics["train"][2]
    assert metrics["cost_units"] == 1
    assert metrics["seconds_per_step"] == pytest.approx(last["seconds"] / last["steps"], rel=1e-12)
    assert metrics["tokens_per_second"] == pytest.approx(last["tokens"] / last["seconds"], rel=1e-12)


def test_a_meter_that_trained_nothing_records_no_training_cost():
    meter = CostMeter(torch.device("cpu"))
    record = meter.record(1.5, 0)
    assert math.isnan(record["seconds_per_step"]) and math.isnan(record["tokens_per_second"])
    assert math.isnan(record["setup_seconds"]) and record["cost_units"] == 0
    meter.trained(4, 2.0, None)  # an editor: steps and seconds, no token count
    record = meter.record(1.5, 0)
    assert record["seconds_per_step"] == 0.5 and math.isnan(record["tokens_per_second"])


def test_a_continual_run_records_the_seconds_of_its_evaluations_and_diagnostics(tiny_loaded, tmp_path, monkeypatch):
    from hipbench.protocols import continual

    def slowed(function, seconds):
        def wrapper(*args, **kwargs):
            time.sleep(seconds)
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(continual, "evaluate", slowed(continual.evaluate, 0.3))
    monkeypatch.setattr(continual.scoring, "greedy_continuations", slowed(continual.scoring.greedy_continuations, 0.2))
    monkeypatch.setattr(continual, "spectral_diagnostics", slowed(continual.spectral_diagnostics, 0.5))
    metrics = continual_run(tiny_loaded, "lora", tmp_path).metrics
    # the base model and each of the two tasks: 3 evaluations (0.3 s each), each decoding the exact task
    # once (0.2 s each), its parts timed inside it
    parts = [metrics[f"evaluation_{part}_seconds"] for part in ("choice", "exact", "probes")]
    assert 0.6 <= parts[1] and parts[0] < parts[1] and parts[2] < parts[1]
    assert 1.5 <= metrics["evaluation_seconds"] < 60 and sum(parts) <= metrics["evaluation_seconds"] - 0.9
    assert 0.5 <= metrics["diagnostics_seconds"] < 30
    meter = CostMeter(torch.device("cpu"))
    for _ in range(2):
        with meter.phase("evaluation"):
            time.sleep(0.05)
    assert 0.1 <= meter.record(0.0, 0)["evaluation_seconds"] < 5  # summed over its occurrences


def test_peft_export_mb_counts_every_file_of_the_export(tmp_path):
    factors = {"model.layers.0.mlp.down_proj": (torch.ones(8, 2), torch.ones(2, 4))}
    export_peft_adapter(factors, tmp_path / "a", "tiny")
    assert peft_export_mb(factors, "tiny") == sum(p.stat().st_size for p in (tmp_path / "a").iterdir()) / 10 ** 6


EDITS = tuple(EditRequest(f"{w} of {t} is", t, f" {n}", f" {o}", (), (Example(f"{w} of zed is", " qux"),), ())
              for w, t, n, o in (("cap", "foo", "bar", "baz"), ("pet", "ann", "cat", "dog")))


@pytest.mark.parametrize("name", ["olora", "rome"])
def test_an_edit_record_holds_costs(name, tiny_loaded, tmp_path, monkeypatch):
    from test_editors import TINY_OPTIONS

    monkeypatch.setenv("HIPBENCH_CACHE", str(tmp_path / "cache"))
    base = make_suite()
    suite = Suite("edit-test", (), base.preservation, base.probes, {}, edits=EDITS)
    cfg = RunConfig(method=name, suite="edit-test", model="tiny-llama", seed=4, train=TrainConfig(steps=3, lr=1e-2),
                    protocol_options={"edit_mode": "sequential", "num_edits": 2})
    options = TINY_OPTIONS.get(name, {})
    metrics = runner.run_one(tiny_loaded, suite, cfg, tmp_path, options, False, {"hardware": "cpu"}, "edit").metrics
    assert all(key in metrics for key in COST_KEYS) and metrics["cost_units"] == 2
    assert metrics["adapter_mb"] > 0 and metrics["setup_seconds"] >= 0
    if name == "olora":  # edit 1's adapter frozen when edit 2 began
        assert metrics["frozen_params"] == metrics["trainable_params"]
        seconds = sum(entry["seconds"] for entry in metrics["train"])
        assert metrics["tokens_per_second"] == pytest.approx(
            sum(entry["tokens"] for entry in metrics["train"]) / seconds, rel=1e-12)
    else:
        assert metrics["frozen_params"] == 0 and math.isnan(metrics["tokens_per_second"])


def test_a_merge_record_holds_costs_and_reused_adapters_cost_nothing_measured(tiny_loaded, tmp_path):
    cfg = RunConfig(method="lora", suite="merge", model="tiny-llama", seed=5, train=TrainConfig(steps=2),
                    protocol_options={"merge_rule": "sum", "merge_instances": 1})
    first = runner.run_one(tiny_loaded, make_suite(), cfg, tmp_path, {}, False, {"hardware": "cpu"}, "merge").metrics
    assert first["cost_units"] == 2 and first["seconds_per_step"] > 0 and first["adapter_mb"] > 0
    ties = replace(cfg, protocol_options={"merge_rule": "ties", "merge_instances": 1})
    second = runner.run_one(tiny_loaded, make_suite(), ties, tmp_path, {}, False, {"hardware": "cpu"}, "merge").metrics
    assert second["adapters_reused"] == 2 and second["cost_units"] == 0
    assert math.isnan(second["seconds_per_step"]) and second["adapter_mb"] == first["adapter_mb"]


def test_the_leaderboard_shows_cost_columns_only_for_records_that_have_them(tiny_loaded, tmp_path):
    runs = tmp_path / "runs"
    new = continual_run(tiny_loaded, "lora", runs, seed=1)
    old = continual_run(tiny_loaded, "lora", runs, seed=2)
    path = old.directory / "metrics.json"
    stripped = {k: v for k, v in json.loads(path.read_text()).items()
                if k not in (*COST_KEYS, "peak_memory_kind", "cost_units")}
    path.write_text(json.dumps(stripped))  # a record made before costs were measured
    write_leaderboards(runs, tmp_path / "mixed")
    table = json.loads(next((tmp_path / "mixed").glob("tiny__*.json")).read_text())
    row = table["rows"][0]
    assert row["adapter_mb"]["n"] == 1 and row["adapter_mb"]["mean"] == new.metrics["adapter_mb"]
    md = next((tmp_path / "mixed").glob("tiny__*.md")).read_text()
    assert all(title in md for _, title in COST_COLUMNS) and "Adapter MB" in md
    csv = next((tmp_path / "mixed").glob("tiny__*.csv")).read_text().splitlines()[0]
    assert "Adapter MB mean" in csv and "s/step std" in csv

    new_path = new.directory / "metrics.json"
    new_path.write_text(json.dumps({k: v for k, v in json.loads(new_path.read_text()).items()
                                    if k not in (*COST_KEYS, "peak_memory_kind", "cost_units")}))
    write_leaderboards(runs, tmp_path / "old")
    md = next((tmp_path / "old").glob("tiny__*.md")).read_text()
    csv = next((tmp_path / "old").glob("tiny__*.csv")).read_text()
    assert not any(title in md or title in csv for _, title in COST_COLUMNS)
    assert "adapter_mb" not in next((tmp_path / "old").glob("tiny__*.json")).read_text()


def test_an_old_record_beside_a_new_one_shows_n_a(tiny_loaded, tmp_path):
    runs = tmp_path / "runs"
    new = continual_run(tiny_loaded, "lora", runs, seed=1)
    old = continual_run(tiny_loaded, "olora", runs, seed=1)
    path = old.directory / "metrics.json"
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items()
                                if k not in (*COST_KEYS, "peak_memory_kind", "cost_units")}))
    write_leaderboards(runs, tmp_path / "board")
    md = next((tmp_path / "board").glob("tiny__*.md")).read_text()
    header = next(line for line in md.splitlines() if line.startswith("| Method"))
    titles = [cell.strip() for cell in header.strip("|").split("|")]
    olora = next(line for line in md.splitlines() if line.startswith("| olora"))
    cells = [cell.strip() for cell in olora.strip("|").split("|")]
    assert [cells[titles.index(title)] for _, title in COST_COLUMNS] == ["n/a"] * len(COST_COLUMNS)
    lora = next(line for line in md.splitlines() if line.startswith("| lora"))
    cells = [cell.strip() for cell in lora.strip("|").split("|")]
    assert cells[titles.index("Adapter MB")] == _fmt(new.metrics["adapter_mb"], 0.0, 1) != "n/a"
