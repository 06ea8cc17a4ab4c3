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
  with k = 20), which is what peft's `density` argument means.
- **TIES trim** (`--ties-trim`). "global", the default: as the TIES reference code, over the whole
  task vector, every adapted module of one task together: an entry is kept when its |τ| is at
  least the int(density · N)-th largest of the task's N entries (`global_threshold`; modules the
  task leaves alone count as zeros). A task whose update is large in a few modules keeps those and
  loses the small ones entirely, which is the reference's behaviour and what its results mean.
  "module": peft's `magnitude_based_pruning`, the int(density · numel) largest of each weight
  matrix, so every module keeps 20 % of its own entries; every merge record made before the option
  existed ran it (their protocol options hold no `ties_trim`, which therefore means "module"). The
  global trim is ours (peft trims per tensor only); sign election and the disjoint mean are
  peft's for both.
- **Sign election** is by total mass (`majority_sign_method="total"`: the sign of the sum of the
  trimmed updates, Yadav et al. eq. 2), ties (a sum of exactly 0) elect +. The **disjoint mean**
  averages, per entry, only the trimmed updates whose sign agrees with the elected one; entries
  that no update keeps stay 0.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from peft.utils.merge_utils import calculate_majority_sign_mask, disjoint_merge, task_arithmetic, ties

MERGE_RULES = ("sum", "ties")
DEFAULT_RULE = "sum"
MERGE_LAMBDA = 1.0
TIES_DENSITY = 0.2
TIES_TRIMS = ("global", "module")
DEFAULT_TRIM = "global"
EARLIER_TRIM = "module"  # what a ties run whose protocol options name no trim ran


def check_rule(rule: str) -> str:
    """The rule name, or a one-line ValueError naming the option and the known rules."""
    if rule not in MERGE_RULES:
        raise ValueError(f"--merge-rule {rule}: expected one of {', '.join(MERGE_RULES)}")
    return rule


def check_trim(trim: str) -> str:
    if trim not in TIES_TRIMS:
        raise ValueError(f"--ties-trim {trim}: expected one of {', '.join(TIES_TRIMS)}")
    return trim


def trim_option(rule: str | None, trim: str | None) -> dict[str, str]:
    """The protocol options that name a run's TIES trim: `ties_trim` for the global trim (the default
    of a ties run), none for the per-module one, so that `--ties-trim module` is the run a record made
    before the option existed was, and finds it. A trim without `--merge-rule ties` fails in one line."""
    if trim is not None:
        check_trim(trim)
        if rule != "ties":
            raise ValueError(f"--ties-trim {trim}: applies to --merge-rule ties only")
    if rule != "ties":
        return {}
    trim = trim or DEFAULT_TRIM
    return {} if trim == EARLIER_TRIM else {"ties_trim": trim}


def global_threshold(deltas: Iterable[torch.Tensor], density: float = TIES_DENSITY, zeros: int = 0) -> float:
    """The |τ| an entry of one task vector needs to survive the global trim: the int(density · N)-th
    largest magnitude over all of `deltas` (every module of one task) and `zeros` further entries of
    modules the task leaves alone. Entries equal to it are kept (ties at the threshold all stay)."""
    magnitudes = torch.cat([d.detach().abs().flatten().float() for d in deltas])
    keep = int(density * (magnitudes.numel() + zeros))
    if keep == 0:
        return math.inf
    if keep > magnitudes.numel():  # the kept set reaches into the zeros: every nonzero entry stays
        return 0.0
    return float(torch.kthvalue(magnitudes, magnitudes.numel() - keep + 1).values)


def merge_deltas(deltas: Sequence[torch.Tensor], rule: str, scale: float = MERGE_LAMBDA,
                 density: float = TIES_DENSITY, thresholds: Sequence[float] | None = None) -> torch.Tensor:
    """Merged update of one module: `scale * sum(deltas)` ("sum", task arithmetic) or
    `scale * TIES(deltas; density)` ("ties"), in the dtype and on the device of the inputs.

    Every task has weight 1 inside the rule; `scale` is the single λ applied to the result. TIES
    trims each module by itself (peft) unless `thresholds` gives each task's global threshold
    (`global_threshold`, one per delta), the whole task vector's trim."""
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
        if thresholds is None:
            merged = ties(list(deltas), weights, density, majority_sign_method="total")
        else:
            if len(thresholds) != len(deltas):
                raise ValueError(f"{len(thresholds)} TIES thresholds for {len(deltas)} updates")
            kept = torch.stack([d * (d.abs() >= t) for d, t in zip(deltas, thresholds)])
            merged = disjoint_merge(kept, calculate_majority_sign_mask(kept, method="total"))
    return merged * scale if scale != 1.0 else merged


def rule_description(rule: str, trim: str = EARLIER_TRIM) -> dict:
    """What a run records about its merge rule, next to its numbers."""
    check_rule(rule)
    if rule == "sum":
        return {"rule": "sum", "name": "task arithmetic (Ilharco et al., 2023)", "lambda": MERGE_LAMBDA,
                "implementation": "peft.utils.merge_utils.task_arithmetic, task weights 1"}
    return {"rule": "ties", "name": "TIES-merging (Yadav et al., 2023)", "lambda": MERGE_LAMBDA,
            "density": TIES_DENSITY, **TRIMS[check_trim(trim)], "sign": "total mass"}


TRIMS = {
    "module": {"trim": "per module, keep the int(density * numel) largest |ΔW|",
               "implementation": "peft.utils.merge_utils.ties, task weights 1"},
    "global": {"trim": "global: over the whole task vector, keep |τ| >= its int(density * N)-th largest",
               "ties_trim": "global",
               "implementation": "hipbench.merging.global_threshold, then peft's sign election and disjoint merge"},
}
