"""MEMIT: Mass-Editing Memory in a Transformer (Meng, Sharma, Andonian, Belinkov & Bau, ICLR 2023;
arXiv 2210.07229).

A batch of requests is written into the down-projections of a range of layers R = [l_1 .. l_L]
at once (Algorithm 1):
1. target (eq. 16-17): for each request i, z_i = h_i^L + δ_i, where h_i^L is the output of the
   last layer l_L at the subject's last token of the prompt and δ_i, added there for every
   prefixed prompt, is optimised as in ROME (`hipbench.edit_vectors.optimise_value`);
2. for each layer l of R in ascending order, on the model edited so far: the keys K (one column
   per request: the down-projection's input at the subject's last token, averaged over the
   prefixes, eq. 15), the residual R = (z − h^L) / (L − i) (z minus the current last-layer output,
   spread evenly over the layers not yet edited, eq. 20 and the reference code), and the update
   (eq. 14) ΔW = R Kᵀ (λ C + K Kᵀ)⁻¹, C the keys' second moment on general text
   (`hipbench.key_stats`, regularised as `editors/locate_then_edit.py` says) and
   λ = `mom2_update_weight`. The solve runs in fp64 (`torch.linalg.solve`), as the reference does.
MEMIT does not remember earlier batches: in sequential mode each edit solves against C alone.

Defaults (`Options`), for Llama: layers 4-8 of 32 (EasyEdit's hparams/MEMIT/llama-7b.yaml; MEMIT's
GPT-J used 3-8 of 28), scaled by depth (SmolLM2-135M: 4-8 of 30; the tiny test model: 0 of 2);
λ = 15,000; 25 Adam steps at lr 0.5, weight decay 1e-3, KL factor 0.0625, clamp 4 · ‖init‖
(EasyEdit's llama-7b; MEMIT's GPT-J: clamp 0.75, decay 0.5); prefixes: 5 of 10 tokens, one per
opening word (MEMIT's `get_context_templates`); C on the preservation set, ≤ 100,000 tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hipbench.edit_vectors import average_keys, optimise_value, outputs_at
from hipbench.editor import module_option
from hipbench.method import Context, option
from hipbench.suite import EditRequest

from hipbench.editors.locate_then_edit import LocateOptions, LocateThenEdit, add_to_weight


@dataclass
class MEMITOptions(LocateOptions):
    """MEMIT's options (module docstring); `layer_module` is the block whose output holds z,
    `mom2_update_weight` is λ of eq. 14."""

    layer_module: str = module_option("model.layers.{}", "the block whose output holds z")
    mom2_update_weight: float = option(15000.0, "λ of eq. 14: the weight of the preserved keys' C", ge=0)


def least_squares_update(keys: torch.Tensor, residuals: torch.Tensor, covariance: torch.Tensor,
                         weight: float) -> torch.Tensor:
    """ΔW = R Kᵀ (λ C + K Kᵀ)⁻¹ (MEMIT eq. 14) in fp64: the ΔW minimising
    ‖(W + ΔW) K − (W K + R)‖² + λ tr(ΔW C ΔWᵀ). `keys`: n × N (one column per request),
    `residuals`: m × N."""
    keys, residuals = keys.double(), residuals.double()
    gram = weight * covariance.double() + keys @ keys.T
    return torch.linalg.solve(gram, keys @ residuals.T).T  # (gram⁻¹ K Rᵀ)ᵀ = R Kᵀ gram⁻¹ (gram symmetric)


class MEMIT(LocateThenEdit):
    name = "memit"
    description = "MEMIT (Meng et al., 2023): batch edit spread over MLP layers, ΔW = R Kᵀ (λC + K Kᵀ)⁻¹"
    Options = MEMITOptions
    DEFAULT_LAYERS = [4, 5, 6, 7, 8]

    def solve(self, index: int, name: str, keys: torch.Tensor, residuals: torch.Tensor) -> torch.Tensor:
        """The update of layer `index` of the range (module `name`)."""
        return least_squares_update(keys, residuals, self.covariances[name], self.options.mom2_update_weight)

    def after_batch(self, model: nn.Module, requests: list[EditRequest], ctx: Context) -> None:
        """Hook for editors that remember edited keys (AlphaEdit)."""

    def apply(self, model: nn.Module, requests: list[EditRequest], ctx: Context) -> dict:
        options = self.options
        last = options.layer_module.format(self.layers[-1])
        steps, targets, losses = 0, [], []
        for request in requests:
            value = optimise_value(self.name, model, ctx.tokenizer, request, self.prefixes, last,
                                   options.value_settings(), ctx.device)
            targets.append(value.init + value.delta)
            steps += value.steps
            losses.append(value.loss)
        z = torch.stack(targets, dim=1)  # hidden × N
        for index, name in enumerate(self.modules):
            keys = average_keys(self.name, model, ctx.tokenizer, requests, self.prefixes, name, options.fact_token,
                                ctx.device).T
            current = outputs_at(self.name, model, ctx.tokenizer, requests, last, options.fact_token, ctx.device).T
            residuals = (z - current) / (len(self.modules) - index)
            add_to_weight(model, name, self.solve(index, name, keys, residuals))
        self.after_batch(model, requests, ctx)
        return {"steps": steps, "value_loss": sum(losses) / len(losses)}
