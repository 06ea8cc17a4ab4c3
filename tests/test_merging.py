"""Merge rules on hand-made updates, and merging into one model copy in place."""
from __future__ import annotations

import copy

import pytest
import torch

from hipbench.merging import TIES_DENSITY, global_threshold, merge_deltas
from hipbench.method import DEFAULT_TARGETS, find_targets
from hipbench.methods.lora import LoRA
from hipbench.protocols.merge import InPlaceMerge

from conftest import attach_method

pytestmark = pytest.mark.usefixtures("one_thread")


# Two tasks over two modules, density 0.5. Task 1: m1 [4, -3, 2, 1], m2 [0.5, -0.4, 0.3, 0.2];
# task 2: m1 [2, 1, -3, 4], m2 [-0.5, 0.1, 0.4, 0.3].
# Global trim (4 of each task's 8 entries): both tasks keep all of m1 and none of m2.
#   m1: sums [6, -2, -1, 5] elect [+, -, -, +]; agreeing means [(4+2)/2, -3, -3, (1+4)/2] = [3, -3, -3, 2.5]
#   m2: nothing kept -> [0, 0, 0, 0]
# Per-module trim (2 of each module's 4): t1 m1 [4, -3, 0, 0], t2 m1 [0, 0, -3, 4] -> [4, -3, -3, 4];
#   t1 m2 [0.5, -0.4, 0, 0], t2 m2 [-0.5, 0, 0.4, 0]: sums [0, -0.4, 0.4, 0] elect [+ (0 elects +), -, +, +]
#   -> [0.5, -0.4, 0.4, 0]
TASK1 = {"m1": torch.tensor([[4.0, -3.0, 2.0, 1.0]]), "m2": torch.tensor([[0.5, -0.4, 0.3, 0.2]])}
TASK2 = {"m1": torch.tensor([[2.0, 1.0, -3.0, 4.0]]), "m2": torch.tensor([[-0.5, 0.1, 0.4, 0.3]])}


def test_global_and_per_module_ties_trims_merge_hand_made_task_vectors_differently():
    thresholds = [global_threshold(task.values(), density=0.5) for task in (TASK1, TASK2)]
    assert thresholds == [1.0, 1.0]  # the 4th largest |τ| of each task
    merged_global = {m: merge_deltas([TASK1[m], TASK2[m]], "ties", density=0.5, thresholds=thresholds)
                     for m in ("m1", "m2")}
    merged_module = {m: merge_deltas([TASK1[m], TASK2[m]], "ties", density=0.5) for m in ("m1", "m2")}
    assert torch.allclose(merged_global["m1"], torch.tensor([[3.0, -3.0, -3.0, 2.5]]))
    assert torch.equal(merged_global["m2"], torch.zeros(1, 4))
    assert torch.allclose(merged_module["m1"], torch.tensor([[4.0, -3.0, -3.0, 4.0]]))
    assert torch.allclose(merged_module["m2"], torch.tensor([[0.5, -0.4, 0.4, 0.0]]))


def test_the_global_threshold_counts_modules_a_task_leaves_alone_as_zeros():
    task = [torch.tensor([3.0, -1.0, 2.0, 0.5])]
    assert global_threshold(task, density=0.5) == 2.0  # 2 of 4 kept: |3| and |2|
    assert global_threshold(task, density=0.5, zeros=4) == 0.5  # 4 of 8: every nonzero entry
    assert global_threshold(task, density=0.5, zeros=8) == 0.0  # 6 of 12: into the zeros
    assert global_threshold(task, density=0.1) == float("inf")  # int(0.4) = 0 kept


# Three 1x5 task updates; with density 0.4 TIES keeps the 2 largest magnitudes of each:
#   d1 -> [5, 0, 0, -4, 0]   d2 -> [-1, 0, 0, -6, 0]   d3 -> [-2, -7, 0, 0, 0]
# trimmed sum [2, -7, 0, -10, 0] elects signs [+, -, +, -, +]; the disjoint mean keeps, per entry,
# the kept values that agree: [5], [-7], none, [-4, -6], none  ->  [5, -7, 0, -5, 0].
D1 = torch.tensor([[5.0, 0.1, 0.2, -4.0, 0.3]])
D2 = torch.tensor([[-1.0, 0.1, 0.2, -6.0, 0.3]])
D3 = torch.tensor([[-2.0, -7.0, 0.1, 0.2, 0.3]])


