"""LoRA — Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022
(arXiv 2106.09685).

A frozen linear `y = W x` gains a trainable low-rank update (eq. 3 of the paper):

    y = W x + s · B A x,   A ∈ R^{r×n},  B ∈ R^{m×r},  s = alpha / r

`A` is Kaiming-uniform with a = sqrt(5) (PEFT's choice; the paper says "random Gaussian") and
`B = 0`, so the adapted model equals the base model at step 0. Trainable per module: r (m + n).

Choices where the paper is silent: in a task stream the same adapter keeps training from task to
task with a fresh optimizer per task (the "SeqLoRA" baseline of O-LoRA, Wang et al. 2023);
dropout defaults to 0 so that runs are deterministic; `rslora` switches s to alpha / sqrt(r)
(Kalajdzievski 2023), as PEFT's `use_rslora`.

Unequal ranks (the budget solver gives rank r on some modules and r + 1 on others): each module
takes its own s_i = alpha / r_i (alpha / sqrt(r_i) with rslora), as PEFT's `rank_pattern` does with
one `lora_alpha`, so the update's scale per unit of rank is the same on every module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hipbench.method import (Context, Method, Ranks, adapted_layers, adapter_input, module_ranks, option,
                             replace_module)


@dataclass
class LoRAOptions:
    alpha: float = option(16.0, "s = alpha / r; the paper fixes alpha to the first r tried", gt=0)
    dropout: float = option(0.0, "dropout probability on the adapter's input", ge=0, lt=1)
    rslora: bool = option(False, "s = alpha / sqrt(r) instead of alpha / r (rsLoRA)")


class LoRALinear(nn.Module):
    """`base(x) + s · B A dropout(x)`, with `base` frozen."""

    def __init__(self, base: nn.Linear, rank: int, scaling: float, dropout: float,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, dtype=torch.float32))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, dtype=torch.float32))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)
        self.scaling = scaling
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = adapter_input(self.dropout(x), self.lora_A.dtype) @ self.lora_A.T @ self.lora_B.T
        return self.base(x) + (self.scaling * update).to(x.dtype)

    def delta_weight(self) -> torch.Tensor:
        return self.scaling * self.lora_B @ self.lora_A


class LoRA(Method):
    name = "lora"
    description = "LoRA (Hu et al., 2021): frozen W plus a trainable s·BA, A random, B zero"
    Options = LoRAOptions

    @property
    def graph_safe(self) -> bool:  # hipbench.graphed: a dropout draws random numbers in the forward
        return self.options.dropout == 0

    def trainable_per_module(self, out_features: int, in_features: int, rank: int) -> int:
        return rank * (out_features + in_features)

    def scaling(self, rank: int) -> float:
        return self.options.alpha / (math.sqrt(rank) if self.options.rslora else rank)

    def attach(self, model: nn.Module, targets: list[str], rank: Ranks, ctx: Context) -> None:
        for name, r in module_ranks(rank, targets).items():
            base = model.get_submodule(name)
            replace_module(model, name, LoRALinear(base, r, self.scaling(r), self.options.dropout, ctx.generator))

    def delta_factors(self, model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {name: (layer.scaling * layer.lora_B.detach(), layer.lora_A.detach())
                for name, layer in adapted_layers(model, LoRALinear).items()}
