"""The command line, end to end on the tiny model: run, records, leaderboard, errors, plugins."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from hipbench.cli import main
from hipbench.records import read_measurements

PLUGIN_DIR = Path(__file__).parent / "fixtures" / "plugin"
SMOKE = ["--suite", "continual", "--model", "tiny-llama", "--limit", "6", "--steps", "2", "--device", "cpu"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def hipbench_subprocess(*args: str, plugin: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if plugin:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN_DIR), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", "from hipbench.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_list_shows_builtin_methods_suites_and_models():
    result = invoke("list")
    assert result.exit_code == 0
    for name in ("lora", "continual", "cl-benchmark", "smollm2-135m", "tiny-llama"):
        assert name in result.output
    assert "Hu et al." in result.output


# Unknown names, bad settings and bad data, each with a complete record that must survive: test_bad_input.py


def test_missing_data_dir_is_named(tmp_path):
    result = invoke("run", "--method", "lora", "--suite", "cl-benchmark", "--model", "tiny-llama",
                    "--data-dir", str(tmp_path / "absent"), "--out", str(tmp_path))
    assert result.exit_code == 1
    assert f"--data-dir {tmp_path / 'absent'} does not exist" in result.output


def test_run_writes_records_then_leaderboard_then_skips_on_rerun(tmp_path):
    out, boards = tmp_path / "runs", tmp_path / "lb"
    result = invoke("run", "--method", "lora", *SMOKE, "--seeds", "1,2", "--out", str(out), "--save-adapters")
    assert result.exit_code == 0, result.output
    runs = sorted(out.glob("continual/tiny-llama/lora/seed-*"))
    assert [p.name.split("-")[1] for p in runs] == ["1", "2"]
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        config = json.loads((run / "config.json").read_text())
        assert metrics["status"] == "complete"
        assert metrics["trainable_params"] == metrics["planned_trainable"] == metrics["budget"]
        assert config["config"]["limit"] == 6 and config["config"]["train"]["steps"] == 2
        assert {"torch", "transformers", "peft", "git_commit", "hardware"} <= set(config["environment"])
        assert config["model_source"] == "random (seed 0)"
        assert (run / "adapters" / "01-fictional-capitals" / "adapter_model.safetensors").is_file()
        rows = read_measurements(run / "measurements.jsonl", strict=True)
        assert {r["after_task"] for r in rows} == set(range(len(metrics["tasks"]) + 1))
    result = invoke("leaderboard", str(out), "--out", str(boards))
    assert result.exit_code == 0, result.output
    table = (boards / "continual__tiny-llama.md").read_text()
    for column in ("AA", "BWT", "FWT", "Forgetting", "Fact retention", "NLL Δ"):
        assert column in table
    assert "smoke run: --limit 6" in table
    data = json.loads((boards / "continual__tiny-llama.json").read_text())
    assert data["rows"][0]["aa"]["n"] == 2
    assert "Only lora in this table: no paired differences." in table
    readme = (boards / "README.md").read_text()
    assert "tiny-llama: random (seed 0)" in readme and "[md](continual__tiny-llama.md)" in readme
    again = invoke("run", "--method", "lora", *SMOKE, "--seeds", "1,2", "--out", str(out))
    assert again.exit_code == 0 and "skipped" in again.output


def test_leaderboard_refuses_to_mix_step_counts(tmp_path):
    out = tmp_path / "runs"
    assert invoke("run", "--method", "lora", *SMOKE, "--seeds", "1", "--out", str(out)).exit_code == 0
    assert invoke("run", "--method", "lora", *SMOKE[:-4], "--steps", "3", "--device", "cpu", "--seeds", "1",
                  "--out", str(out)).exit_code == 0
    result = invoke("leaderboard", str(out), "--out", str(tmp_path / "lb"))
    assert result.exit_code == 1
    assert "refusing to mix runs in one table: 'train'" in result.output


def test_third_party_plugin_is_listed_and_runs(tmp_path):
    listed = hipbench_subprocess("list", "methods", plugin=True)
    assert listed.returncode == 0, listed.stderr
    assert "lora-fa" in listed.stdout and "LoRA-FA (fixture plugin)" in listed.stdout
    assert "broken" in listed.stdout and "BROKEN (ModuleNotFoundError" in listed.stdout
    assert "lora " in listed.stdout
    ran = hipbench_subprocess("run", "--method", "lora-fa", *SMOKE, "--seeds", "3", "--out", str(tmp_path),
                              plugin=True)
    assert ran.returncode == 0, ran.stderr
    metrics = json.loads(next(tmp_path.glob("continual/tiny-llama/lora-fa/seed-3-*/metrics.json")).read_text())
    assert metrics["status"] == "complete"
    lora_rank8_budget = metrics["budget"]
    assert metrics["trainable_params"] <= lora_rank8_budget
    assert metrics["rank"] > 8  # A frozen: the same budget buys a larger rank
