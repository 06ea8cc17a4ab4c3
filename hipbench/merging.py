"""Merge rules for task updates ΔW (PROTOCOLS.md section 3): task arithmetic and TIES-merging.

Both rules take the dense updates of one module, one per task, and return the update to add to
the pretrained weight. The arithmetic is peft's (`peft.utils.merge_utils`), so hipbench merges
exactly as `PeftModel.add_weighted_adapter` would; this module only fixes the choices that make
the comparison fair:

- **One scaling coefficient for every method: λ = 1** (`MERGE_LAMBDA`), never tuned per method
  or per merge. Task arithmetic (Ilharco et al., 2023, eq. 1 with λ = 1) is then the plain sum of
  the task updates; TIES-merging (Yadav et al., 2023, Algorithm 1, step 4 with λ = 1) adds its
  merged vector unscaled. A λ tuned on held-out data would favour whichever method it was tuned
  for, and the paper's MergeFail uses simple addition.
- **TIES density.** `TIES_DENSITY = 0.2` is the fraction of entries *kept* (the paper's "top-k%"
  with k = 20), which is what peft's `density` argument means: `magnitude_based_pruning` keeps the
  `int(density * numel)` largest magnitudes. Trimming is per module (per weight matrix), as in
  peft, not over the concatenation of all modules as in the TIES reference code; a module's
  update is the unit the rest of hipbench (budgets, diagnostics, export) works with.
- **Sign election** is by total mass (`majority_sign_method="total"`: the sign of the sum of the
  trimmed updates, Yadav et al. eq. 2), ties (a sum of exactly 0) elect +. The **disjoint mean**
  averages, per entry, only the trimmed updates whose sign agrees with the elected one; entries
  that no update keeps stay 0.
"""
from __future__ import annotations

from typing import Sequence

import torch
from peft.utils.merge_utils import task_arithmetic, ties

MERGE_RULES = ("sum", "ties")
DEFAULT_RULE = "sum"
MERGE_LAMBDA = 1.0
TIES_DENSITY = 0.2


def check_rule(rule: str) -> str:
    """The rule name, or a one-line ValueError naming the option and the known rules."""
    if rule not in MERGE_RULES:
        raise ValueError(f"--merge-rule {rule}: expected one of {', '.join(MERGE_RULES)}")
    return rule


def merge_deltas(deltas: Sequence[torch.Tensor], rule: str, scale: float = MERGE_LAMBDA,
                 density: float = TIES_DENSITY) -> torch.Tensor:
    """Merged update of one module: `scale * sum(deltas)` ("sum", task arithmetic) or
    `scale * TIES(deltas; density)` ("ties"), in the dtype and on the device of the inputs.

    Every task has weight 1 inside the rule; `scale` is the single λ applied to the result."""
    check_rule(rule)
    if not deltas:
        raise ValueError("merge_deltas needs at least one update")
    shape = deltas[0].shape
    if any(d.shape != shape for d in deltas):
        raise ValueError(f"updates to merge differ in shape: {[tuple(d.shape) for d in deltas]}")
    weights = torch.ones(len(deltas), dtype=deltas[0].dtype, device=deltas[0].device)
    if rule == "sum":
        merged = task_arithmetic(list(deltas), weights)
    else:
        if not 0.0 < density < 1.0:
            raise ValueError(f"TIES density must be in (0, 1), got {density}")
        merged = ties(list(deltas), weights, density, majority_sign_method="total")
    return merged * scale if scale != 1.0 else merged


def rule_description(rule: str) -> dict:
    """What a run records about its merge rule, next to its numbers."""
    check_rule(rule)
    if rule == "sum":
        return {"rule": "sum", "name": "task arithmetic (Ilharco et al., 2023)", "lambda": MERGE_LAMBDA,
                "implementation": "peft.utils.merge_utils.task_arithmetic, task weights 1"}
    return {"rule": "ties", "name": "TIES-merging (Yadav et al., 2023)", "lambda": MERGE_LAMBDA,
            "density": TIES_DENSITY, "trim": "per module, keep the int(density * numel) largest |ΔW|",
            "sign": "total mass", "implementation": "peft.utils.merge_utils.ties, task weights 1"}
