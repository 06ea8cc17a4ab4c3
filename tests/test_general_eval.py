"""`--general-eval lm-eval:...` end to end on the tiny model, offline: a local lm-eval task
(tests/fixtures/lmeval: YAML configs and a JSONL file) scored on the base and the adapted model,
recorded, summarised and shown as leaderboard columns with paired differences; bad input fails
in one line before anything trains."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

os.environ["HF_HUB_OFFLINE"] = "1"  # before lm_eval and datasets import: they read these once
os.environ["HF_DATASETS_OFFLINE"] = "1"

from hipbench import general_eval, lmeval_backend  # noqa: E402
from hipbench.cli import main  # noqa: E402
from hipbench.config import RunConfig  # noqa: E402
from hipbench.records import read_measurements  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TASKS = Path(__file__).parent / "fixtures" / "lmeval"
SMOKE = ["--suite", "continual", "--model", "tiny-llama", "--limit", "4", "--steps", "2", "--device", "cpu"]
LMEVAL = ["--general-eval", "lm-eval:hipbench_tiny_choice,hipbench_tiny_text", "--general-eval-include", str(TASKS),
          "--general-eval-limit", "6"]
TEXT_DELTA = "lm_eval:hipbench_tiny_text:bits_per_byte:delta"
CHOICE_DELTA = "lm_eval:hipbench_tiny_choice:acc:delta"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rows_of(run: Path) -> list[dict]:
    return read_measurements(run / "measurements.jsonl", strict=True)


def test_a_spec_names_the_backend_and_its_tasks_or_fails_naming_the_option():
    assert general_eval.parse_spec("lm-eval: arc_easy,hellaswag,arc_easy") == ("lm-eval", ("arc_easy", "hellaswag"))
    for bad in ("arc_easy", "helm:arc_easy", "lm-eval:", "lm-eval: , "):
        with pytest.raises(ValueError, match="^--general-eval "):
            general_eval.parse_spec(bad)
    with pytest.raises(ValueError, match="--general-eval-limit: only with --general-eval"):
        general_eval.config_block(None, limit=5)
    with pytest.raises(ValueError, match="--general-eval-limit must be at least 1"):
        general_eval.config_block("lm-eval:arc_easy", limit=0)
    block = general_eval.config_block("lm-eval:arc_easy")
    assert general_eval.boundaries(block, 4) == {0, 4}
    assert general_eval.boundaries({**block, "every_task": True}, 4) == {0, 1, 2, 3, 4}


def test_the_config_hash_changes_only_when_general_eval_is_given():
    cfg = RunConfig(method="lora", suite="continual", model="tiny-llama", seed=1)
    assert cfg.hash() == "c4fb2feb2867"  # the hash this default config had before the field existed
    asked = replace(cfg, general_eval=general_eval.config_block("lm-eval:arc_easy"))
    limited = replace(cfg, general_eval=general_eval.config_block("lm-eval:arc_easy", limit=10))
    assert len({cfg.hash(), asked.hash(), limited.hash()}) == 3


def test_a_sweep_file_entry_takes_the_same_general_eval_fields_as_the_command_line(tmp_path):
    from hipbench.run_groups import SweepFileError, read_sweep_file

    path = tmp_path / "sweep.yaml"
    path.write_text("runs:\n  - {methods: [lora], suite: continual, seeds: [1], general-eval: 'lm-eval:arc_easy',\n"
                    "     general_eval_limit: 3, general_eval_every_task: true}\n")
    (config,) = read_sweep_file(path)[0].configs("cpu")
    assert config.general_eval == {"backend": "lm-eval", "tasks": ["arc_easy"], "limit": 3, "every_task": True,
                                   "include": None}
    path.write_text("runs:\n  - {methods: [lora], suite: continual, general_eval_limit: many}\n")
    with pytest.raises(SweepFileError, match="runs\\[0\\]: field 'general_eval_limit': expected int"):
        read_sweep_file(path)


def test_the_main_metric_is_the_first_the_task_declares_not_the_first_in_the_result():
    results = {"results": {"t": {"alias": "t", "word_perplexity,none": 9.0, "word_perplexity_stderr,none": "N/A",
                                 "bits_per_byte,none": 1.5}},
               "configs": {"t": {"metric_list": [{"metric": "bits_per_byte"}, {"metric": "word_perplexity"}]}}}
    assert lmeval_backend.main_metric(results, "t") == "bits_per_byte,none"
    group = {"results": {"g": {"alias": "g", "acc_stderr,none": 0.1, "acc,none": 0.5}}, "configs": {}}
    assert lmeval_backend.main_metric(group, "g") == "acc,none"
    assert general_eval.title("lm_eval:arc_easy:acc:delta") == "lm-eval arc_easy acc Δ"
    assert general_eval.value_key("gsm8k", "exact_match,strict-match") == "lm_eval:gsm8k:exact_match (strict-match)"


def test_an_unknown_task_fails_in_one_line_before_any_training(tmp_path):
    result = invoke("run", "--method", "lora", *SMOKE, "--seeds", "1", "--out", str(tmp_path / "runs"),
                    "--general-eval", "lm-eval:hipbench_tiny_choice,no_such_task_xyz",
                    "--general-eval-include", str(TASKS))
    assert result.exit_code == 1
    assert "Error: --general-eval: unknown lm-eval task no_such_task_xyz" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_missing_extra_fails_in_one_line_naming_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # what `import lm_eval` meets when it is not installed
    result = invoke("sweep", "--method", "lora", *SMOKE, "--seeds", "1", "--out", str(tmp_path / "runs"),
                    "--general-eval", "lm-eval:arc_easy")
    assert result.exit_code == 1
    assert 'pip install -e ".[lmeval]"' in result.output and "--general-eval lm-eval" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs" / "continual").exists()


def test_general_eval_on_a_suite_without_task_boundaries_is_refused(tmp_path):
    result = invoke("run", "--method", "rome", "--suite", "edit", "--model", "tiny-llama", "--num-edits", "2",
                    "--seeds", "1", "--out", str(tmp_path), "--general-eval", "lm-eval:arc_easy")
    assert result.exit_code == 1
    assert "--general-eval: suite edit (protocol edit) has no task boundaries" in result.output


def test_run_records_base_and_final_scores_and_the_leaderboard_shows_them_with_paired_cis(tmp_path):
    out, boards = tmp_path / "runs", tmp_path / "lb"
    result = invoke("run", "--method", "lora,pissa", *SMOKE, "--lr", "0.02", "--seeds", "1,2", "--out", str(out),
                    *LMEVAL)
    assert result.exit_code == 0, result.output
    assert "lm-eval hipbench_tiny_text bits_per_byte Δ" in result.output  # each run's line names the change
    runs = sorted(out.glob("continual/tiny-llama/*/seed-*"))
    assert len(runs) == 4
    bases = set()
    for run in runs:
        config, metrics = (json.loads((run / name).read_text()) for name in ("config.json", "metrics.json"))
        assert config["config"]["general_eval"] == {"backend": "lm-eval", "every_task": False, "limit": 6,
                                                    "include": str(TASKS.resolve()),
                                                    "tasks": ["hipbench_tiny_choice", "hipbench_tiny_text"]}
        scored = [r for r in rows_of(run) if r["task"].startswith("lm-eval:")]
        last = len(metrics["tasks"])
        assert sorted((r["task"], r["after_task"]) for r in scored) == [
            ("lm-eval:hipbench_tiny_choice", 0), ("lm-eval:hipbench_tiny_choice", last),
            ("lm-eval:hipbench_tiny_text", 0), ("lm-eval:hipbench_tiny_text", last)]
        by = {(r["task"], r["after_task"]): r for r in scored}
        choice = by[("lm-eval:hipbench_tiny_choice", last)]
        assert choice["metric"] == "acc,none" and choice["n"] == 6 and len(choice["values"]) == 6
        assert choice["value"] == pytest.approx(sum(choice["values"]) / 6)
        text_base, text_final = by[("lm-eval:hipbench_tiny_text", 0)], by[("lm-eval:hipbench_tiny_text", last)]
        assert text_final["metric"] == "bits_per_byte,none" and "values" not in text_final  # not a mean per example
        assert metrics["lm_eval:hipbench_tiny_text:bits_per_byte"] == text_final["value"]
        assert metrics[TEXT_DELTA] == pytest.approx(text_final["value"] - text_base["value"])
        assert metrics[TEXT_DELTA] != 0  # the adapted model is scored, not the base again
        assert metrics["general_eval"]["hipbench_tiny_choice"]["version"] == lmeval_backend._version()
        bases.add((text_base["value"], by[("lm-eval:hipbench_tiny_choice", 0)]["value"]))
    assert len(bases) == 1  # one base model: the same base scores in every run

    assert invoke("leaderboard", str(out), "--out", str(boards)).exit_code == 0
    table = (boards / "continual__tiny-llama.md").read_text()
    for column in ("lm-eval hipbench_tiny_choice acc", "lm-eval hipbench_tiny_choice acc Δ",
                   "lm-eval hipbench_tiny_text bits_per_byte Δ"):
        assert f"| {column} " in table
    assert "General capability: lm-evaluation-harness" in table and "first 6 examples per task" in table
    data = json.loads((boards / "continual__tiny-llama.json").read_text())
    pissa = next(row for row in data["rows"] if row["method"] == "pissa")
    assert pissa[TEXT_DELTA]["n"] == 2
    paired = {row["metric"]: row for row in data["paired"]["rows"]}
    assert paired[TEXT_DELTA]["seeds"]["n"] == 2 and paired[TEXT_DELTA]["examples"] is None
    assert paired[CHOICE_DELTA]["examples"]["unit"] == "hipbench_tiny_choice examples"
    csv = (boards / "continual__tiny-llama.csv").read_text().splitlines()[0]
    assert "lm-eval hipbench_tiny_text bits_per_byte Δ mean" in csv

    # the general eval leaves training alone: the same run without it has the same task scores
    plain = invoke("run", "--method", "lora", *SMOKE, "--lr", "0.02", "--seeds", "1", "--out", str(tmp_path / "plain"))
    assert plain.exit_code == 0, plain.output
    without = json.loads(next((tmp_path / "plain").glob("continual/tiny-llama/lora/seed-1-*/metrics.json")).read_text())
    with_it = json.loads(next(out.glob("continual/tiny-llama/lora/seed-1-*/metrics.json")).read_text())
    assert without["accuracy_matrix"] == with_it["accuracy_matrix"]
    assert without["nll_delta"] == with_it["nll_delta"]
    assert not any(key.startswith("lm_eval:") for key in without)
    # and a table of records without it has no lm-eval column
    assert invoke("leaderboard", str(tmp_path / "plain"), "--out", str(tmp_path / "plain-lb")).exit_code == 0
    assert "lm-eval" not in (tmp_path / "plain-lb" / "continual__tiny-llama.md").read_text()


def test_every_task_scores_every_boundary(tmp_path):
    result = invoke("run", "--method", "lora", *SMOKE, "--steps", "1", "--seeds", "3", "--out", str(tmp_path),
                    "--general-eval", "lm-eval:hipbench_tiny_text", "--general-eval-include", str(TASKS),
                    "--general-eval-limit", "2", "--general-eval-every-task")
    assert result.exit_code == 0, result.output
    run = next(tmp_path.glob("continual/tiny-llama/lora/seed-3-*"))
    tasks = json.loads((run / "metrics.json").read_text())["tasks"]
    assert [r["after_task"] for r in rows_of(run) if r["task"] == "lm-eval:hipbench_tiny_text"] == list(
        range(len(tasks) + 1))
