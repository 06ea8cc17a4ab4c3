"""`hipbench run --suite edit` end to end on the tiny model: the three modes, --data files, errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hipbench.cli import main
from hipbench.protocols import edit
from hipbench.records import read_measurements

FIXTURES = Path(__file__).parent / "fixtures" / "edit"
TINY = ["--suite", "edit", "--model", "tiny-llama", "--device", "cpu", "--seeds", "1", "--steps", "2", "--limit", "4"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_three_modes_on_a_zsre_file_run_and_get_one_table_each(tmp_path):
    out, boards = tmp_path / "runs", tmp_path / "lb"
    data = str(FIXTURES / "zsre.json")
    for mode in ("single", "batch", "sequential"):
        result = invoke("run", "--method", "lora", *TINY, "--edit-mode", mode, "--num-edits", "2", "--data", data,
                        "--out", str(out))
        assert result.exit_code == 0, result.output
        assert "Reliability" in result.output and "Locality" in result.output
    runs = sorted(out.glob("edit/tiny-llama/lora/seed-1-*"))
    assert len(runs) == 3  # the mode is part of the run's identity
    modes = set()
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        config = json.loads((run / "config.json").read_text())
        assert metrics["status"] == "complete" and metrics["num_edits"] == 2
        assert metrics["steps_per_edit"] == 2 and metrics["data_format"] == "zsre"
        # the file's 3 requests less the 1 held out as validation (the default --data-split holdout-test)
        assert metrics["filter"] == "none" and metrics["filter_candidates"] == 2
        assert config["suite_definition"]["validation_split"]["validation_edits"] == 1
        assert config["suite_definition"]["edit_data"]["format"] == "zsre"
        assert config["config"]["protocol_options"]["data"] == str(Path(data).resolve())
        modes.add(metrics["edit_mode"])
        # the examples the leaderboard resamples average to the recorded metrics, in every mode
        rows = read_measurements(run / "measurements.jsonl", strict=True)
        for key, (_, scores) in edit.example_scores(metrics, rows).items():
            mean = sum(scores.values()) / len(scores)
            assert mean == pytest.approx(metrics[key], abs=1e-12), (metrics["edit_mode"], key)
    assert modes == {"single", "batch", "sequential"}
    result = invoke("leaderboard", str(out), "--out", str(boards))
    assert result.exit_code == 0, result.output
    tables = sorted(p.name for p in boards.glob("*.md") if p.name != "README.md")
    assert len(tables) == 3 and all(name.startswith("edit__tiny-llama__") for name in tables)
    assert all(f"({name})" in (boards / "README.md").read_text() for name in tables)
    sequential = next(boards.glob("*edit_mode-sequential*.md")).read_text()
    for column in ("Reliability", "Efficacy", "Generalization", "Locality", "Portability", "Fact retention"):
        assert column in sequential
    assert "sequential editing, N = 2, at most 2 steps per edit" in sequential
    # the header states the editing step rule, not the continual "steps per task" it does not use
    assert "- Steps: at most 2 steps per task (--steps), stop once every target token" in sequential
    assert "Steps per task" not in sequential


def test_builtin_suite_on_a_model_that_knows_nothing_fails_naming_the_filter(tmp_path):
    result = invoke("run", "--method", "lora", *TINY, "--num-edits", "3", "--out", str(tmp_path))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1] == ("Error: suite edit: only 0 of 3 edit requests pass the filter base_predicts_ground_truth "
                         "(after --limit 4) (1 more held out as validation: --data-split holdout-test); "
                         "--num-edits 3 needs 3")


def test_malformed_data_fails_in_one_line_before_anything_is_written(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"src": "q?", "alt": "a"}, {"src": "q?", "alt": ["a"]}]))
    out = tmp_path / "runs"
    result = invoke("run", "--method", "lora", *TINY, "--data", str(bad), "--out", str(out))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {bad}: record 1: field 'alt' must be a string, got a JSON list"
    assert not out.exists()


def test_edit_options_are_refused_by_other_suites_and_checked_by_the_edit_suite(tmp_path):
    result = invoke("run", "--method", "lora", "--suite", "continual", "--model", "tiny-llama", "--edit-mode", "batch",
                    "--out", str(tmp_path))
    assert result.exit_code == 1 and "--edit-mode does not apply to suite continual" in result.output
    result = invoke("run", "--method", "lora", *TINY, "--num-edits", "0", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.strip() == "Error: --num-edits must be a positive integer or 'all' (got 0)"


def test_an_editor_runs_end_to_end_beside_an_adapter_and_shares_its_table(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPBENCH_CACHE", str(tmp_path / "cache"))
    out, boards, data = tmp_path / "runs", tmp_path / "lb", str(FIXTURES / "zsre.json")
    for method, options in (("lora", ["--lr", "0.001"]), ("rome", ["--option", "prefixes=5x2"])):
        result = invoke("run", "--method", method, *TINY, *options, "--num-edits", "2", "--data", data,
                        "--out", str(out))
        assert result.exit_code == 0, result.output
    metrics = json.loads(next(out.glob("edit/tiny-llama/rome/seed-1-*/metrics.json")).read_text())
    assert metrics["status"] == "complete" and metrics["method_kind"] == "editor"
    assert metrics["rank"] == 2 and metrics["changed_params"] == metrics["trainable_params"] > 0  # two rank-one edits
    assert metrics["editor_statistics"]["stats_tokens"] > 0 and len(metrics["train"]) == 2
    assert {"reliability_gen", "generalization_gen"} <= set(metrics)
    assert invoke("leaderboard", str(out), "--out", str(boards)).exit_code == 0
    table = next(boards.glob("edit__tiny-llama__*.md")).read_text()
    rome_row = next(line for line in table.splitlines() if line.startswith("| rome"))
    assert f"{metrics['trainable_params']} changed" in rome_row and "2 (ΔW)" in rome_row
    lora = json.loads(next(out.glob("edit/tiny-llama/lora/seed-1-*/metrics.json")).read_text())
    assert f"- Budget: {lora['budget']} trainable parameters per task" in table  # the adapter's, not None
    assert "Knowledge editors change weights directly" in table and "Reliability (gen.)" in table
    assert "(lr 0.001)" in table  # the header states the adapter's lr; the editor's unused one did not block the table
    # the one training setting an editor reads, the sequence cap, still keeps different runs apart
    rome_config = next(out.glob("edit/tiny-llama/rome/seed-1-*/config.json"))
    record = json.loads(rome_config.read_text())
    record["config"]["train"]["max_length"] = 64
    rome_config.write_text(json.dumps(record))
    mixed = invoke("leaderboard", str(out), "--out", str(boards))
    assert mixed.exit_code == 1 and "refusing to mix runs in one table: 'train'" in mixed.output


@pytest.mark.parametrize("args,message", [
    (["--suite", "continual"], "--method rome: a knowledge editor runs on editing suites only (--suite edit), "
                               "not on a continual suite"),
    (["--suite", "edit", "--budget", "1000"], "--budget does not apply to the knowledge editor rome"),
    (["--suite", "edit", "--option", "layers=x"], "rome: --option layers=x: expected comma-separated layer indices >= 0 or ranges"),
])
def test_editor_misuse_fails_in_one_line_before_loading(tmp_path, args, message):
    result = invoke("run", "--method", "rome", "--model", "tiny-llama", "--seeds", "1", *args, "--out",
                    str(tmp_path))
    assert result.exit_code == 1 and f"Error: {message}" in result.output, result.output
    assert "loading model" not in result.output


def write_requests(path: Path, count: int) -> str:
    """An EasyEdit request file of `count` synthetic requests (the tiny model knows none of them)."""
    path.write_text(json.dumps([{"prompt": f"The colour of box {i} is", "subject": f"box {i}", "target_new": "blue",
                                 "ground_truth": "red", "locality_prompt": f"The size of bag {i} is",
                                 "locality_ground_truth": "small"} for i in range(count)]))
    return str(path)


def test_num_edits_all_edits_every_request_that_passes_and_names_its_table(tmp_path):
    out, boards = tmp_path / "runs", tmp_path / "lb"
    data = write_requests(tmp_path / "edits.json", 12)  # 11 after the 10 % validation hold-out
    result = invoke("run", "--method", "lora", *TINY[:-2], "--num-edits", "all", "--data", data, "--out", str(out))
    assert result.exit_code == 0, result.output
    run = next(out.glob("edit/tiny-llama/lora/seed-1-*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_edits"] == 11 == metrics["filter_passed"] and len(metrics["train"]) == 11
    assert metrics["tasks"][0].startswith("sequential editing, N = 11 (all that pass the filter), ")
    assert json.loads((run / "config.json").read_text())["config"]["protocol_options"]["num_edits"] == "all"
    assert invoke("leaderboard", str(out), "--out", str(boards)).exit_code == 0
    assert len(list(boards.glob("edit__tiny-llama__*num_edits-all*.md"))) == 1


def test_num_edits_all_on_a_suite_nobody_knows_fails_naming_the_filter(tmp_path):
    result = invoke("run", "--method", "lora", *TINY, "--num-edits", "all", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: suite edit: only 0 of 3 edit requests pass the filter base_predicts_ground_truth (after --limit 4) "
        "(1 more held out as validation: --data-split holdout-test); --num-edits all needs 1")


@pytest.mark.parametrize("value", ["many", "1.5", ""])
def test_a_bad_num_edits_fails_in_one_line(tmp_path, value):
    result = invoke("run", "--method", "lora", *TINY, "--num-edits", value, "--out", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: --num-edits: expected a positive integer or 'all', got {value!r}"


def test_a_sweep_file_takes_num_edits_all_and_refuses_a_quoted_count(tmp_path):
    from hipbench.run_groups import SweepFileError, read_sweep_file

    good = tmp_path / "good.yaml"
    good.write_text("runs:\n  - {methods: [rome, lora], suite: edit, num_edits: all}\n"
                    "  - {methods: [memit], suite: edit, edit_mode: batch, num_edits: 100}\n")
    first, second = read_sweep_file(good)
    assert first.num_edits == "all" and second.num_edits == 100
    assert first.configs("cpu")[0].protocol_options == {"num_edits": "all"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("runs:\n  - {methods: [lora], suite: edit, num_edits: '10'}\n")
    with pytest.raises(SweepFileError, match=r"runs\[0\]: field 'num_edits': expected an integer or 'all', got '10'"):
        read_sweep_file(bad)


@pytest.mark.parametrize("method,options", [
    ("lora", ["--steps", "2"]),
    ("memit", ["--option", "prefixes=5x2", "--option", "stats_tokens=2000", "--option", "v_num_grad_steps=5"]),
])
def test_batch_mode_edits_batches_of_1_10_and_100(method, options, tmp_path, monkeypatch):
    """MEMIT's regime: N requests as one batch, for an adapter (one task of N requests) and an
    editor (one `edit` call with N requests, solved together)."""
    monkeypatch.setenv("HIPBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "runs"
    data = write_requests(tmp_path / "edits.json", 112)  # 101 after the 10 % validation hold-out
    for size in (1, 10, 100):
        result = invoke("run", "--method", method, "--suite", "edit", "--model", "tiny-llama", "--device", "cpu",
                        "--seeds", "1", *options, "--edit-mode", "batch", "--num-edits", str(size), "--data", data,
                        "--out", str(out))
        assert result.exit_code == 0, result.output
    runs = {json.loads((run / "metrics.json").read_text())["num_edits"]: run for run in out.glob(f"edit/*/{method}/*")}
    assert sorted(runs) == [1, 10, 100]
    for size, run in runs.items():
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["edit_mode"] == "batch" and [t["task"] for t in metrics["train"]] == [f"batch-of-{size}"]
        selection = read_measurements(run / "measurements.jsonl", strict=True)[0]
        assert len(selection["edits"]) == size
        if method == "memit":  # one least-squares update per layer for the whole batch: rank <= batch size
            assert metrics["method_kind"] == "editor" and 1 <= metrics["rank"] <= size
            assert metrics["changed_params"] > 0


def test_tune_picks_an_editors_layers_on_validation_edits(tmp_path, monkeypatch):
    """The command the README gives for SmolLM2's editor layers, end to end on the tiny model."""
    monkeypatch.setenv("HIPBENCH_CACHE", str(tmp_path / "cache"))
    data = write_requests(tmp_path / "edits.json", 20)  # 2 held out as validation edits
    out = tmp_path / "tuning"
    result = invoke("tune", "--method", "rome", "--suite", "edit", "--model", "tiny-llama", "--device", "cpu",
                    "--data", data, "--num-edits", "2", "--option", "prefixes=5x2", "--option", "stats_tokens=2000",
                    "--space", "layers=0,1", "--out", str(out))
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "tuned.json").read_text())["rome"]
    assert entry["options"]["layers"] in ("0", "1") and len(entry["trials"]) == 2
    trials = [json.loads(p.read_text()) for p in (out / "runs").glob("edit/tiny-llama/rome/*/config.json")]
    assert len(trials) == 2 and {t["config"]["data_split"] for t in trials} == {"holdout-validation"}
    assert {t["config"]["method_options"]["layers"] for t in trials} == {"0", "1"}
    assert all(t["suite_definition"]["scored_split"] == "validation" for t in trials)
    assert invoke("leaderboard", str(out / "runs"), "--out", str(tmp_path / "lb")).exit_code == 0
    (table,) = (tmp_path / "lb").glob("edit__tiny-llama*__tuning.md")
    rows = [line.split("|")[1:-1] for line in table.read_text().splitlines() if line.startswith("| rome")]
    assert len(rows) == 2  # an editor trains nothing at the shared lr, steps and batch size: "-", not 0.0005
    assert all([cell.strip() for cell in (row[2], row[4], row[5])] == ["-", "-", "-"] for row in rows)
