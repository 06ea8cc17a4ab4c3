"""The merging protocol end to end on the tiny model: adapters, cache reuse, pairing, leaderboard."""
from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from click.testing import CliRunner

from hipbench import runner
from hipbench.cli import main
from hipbench.config import RunConfig
from hipbench.leaderboard import write_leaderboards
from hipbench.method_statistics import METHOD_COLUMNS
from hipbench.methods.lora import LoRA
from hipbench.models import LoadedModel, tiny_llama
from hipbench.protocols import merge, merge_adapters
from hipbench.protocols.continual import plan_budget
from hipbench.records import read_measurements
from hipbench.suite import Example, TaskData
from hipbench.train import TrainConfig

from conftest import make_suite


pytestmark = pytest.mark.usefixtures("one_thread")


def three_task_suite():
    base = make_suite()
    pick = TaskData(name="pick", scoring="choice",
                    train=tuple(Example(f"pick {c}:", f" {c}", (" z", f" {c}")) for c in "abcdefgh"),
                    test=tuple(Example(f"pick {c}:", f" {c}", (f" {c}", " z")) for c in "ab"))
    return dataclasses.replace(base, name="merge", tasks=base.tasks + (pick,)).limited(3)


def config(method: str, rule: str, steps: int = 1) -> RunConfig:
    """`ties-global`: TIES with the global trim; `ties` names no trim, as the published records."""
    trim = {"ties_trim": "global"} if rule == "ties-global" else {}
    return RunConfig(method=method, suite="merge", model="tiny-llama", seed=5, train=TrainConfig(steps=steps),
                     protocol_options={"merge_rule": rule.removesuffix("-global"), "merge_instances": 2, **trim})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """lora with sum, then lora with ties (must reuse every adapter), then pissa with sum."""
    model, tokenizer = tiny_llama(seed=0)
    loaded = LoadedModel(model, tokenizer, "tiny-llama", "random (seed 0)")
    suite, out = three_task_suite(), tmp_path_factory.mktemp("merge") / "runs"
    outcomes = {}
    for method, rule in (("lora", "sum"), ("lora", "ties"), ("lora", "ties-global"), ("pissa", "sum"),
                         ("olora", "sum")):
        with pytest.MonkeyPatch.context() as patch:
            if (method, rule) in (("lora", "ties"), ("lora", "ties-global")):
                patch.setattr(merge_adapters, "train_adapter", _no_training)
            outcomes[method, rule] = runner.run_one(loaded, suite, config(method, rule), out, {}, False,
                                                    {"hardware": "cpu", "git_commit": "test"}, protocol="merge")
    return loaded, suite, out, outcomes


def _no_training(*args, **kwargs):
    raise AssertionError("an adapter was trained although a cached one matches")


def test_a_run_trains_one_adapter_per_task_and_records_every_leaderboard_key(runs):
    loaded, suite, _, outcomes = runs
    outcome = outcomes["lora", "sum"]
    assert outcome.status == "complete"
    m = outcome.metrics
    assert m["tasks"] == ["copy", "shout", "pick"]
    assert m["adapters_trained"] == 3 and m["adapters_reused"] == 0
    assert m["trainable_params"] == m["planned_trainable"] == plan_budget(loaded.model, LoRA(), config("lora", "sum"))[
        "planned_trainable"]
    for key, _ in merge.LEADERBOARD_COLUMNS:  # all but a method's measurements of itself (HiP-LoRA's budget)
        assert key in m or key in dict(METHOD_COLUMNS)
    assert math.isnan(m["mergefail_t4"]) and math.isnan(m["mergefail_t5_hi"])
    two, three = m["sizes"]["2"], m["sizes"]["3"]
    assert (two["available"], two["used"]) == (3, 2)  # C(3, 2) = 3 > 2 asked: 2 distinct subsets
    assert len({tuple(s) for s in two["instances"]}) == 2
    assert (three["available"], three["used"], three["instances"]) == (1, 1, [["copy", "shout", "pick"]])
    assert m["mergefail_t2"] == sum(two["failed"]) / 2
    assert m["mergefail_t2_lo"] <= m["mergefail_t2"] <= m["mergefail_t2_hi"]
    assert m["merge"]["rule"] == "sum" and m["merge"]["lambda"] == 1.0 and m["merge"]["tau"] == 0.9
    rows = read_measurements(outcome.directory / "measurements.jsonl", strict=True)
    assert sum(r.get("kind") == "merged" for r in rows) == 2 * 2 + 3  # every task of every instance is scored
    assert {r["task"]: r["value"] for r in rows if r.get("kind") == "single"} == m["single_accuracy"]


