from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import attach_method

from hipbench import registry
from hipbench.budget import (BudgetError, allocate_ranks, budget_used, default_budget, fill_order, fill_ranks,
                             rank_histogram, rank_summary, solve_rank, target_shapes)
from hipbench.config import RunConfig
from hipbench.editor import is_editor
from hipbench.method import DEFAULT_TARGETS, Method, adapted_layers, find_targets
from hipbench.methods.hiplora import HiPLoRA
from hipbench.methods.lora import LoRA, LoRALinear
from hipbench.methods.olora import OLoRA, OLoRALinear
from hipbench.protocols.continual import plan_budget
from hipbench.run_groups import RunGroup
from hipbench.spectral import SVDCache

SHAPES = [(64, 64), (32, 64), (128, 64), (64, 128)]


def test_default_budget_is_lora_rank_eight_on_every_target():
    assert default_budget(SHAPES) == 8 * (128 + 96 + 192 + 192)


def test_solved_rank_is_the_largest_that_fits():
    per_rank = 128 + 96 + 192 + 192
    assert solve_rank(LoRA(), SHAPES, 5 * per_rank) == 5
    assert solve_rank(LoRA(), SHAPES, 5 * per_rank + per_rank - 1) == 5
    assert solve_rank(LoRA(), SHAPES, 6 * per_rank) == 6


def test_budget_below_rank_one_is_refused_with_the_minimum():
    with pytest.raises(BudgetError, match="below lora's minimum of 608"):
        solve_rank(LoRA(), SHAPES, 607)


# --- the "fill" rule: within 1 % of the budget -----------------------------------------------------

def llama_shapes(hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int,
                 head_dim: int) -> list[tuple[int, int]]:
    """(out, in) of q, k, v, o, gate, up, down per layer, in `find_targets`' order, from the architecture."""
    per_layer = [(heads * head_dim, hidden), (kv_heads * head_dim, hidden), (kv_heads * head_dim, hidden),
                 (hidden, heads * head_dim), (intermediate, hidden), (intermediate, hidden), (hidden, intermediate)]
    return per_layer * layers


SMOLLM2_135M = llama_shapes(hidden=576, intermediate=1536, layers=30, heads=9, kv_heads=3, head_dim=64)
LLAMA_3_1_8B = llama_shapes(hidden=4096, intermediate=14336, layers=32, heads=32, kv_heads=8, head_dim=128)


def adapter_methods() -> list[Method]:
    methods = [cls() for cls in registry.available(registry.METHODS).values()
               if not isinstance(cls, Exception) and not is_editor(cls)]
    assert {"lora", "pissa", "hiplora", "olora", "lalora", "sclora"} <= {m.name for m in methods}
    return methods


@pytest.mark.parametrize("shapes", [SMOLLM2_135M, LLAMA_3_1_8B], ids=["smollm2-135m", "llama-3.1-8b"])
@pytest.mark.parametrize("scale", [0.5, 1, 2], ids=["half", "default", "double"])
def test_every_method_lands_within_one_percent_and_never_above(shapes, scale):
    budget = int(scale * default_budget(shapes))
    for method in adapter_methods():
        ranks = allocate_ranks(method, shapes, budget)
        count = method.trainable_count(shapes, ranks)
        assert 0.99 * budget <= count <= budget, (method.name, count / budget)
        assert max(ranks) - min(ranks) <= 1, method.name


def test_hiplora_fills_where_the_uniform_rule_left_an_eighth_unspent():
    budget = default_budget(SMOLLM2_135M)
    uniform = allocate_ranks(HiPLoRA(), SMOLLM2_135M, budget, rule="uniform")
    filled = allocate_ranks(HiPLoRA(), SMOLLM2_135M, budget)
    assert set(uniform) == {7} and set(filled) == {7, 8}
    assert HiPLoRA().trainable_count(SMOLLM2_135M, uniform) / budget < 0.9
    assert HiPLoRA().trainable_count(SMOLLM2_135M, filled) / budget >= 0.99


