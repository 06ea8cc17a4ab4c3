"""The runner's record keeping: a non-finite loss stops the run and leaves an incomplete record."""
from __future__ import annotations

import json

import torch

from hipbench import runner
from hipbench.config import RunConfig
from hipbench.leaderboard import collect
from hipbench.methods.lora import LoRA
from hipbench.train import TrainConfig


class ExplodingLoRA(LoRA):
    """LoRA whose extra loss turns NaN on the third step of the second task."""

    def __init__(self, options=None):
        super().__init__(options)
        self.calls = 0

    def extra_loss(self, model):
        self.calls += 1
        return torch.tensor(float("nan")) if self.calls == 5 + 3 else None


def test_nan_loss_stops_the_run_and_keeps_an_incomplete_record(tiny_loaded, tiny_suite, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "make_method", lambda name, options: ExplodingLoRA())
    cfg = RunConfig(method="lora", suite="tiny", model="tiny-llama", seed=1, train=TrainConfig(steps=5))
    outcome = runner.run_one(tiny_loaded, tiny_suite, cfg, tmp_path, {}, False, {"hardware": "cpu"})
    assert outcome.status == "failed"
    metrics = json.loads((outcome.directory / "metrics.json").read_text())
    assert metrics["status"] == "incomplete"
    assert (metrics["task"], metrics["task_index"], metrics["step"]) == ("shout", 2, 2)
    rows = [json.loads(line) for line in (outcome.directory / "measurements.jsonl").read_text().splitlines()]
    assert {r["after_task"] for r in rows} == {0, 1}  # what was measured before the failure is kept
    complete, incomplete = collect(tmp_path)
    assert complete == [] and incomplete == [outcome.directory]


def test_an_edit_runs_summary_line_names_only_the_columns_it_measured():
    """An editor has no budget usage: its line leaves the column out instead of printing nan;
    a measured value that is nan is still shown as nan."""
    from pathlib import Path

    from hipbench.protocols import protocol_module

    columns = protocol_module("edit").LEADERBOARD_COLUMNS
    metrics = {key: 0.5 for key, _ in columns if key not in ("budget_usage", "projection_active")}
    metrics.update(trainable_params=10, reliability=float("nan"))
    line = runner.describe(runner.RunOutcome("rome", 42, Path("out"), "complete", metrics), "edit")
    assert "Budget usage" not in line and "Projection active" not in line
    assert "Reliability nan" in line and "Locality 0.500" in line


class ThreadCountingLoRA(LoRA):
    """LoRA that notes the CPU thread count its attach ran with."""

    seen: list[int] = []

    def attach(self, model, targets, rank, ctx):
        ThreadCountingLoRA.seen.append(torch.get_num_threads())
        super().attach(model, targets, rank, ctx)


def test_a_method_attaches_under_the_devices_cpu_thread_rule(tiny_loaded, tiny_suite, tmp_path, monkeypatch):
    """In a GPU run a plugin's CPU-side set-up runs with one thread (`plugin_cpu_threads`: its
    algebra would otherwise round by the process's thread count); in a CPU run with all of them.
    No GPU here: the continual protocol is handed the GPU's rule."""
    from hipbench.method import one_cpu_thread
    from hipbench.protocols import continual

    monkeypatch.setattr(runner, "make_method", lambda name, options: ThreadCountingLoRA())
    monkeypatch.setattr(ThreadCountingLoRA, "seen", [])
    cfg = RunConfig(method="lora", suite="tiny", model="tiny-llama", seed=1, train=TrainConfig(steps=2))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        runner.run_one(tiny_loaded, tiny_suite, cfg, tmp_path / "cpu", {}, False, {"hardware": "cpu"})
        monkeypatch.setattr(continual, "plugin_cpu_threads", lambda device: one_cpu_thread())
        runner.run_one(tiny_loaded, tiny_suite, cfg, tmp_path / "gpu rule", {}, False, {"hardware": "cpu"})
        assert ThreadCountingLoRA.seen == [2, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_finished_run_leaves_no_tensor_of_its_model_in_its_process(tmp_path):
    """A process's first run leaves its model in reference cycles that Python frees only when its
    collector happens to run; a process that starts another run (the local executor) must not carry
    it into that run (on a GPU, trials started after another run in the same process ran out of
    memory). A fresh interpreter, since only a process's first run builds those cycles."""
    import subprocess
    import sys

    script = """
import dataclasses, gc, sys, torch
from pathlib import Path
from hipbench.config import RunConfig
from hipbench.jobs import Job, execute
cfg = RunConfig(method="lora", suite="continual", model="tiny-llama", seed=1, device="cpu", limit=4)
cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=3))
gc.disable()  # only what execute itself frees counts
result = execute(Job(cfg, Path(sys.argv[1])), echo=False)
embeddings = [o for o in gc.get_objects() if isinstance(o, torch.Tensor) and tuple(o.shape) == (259, 64)]
print(result.status, len(embeddings))
"""
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["complete", "0"], done.stdout  # tiny-llama's (vocab, hidden) matrices: none alive
