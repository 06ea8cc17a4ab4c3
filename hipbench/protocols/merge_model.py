"""The merged model of the merge protocol (`hipbench.protocols.merge`, step 3): the base model with
a merge of task updates added to its target weights, in place.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from hipbench.merging import TIES_DENSITY, global_threshold, merge_deltas
from hipbench.models import frozen_copy
from hipbench.protocols.merge_adapters import Factors


class InPlaceMerge:
    """One copy of the base model whose target weights are set to W0 + merged ΔW in place, and
    restored from a saved copy of W0 before the next merge: no adapter modules and no model copy
    per instance (the run evaluates hundreds of instances on one model)."""

    def __init__(self, pretrained: nn.Module, targets: Sequence[str], device: torch.device) -> None:
        self.model = frozen_copy(pretrained).to(device)
        self.weights = {name: self.model.get_submodule(name).weight for name in targets}
        self.original = {name: weight.detach().clone() for name, weight in self.weights.items()}
        self.device = device

    @torch.no_grad()
    def set(self, adapters: Sequence[Factors], rule: str | None, thresholds: Sequence[float] | None = None) -> None:
        """W = W0 + merge(ΔW of `adapters`); with `rule` None exactly one adapter's own ΔW, and
        with no adapters the base model. `thresholds`: each adapter's global TIES trim threshold
        (`ties_thresholds`); without them TIES trims per module."""
        if rule is None and len(adapters) > 1:
            raise ValueError("several adapters need a merge rule")
        for name, weight in self.weights.items():
            weight.copy_(self.original[name])
            deltas = []
            for factors in adapters:
                if name in factors:
                    b, a = factors[name]
                    deltas.append(b.to(self.device, torch.float32) @ a.to(self.device, torch.float32))
                else:  # a module this adapter leaves alone
                    deltas.append(torch.zeros(weight.shape, dtype=torch.float32, device=self.device))
            if not deltas:
                continue
            merged = deltas[0] if rule is None else merge_deltas(deltas, rule, thresholds=thresholds)
            weight.add_(merged.to(weight.dtype))


@torch.no_grad()
def ties_thresholds(merger: InPlaceMerge, adapters: Sequence[Factors], density: float = TIES_DENSITY) -> list[float]:
    """Each adapter's global TIES threshold over the merge's target modules, computed once per run:
    a task vector's trim depends on that task alone, not on the instance it is merged in. One task
    vector's magnitudes are held at a time (fp32, the size of the adapted weights)."""
    thresholds = []
    for factors in adapters:
        deltas = [factors[name][0].to(merger.device, torch.float32) @ factors[name][1].to(merger.device, torch.float32)
                  for name in merger.weights if name in factors]
        zeros = sum(weight.numel() for name, weight in merger.weights.items() if name not in factors)
        thresholds.append(global_threshold(deltas, density, zeros))
        del deltas
    return thresholds
