"""Matched trainable-parameter budgets: every method gets the largest rank that fits the budget.

Equal budgets are what make a comparison between methods fair (PROTOCOLS.md section 5), so the
runner solves each method's rank instead of trusting a hand-picked one, and records the count.
"""
from __future__ import annotations

from torch import nn

from hipbench.method import Method

REFERENCE_RANK = 8  # the default budget is LoRA at this rank on every target module


class BudgetError(ValueError):
    """The budget cannot host even rank 1 of a method."""


def target_shapes(model: nn.Module, targets: list[str]) -> list[tuple[int, int]]:
    """(out_features, in_features) of each target linear."""
    shapes = []
    for name in targets:
        module = model.get_submodule(name)
        shapes.append((module.out_features, module.in_features))
    return shapes


def default_budget(shapes: list[tuple[int, int]]) -> int:
    """LoRA rank 8 on every target: sum of r (m + n)."""
    return sum(REFERENCE_RANK * (out_f + in_f) for out_f, in_f in shapes)


def solve_rank(method: Method, shapes: list[tuple[int, int]], budget: int, max_rank: int = 4096) -> int:
    """Largest rank whose trainable count does not exceed `budget` (counts grow with rank)."""
    if method.trainable_count(shapes, 1) > budget:
        raise BudgetError(
            f"--budget {budget} is below {method.name}'s minimum of "
            f"{method.trainable_count(shapes, 1)} trainable parameters (rank 1)")
    low, high = 1, max_rank
    while low < high:
        mid = (low + high + 1) // 2
        if method.trainable_count(shapes, mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return low