def test_fill_order_is_largest_step_first_ties_in_target_order():
    # LoRA's steps on SHAPES: 128, 96, 192, 192; spare at rank 5: 320 = 192 + 128
    assert fill_order(LoRA(), SHAPES, 5) == [2, 3, 0, 1]
    ranks = fill_ranks(LoRA(), SHAPES, 5 * 608 + 320)
    assert ranks == [6, 5, 6, 5]
    assert LoRA().trainable_count(SHAPES, ranks) == 5 * 608 + 320
    assert fill_ranks(LoRA(), list(reversed(SHAPES)), 5 * 608 + 320) == [6, 5, 5, 6]  # tie: the first target first


def test_a_shortfall_beyond_the_tolerance_fails_in_one_line_unless_allowed():
    budget = 5 * 608 + 95  # rank 5 everywhere, no step (at least 96) fits: 96.97 % of the budget
    with pytest.raises(BudgetError) as error:
        allocate_ranks(LoRA(), SHAPES, budget)
    message = str(error.value)
    assert "\n" not in message and "lora" in message and "96.97%" in message and "at least 96" in message
    assert allocate_ranks(LoRA(), SHAPES, budget, tolerance=0.05) == [5, 5, 5, 5]
    with pytest.raises(BudgetError, match="below lora's minimum of 608"):
        allocate_ranks(LoRA(), SHAPES, 607)


def test_rank_summary_and_histogram_describe_unequal_ranks():
    assert rank_summary([7, 8, 8]) == "7–8" and rank_summary([8, 8]) == 8
    assert rank_histogram([8, 7, 8]) == {"7": 1, "8": 2}


def test_budget_used_is_trainable_over_budget_and_none_for_editors():
    assert budget_used({"budget": 200, "trainable_params": 150}) == 0.75
    assert budget_used({"budget": None, "trainable_params": 12}) is None


# --- on a model: the plan is what attach builds ------------------------------------------------------

def test_attached_trainable_count_equals_the_plan_with_unequal_ranks(tiny, tiny_suite, tmp_path):
    model, _ = tiny
    targets = find_targets(model, DEFAULT_TARGETS)
    budget = default_budget(target_shapes(model, targets)) + 3 * 192 + 128  # LoRA: rank 8, then 9 on four modules
    cfg = RunConfig(method="any", suite="tiny", model="tiny-llama", seed=0, budget=budget, budget_rule="fill")
    for method in adapter_methods():
        plan = plan_budget(model, method, cfg)
        assert len(set(plan["ranks"].values())) == 2, method.name
        assert sum(plan["rank_histogram"].values()) == len(targets)
        attached, _, ctx = attach_method((copy.deepcopy(model), tiny[1]), type(method)(), plan["ranks"],
                                         tiny_suite.preservation, svd=SVDCache(tmp_path))
        trainable = sum(p.numel() for p in attached.parameters() if p.requires_grad)
        assert trainable == plan["planned_trainable"], method.name
        widths = {name: layer.lora_A.shape[0] if isinstance(layer.lora_A, torch.Tensor) else layer.lora_A[-1].shape[0]
                  for name, layer in attached.named_modules() if hasattr(layer, "lora_A")}
        assert widths == plan["ranks"], method.name


def test_each_module_takes_its_own_scaling_with_unequal_ranks(tiny, tiny_suite):
    model, _ = tiny
    targets = find_targets(model, DEFAULT_TARGETS)
    ranks = {name: 2 + index % 2 for index, name in enumerate(targets)}
    attached, _, _ = attach_method(tiny, LoRA(), ranks, tiny_suite.preservation)
    for name, layer in adapted_layers(attached, LoRALinear).items():
        assert layer.scaling == LoRA().options.alpha / ranks[name]


def test_olora_adds_each_task_adapter_at_the_modules_own_rank(tiny, tiny_suite):
    model, _ = tiny
    targets = find_targets(model, DEFAULT_TARGETS)
    ranks = {name: 1 + index % 3 for index, name in enumerate(targets)}
    method = OLoRA()
    planned = method.trainable_count(target_shapes(model, targets), [ranks[n] for n in targets])
    attached, _, ctx = attach_method(tiny, method, ranks, tiny_suite.preservation)
    method.end_task(attached, tiny_suite.tasks[0], ctx)
    method.begin_task(attached, tiny_suite.tasks[1], ctx)
    assert sum(p.numel() for p in attached.parameters() if p.requires_grad) == planned
    assert {name: layer.lora_A[-1].shape[0] for name, layer in adapted_layers(attached, OLoRALinear).items()} == ranks