def test_a_second_run_with_the_other_rule_trains_nothing_and_reuses_the_same_adapters(runs):
    _, _, out, outcomes = runs
    first, second = outcomes["lora", "sum"].metrics, outcomes["lora", "ties"].metrics
    assert second["adapters_trained"] == 0 and second["adapters_reused"] == 3
    assert [a["key"] for a in second["adapters"]] == [a["key"] for a in first["adapters"]]
    assert second["single_accuracy"] == first["single_accuracy"]
    assert second["sizes"]["2"]["instances"] == first["sizes"]["2"]["instances"]  # same seed, same instances
    assert second["merge"]["rule"] == "ties" and second["merge"]["density"] == 0.2
    assert second["merge"]["trim"].startswith("per module") and "ties_trim" not in second["merge"]
    third = outcomes["lora", "ties-global"].metrics
    assert third["merge"]["ties_trim"] == "global" and third["merge"]["trim"].startswith("global")
    assert third["sizes"]["2"]["used"] == second["sizes"]["2"]["used"]
    stored = sorted(p.name for p in (out / "merge" / "tiny-llama" / merge.ADAPTER_DIR).iterdir())
    pissa, olora = outcomes["pissa", "sum"].metrics["adapters"], outcomes["olora", "sum"].metrics["adapters"]
    assert stored == sorted({a["key"] for a in first["adapters"]} | {a["key"] for a in pissa + olora})


def test_every_method_meets_the_same_instances(runs):
    _, _, _, outcomes = runs
    lora, pissa = outcomes["lora", "sum"].metrics, outcomes["pissa", "sum"].metrics
    assert pissa["adapters_trained"] == 3
    assert pissa["sizes"]["2"]["instances"] == lora["sizes"]["2"]["instances"]


def test_the_adapter_key_changes_with_what_shapes_the_adapter_and_not_with_merge_settings(runs):
    loaded, suite, _, _ = runs
    cfg = config("lora", "sum")
    plan = plan_budget(loaded.model, LoRA(), cfg)
    key = lambda c, task=suite.tasks[0], method=LoRA(): merge.adapter_key(  # noqa: E731
        merge.adapter_identity(loaded, method, task, suite.preservation, c, plan))
    assert key(cfg) == key(config("lora", "ties")) == key(dataclasses.replace(cfg, protocol_options={}))
    others = [key(config("lora", "sum", steps=2)), key(dataclasses.replace(cfg, seed=6)), key(cfg, suite.tasks[1]),
              key(cfg, dataclasses.replace(suite.tasks[0], train=suite.tasks[0].train[:2])),
              key(cfg, method=LoRA(dataclasses.replace(LoRA.Options(), alpha=8.0)))]
    assert len({key(cfg), *others}) == 1 + len(others)


def test_leaderboard_writes_one_table_and_plot_per_rule_with_differences_to_lora(runs, tmp_path):
    _, _, out, _ = runs
    written, incomplete = write_leaderboards(out, tmp_path, plots=True)
    assert incomplete == 0
    names = sorted(p.name for p in written)
    for rule in ("sum", "ties"):
        stem = f"merge__tiny-llama__merge_instances-2_merge_rule-{rule}"
        assert {f"{stem}.md", f"{stem}.csv", f"{stem}.json", f"{stem}.png"} <= set(names)
    table = (tmp_path / "merge__tiny-llama__merge_instances-2_merge_rule-sum.md").read_text()
    for title in ("Single-task acc", "MergeFail t=2", "t=2 CI lo", "MergeFail t=3", "Retention", "paired difference"):
        assert title in table
    pissa_rows = [line for line in table.splitlines() if line.startswith("| 2 | pissa |")]
    assert len(pissa_rows) == 1 and "—" not in pissa_rows[0]  # a difference to lora is shown
    # O-LoRA without an earlier adapter is LoRA: its row says so, and it is in no comparison
    from hipbench.leaderboard import columns

    data = json.loads((tmp_path / "merge__tiny-llama__merge_instances-2_merge_rule-sum.json").read_text())
    olora = [line for line in table.splitlines() if line.startswith("| olora ")]
    shown = columns("merge", data["rows"])  # the metric and cost columns of this table
    assert len(olora) == 1 and olora[0].count("= LoRA (no earlier adapter)") == len(shown) > 10
    assert "olora" not in table.split(olora[0])[1]  # not in the paired differences or pooled MergeFail
    row = next(r for r in data["rows"] if r["method"] == "olora")
    assert row["equals"] == "LoRA" and row["single_accuracy_mean"]["n"] == 0
    assert (tmp_path / "merge__tiny-llama__merge_instances-2_merge_rule-sum.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("options,message", [
    ({"merge_rule": "mean"}, "--merge-rule mean: expected one of sum, ties"),
    ({"merge_instances": 0}, "--merge-instances must be an integer of at least 1"),
    ({"merge_rule": "ties", "ties_trim": "rows"}, "--ties-trim rows: expected one of global, module"),
    ({"merge_rule": "sum", "ties_trim": "global"}, "--ties-trim global: applies to --merge-rule ties only"),
])
def test_bad_merge_options_fail_naming_the_option(options, message):
    cfg = dataclasses.replace(config("lora", "sum"), protocol_options=options)
    with pytest.raises(ValueError, match=message):
        merge.merge_settings(cfg, 4)


