"""SC-LoRA — Luo, Kuang, Wang, Liu & He, "SC-LoRA: Balancing Efficient Fine-tuning and Knowledge
Preservation via Subspace-Constrained LoRA" (arXiv 2505.23724, May 2025).

An initialisation that puts the adapter's *output* in the r-dimensional subspace where the
fine-tuning data's features are most present and the preserved knowledge's features least, balanced
by beta. With h = W0 x the frozen layer's output and uncentred covariances Cov+ = mean h h^T on the
fine-tuning data and Cov- on the preserved-knowledge data:

    Q_r = top-r eigenvectors of (1 - beta) Cov+ - beta Cov-       (maximises tr(Q^T ΔCov Q), Q^T Q = I)
    B0 = Q_r,   A0 = Q_r^T W0 / s,   W_res = W0 - s B0 A0 = (I - Q_r Q_r^T) W0   (frozen)
    y = W_res x + s B A x,   (A, B) <- (A0, B0)

so s B0 A0 x = Q_r Q_r^T h, the projection of the output onto the subspace, and outputs are
unchanged at step 0. The scaling s is divided out of A0 as PEFT does for PiSSA. It is an
initialisation only: no extra loss. ΔW relative to the pretrained weight is s (B A - B0 A0), exported
as the rank-2r factors [s B | -s B0], [A ; A0]. Trainable per module: r (m + n).

Choices where the paper is silent to us or hipbench differs:
- The covariances need data, so the layers are created at `attach` with A = B = 0 and W_res = W0
  (the base model), and set in `begin_task` of the first task: Cov+ from that task's training
  examples (prompt + answer, all positions, encoded as training encodes them), Cov- from the shared
  preservation set (texts, and facts as prompt + answer). At most `examples` (256) of each, evenly
  spaced, no randomness; padding positions are excluded; sums in fp32, eigh in fp32.
- Later tasks keep training the same adapter (as the LoRA and PiSSA baselines): the subspace is
  chosen once, from the first task's data. Re-choosing it per task would need the adapter folded
  into W_res and a growing export rank; not done.
- beta = 0.5 (equal weight); the paper's per-experiment values were not available to us.
  alpha = 16 as the LoRA baseline (s = 2 at r = 8). Top-r eigenvectors are taken even when fewer
  than r eigenvalues of ΔCov are positive.
- A bias, where a layer has one, is not part of h (h = W0 x).
- Unequal ranks: module i takes the top-r_i eigenvectors and its own s_i = alpha / r_i, as LoRA.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from hipbench.method import (Context, Method, Ranks, adapted_layers, adapter_input, delta_from_start, module_ranks,
                             option, replace_module)
from hipbench.suite import Example, TaskData
from hipbench.train import collate, encode


@dataclass
class SCLoRAOptions:
    alpha: float = option(16.0, "s = alpha / r, as the LoRA baseline", gt=0)
    beta: float = option(0.5, "0: the task data's principal output subspace; 1: the least preserved-knowledge one",
                         ge=0, le=1)
    examples: int = option(256, "cap on the examples behind each covariance", ge=1)


def balanced_subspace(cov_plus: torch.Tensor, cov_minus: torch.Tensor, beta: float, rank: int) -> torch.Tensor:
    """Orthonormal m×r basis of the top-r eigenvectors of (1 - beta) Cov+ - beta Cov-, largest first."""
    delta = (1 - beta) * cov_plus - beta * cov_minus
    _, vectors = torch.linalg.eigh(0.5 * (delta + delta.T))
    return vectors[:, -rank:].flip(-1)


# the most bytes of output covariances (both data sets) held at once. An 8B model's would need 118.6 GB
# in one pass (bench/RESULTS.md); in groups each layer's sums are the same, at the cost of more passes
COVARIANCE_BYTES = 8 << 30


def covariance_groups(layers: dict[str, "SCLoRALinear"], limit: int) -> list[dict[str, "SCLoRALinear"]]:
    """Consecutive layers in groups whose two fp32 m×m covariances fit in `limit` bytes (a layer
    larger than the limit gets a group of its own)."""
    groups: list[dict[str, SCLoRALinear]] = [{}]
    size = 0
    for name, layer in layers.items():
        need = 2 * 4 * layer.base.out_features ** 2
        if groups[-1] and size + need > limit:
            groups.append({})
            size = 0
        groups[-1][name] = layer
        size += need
    return groups


def evenly(items: list, limit: int) -> list:
    return items if len(items) <= limit else [items[i * len(items) // limit] for i in range(limit)]


class SCLoRALinear(nn.Module):
    """`W_res x + s B A x`; until `initialise`, A = B = 0 and W_res = W0 (the base model)."""

    def __init__(self, base: nn.Linear, rank: int, scaling: float) -> None:
        super().__init__()
        self.base = base
        self.scaling = scaling
        self.lora_A = nn.Parameter(torch.zeros(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        self.register_buffer("A0", torch.zeros(rank, base.in_features))
        self.register_buffer("B0", torch.zeros(base.out_features, rank))

    @torch.no_grad()
    def initialise(self, q: torch.Tensor) -> None:
        weight = self.base.weight.float()
        a0 = q.T @ weight / self.scaling
        for target, value in ((self.A0, a0), (self.B0, q), (self.lora_A, a0), (self.lora_B, q)):
            target.copy_(value)
        self.base.weight.copy_((weight - self.scaling * q @ a0).to(self.base.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = adapter_input(x, self.lora_A.dtype) @ self.lora_A.T @ self.lora_B.T
        return self.base(x) + (self.scaling * update).to(x.dtype)


@torch.no_grad()
def output_covariances(model: nn.Module, layers: dict[str, SCLoRALinear], pairs: list, pad_id: int,
                       batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Uncentred mean(h h^T) of every layer's frozen output h = W0 x over the non-padding tokens."""
    sums = {n: torch.zeros(l.base.out_features, l.base.out_features, device=device) for n, l in layers.items()}
    keep: list[torch.Tensor] = []

    def accumulate(name):
        def hook(module, args, output):
            h = output.float() if module.bias is None else (output - module.bias).float()
            h = h[keep[0]]
            sums[name] += h.T @ h
        return hook

    hooks = [layer.base.register_forward_hook(accumulate(n)) for n, layer in layers.items()]
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    count = 0
    try:
        for start in range(0, len(pairs), batch_size):
            batch = {k: v.to(device) for k, v in collate(pairs[start:start + batch_size], pad_id).items()}
            keep[:] = [batch["attention_mask"].bool()]
            count += int(keep[0].sum())
            with autocast:
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    finally:
        for handle in hooks:
            handle.remove()
    return {n: s / max(1, count) for n, s in sums.items()}