def test_the_new_rule_is_a_new_identity_and_the_legacy_default_keeps_its_hash():
    legacy = RunConfig(method="lora", suite="continual", model="tiny-llama", seed=1)
    assert legacy.budget_rule == "uniform"
    explicit = replace(legacy, budget_rule="uniform", budget_tolerance=0.01)
    assert explicit.hash() == legacy.hash()
    (new,) = RunGroup(methods=("lora",), suite="continual", model="tiny-llama", seeds=(1,)).configs("cpu")
    assert new.budget_rule == "fill" and new.hash() != legacy.hash()
    assert replace(new, budget_tolerance=0.05).hash() != new.hash()
    with pytest.raises(ValueError, match="--budget-tolerance must be in"):
        replace(new, budget_tolerance=1.5).validate()


def test_cli_refuses_a_budget_it_cannot_meet_in_one_line(tmp_path):
    from click.testing import CliRunner

    from hipbench.cli import main

    smoke = ["--suite", "continual", "--model", "tiny-llama", "--limit", "2", "--steps", "1", "--device", "cpu",
             "--seeds", "1", "--out", str(tmp_path)]
    lora_rank8 = 16384  # the tiny model's default budget: every LoRA rank step is at least 96
    exact = CliRunner().invoke(main, ["run", "--method", "lora", *smoke, "--budget", str(lora_rank8 + 1),
                                      "--budget-tolerance", "0"])
    assert exact.exit_code == 1
    error = exact.output.splitlines()[-1]  # the lines before it are progress on stderr
    assert error.startswith("Error: lora: ranks 8 give 16384") and "--budget-tolerance 0" in error
    small = CliRunner().invoke(main, ["run", "--method", "hiplora", *smoke, "--budget", "100"])
    assert small.exit_code == 1
    assert small.output.endswith("\nError: --budget 100 is below hiplora's minimum of 2496 trainable parameters "
                                 "(rank 1)\n")
    assert not list(tmp_path.rglob("config.json"))


def test_leaderboards_show_budget_used_from_each_records_own_counts(tmp_path):
    """`Budget used` is each record's trainable count over its budget, read from its two counts: the
    published `cl-benchmark` records (fill rule: HiP-LoRA 192 parameters short, the others exact),
    one of them given the uniform rule's shortfall in a copy, which the table must show as it is."""
    from hipbench.leaderboard import write_leaderboards

    published = Path(__file__).resolve().parents[1] / "leaderboards" / "runs"
    shutil.copytree(published / "cl-benchmark", tmp_path / "runs" / "cl-benchmark")
    tests = [p for p in sorted((tmp_path / "runs").glob("cl-benchmark/smollm2-135m/hiplora/seed-*/metrics.json"))
             if json.loads((p.parent / "config.json").read_text())["config"]["data_split"] == "holdout-test"]
    assert len(tests) == 5
    short = json.loads(tests[0].read_text())
    filled = short["trainable_params"] / short["budget"]
    assert 0.99 < filled < 1.0
    short["trainable_params"] = 2143680  # the uniform rule's count, 87.78 %; budget_used as stored stays
    tests[0].write_text(json.dumps(short))
    write_leaderboards(tmp_path / "runs", tmp_path)
    stem = "cl-benchmark__smollm2-135m"
    rows = {row["method"].split(" ")[0]: row for row in json.loads((tmp_path / f"{stem}.json").read_text())["rows"]}
    assert rows["hiplora"]["budget_used"] == sorted({2143680 / short["budget"], filled})
    assert rows["lora"]["budget_used"] == [1.0]
    markdown = (tmp_path / f"{stem}.md").read_text()
    assert "Budget used" in next(line for line in markdown.splitlines() if line.startswith("| Method"))
    assert "87.78%/99.99%" in markdown and "fill rule: rank r or r + 1 per module" in markdown
    csv = (tmp_path / f"{stem}.csv").read_text().splitlines()
    assert "Budget used" in csv[0].split(",")
    filled = json.loads((Path(__file__).resolve().parents[1] / "leaderboards" / "continual__smollm2-135m.json")
                        .read_text())["rows"]
    assert len(filled) == 6 and all(0.99 <= used <= 1.0 for row in filled for used in row["budget_used"])
