"""Matched trainable-parameter budgets: every method's exact trainable count within 1 % of the budget.

Equal budgets are what make a comparison between methods fair (PROTOCOLS.md section 5), so the
runner solves each method's ranks instead of trusting hand-picked ones, and records the count.

Two rules (`RunConfig.budget_rule`):

- "uniform" (every record published before the "fill" rule existed): the largest rank r that fits
  the budget on every module. A method whose count moves in large steps per rank lands well below
  the budget (HiP-LoRA, with its k principal entries per module, trained 87.8 % of LoRA's count on
  SmolLM2-135M).
- "fill" (the default of new runs): rank r everywhere, then r + 1 on as many modules as still fit,
  taken in `fill_order`: the modules whose next rank costs the most parameters first, ties in the
  targets' order (`find_targets`: layer by layer). Largest first because it fills tightest: a
  module is skipped only when its step no longer fits, so what is left unspent is below the
  smallest step skipped, and the small modules visited last spend the rest. It also spreads the
  extra rank over a kind of module in every layer rather than over the first layers. A method
  whose count still lies below (1 - tolerance) × budget fails with a `BudgetError` that says why.
"""
from __future__ import annotations

from collections import Counter

from torch import nn

from hipbench.method import Method

REFERENCE_RANK = 8  # the default budget is LoRA at this rank on every target module
RULES = ("uniform", "fill")
DEFAULT_TOLERANCE = 0.01  # "fill": the trainable count must reach (1 - this) × budget


class BudgetError(ValueError):
    """The budget cannot host even rank 1 of a method, or the "fill" rule cannot bring its count
    within the tolerance of the budget."""


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


def rank_step(method: Method, shape: tuple[int, int], rank: int) -> int:
    """Parameters one module of `shape` gains from rank to rank + 1."""
    return method.trainable_per_module(*shape, rank + 1) - method.trainable_per_module(*shape, rank)


def fill_order(method: Method, shapes: list[tuple[int, int]], rank: int) -> list[int]:
    """Module indices in the order "fill" offers them rank + 1: largest step first, ties in the
    targets' order (a stable sort), so the allocation depends on the shapes alone."""
    steps = [rank_step(method, shape, rank) for shape in shapes]
    return sorted(range(len(shapes)), key=lambda i: -steps[i])


def fill_ranks(method: Method, shapes: list[tuple[int, int]], budget: int, max_rank: int = 4096) -> list[int]:
    """Per-module ranks: the uniform rank r, then r + 1 on every module, in `fill_order`, whose
    step still fits what is left of the budget. Never above the budget."""
    rank = solve_rank(method, shapes, budget, max_rank)
    ranks = [rank] * len(shapes)
    if rank >= max_rank:
        return ranks
    spare = budget - method.trainable_count(shapes, ranks)
    for index in fill_order(method, shapes, rank):
        step = rank_step(method, shapes[index], rank)
        if step <= spare:
            ranks[index] = rank + 1
            spare -= step
    return ranks


def allocate_ranks(method: Method, shapes: list[tuple[int, int]], budget: int, rule: str = "fill",
                   tolerance: float = DEFAULT_TOLERANCE) -> list[int]:
    """Per-module ranks under `rule`. "fill" raises a one-line `BudgetError` when the count stays
    below (1 - tolerance) × budget; "uniform" is the legacy rule and is not held to a tolerance
    (its published records are what they are)."""
    if rule == "uniform":
        return [solve_rank(method, shapes, budget)] * len(shapes)
    if rule != "fill":
        raise ValueError(f"--budget-rule {rule}: expected one of {', '.join(RULES)}")
    ranks = fill_ranks(method, shapes, budget)
    count = method.trainable_count(shapes, ranks)
    if count < (1 - tolerance) * budget:
        smallest = min(rank_step(method, shape, min(ranks)) for shape in shapes)
        raise BudgetError(
            f"{method.name}: ranks {rank_summary(ranks)} give {count} trainable parameters, "
            f"{count / budget:.2%} of --budget {budget}, below the {1 - tolerance:.2%} that "
            f"--budget-tolerance {tolerance:g} requires (one more rank on a module costs at least {smallest})")
    return ranks


def budget_used(metrics: dict) -> float | None:
    """trainable / budget of a run's metrics: how much of the matched budget a method trains (None
    for a knowledge editor, which has no budget). Computed from the record's own two counts, so it
    means the same for records made before it was stored (the leaderboard computes it so for them)."""
    if metrics.get("budget") is None:
        return None
    return metrics["trainable_params"] / metrics["budget"]


def rank_summary(ranks: list[int]) -> int | str:
    """The rank as a record shows it: the rank itself when all are equal, else "min–max"."""
    low, high = min(ranks), max(ranks)
    return low if low == high else f"{low}–{high}"


def rank_histogram(ranks: list[int]) -> dict[str, int]:
    """How many modules got each rank, keys as strings (JSON), ascending."""
    return {str(rank): count for rank, count in sorted(Counter(ranks).items())}