def test_task_arithmetic_is_the_plain_sum_with_lambda_one():
    merged = merge_deltas([D1, D2, D3], "sum")
    assert torch.allclose(merged, torch.tensor([[2.0, -6.8, 0.5, -9.8, 0.9]]))


def test_scale_multiplies_the_merged_update_once():
    assert torch.allclose(merge_deltas([D1, D2, D3], "sum", scale=0.5), torch.tensor([[1.0, -3.4, 0.25, -4.9, 0.45]]))


def test_ties_trims_elects_sign_by_total_mass_and_takes_the_disjoint_mean():
    merged = merge_deltas([D1, D2, D3], "ties", density=0.4)
    # "frequency" sign election would pick - for entry 0 (two negatives) and give -1.5 there; a
    # disjoint sum would give -10 at entry 3; keeping 60% instead of 40% would fill entry 4.
    assert torch.allclose(merged, torch.tensor([[5.0, -7.0, 0.0, -5.0, 0.0]]))


def test_ties_default_density_keeps_the_top_twenty_percent_of_each_module():
    delta = torch.tensor([[0.5, -9.0, 1.0, 2.0, -0.1, 3.0, 0.2, -0.3, 0.4, 0.6]])
    merged = merge_deltas([delta], "ties")
    assert TIES_DENSITY == 0.2
    assert torch.equal(merged, torch.tensor([[0.0, -9.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0]]))


def test_ties_averages_agreeing_kept_values_where_the_sum_adds_them():
    a, b = torch.tensor([[2.0, 4.0]]), torch.tensor([[4.0, 8.0]])  # density 0.5 keeps 4 and 8
    assert torch.equal(merge_deltas([a, b], "ties", density=0.5), torch.tensor([[0.0, 6.0]]))
    assert torch.equal(merge_deltas([a, b], "sum"), torch.tensor([[6.0, 12.0]]))


@pytest.mark.parametrize("rule,message", [("avg", "--merge-rule avg: expected one of sum, ties"),
                                          ("TIES", "--merge-rule TIES: expected one of sum, ties")])
def test_unknown_rule_is_named(rule, message):
    with pytest.raises(ValueError, match=message):
        merge_deltas([D1], rule)


def test_updates_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        merge_deltas([D1, D1.T], "sum")


def _factors(model, rank: int, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    factors = {}
    for name in find_targets(model, DEFAULT_TARGETS):
        out_f, in_f = model.get_submodule(name).weight.shape
        factors[name] = (torch.randn(out_f, rank, generator=generator) * 0.1,
                         torch.randn(rank, in_f, generator=generator) * 0.1)
    return factors


def test_in_place_merge_sets_w0_plus_merged_delta_and_restores_w0_exactly(tiny):
    model, _ = tiny
    targets = find_targets(model, DEFAULT_TARGETS)
    merger = InPlaceMerge(model, targets, torch.device("cpu"))
    first, second = _factors(model, 2, 0), _factors(model, 3, 1)
    name = targets[0]
    w0 = model.get_submodule(name).weight.detach().clone()
    merger.set([first, second], "sum")
    expected = w0 + first[name][0] @ first[name][1] + second[name][0] @ second[name][1]
    assert torch.allclose(merger.model.get_submodule(name).weight, expected, atol=1e-6)
    merger.set([second], None)
    assert torch.allclose(merger.model.get_submodule(name).weight, w0 + second[name][0] @ second[name][1], atol=1e-6)
    merger.set([], None)
    for target in targets:
        assert torch.equal(merger.model.get_submodule(target).weight, model.get_submodule(target).weight)
    with pytest.raises(ValueError, match="need a merge rule"):
        merger.set([first, second], None)


def test_base_plus_delta_reproduces_the_adapter_model(tiny):
    pretrained = copy.deepcopy(tiny[0])
    method = LoRA()
    model, _, _ = attach_method(tiny, method, 4, tiny_suite_preservation())
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "lora_B"):
                module.lora_B.normal_(0, 0.05, generator=torch.Generator().manual_seed(3))
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    merger = InPlaceMerge(pretrained, find_targets(pretrained, DEFAULT_TARGETS), torch.device("cpu"))
    merger.set([method.delta_factors(model)], None)
    with torch.no_grad():
        adapted, merged = model(input_ids=ids).logits, merger.model(input_ids=ids).logits
        base = pretrained(input_ids=ids).logits
    assert not torch.allclose(adapted, base, atol=1e-3)  # the adapter does change the model
    assert torch.allclose(adapted, merged, atol=1e-4)


def tiny_suite_preservation():
    from conftest import make_suite
    return make_suite().preservation
