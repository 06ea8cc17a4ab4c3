"""HiP-LoRA — Chen & Tan, "HiP-LoRA: Budgeted Spectral Plasticity for Robust Low-Rank
Adaptation", 2026 (arXiv 2604.17751; Algorithm 1 recap in shared/seeds/hip-lora-review.txt).

With the cached top-k SVD W = U_k diag(sigma) V_k^T + ..., each frozen weight gets two channels:

    principal:  U_k diag(sigma ⊙ phi) V_k^T          phi ∈ R^k, inside the dominant subspace
    residual:   s · (I - P_U) B A (I - P_V)         a LoRA confined to the orthogonal complement
    ΔW = U_k diag(d) V_k^T + s B~ A~,   d = sigma ⊙ phi,   y = W x + ΔW x,   s = alpha / r on the residual only

so U_k^T ΔW V_k = diag(d): d is the change of the principal singular values, and the residual
never touches the top-k singular directions on either side. Trainable per module: k + r (m + n).

Choices where the recap is silent or inconsistent (recorded here, tested in tests/test_hiplora.py):
- The recap initialises phi = 0, A = B = 0 and writes W~ = W - U_k diag(sigma) V_k^T. Read
  literally the model would lose its top-k spectrum at step 0, and A = B = 0 gives the residual
  channel a zero gradient forever. We read the principal channel as the *change* d of the
  principal singular values (W~ + U_k diag(sigma + d) V_k^T = W + U_k diag(d) V_k^T), keep phi = 0
  and B = 0, and initialise A Kaiming-uniform as LoRA does. Outputs are unchanged at step 0.
- Singular-value-weighted stability budget: weights w_i = (sigma_i / sigma_1)^2, so the leading
  directions are the stiffest, and a radius relative to the layer's own spectrum,
  R = (budget / 100) · sqrt(Σ_i w_i sigma_i^2), on the change d: Σ_i w_i d_i^2 <= R^2. `budget`
  is the largest weighted change of the principal spectrum in percent of its weighted norm (the
  review's sweep values 0.2, 0.5, 0.8, 1.0); `budget=inf` is no bound (the ablation's "no
  projection"). Default form "projection": after every optimizer step phi is projected exactly
  onto the budget (phi_i / (1 + mu c_i), c_i the budget's weight on phi_i, mu by binary search) —
  a budget is a bound, and a projection holds it at every step whatever the learning rate. Form
  "penalty" instead adds strength · Σ_modules Σ_i w_i d_i^2 / R^2 to the loss.
- How phi makes d (`principal`). "relative", the default: d = sigma ⊙ phi, phi the relative change
  of each singular value. "absolute": d = phi, what every HiP-LoRA record before 2026-11-30 ran.
  The arithmetic that decides it (checked against SmolLM2-135M's own spectra by
  scripts/check_hiplora_budget.py, output in leaderboards/checks/hiplora-budget-spectra.txt):
  AdamW moves each parameter by at most about lr per step whatever its gradient's scale, so in a
  150-step task at the default lr 5e-4 (10 % warm-up, then linear decay) a coordinate moves at
  most Σ_t lr · factor(t) = 0.038. With d = phi that is 0.038 in σ units, while R at budget 0.5 is,
  by layer type (mean over the 30 layers, top-32 singular values), q_proj 0.26, k_proj 0.16,
  v_proj 0.16, o_proj 0.20, gate_proj 0.26, up_proj 0.29, down_proj 0.25: every phi_i at that
  largest move, in one direction at every step, uses on average 25 % (gate_proj) to 76 % (k_proj)
  of the budget, only v_proj's mean (1.9) exceeds it, and real steps move less: the budget never
  bound (issue 20). With d = sigma ⊙ phi the same move is 3.8 % of each singular value, and the
  budget reads without the spectrum: a uniform relative change c uses Σ w σ² c² / ((budget/100)²
  Σ w σ²) = (100 c / budget)² of it, 57.8 at the move above, so budget 0.5 is reached at step 18 of
  150 at the earliest (budget 0.2: step 11; budget 1.0: step 28, usage up to 14.4). An lr for phi
  scaled by sigma would move d alike (Adam is invariant to a parameter's scale, up to eps), but the
  shared loop owns the optimizer (DESIGN.md, property 4): the parametrisation keeps it one AdamW
  for every method.
  "frozen": phi stays 0 and untrained, the residual channel alone (ablation); not counted as
  trainable, so the budget solver gives the residual what phi would have had.
- k = 32 by default (the paper's k is not public); the residual rank r is then solved for the
  matched budget. The SVD is computed once from the pretrained weights and never refreshed.
- Where the complement projection happens (`complement`). "step", the default: A and B
  themselves stay in the complement, their gradients projected before and the factors after every
  optimizer step, and both channels run as one product of width k + r. "forward", what every
  HiP-LoRA record before 2026-11-30 ran without naming it: A and B are free and B~, A~ are formed
  in every forward. Gradients, AdamW moments, clipping norms and B~ A~ are the same in exact
  arithmetic (a projected gradient is the forward projection's gradient, and projecting after the
  update equals projecting in the next forward); only the rounding differs, so the two are
  records of their own. "step" is faster: the per-forward projections cost launches, not FLOPs
  (bench/RESULTS.md). Both `principal` and `complement` name their old value for the hash
  (`option(earlier=...)`): a record without the key ran "absolute" and "forward" and keeps its hash,
  and `--option complement=forward --option principal=absolute` finds it again (the published
  sweep files name them so).
- Unequal residual ranks (the budget solver's r on some modules, r + 1 on others): every module
  keeps its k principal entries and takes its own residual scaling s_i = alpha / r_i, as LoRA.
- What the budget did is measured per task (`task_statistics`, in the record's train log and the
  leaderboard's "Budget usage" and "Projection active" columns): usage Σ w d² / R² at the task's
  end per layer type (mean, max), and the share of optimizer steps at which the projection moved
  phi, counted on the device (no host read per step).
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from hipbench.method import (Context, Method, Ranks, adapted_layers, adapter_input, module_ranks, one_cpu_thread,
                             option, replace_module)


PRINCIPAL_FORMS = ("relative", "absolute", "frozen")  # how phi makes the change d of sigma (module docstring)


@dataclass
class HiPLoRAOptions:
    k: int = option(32, "width of the principal channel (top-k singular subspace)", ge=1)
    alpha: float = option(16.0, "residual channel scaling s = alpha / r", gt=0)
    budget: float = option(0.5, "stability budget, percent of the weighted principal spectrum norm; inf: no bound",
                           gt=0, infinite=True)
    budget_mode: str = option("projection", "hard bound after each step (projection) or a loss term (penalty)",
                              choices=("projection", "penalty"))
    penalty_strength: float = option(1.0, "weight of the budget penalty (budget_mode=penalty)", ge=0)
    complement: str = option("step", "where A, B are projected: in every forward, or once per optimizer step",
                             choices=("forward", "step"), added_later=True, earlier="forward")
    principal: str = option("relative", "phi as a relative change of sigma, as an absolute one, or frozen at 0",
                            choices=PRINCIPAL_FORMS, added_later=True, earlier="absolute")


def complement_factors(lora_b: torch.Tensor, lora_a: torch.Tensor, u: torch.Tensor,
                       v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """B~ = (I - U U^T) B and A~ = A (I - V V^T), without forming m×m or n×n projectors."""
    return lora_b - u @ (u.T @ lora_b), lora_a - (lora_a @ v) @ v.T


class HiPLoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, u: torch.Tensor, sigma: torch.Tensor, v: torch.Tensor, rank: int,
                 scaling: float, budget: float, generator: torch.Generator, factors_in_complement: bool = False,
                 principal: str = "relative") -> None:
        super().__init__()
        if principal not in PRINCIPAL_FORMS:
            raise ValueError(f"--option principal={principal}: expected one of {', '.join(PRINCIPAL_FORMS)}")
        self.base = base
        self.scaling = scaling
        self.factors_in_complement = factors_in_complement  # complement="step": A, B are kept projected
        self.relative = principal == "relative"
        self.register_buffer("U", u.clone())
        self.register_buffer("V", v.clone())
        weights = (sigma / sigma[0]) ** 2
        self.register_buffer("w", weights)
        # the budget's weight on phi itself: Σ w d² = Σ c phi², c = w (absolute) or w sigma² (relative)
        self.register_buffer("c", weights * sigma ** 2 if self.relative else weights.clone())
        self.register_buffer("sigma", sigma.clone())
        self.radius = float(budget / 100.0 * torch.sqrt((weights * sigma ** 2).sum()))
        self.phi = nn.Parameter(torch.zeros_like(sigma), requires_grad=principal != "frozen")
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)
        if factors_in_complement:  # A is made on the CPU, for the CPU generator; U, V may be on the GPU
            with torch.no_grad(), one_cpu_thread():  # the same A whatever the process's thread count
                u, v = self.U.to(self.lora_A.device), self.V.to(self.lora_A.device)
                self.lora_A.copy_(complement_factors(self.lora_B, self.lora_A, u, v)[1])
        self._casts: dict[str, tuple[tuple, torch.Tensor]] = {}

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

    def change(self) -> torch.Tensor:
        """d, the change of the principal singular values: sigma ⊙ phi, or phi itself (absolute)."""
        return self.sigma * self.phi if self.relative else self.phi

    def projected_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return complement_factors(self.lora_B, self.lora_A, self.frozen("U"), self.frozen("V"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.factors_in_complement:
            return self.base(x) + self.fused_delta(x)
        u, v = self.frozen("U"), self.frozen("V")
        b, a = complement_factors(self.lora_B, self.lora_A, u, v)
        h = x.to(self.phi.dtype)
        delta = ((h @ v) * self.change()) @ u.T + self.scaling * ((h @ a.T) @ b.T)
        return self.base(x) + delta.to(x.dtype)

    def fused_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(right, left) with ΔW = right @ left^T, A and B already in the complement:
        right = [U diag(d) | s B], left = [V | A^T], of width k + r. Zero columns that round the
        width up to a multiple of 8 make cuBLAS pick aligned kernels (8B: 6% less device time) but
        cost host ops, and the step is host-bound: slower in the bench (bench/RESULTS.md)."""
        left = torch.cat([self.V, self.lora_A.T], dim=1)
        right = torch.cat([self.U * self.change(), self.scaling * self.lora_B], dim=1)
        return right, left

    def fused_delta(self, x: torch.Tensor) -> torch.Tensor:
        """ΔW x as right (left^T x): two matmuls of the fused width and no projection, against the
        two-channel forward's four matmuls and four projection products (bench/RESULTS.md:
        launches, not FLOPs, set the step time)."""
        right, left = self.fused_factors()
        return ((adapter_input(x, self.phi.dtype) @ left) @ right.T).to(x.dtype)

    def budget_usage(self) -> torch.Tensor:
        """Σ w_i d_i^2 / R^2 (= Σ c_i phi_i^2 / R^2): at most 1 when the budget holds, 0 without one."""
        return (self.c * self.phi ** 2).sum() / self.radius ** 2

    @torch.no_grad()
    def project_phi(self) -> None:
        project_onto_budgets([self])


