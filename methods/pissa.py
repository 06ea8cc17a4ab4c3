"""PiSSA — Meng, Wang & Zhang, "PiSSA: Principal Singular Values and Singular Vectors Adaptation
of Large Language Models", NeurIPS 2024 (arXiv 2404.02948).

LoRA's architecture with a different start: the adapter holds the principal part of `W` and
the frozen weight keeps the residual (paper eqs. 2-4, with PEFT's handling of the scaling s):

    W = U S V^T,   A0 = diag(sqrt(S_r / s)) V_r^T,   B0 = U_r diag(sqrt(S_r / s))
    W_res = W - s B0 A0         (frozen),   y = W_res x + s B A x,   (A, B) <- (A0, B0)

so outputs are unchanged at step 0 and training moves the principal directions directly. The
update relative to the pretrained model is ΔW = s (B A - B0 A0), rank <= 2r; that is what
merging, diagnostics and PEFT export see (PEFT converts a PiSSA adapter to LoRA the same way).

Defaults: s = 1 (`alpha = r`, the reference repository's r = alpha = 128), the exact SVD from the
shared cache (`niter = 0`); `niter = K > 0` uses `torch.svd_lowrank(W, r, niter=K)` like PEFT's
`pissa_niter_K`. In a task stream the adapter keeps training across tasks (as for LoRA); the
principal initialisation happens once, from the pretrained weights.

Unequal ranks: module i takes the top-r_i triplets of its own W; s is the same on every module (it
does not depend on the rank: PiSSA sets alpha = r), so a module's start s B0 A0 is its rank-r_i
principal part whatever r_i is.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hipbench.method import (Context, Method, Ranks, adapted_layers, adapter_input, delta_from_start, module_ranks,
                             option, replace_module)


@dataclass
class PiSSAOptions:
    scaling: float = option(1.0, "s = alpha / r; PiSSA uses alpha = r", gt=0)
    niter: int = option(0, "0: exact cached SVD; K > 0: randomized SVD with K subspace iterations", ge=0)


class PiSSALinear(nn.Module):
    """`W_res x + s B A x`, with W_res = W - s B0 A0 frozen and (A, B) starting at (A0, B0)."""

    def __init__(self, base: nn.Linear, u: torch.Tensor, s_vals: torch.Tensor, v: torch.Tensor, scaling: float):
        super().__init__()
        root = torch.sqrt(s_vals / scaling)
        a0 = root[:, None] * v.T
        b0 = u * root[None, :]
        self.base = base
        self.scaling = scaling
        self.register_buffer("A0", a0.clone())
        self.register_buffer("B0", b0.clone())
        residual = base.weight.detach().float() - scaling * b0 @ a0
        base.weight.data = residual.to(base.weight.dtype)
        self.lora_A = nn.Parameter(a0.clone())
        self.lora_B = nn.Parameter(b0.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = adapter_input(x, self.lora_A.dtype) @ self.lora_A.T @ self.lora_B.T
        return self.base(x) + (self.scaling * update).to(x.dtype)


class PiSSA(Method):
    name = "pissa"
    description = "PiSSA (Meng et al., 2024): LoRA initialised from the top-r SVD of W, residual frozen"
    Options = PiSSAOptions
    graph_safe = True  # no random numbers and no tensor replaced inside a task (hipbench.graphed)

    def trainable_per_module(self, out_features: int, in_features: int, rank: int) -> int:
        return rank * (out_features + in_features)

    def principal_factors(self, weight: torch.Tensor, rank: int, ctx: Context):
        if self.options.niter > 0:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=ctx.generator)))
                u, s, v = torch.svd_lowrank(weight.detach().float(), q=rank, niter=self.options.niter)
            return u[:, :rank], s[:rank], v[:, :rank]
        return ctx.svd.top_k(weight, rank)

    def attach(self, model: nn.Module, targets: list[str], rank: Ranks, ctx: Context) -> None:
        for name, r in module_ranks(rank, targets).items():
            base = model.get_submodule(name)
            u, s, v = self.principal_factors(base.weight, r, ctx)
            replace_module(model, name, PiSSALinear(base, u, s, v, self.options.scaling))

    def delta_factors(self, model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {name: delta_from_start(layer.lora_B, layer.lora_A, layer.B0, layer.A0, layer.scaling)
                for name, layer in adapted_layers(model, PiSSALinear).items()}
