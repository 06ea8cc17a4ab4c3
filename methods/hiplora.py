"""HiP-LoRA — Chen & Tan, "HiP-LoRA: Budgeted Spectral Plasticity for Robust Low-Rank
Adaptation", 2026 (arXiv 2604.17751; Algorithm 1 recap in shared/seeds/hip-lora-review.txt).

With the cached top-k SVD W = U_k diag(sigma) V_k^T + ..., each frozen weight gets two channels:

    principal:  U_k diag(phi) V_k^T                 phi ∈ R^k, inside the dominant subspace
    residual:   s · (I - P_U) B A (I - P_V)         a LoRA confined to the orthogonal complement
    ΔW = U_k diag(phi) V_k^T + s B~ A~,   y = W x + ΔW x,   s = alpha / r on the residual only

so U_k^T ΔW V_k = diag(phi) and the residual never touches the top-k singular directions on
either side. Trainable per module: k + r (m + n).

Choices where the recap is silent or inconsistent (recorded here, tested in tests/test_hiplora.py):
- The recap initialises phi = 0, A = B = 0 and writes W~ = W - U_k diag(sigma) V_k^T. Read
  literally the model would lose its top-k spectrum at step 0, and A = B = 0 gives the residual
  channel a zero gradient forever. We read phi as the *change* of the principal singular values
  (W~ + U_k diag(sigma + phi) V_k^T = W + U_k diag(phi) V_k^T), keep phi = 0 and B = 0, and
  initialise A Kaiming-uniform as LoRA does. Outputs are unchanged at step 0.
- Singular-value-weighted stability budget: weights w_i = (sigma_i / sigma_1)^2, so the leading
  directions are the stiffest, and a radius relative to the layer's own spectrum,
  R = (budget / 100) · sqrt(Σ_i w_i sigma_i^2): `budget` is the largest weighted change of the
  principal spectrum in percent of its weighted norm (the review's sweep values 0.2, 0.5, 0.8, 1.0).
  Default form "projection": after every optimizer step phi is projected exactly onto
  {Σ w_i phi_i^2 <= R^2} (phi_i / (1 + mu w_i), mu by bisection) — a budget is a bound, and a
  projection holds it at every step whatever the learning rate. Form "penalty" instead adds
  strength · Σ_modules Σ_i w_i phi_i^2 / R^2 to the loss.
- k = 32 by default (the paper's k is not public); the residual rank r is then solved for the
  matched budget. The SVD is computed once from the pretrained weights and never refreshed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hipbench.method import Context, Method, adapted_layers, adapter_input, replace_module


@dataclass
class HiPLoRAOptions:
    k: int = 32  # width of the principal channel (top-k singular subspace)
    alpha: float = 16.0  # residual channel scaling s = alpha / r
    budget: float = 0.5  # stability budget, percent of the weighted principal spectrum norm
    budget_mode: str = "projection"  # "projection" (hard bound after each step) or "penalty"
    penalty_strength: float = 1.0  # used by budget_mode = "penalty"


def complement_factors(lora_b: torch.Tensor, lora_a: torch.Tensor, u: torch.Tensor,
                       v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """B~ = (I - U U^T) B and A~ = A (I - V V^T), without forming m×m or n×n projectors."""
    return lora_b - u @ (u.T @ lora_b), lora_a - (lora_a @ v) @ v.T


def hip_delta(h: torch.Tensor, u: torch.Tensor, v: torch.Tensor, phi: torch.Tensor, lora_a: torch.Tensor,
              lora_b: torch.Tensor, scaling: float) -> torch.Tensor:
    """ΔW h = U diag(phi) V^T h + s B~ A~ h: both channels, a function of tensors alone so that one
    `torch.compile` of it serves every layer (bench/train_step.py's `hiplora-compiled`)."""
    b, a = complement_factors(lora_b, lora_a, u, v)
    return ((h @ v) * phi) @ u.T + scaling * ((h @ a.T) @ b.T)


class HiPLoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, u: torch.Tensor, sigma: torch.Tensor, v: torch.Tensor, rank: int,
                 scaling: float, budget: float, generator: torch.Generator) -> None:
        super().__init__()
        self.base = base
        self.scaling = scaling
        self.fused = False  # on only in bench/train_step.py's hiplora-fused contender, for now (fused_delta)
        self.register_buffer("U", u.clone())
        self.register_buffer("V", v.clone())
        weights = (sigma / sigma[0]) ** 2
        self.register_buffer("w", weights)
        self.radius = float(budget / 100.0 * torch.sqrt((weights * sigma ** 2).sum()))
        self.phi = nn.Parameter(torch.zeros_like(sigma))
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)
        self._casts: dict[str, tuple[tuple, torch.Tensor]] = {}
        self.delta = hip_delta  # a compiled copy in bench/train_step.py's hiplora-compiled contender

    def frozen(self, name: str) -> torch.Tensor:
        """The fixed basis U or V as this step's matmuls take it. Autocast casts an fp32 buffer at
        every matmul that reads it (its cast cache keeps only leaves that require grad): six casts
        per module and forward, part of HiP-LoRA's extra launches in bench/RESULTS.md's profile.
        The cast made once and reused is the same tensor, so outputs and gradients are
        bit-identical (tests/test_hiplora.py); it is remade when the buffer moves or is written."""
        tensor = getattr(self, name)
        if not torch.is_autocast_enabled(tensor.device.type):
            return tensor
        dtype = torch.get_autocast_dtype(tensor.device.type)
        key = (tensor.data_ptr(), tensor._version, dtype)
        if name not in self._casts or self._casts[name][0] != key:
            self._casts[name] = (key, tensor.to(dtype))
        return self._casts[name][1]

    def projected_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return complement_factors(self.lora_B, self.lora_A, self.frozen("U"), self.frozen("V"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return self.base(x) + self.fused_delta(x)
        delta = self.delta(x.to(self.phi.dtype), self.frozen("U"), self.frozen("V"), self.phi, self.lora_A,
                           self.lora_B, self.scaling)
        return self.base(x) + delta.to(x.dtype)

    def fused_delta(self, x: torch.Tensor) -> torch.Tensor:
        """ΔW x as ([U diag(phi) | s B~] [V | A~^T]^T) x: the same map in two matmuls of width k + r
        instead of four (the profile in bench/RESULTS.md: HiP-LoRA's extra launches, not its FLOPs,
        cost the time). Under bf16 autocast phi is rounded inside the product, so the published
        runs' numerics would change: `fused` stays off until bench/train_step.py's `hiplora-fused`
        contender has measured it on the device and the HiP-LoRA records are re-run with it."""
        b, a = self.projected_factors()
        left = torch.cat([self.V, a.T], dim=1)
        right = torch.cat([self.U * self.phi, self.scaling * b], dim=1)
        return ((adapter_input(x, self.phi.dtype) @ left) @ right.T).to(x.dtype)

    def budget_usage(self) -> torch.Tensor:
        """Σ w_i phi_i^2 / R^2: at most 1 when the budget holds."""
        return (self.w * self.phi ** 2).sum() / self.radius ** 2

    @torch.no_grad()
    def project_phi(self) -> None:
        project_onto_budgets([self])


@torch.no_grad()
def project_onto_budgets(layers: list[HiPLoRALinear], iterations: int = 60) -> None:
    """Project every layer's phi onto {Σ w_i phi_i^2 <= R^2}: phi_i / (1 + mu w_i), with mu >= 0
    found by bisection. All layers are solved at once (one padded matrix, a fixed number of
    iterations, no host synchronisation), so the projection costs a few hundred kernels per step
    however many layers there are."""
    if not layers:
        return
    width = max(layer.phi.numel() for layer in layers)
    phi = torch.stack([nn.functional.pad(layer.phi.detach(), (0, width - layer.phi.numel())) for layer in layers])
    w = torch.stack([nn.functional.pad(layer.w, (0, width - layer.w.numel())) for layer in layers])
    r2 = torch.tensor([layer.radius ** 2 for layer in layers], device=phi.device, dtype=phi.dtype)

    def usage(mu: torch.Tensor) -> torch.Tensor:
        return (w * (phi / (1 + mu[:, None] * w)) ** 2).sum(dim=1)

    high = torch.ones_like(r2)
    for _ in range(40):  # grow the bracket until the constraint holds (weights are at most 1)
        high = torch.where(usage(high) > r2, high * 4, high)
    low = torch.zeros_like(r2)
    for _ in range(iterations):
        mid = (low + high) / 2
        over = usage(mid) > r2
        low, high = torch.where(over, mid, low), torch.where(over, high, mid)
    mu = torch.where(usage(torch.zeros_like(r2)) > r2, high, torch.zeros_like(r2))
    projected = phi / (1 + mu[:, None] * w)
    for row, layer in enumerate(layers):
        layer.phi.copy_(projected[row, :layer.phi.numel()])


class HiPLoRA(Method):
    name = "hiplora"
    description = "HiP-LoRA (Chen & Tan, 2026): budgeted principal-spectrum channel + complement-only LoRA"
    Options = HiPLoRAOptions

    def trainable_per_module(self, out_features: int, in_features: int, rank: int) -> int:
        return min(self.options.k, out_features, in_features) + rank * (out_features + in_features)

    def attach(self, model: nn.Module, targets: list[str], rank: int, ctx: Context) -> None:
        if self.options.budget_mode not in ("projection", "penalty"):
            raise ValueError(f"--option budget_mode={self.options.budget_mode}: expected projection or penalty")
        for name in targets:
            base = model.get_submodule(name)
            u, sigma, v = ctx.svd.top_k(base.weight, self.options.k)
            replace_module(model, name, HiPLoRALinear(base, u, sigma, v, rank, self.options.alpha / rank,
                                                      self.options.budget, ctx.generator))

    def extra_loss(self, model: nn.Module) -> torch.Tensor | None:
        if self.options.budget_mode != "penalty":
            return None
        layers = adapted_layers(model, HiPLoRALinear).values()
        return self.options.penalty_strength * sum(layer.budget_usage() for layer in layers)

    def after_step(self, model: nn.Module) -> None:
        if self.options.budget_mode == "projection":
            project_onto_budgets(list(adapted_layers(model, HiPLoRALinear).values()))

    def delta_factors(self, model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        factors = {}
        for name, layer in adapted_layers(model, HiPLoRALinear).items():
            b, a = (t.detach() for t in layer.projected_factors())
            principal_b = layer.U * layer.phi.detach()[None, :]
            factors[name] = (torch.cat([principal_b, layer.scaling * b], dim=1),
                             torch.cat([layer.V.T, a], dim=0))
        return factors