@torch.no_grad()
def project_onto_budgets(layers: list[HiPLoRALinear], cache: dict | None = None) -> torch.Tensor | None:
    """Project every layer's phi onto {Σ c_i phi_i^2 <= R^2}: phi_i / (1 + mu c_i), mu >= 0 the
    smallest float whose projection meets the budget (c = w for an absolute phi, the published
    form, and w sigma² for a relative one: the same bound on the change d). All layers are solved
    at once, in one padded matrix with no host synchronisation. Returns which layers were over
    their budget and so moved (a bool per layer, on the device), or None without layers.

    mu is found bit by bit: non-negative floats order as their bit patterns do as integers, so a
    binary search over the 31 bits of an fp32 pattern lands on that float exactly in 31 fixed steps,
    with no bracket to find first. The earlier solve (40 bracket-growing steps, then 60 bisection
    steps) converged to the same float in three times the kernels, and the projection's kernels are
    most of HiP-LoRA's per-step cost (bench/RESULTS.md). With a `cache`, the padded weights and
    radii are stacked once per set of layers instead of at every step."""
    if not layers:
        return None
    ws, widths = [layer.c for layer in layers], [layer.phi.numel() for layer in layers]
    width = max(widths)
    if len(set(widths)) == 1:  # the usual case (k below every layer's dimensions): no per-layer padding op
        phi = torch.stack([layer.phi for layer in layers])  # under no_grad: no detach needed
    else:
        phi = torch.stack([nn.functional.pad(layer.phi, (0, width - layer.phi.numel())) for layer in layers])

    def constants() -> tuple[torch.Tensor, torch.Tensor]:  # a layer's radius is fixed with its w
        w = torch.stack([nn.functional.pad(t, (0, width - t.numel())) for t in ws])
        return w, torch.tensor([layer.radius ** 2 for layer in layers], device=w.device, dtype=w.dtype)

    w, r2 = stacked(cache, "budget", ws, constants)

    def usage(mu: torch.Tensor) -> torch.Tensor:
        return (w * (phi / (1 + mu[:, None] * w)) ** 2).sum(dim=1)

    pattern = _SAME_WIDTH_INT[phi.dtype]
    overshoots = torch.zeros(r2.shape, dtype=pattern, device=r2.device)  # the largest mu found still over
    for bit in reversed(range(8 * phi.element_size() - 1)):  # every bit but the sign
        candidate = overshoots + (1 << bit)
        overshoots = torch.where(usage(candidate.view(phi.dtype)) > r2, candidate, overshoots)
    over = usage(torch.zeros_like(r2)) > r2
    mu = torch.where(over, (overshoots + 1).view(phi.dtype), 0.0)
    projected, rows = landing(cache, "phi", ws, phi, widths)
    torch.div(phi, 1 + mu[:, None] * w, out=projected)
    torch._foreach_copy_([layer.phi for layer in layers], rows)
    return over


