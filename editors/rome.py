"""ROME: Rank-One Model Editing (Meng, Bau, Andonian & Belinkov, NeurIPS 2022; arXiv 2202.05262).

One MLP down-projection W (`m × n`, out × in) is treated as a linear associative memory and given
a rank-one update that stores the request's key -> value pair (section 3.1):

- key (eq. 3): k* = mean over random prefixes x_j of the down-projection's input at the subject's
  last token of x_j + prompt (`hipbench.edit_vectors.average_keys`);
- value (eq. 4): v* = W k* + δ, where δ, added to the MLP's output at the subject's last token of
  every prefixed prompt, minimises the target's NLL plus the essence KL term and a weight decay
  (`hipbench.edit_vectors.optimise_value`);
- update (eq. 2): Ŵ = W + Λ (C⁻¹ k*)ᵀ with Λ = (v* − W k*) / ((C⁻¹ k*)ᵀ k*), C = E[k kᵀ] the
  keys' second moment on general text (`hipbench.key_stats`, regularised as
  `editors/locate_then_edit.py` says). So Ŵ k* = v* exactly, and ΔW has rank one.

The reference code solves the last step with the key of the prompt alone and normalises C⁻¹k*; we
use the paper's eq. 2 with the averaged k*, so that Ŵ k* = v* holds for the key it stores, and set
v* relative to W k* (the code: relative to the prompt alone's output), so that δ is what the
update adds at k*. Several requests (batch mode) are applied one after another, each on the
already edited model, as the reference `apply_rome_to_model` does.

Defaults (`Options`), for Llama: layer 5 of 32 (EasyEdit's hparams/ROME/llama-7b.yaml; ROME used
layer 17 of GPT-2 XL's 48), scaled by depth to other models (SmolLM2-135M: 5 of 30; the tiny test
model: 0 of 2); 25 Adam steps at lr 0.5, weight decay 1e-3, KL factor 0.0625, clamp 4 · ‖init‖
(EasyEdit's llama-7b values; ROME's GPT-2 XL: 20 steps, decay 0.5); prefixes: 10 of 5 tokens and
10 of 10 tokens (ROME's `context_template_length_params`); C on the preservation set, ≤ 100,000
tokens (ROME: 100,000 Wikipedia samples), with the mom2 adjustment on, as in the paper (EasyEdit's
llama-7b file turns it off).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hipbench.edit_vectors import average_keys, optimise_value
from hipbench.method import Context
from hipbench.suite import EditRequest

from hipbench.editors.locate_then_edit import LocateOptions, LocateThenEdit, add_to_weight


@dataclass
class ROMEOptions(LocateOptions):
    """ROME's options; every default and its source is in the module docstring."""

    prefixes: str = "5x10,10x10"


def rank_one_update(weight: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    covariance: torch.Tensor) -> torch.Tensor:
    """ΔW = (v* − W k*) (C⁻¹k*)ᵀ / ((C⁻¹k*)ᵀ k*) (ROME eq. 2), in fp64; then (W + ΔW) k* = v*."""
    weight, key, value = weight.double(), key.double(), value.double()
    direction = torch.linalg.solve(covariance.double(), key)
    return torch.outer(value - weight @ key, direction) / (direction @ key)


class ROME(LocateThenEdit):
    name = "rome"
    description = "ROME (Meng et al., 2022): rank-one update of one MLP down-projection, ΔW = Λ (C⁻¹k*)ᵀ"
    Options = ROMEOptions
    DEFAULT_LAYERS = [5]

    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.trace: list[dict] = []  # (module, k*, v*) of the last edit's updates, for tests

    def apply(self, model: nn.Module, requests: list[EditRequest], ctx: Context) -> dict:
        steps, losses, self.trace = 0, [], []
        for request in requests:
            for name in self.modules:
                key = average_keys(self.name, model, ctx.tokenizer, [request], self.prefixes, name,
                                   self.options.fact_token, ctx.device)[0]
                target = optimise_value(self.name, model, ctx.tokenizer, request, self.prefixes, name,
                                        self.options.value_settings(), ctx.device)
                weight = model.get_submodule(name).weight.detach().cpu()
                value = weight.double() @ key + target.delta
                add_to_weight(model, name, rank_one_update(weight, key, value, self.covariances[name]))
                self.trace.append({"module": name, "key": key, "value": value})
                steps += target.steps
                losses.append(target.loss)
        return {"steps": steps, "value_loss": sum(losses) / len(losses)}
