"""A run that runs out of memory is reported in one line (the run, its peak memory, what to lower)
and its record stays resumable: the same command finishes it from its last checkpoint."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from hipbench.cli import main
from hipbench.methods.lora import LoRA

pytestmark = pytest.mark.usefixtures("one_thread")
SMOKE = ["--method", "lora", "--suite", "continual", "--model", "tiny-llama", "--limit", "6", "--steps", "2",
         "--device", "cpu", "--seeds", "1"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def out_of_memory_at_the_second_task(monkeypatch):
    real, begun = LoRA.begin_task, []

    def begin_task(self, model, task, ctx):
        begun.append(task.name)
        if len(begun) == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(self, model, task, ctx)
    monkeypatch.setattr(LoRA, "begin_task", begin_task)


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_out_of_memory_is_one_line_and_the_record_resumes(tmp_path, monkeypatch, command):
    out_of_memory_at_the_second_task(monkeypatch)
    failed = invoke(command, *SMOKE, "--out", str(tmp_path))
    assert failed.exit_code == 1
    run = next(tmp_path.glob("continual/tiny-llama/lora/seed-1-*"))
    message = f"{run}: out of memory (peak resident memory "
    lines = [line for line in failed.output.splitlines() if message in line
             and (command == "run" or line.startswith("FAILED "))]
    assert len(lines) == 1 and "lower --batch-size" in lines[0] and "resumes from its last checkpoint" in lines[0]
    if command == "run":
        assert failed.output.strip().splitlines()[-1] == lines[0] and lines[0].startswith("Error: ")
        assert "Traceback" not in failed.output
    assert json.loads((run / "metrics.json").read_text())["status"] == "incomplete"
    assert (run / "checkpoint.pt").is_file()  # after the first task
    monkeypatch.undo()
    again = invoke(command, *SMOKE, "--out", str(tmp_path))
    assert again.exit_code == 0, again.output
    assert json.loads((run / "metrics.json").read_text())["status"] == "complete"
    assert [entry["after_task"] for entry in json.loads((run / "config.json").read_text())["resumed"]] == [1]