Made = TypeVar("Made")  # what `stacked` keeps: a tensor, or a tuple of them

# integers of a float's width, to read a float's bit pattern (for the binary search over multipliers)
_SAME_WIDTH_INT = {torch.float64: torch.int64, torch.float32: torch.int32, torch.bfloat16: torch.int16,
                   torch.float16: torch.int16}


def stacked(cache: dict | None, name: str, tensors: list[torch.Tensor], make: Callable[[], Made]) -> Made:
    """make(), stacks made from per-layer constants, computed once per set of layers when a cache is
    given rather than at every step. Reused only for the very same tensors (held in the cache, so no
    freed address can alias them) at the same versions: a moved, rewritten or new layer restacks."""
    if cache is None:
        return make()
    versions = [t._version for t in tensors]
    held = cache.get(name)
    if held is None or len(held[0]) != len(tensors) or any(a is not b for a, b in zip(held[0], tensors)) \
            or held[1] != versions:
        held = cache[name] = (list(tensors), versions, make())
    return held[2]


def landing(cache: dict | None, name: str, anchors: list[torch.Tensor], like: torch.Tensor,
            widths: list[int] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A buffer shaped like the stacked `like` and its rows as views (with `widths`, the first
    widths[i] entries of row i), made once per set of layers when a cache is given: a batched result
    written into it reaches the layers by one foreach copy through views made once, where views made
    per call cost two host ops per layer (about 2,200 per step at 224 modules, bench/RESULTS.md)."""
    def make() -> tuple[torch.Tensor, list[torch.Tensor]]:
        buffer = torch.empty_like(like)
        rows = list(buffer.unbind(0))
        return buffer, rows if widths is None else [row[:width] for row, width in zip(rows, widths)]
    return stacked(cache, name, anchors, make)


@torch.no_grad()
def project_into_complements(layers: list[HiPLoRALinear], gradients: bool, cache: dict | None = None) -> None:
    """B <- (I - U U^T) B and A <- A (I - V V^T) in every layer, or the same for their gradients:
    one batched product per layer shape, so a step adds a few dozen kernels, not a few per layer.
    U and V are restacked at every call: keeping the stacks would hold a second copy of the bases
    (0.3 GB at the 8B shape) to save one stack op per group (bench/RESULTS.md)."""
    groups: dict[tuple, list[HiPLoRALinear]] = defaultdict(list)
    for layer in layers:
        groups[(layer.U.shape, layer.V.shape, layer.lora_A.shape, layer.U.device)].append(layer)
    for key, group in groups.items():
        bs = [layer.lora_B.grad if gradients else layer.lora_B for layer in group]
        as_ = [layer.lora_A.grad if gradients else layer.lora_A for layer in group]
        if any(t is None for t in bs + as_):
            continue  # no backward yet
        us, vs = [layer.U for layer in group], [layer.V for layer in group]
        u, v, b, a = torch.stack(us), torch.stack(vs), torch.stack(bs), torch.stack(as_)
        b_out, b_rows = landing(cache, f"B {key}", us, b)
        a_out, a_rows = landing(cache, f"A {key}", vs, a)
        torch.baddbmm(b, u, u.transpose(1, 2) @ b, alpha=-1, out=b_out)
        torch.baddbmm(a, a @ v, v.transpose(1, 2), alpha=-1, out=a_out)
        torch._foreach_copy_(bs + as_, b_rows + a_rows)


class HiPLoRA(Method):
    name = "hiplora"
    description = "HiP-LoRA (Chen & Tan, 2026): budgeted principal-spectrum channel + complement-only LoRA"
    Options = HiPLoRAOptions
    graph_safe = True  # no random numbers and no tensor replaced inside a task (hipbench.graphed)

    def __init__(self, options: HiPLoRAOptions | None = None) -> None:
        super().__init__(options)
        self.stacks: dict = {}  # per-step constants stacked once for the attached model's layers (`stacked`)
        self.steps = 0  # optimizer steps of the current task
        self.active: torch.Tensor | None = None  # per layer: steps of this task at which the projection moved phi
        self.any_active: torch.Tensor | None = None  # steps of this task at which it moved phi in some layer

    def trainable_per_module(self, out_features: int, in_features: int, rank: int) -> int:
        principal = 0 if self.options.principal == "frozen" else min(self.options.k, out_features, in_features)
        return principal + rank * (out_features + in_features)

    def projects(self) -> bool:
        """Whether phi is projected after each step: a finite budget in projection form on a trained phi."""
        return (self.options.budget_mode == "projection" and math.isfinite(self.options.budget)
                and self.options.principal != "frozen")

    def attach(self, model: nn.Module, targets: list[str], rank: Ranks, ctx: Context) -> None:
        self.stacks = {}  # a new model: its own stacked constants
        if self.options.budget_mode not in ("projection", "penalty"):
            raise ValueError(f"--option budget_mode={self.options.budget_mode}: expected projection or penalty")
        if self.options.complement not in ("forward", "step"):
            raise ValueError(f"--option complement={self.options.complement}: expected forward or step")
        for name, r in module_ranks(rank, targets).items():
            base = model.get_submodule(name)
            u, sigma, v = ctx.svd.top_k(base.weight, self.options.k)
            replace_module(model, name, HiPLoRALinear(base, u, sigma, v, r, self.options.alpha / r,
                                                      self.options.budget, ctx.generator,
                                                      factors_in_complement=self.options.complement == "step",
                                                      principal=self.options.principal))

    def begin_task(self, model: nn.Module, task, ctx: Context) -> None:
        self.steps, self.active, self.any_active = 0, None, None  # the statistics are per task

    def extra_loss(self, model: nn.Module) -> torch.Tensor | None:
        if self.options.budget_mode != "penalty":
            return None
        layers = adapted_layers(model, HiPLoRALinear).values()
        return self.options.penalty_strength * sum(layer.budget_usage() for layer in layers)

    def before_step(self, model: nn.Module) -> None:
        if self.options.complement == "step":
            project_into_complements(list(adapted_layers(model, HiPLoRALinear).values()), True, self.stacks)

    def after_step(self, model: nn.Module) -> None:
        layers = list(adapted_layers(model, HiPLoRALinear).values())
        self.steps += 1
        if self.projects():
            over = project_onto_budgets(layers, self.stacks)
            if over is not None:  # counted on the device: no host read per step
                if self.active is None:
                    self.active = torch.zeros_like(over, dtype=torch.int32)
                    self.any_active = over.new_zeros((), dtype=torch.int32)
                self.active += over
                self.any_active += over.any()
        if self.options.complement == "step":
            project_into_complements(layers, False, self.stacks)

    def task_statistics(self, model: nn.Module) -> dict:
        """What the budget did in the task just trained: `budget_usage` (Σ w d² / R² at its end, mean
        over layers; absent without a budget), `projection_active` (share of its optimizer steps at
        which the projection moved a layer's phi, mean over layers), `projection_active_any` (share
        of steps at which it moved some layer's), and both per layer type (q_proj, ...: usage mean
        and max, active share)."""
        layers = adapted_layers(model, HiPLoRALinear)
        if not layers or self.steps == 0:
            return {}
        bounded = math.isfinite(self.options.budget)
        with torch.no_grad():
            usage = [float(layer.budget_usage()) for layer in layers.values()] if bounded else []
        active = (self.active.cpu().double() / self.steps).tolist() if self.active is not None else [0.0] * len(layers)
        any_active = float(self.any_active) / self.steps if self.any_active is not None else 0.0
        kinds: dict[str, list[int]] = defaultdict(list)
        for index, name in enumerate(layers):
            kinds[name.rsplit(".", 1)[-1]].append(index)
        by_type = {}
        for kind, indices in kinds.items():
            by_type[kind] = {"projection_active": sum(active[i] for i in indices) / len(indices)}
            if bounded:
                by_type[kind].update(budget_usage_mean=sum(usage[i] for i in indices) / len(indices),
                                     budget_usage_max=max(usage[i] for i in indices))
        stats = {"steps": self.steps, "projection_active": sum(active) / len(active),
                 "projection_active_any": any_active, "by_layer_type": by_type}
        if bounded:
            stats["budget_usage"] = sum(usage) / len(usage)
        return stats

    def delta_factors(self, model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        factors = {}
        for name, layer in adapted_layers(model, HiPLoRALinear).items():
            b, a = (t.detach() for t in layer.projected_factors())
            principal_b = layer.U * layer.change().detach()[None, :]
            factors[name] = (torch.cat([principal_b, layer.scaling * b], dim=1),
                             torch.cat([layer.V.T, a], dim=0))
        return factors