class SCLoRA(Method):
    name = "sclora"
    description = "SC-LoRA (Luo et al., 2025): LoRA initialised in the output subspace balancing task vs preserved data"
    Options = SCLoRAOptions
    graph_safe = True  # no random numbers and no tensor replaced inside a task (hipbench.graphed)

    def __init__(self, options: SCLoRAOptions | None = None) -> None:
        super().__init__(options)
        self.initialised = False

    def trainable_per_module(self, out_features: int, in_features: int, rank: int) -> int:
        return rank * (out_features + in_features)

    def attach(self, model: nn.Module, targets: list[str], rank: Ranks, ctx: Context) -> None:
        for name, r in module_ranks(rank, targets).items():
            base = model.get_submodule(name)
            if r > base.out_features:
                raise ValueError(f"sclora: rank {r} exceeds the output width {base.out_features} of {name}")
            replace_module(model, name, SCLoRALinear(base, r, self.options.alpha / r))

    def begin_task(self, model: nn.Module, task: TaskData, ctx: Context) -> None:
        if self.initialised:
            return
        layers = adapted_layers(model, SCLoRALinear)
        limit, tok, length = self.options.examples, ctx.tokenizer, ctx.max_length
        plus = evenly([encode(tok, ex, length) for ex in task.train], limit)
        minus = [encode(tok, Example("", text), length, False) for text in ctx.preservation.texts]
        minus += [encode(tok, fact, length) for fact in ctx.preservation.facts]
        minus = evenly([(p, a) for p, a in minus if p or a], limit)
        device = next(iter(layers.values())).base.weight.device
        was_training = model.training
        model.eval()
        subspaces = {}  # every layer's, before any is initialised: later groups' passes need W0 throughout
        groups = covariance_groups(layers, COVARIANCE_BYTES)
        quiet = {"disable": True} if len(groups) == 1 else {}  # otherwise tqdm's own default (TQDM_DISABLE)
        for group in tqdm(groups, desc="sclora covariances", leave=False, **quiet):
            cov_plus = output_covariances(model, group, plus, tok.pad_token_id, ctx.batch_size, device)
            cov_minus = output_covariances(model, group, minus, tok.pad_token_id, ctx.batch_size, device)
            for name, layer in group.items():
                rank = layer.lora_A.shape[0]
                subspaces[name] = balanced_subspace(cov_plus[name], cov_minus[name], self.options.beta, rank)
            del cov_plus, cov_minus
        model.train(was_training)
        for name, layer in layers.items():
            layer.initialise(subspaces[name])
        self.initialised = True

    def state_dict(self, model: nn.Module) -> dict:
        return {"initialised": self.initialised}

    def load_state_dict(self, model: nn.Module, state: dict) -> None:
        self.initialised = state["initialised"]

    def delta_factors(self, model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {name: delta_from_start(layer.lora_B, layer.lora_A, layer.B0, layer.A0, layer.scaling)
                for name, layer in adapted_layers(model, SCLoRALinear).items()}
