"""O-LoRA — Wang et al., "Orthogonal Subspace Learning for Language Model Continual Learning",
Findings of EMNLP 2023 (arXiv 2310.14152; code: github.com/cmnfriend/O-LoRA).

Not PEFT's "OLoRA" (orthonormal QR initialisation of a single LoRA, Büyükakyüz 2024): a different
method with a similar name.

Each task t gets its own LoRA (A_t, B_t); the adapters of tasks 1..t-1 stay in the forward pass,
frozen, with the same scaling, and are never merged into W (paper section 3; the code concatenates
them along the rank axis):

    y = W x + s · Σ_{i<=t} B_i A_i x,   s = alpha / r,   A_i ∈ R^{r×n},  B_i ∈ R^{m×r}

The paper's objective writes the second term as a squared L2 norm; we reproduce the *code*
(`uie_trainer_lora.py`), which uses the plain norm (equation numbers of the paper not verified here):

    L = L_task + lambda_1 · Σ_modules sum(|A_old A_t^T|) + lambda_2 · Σ_{θ ∈ {A_t, B_t}} ||θ||_2

with A_old the earlier A's stacked along the rank axis (rank grows by r per task), |·| element-wise,
and the L2 norm un-squared, one per tensor. Defaults are the repository's scripts: lambda_1 = 0.5,
lambda_2 = 0. Each new adapter starts as LoRA does (A Kaiming-uniform with a = sqrt(5), B = 0), so
the model is unchanged at each task boundary. Only A_t, B_t are trainable: r (m + n) per module,
the matched budget of every task; the frozen adapters' size is kept in `frozen_params`.

Choices where the paper is silent or the code is not ours to copy:
- alpha = 16 (s = 2 at r = 8), the LoRA baseline's value, so that O-LoRA differs from SeqLoRA only
  by its adapters and loss; the scripts use r = 8, alpha = 32 (pass `alpha=32` to match them).
- The orthogonality sum is left unnormalised, as in the code, although it grows with the number of
  adapted modules and tasks (the scripts adapt q and v only; hipbench adapts 7 projections): on
  SmolLM2-135M it averaged roughly 15-55 over tasks 2-4 of a short run, against a task loss of a
  few nats, so it dominates the early steps of every later task.
- dropout 0 (the scripts use 0.1) so runs are deterministic, as for LoRA.
- The task-1 adapter is the one created at `attach`; a new one is added in `begin_task` after each
  finished task. New A's are drawn from the run's generator on the CPU, then moved to the device.
- Unequal ranks: module i's adapters all have its rank r_i (every task's new adapter too, so each
  task trains the same matched count) and its own s_i = alpha / r_i, as LoRA.
- ΔW relative to the pretrained W concatenates every task's factors: [s B_1 | ... | s B_t] and
  [A_1 ; ... ; A_t] (rank t·r).
- The frozen adapters' concatenation is made once per task, not in every forward: sequential editing
  gives O-LoRA one task per edit, and concatenating t adapters per module in every forward and
  backward made an edit's cost grow with t (158 edits in 15 minutes of a 469-edit run on an H200,
  against LoRA's 469 in 9.5). The forward still concatenates [frozen ; A_t] into one product, so
  the arithmetic, and every number, is the same as concatenating all t each time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hipbench.method import (Context, Method, Ranks, adapted_layers, adapter_input, module_ranks, option,
                             replace_module)
from hipbench.suite import TaskData


@dataclass
class OLoRAOptions:
    alpha: float = option(16.0, "s = alpha / r; O-LoRA's scripts use r = 8, alpha = 32", gt=0)
    lambda_1: float = option(0.5, "orthogonality weight (scripts: 0.5; long-sequence runs also 5)", ge=0)
    lambda_2: float = option(0.0, "un-squared L2 weight on the new adapter (scripts: 0; also 0.1, 0.3)", ge=0)
    dropout: float = option(0.0, "dropout probability on the adapter's input", ge=0, lt=1)


class OLoRALinear(nn.Module):
    """`base(x) + s · Σ_i B_i A_i dropout(x)`; only the last adapter is trainable."""

    def __init__(self, base: nn.Linear, scaling: float, dropout: float) -> None:
        super().__init__()
        self.base = base
        self.scaling = scaling
        self.lora_A = nn.ParameterList()
        self.lora_B = nn.ParameterList()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self._frozen: tuple[torch.Tensor, torch.Tensor] | None = None  # (B_old, A_old), see `frozen`
        self.register_load_state_dict_post_hook(lambda module, keys: module.forget_frozen())

    def forget_frozen(self) -> None:
        """Drop the cached concatenation of the frozen adapters (they changed: a new task froze one,
        or a checkpoint loaded their values)."""
        self._frozen = None

    def frozen(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The earlier tasks' factors concatenated along the rank axis, (B_old, A_old), made once per
        task (module docstring); None for the first task."""
        if len(self.lora_A) < 2:
            return None
        if self._frozen is None or self._frozen[1].device != self.lora_A[-1].device:
            with torch.no_grad():
                self._frozen = (torch.cat(list(self.lora_B)[:-1], dim=1), torch.cat(list(self.lora_A)[:-1], dim=0))
        return self._frozen

    def add_adapter(self, rank: int, generator: torch.Generator) -> None:
        """Freeze the existing adapters and append a fresh LoRA (A Kaiming, B = 0)."""
        for p in [*self.lora_A, *self.lora_B]:
            p.requires_grad_(False)
        self.forget_frozen()
        a = torch.empty(rank, self.base.in_features, dtype=torch.float32)
        nn.init.kaiming_uniform_(a, a=math.sqrt(5), generator=generator)
        device = self.base.weight.device
        self.lora_A.append(nn.Parameter(a.to(device)))
        self.lora_B.append(nn.Parameter(torch.zeros(self.base.out_features, rank, device=device)))

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All tasks' factors concatenated along the rank axis: (B_cat, A_cat)."""
        frozen = self.frozen()
        if frozen is None:
            return torch.cat([self.lora_B[-1]], dim=1), torch.cat([self.lora_A[-1]], dim=0)
        return torch.cat([frozen[0], self.lora_B[-1]], dim=1), torch.cat([frozen[1], self.lora_A[-1]], dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, a = self.factors()
        update = adapter_input(self.dropout(x), a.dtype) @ a.T @ b.T
        return self.base(x) + (self.scaling * update).to(x.dtype)

    def orthogonality(self) -> torch.Tensor:
        """sum(|A_old A_t^T|): zero for the first task, when there is no A_old."""
        frozen = self.frozen()
        if frozen is None:
            return self.lora_A[-1].new_zeros(())
        return (frozen[1] @ self.lora_A[-1].T).abs().sum()


class OLoRA(Method):
    name = "olora"
    description = "O-LoRA (Wang et al., 2023): a new LoRA per task, orthogonal to the frozen earlier ones"
    Options = OLoRAOptions

    @property
    def graph_safe(self) -> bool:  # hipbench.graphed: a dropout draws random numbers in the forward
        return self.options.dropout == 0

    @classmethod
    def alone_equals(cls, options: OLoRAOptions) -> str | None:
        """LoRA, when no earlier adapter exists and the L2 term is off: the orthogonality sum is then
        empty and the first adapter is LoRA's (same init from the same generator, same scaling)."""
        return "LoRA" if options.lambda_2 == 0 else None

    def __init__(self, options: OLoRAOptions | None = None) -> None:
        super().__init__(options)
        self.ranks: dict[str, int] = {}  # per adapted module: the rank of each of its task adapters
        self.frozen_params = 0  # adapter parameters of earlier tasks: kept in memory, not trainable
        self._task_done = False

    def trainable_per_module(self, out_features: int, in_features: int, rank: int) -> int:
        return rank * (out_features + in_features)

    def attach(self, model: nn.Module, targets: list[str], rank: Ranks, ctx: Context) -> None:
        self.ranks = module_ranks(rank, targets)
        for name, r in self.ranks.items():
            layer = OLoRALinear(model.get_submodule(name), self.options.alpha / r, self.options.dropout)
            layer.add_adapter(r, ctx.generator)
            replace_module(model, name, layer)

    def begin_task(self, model: nn.Module, task: TaskData, ctx: Context) -> None:
        if not self._task_done:  # the first task trains the adapter made at attach
            return
        for name, layer in adapted_layers(model, OLoRALinear).items():
            layer.add_adapter(self.ranks[name], ctx.generator)
        self.frozen_params = sum(p.numel() for layer in adapted_layers(model, OLoRALinear).values()
                                 for p in [*layer.lora_A, *layer.lora_B] if not p.requires_grad)
        self._task_done = False

    def end_task(self, model: nn.Module, task: TaskData, ctx: Context) -> None:
        self._task_done = True

    def state_dict(self, model: nn.Module) -> dict:
        tasks = len(next(iter(adapted_layers(model, OLoRALinear).values())).lora_A)
        return {"adapters": tasks, "frozen_params": self.frozen_params, "task_done": self._task_done}

    def load_state_dict(self, model: nn.Module, state: dict) -> None:
        """Grow every layer back to the checkpoint's adapter count (values are loaded after this,
        so the throwaway generator leaves the run's own generator untouched)."""
        for name, layer in adapted_layers(model, OLoRALinear).items():
            while len(layer.lora_A) < state["adapters"]:
                layer.add_adapter(self.ranks[name], torch.Generator())
        self.frozen_params, self._task_done = state["frozen_params"], state["task_done"]

    def extra_loss(self, model: nn.Module) -> torch.Tensor | None:
        layers = adapted_layers(model, OLoRALinear).values()
        loss = self.options.lambda_1 * sum(layer.orthogonality() for layer in layers)
        if self.options.lambda_2 > 0:
            loss = loss + self.options.lambda_2 * sum(
                torch.linalg.vector_norm(p) for layer in layers for p in (layer.lora_A[-1], layer.lora_B[-1]))
        return loss

    def frozen_parameters(self, model: nn.Module) -> int:
        """Every earlier task's adapter, counted from the model (not the counter of `begin_task`)."""
        return sum(p.numel() for layer in adapted_layers(model, OLoRALinear).values()
                   for p in [*layer.lora_A, *layer.lora_B] if not p.requires_grad)

    def delta_factors(self, model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        factors = {}
        for name, layer in adapted_layers(model, OLoRALinear).items():
            b, a = layer.factors()
            factors[name] = (layer.scaling * b.detach(), a.detach())
        return factors