def test_a_source_suite_with_one_task_is_refused():
    cfg = dataclasses.replace(config("lora", "sum"), protocol_options={"tasks_from": "single"})
    with pytest.raises(ValueError, match="--tasks-from single: merging needs a suite with at least 2 tasks"):
        merge.merge_settings(cfg, 1)


def test_cli_names_a_bad_merge_rule_in_one_line(tmp_path):
    result = CliRunner().invoke(main, ["run", "--method", "lora", "--suite", "merge", "--model", "tiny-llama",
                                       "--limit", "2", "--steps", "1", "--seeds", "1", "--device", "cpu",
                                       "--merge-rule", "avg", "--out", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "Error: --merge-rule avg: expected one of sum, ties"
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # refused before any record was written


def test_cli_runs_the_merge_suite_then_the_other_rule_reuses_its_adapters(tmp_path):
    out, boards = tmp_path / "runs", tmp_path / "lb"
    common = ["run", "--method", "lora", "--suite", "merge", "--model", "tiny-llama", "--limit", "2", "--steps", "1",
              "--seeds", "3", "--device", "cpu", "--merge-instances", "2", "--out", str(out)]
    first = CliRunner().invoke(main, common, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(main, common + ["--merge-rule", "ties"], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    records = sorted(out.glob("merge/tiny-llama/lora/seed-3-*/metrics.json"))
    metrics = sorted((json.loads(p.read_text()) for p in records), key=lambda m: m["merge_rule"])
    assert [(m["merge_rule"], m["adapters_trained"], m["adapters_reused"]) for m in metrics] == [
        ("sum", 4, 0), ("ties", 0, 4)]
    assert metrics[0]["tasks"] == ["fictional-capitals", "word-codes", "number-words", "arithmetic"]
    assert [metrics[0]["sizes"][t]["used"] for t in ("2", "3", "4")] == [2, 2, 1]
    board = CliRunner().invoke(main, ["leaderboard", str(out), "--out", str(boards), "--plots"], catch_exceptions=False)
    assert board.exit_code == 0, board.output
    assert {"merge__tiny-llama__merge_instances-2.png",
            "merge__tiny-llama__merge_instances-2_merge_rule-ties_ties_trim-global.png"} <= {
                p.name for p in boards.iterdir()}


def test_a_ties_run_trims_globally_unless_it_names_the_per_module_trim_of_the_published_records():
    """The published ties records' options name no trim: `--ties-trim module` gives exactly their
    options (and hash), a plain ties run the global trim under an identity of its own."""
    from hipbench.run_groups import RunGroup

    published = config("lora", "ties")
    assert published.protocol_options == {"merge_rule": "ties", "merge_instances": 2}
    assert merge.merge_settings(published, 4)[:2] == ("ties", "module")
    group = dict(methods=("lora",), suite="merge", model="tiny-llama", seeds=(5,), steps=2, merge_rule="ties",
                 merge_instances=2, budget_rule="uniform", data_split="all-train")
    module = RunGroup(**group, ties_trim="module").configs("cpu")[0]
    default = RunGroup(**group).configs("cpu")[0]
    assert module.protocol_options == {"merge_rule": "ties", "merge_instances": 2}
    assert module.hash() == dataclasses.replace(module, protocol_options=published.protocol_options).hash()
    assert default.protocol_options == {"merge_rule": "ties", "merge_instances": 2, "ties_trim": "global"}
    assert merge.merge_settings(default, 4)[:2] == ("ties", "global") and default.hash() != module.hash()
    with pytest.raises(ValueError, match="--ties-trim module: applies to --merge-rule ties only"):
        RunGroup(**{**group, "merge_rule": "sum"}, ties_trim="module").configs("cpu")


def test_olora_merge_adapters_are_lora_exactly(runs):
    """What the table's "= LoRA (no earlier adapter)" rests on: with no earlier adapter O-LoRA trains
    LoRA's adapter, so every merged and single-task number is LoRA's."""
    _, _, _, outcomes = runs
    lora, olora = outcomes["lora", "sum"].metrics, outcomes["olora", "sum"].metrics
    assert olora["frozen_params"] == 0
    assert olora["single_accuracy"] == lora["single_accuracy"]
    assert olora["sizes"] == lora["sizes"]
    assert [a["spectral"] for a in olora["adapters"]] == [a["spectral"] for a in lora["adapters"]]
