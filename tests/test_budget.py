from __future__ import annotations

import pytest

from hipbench.budget import BudgetError, default_budget, solve_rank
from hipbench.methods.lora import LoRA

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
