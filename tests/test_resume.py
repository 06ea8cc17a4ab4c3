"""Resumable continual runs: a run interrupted at a task boundary (or inside a task) and run again
ends with the same metrics as one run straight through, for every built-in method.

Wall-clock fields are the only ones allowed to differ: `finished` (a timestamp) and each task's
`train[i].seconds` (measured by whichever process trained that task).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import make_suite
from hipbench import runner
from hipbench.config import RunConfig
from hipbench.protocols import continual
from hipbench.records import COMPLETE, RunRecord
from hipbench.suite import Example, Suite, TaskData
from hipbench.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

METHODS = ("lora", "pissa", "hiplora", "olora", "lalora", "sclora")
# LaLoRA's default re-estimates anchor and curvature at every boundary, which a resume would redo
# identically; with refresh off the task-1 anchor and the "true" Fisher's sampler must come back.
CASES = [(name, {}) for name in METHODS] + [("lalora", {"refresh": "false", "fisher": "true"})]
SMOKE = ["--suite", "continual", "--model", "tiny-llama", "--limit", "4", "--steps", "2", "--device", "cpu"]


class Killed(BaseException):
    """Stands in for a kill: not an Exception, so nothing on the way up may swallow it."""


def three_task_suite() -> Suite:
    base = make_suite()
    letters = "abcdefghij"
    swap = TaskData(name="swap", scoring="exact",
                    train=tuple(Example(f"next {c}:", f" {chr(ord(c) + 1)}") for c in letters),
                    test=tuple(Example(f"next {c}:", f" {chr(ord(c) + 1)}") for c in letters[:4]))
    return Suite(name="tiny", tasks=(*base.tasks, swap), preservation=base.preservation, probes=base.probes,
                 definition=base.definition)


def comparable(metrics: dict) -> dict:
    """metrics.json without its wall-clock fields."""
    kept = {key: value for key, value in metrics.items() if key != "finished"}
    kept["train"] = [{k: v for k, v in row.items() if k != "seconds"} for row in metrics["train"]]
    return kept


def read_metrics(directory: Path) -> dict:
    return json.loads((directory / "metrics.json").read_text())


def kill_after_checkpoint(monkeypatch, task: int) -> None:
    """Raise `Killed` right after the checkpoint of `task` is on disk."""
    save = RunRecord.save_checkpoint

    def save_then_die(self, state):
        save(self, state)
        if state["task"] == task:
            raise Killed

    monkeypatch.setattr(RunRecord, "save_checkpoint", save_then_die)


@pytest.mark.parametrize("name, options", CASES, ids=[n + "".join(f"-{k}={v}" for k, v in o.items()) for n, o in CASES])
def test_a_run_killed_after_task_two_resumes_to_the_same_metrics(name, options, tiny_loaded, tmp_path, monkeypatch):
    suite = three_task_suite()
    cfg = RunConfig(method=name, suite="tiny", model="tiny-llama", seed=3, train=TrainConfig(steps=3, batch_size=4))
    env = {"hardware": "cpu"}
    straight = runner.run_one(tiny_loaded, suite, cfg, tmp_path / "straight", options, False, env)
    assert straight.status == COMPLETE

    with monkeypatch.context() as patch:
        kill_after_checkpoint(patch, 2)
        with pytest.raises(Killed):
            runner.run_one(tiny_loaded, suite, cfg, tmp_path / "resumed", options, False, env)
    record = RunRecord(tmp_path / "resumed" / straight.directory.relative_to(tmp_path / "straight"))
    assert record.status() == "incomplete"
    assert torch.load(record.checkpoint_path, weights_only=True)["task"] == 2

    resumed = runner.run_one(tiny_loaded, suite, cfg, tmp_path / "resumed", options, False, env)
    assert resumed.status == COMPLETE and resumed.directory == record.dir
    assert comparable(read_metrics(record.dir)) == comparable(read_metrics(straight.directory))
    assert record.measurements() == RunRecord(straight.directory).measurements()
    assert json.loads(record.config_path.read_text())["resumed"][0]["after_task"] == 2
    assert not record.checkpoint_path.exists()  # removed once complete


def test_checkpoint_holds_adapters_not_the_frozen_model(tiny_loaded, tmp_path, monkeypatch):
    """PiSSA rewrites W into its residual (stored); the untouched weights (embeddings, norms) are not."""
    cfg = RunConfig(method="pissa", suite="tiny", model="tiny-llama", seed=1, train=TrainConfig(steps=2, batch_size=4))
    kill_after_checkpoint(monkeypatch, 1)
    with pytest.raises(Killed):
        runner.run_one(tiny_loaded, three_task_suite(), cfg, tmp_path, {}, False, {"hardware": "cpu"})
    state = torch.load(next(tmp_path.rglob("checkpoint.pt")), weights_only=True)
    keys = set(state["adapter"])
    assert "model.layers.0.self_attn.q_proj.base.weight" in keys and "model.layers.0.self_attn.q_proj.lora_A" in keys
    assert not any("embed_tokens" in key or "norm" in key or key == "lm_head.weight" for key in keys)
    assert set(state["rng"]) == {"init", "data_order", "torch"} and state["train_log"][0]["task"] == "copy"


def hipbench_cli(args: list[str], kill_after_task: int | None = None) -> subprocess.Popen:
    """`hipbench run` in a subprocess; with `kill_after_task`, it pauses once that task's checkpoint
    is written, so the test can SIGKILL it at a known boundary without a race."""
    pause = "" if kill_after_task is None else (
        "from hipbench.records import RunRecord\n"
        "import time\n"
        "save = RunRecord.save_checkpoint\n"
        "def paused(self, state):\n"
        "    save(self, state)\n"
        f"    if state['task'] == {kill_after_task}:\n"
        "        time.sleep(600)\n"
        "RunRecord.save_checkpoint = paused\n")
    code = pause + "from hipbench.cli import main\nmain()\n"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, "run", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigkilled_cli_run_resumes_to_the_same_metrics(tmp_path):
    args = ["--method", "olora", *SMOKE, "--seeds", "1"]
    straight = hipbench_cli([*args, "--out", str(tmp_path / "straight")])
    _, err = straight.communicate(timeout=600)
    assert straight.returncode == 0, err
    (expected,) = tmp_path.glob("straight/continual/tiny-llama/olora/seed-1-*")

    victim = hipbench_cli([*args, "--out", str(tmp_path / "killed")], kill_after_task=2)
    checkpoint = tmp_path / "killed" / expected.relative_to(tmp_path / "straight") / "checkpoint.pt"
    deadline = time.monotonic() + 600
    while not (checkpoint.exists() and torch.load(checkpoint, weights_only=True)["task"] == 2):
        assert victim.poll() is None and time.monotonic() < deadline, "run ended before its task-2 checkpoint"
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    record = RunRecord(checkpoint.parent)
    assert record.status() == "incomplete"

    again = hipbench_cli([*args, "--out", str(tmp_path / "killed")])
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert comparable(read_metrics(record.dir)) == comparable(read_metrics(expected))
    assert json.loads(record.config_path.read_text())["resumed"][0]["after_task"] == 2
    assert not checkpoint.exists()


def complete_records(out: Path) -> dict[str, tuple[dict, list[dict]]]:
    """Complete records by directory: metrics without wall-clock fields, and every measurement row
    (a resume that kept the interrupted task's rows would duplicate them without moving a metric)."""
    runs = [path.parent for path in sorted(out.rglob("metrics.json"))]
    done = [run for run in runs if read_metrics(run)["status"] == COMPLETE]
    return {str(run.relative_to(out)): (comparable(read_metrics(run)), RunRecord(run).measurements()) for run in done}


def test_sweep_interrupted_at_three_random_points_matches_one_straight_through(tiny_loaded, tmp_path, monkeypatch):
    suite = three_task_suite()
    monkeypatch.setattr(runner, "load_suite", lambda *args, **kwargs: suite)
    monkeypatch.setattr(runner, "load_model", lambda *args, **kwargs: tiny_loaded)
    configs = [RunConfig(method=m, suite="continual", model="tiny-llama", seed=s, device="cpu",
                         train=TrainConfig(steps=2, batch_size=4)) for m in ("lora", "olora") for s in (1, 2)]
    quiet = lambda message: None
    runner.sweep(configs, tmp_path / "straight", {}, False, log=quiet)
    expected = complete_records(tmp_path / "straight")
    assert len(expected) == 4

    evaluate, points = continual.evaluate, random.Random(7).sample(range(2, 13), 3)
    assert {point % 2 for point in points} == {0, 1}  # both kinds of point below, whatever the seed
    for point in points:  # point 2n: just before the n-th evaluation of this attempt; 2n + 1: just after its rows
        calls, target, after = [0], point // 2, point % 2 == 1

        def interrupted(*args, **kwargs):
            calls[0] += 1
            if calls[0] == target and not after:
                raise Killed
            evaluate(*args, **kwargs)
            if calls[0] == target:
                raise Killed

        monkeypatch.setattr(continual, "evaluate", interrupted)
        with pytest.raises(Killed):
            runner.sweep(configs, tmp_path / "interrupted", {}, False, log=quiet)
    monkeypatch.setattr(continual, "evaluate", evaluate)
    assert len(complete_records(tmp_path / "interrupted")) < 4
    runner.sweep(configs, tmp_path / "interrupted", {}, False, log=quiet)
    assert complete_records(tmp_path / "interrupted") == expected
    assert not list((tmp_path / "interrupted").rglob("checkpoint.pt"))
