"""LaLoRA — Sliwa, Schneider, Hennig & Hernández-Lobato, "Mitigating Forgetting in Low Rank
Adaptation" (arXiv 2512.17720, Dec 2025).

A Laplace approximation over the LoRA weights only: the source-domain posterior of θ = {A, B} is
approximated by a Gaussian at an anchor θ* with precision λ(F + δI), F the Fisher of the LoRA
weights on surrogate source data, δ a prior precision. Training on the target adds its negative
log density:

    L = L_task + (λ / 2) Σ_i (F_i + δ) (θ_i - θ*_i)^2          (curvature = "diag", the default)
    L = L_task + (λ / 2) Σ_W [ tr(D^T G D Ā) + δ ||D||^2 ],  D = W - W*   (curvature = "kfac")

The architecture is LoRA's (`hipbench.methods.lora.LoRALinear`: A Kaiming, B = 0, s = alpha / r),
and one adapter keeps training across tasks as in the LoRA baseline. The paper compares diagonal,
block K-FAC and block tri-diagonal K-FAC curvature; we offer the first two. "kfac" treats A and B
as two linear maps, each with Kronecker factors Ā = mean over tokens of its input a a^T and
G = (1/N) Σ_examples Σ_tokens g g^T of its output gradient g ("K-FAC expand", Eschenhagen et al.
2023): for A the input is x and g = s B^T ∂L/∂y; for B the input is A x and g = s ∂L/∂y. Its
memory is n^2 + r^2 (A) and m^2 + r^2 (B) per module, so for 8B models prefer "diag". The
tri-diagonal variant (A-B cross blocks) is not implemented.

Curvature data: the shared preservation set (`ctx.preservation`, never test data): texts scored as
plain language modelling (every token after the first) and facts as prompt + answer (answer
tokens scored), at most `examples` of them, evenly spaced, no randomness. F is the per-example
Fisher: each example's mean-token loss is differentiated on its own and the squared gradients
are averaged ("empirical", labels from the data; "true" samples labels from the model's own
predictive, one draw per example, from a generator seeded with the run's seed).

The B = 0 degeneracy and the anchor (the paper's answer was not available to us): at LoRA's
initialisation ∂L/∂A = s B^T g x^T = 0, so the Fisher of A is exactly zero, while the Fisher of B
is not (∂L/∂B = s g (A x)^T). We take the Laplace approximation where the model *is* the
pretrained source model, θ* = θ0 at the start of task 1: B is held by its curvature, A only by the
prior precision δ (honest: the source loss is flat in A there). At every task boundary
(`end_task`) anchor and curvature are re-estimated at the trained weights (a sequential, online
Laplace), where B ≠ 0 makes the curvature of A informative; the estimate replaces the previous one
instead of accumulating, since the preservation data are the same at every boundary.
`refresh = False` keeps the θ0 approximation for the whole stream.

Defaults where the paper is silent to us: λ = 1e3, δ = 1e-6, "diag", "empirical", 64 examples,
alpha = 16 as the LoRA baseline. λ plays the role of the number of source examples the posterior
summarises. Calibration on SmolLM2-135M (suite `continual`, default schedule, one H100 run of
unregularised training): per-parameter F has median ~1e-6 (A) to ~4e-5 (B) after task 1, and a
task's unregularised movement gives Σ F (θ - θ*)^2 / 2 ≈ 4e-3; λ = 1e3 puts the penalty at that
movement (≈ 4) near the first task loss (≈ 7) and its gradient near the task gradient, the middle
of the trade-off. δ sits at the bottom of F's range so that the prior does not swamp the curvature
(δ = 1e-4 would make it a plain L2 pull). Sweep λ over decades (1e2 .. 1e4) for a trade-off curve.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hipbench.method import Context, Method, adapted_layers, replace_module
from hipbench.methods.lora import LoRALinear
from hipbench.suite import Example, GeneralSet, TaskData
from hipbench.train import IGNORE, collate, encode


@dataclass
class LaLoRAOptions:
    alpha: float = 16.0  # s = alpha / r, as the LoRA baseline
    strength: float = 1e3  # λ: the learning-forgetting trade-off
    prior_precision: float = 1e-6  # δ
    curvature: str = "diag"  # "diag" or "kfac" (block K-FAC per LoRA factor)
    fisher: str = "empirical"  # "empirical" (data labels) or "true" (labels sampled from the model)
    examples: int = 64  # preservation examples used for the curvature
    refresh: bool = True  # re-estimate anchor and curvature at every task boundary
    dropout: float = 0.0


def preservation_pairs(tokenizer, preservation: GeneralSet, max_length: int, limit: int) -> list:
    """(prompt ids, scored ids) for the preservation texts and facts, evenly subsampled to `limit`."""
    pairs = [encode(tokenizer, Example("", text), max_length, False) for text in preservation.texts]
    pairs += [encode(tokenizer, fact, max_length) for fact in preservation.facts]
    pairs = [(p, a) for p, a in pairs if a and len(p) + len(a) >= 2]
    if len(pairs) > limit:
        pairs = [pairs[i * len(pairs) // limit] for i in range(limit)]
    return pairs


def example_loss(model: nn.Module, batch: dict, sampler: torch.Generator | None) -> torch.Tensor:
    """Mean-token cross-entropy of one example; with a sampler, targets are drawn from the model."""
    logits = model(input_ids=batch["input_ids"]).logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    if sampler is not None:
        probs = logits.detach().softmax(-1).reshape(-1, logits.size(-1)).cpu()
        drawn = torch.multinomial(probs, 1, generator=sampler).reshape(targets.shape).to(targets.device)
        targets = torch.where(targets == IGNORE, targets, drawn)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                                       ignore_index=IGNORE)


def kfac_terms(layer: LoRALinear, x: torch.Tensor, grad_y: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
    """One example's K-FAC sums (Σ_t g g^T, Σ_t a a^T) for A and B. The last position never reaches
    the loss of a causal LM (its gradient is zero), so it is left out of both."""
    x, g_b = x[0, :-1].float(), layer.scaling * grad_y[0, :-1].float()
    g_a = g_b @ layer.lora_B.detach().float()
    u = x @ layer.lora_A.detach().float().T
    return {"lora_A": (g_a.T @ g_a, x.T @ x), "lora_B": (g_b.T @ g_b, u.T @ u)}


class LaLoRA(Method):
    name = "lalora"
    description = "LaLoRA (Sliwa et al., 2025): LoRA with a Laplace (Fisher) penalty on the LoRA weights"
    Options = LaLoRAOptions

    def __init__(self, options: LaLoRAOptions | None = None) -> None:
        super().__init__(options)
        if self.options.curvature not in ("diag", "kfac"):
            raise ValueError(f"curvature={self.options.curvature}: expected diag or kfac")
        if self.options.fisher not in ("empirical", "true"):
            raise ValueError(f"fisher={self.options.fisher}: expected empirical or true")
        self.anchor: dict[str, torch.Tensor] = {}  # "module.lora_A" -> θ*
        self.curvature: dict[str, tuple[torch.Tensor, ...]] = {}  # -> (F,) or (G, Ā)
        self.sampler: torch.Generator | None = None

    def trainable_per_module(self, out_features: int, in_features: int, rank: int) -> int:
        return rank * (out_features + in_features)

    def attach(self, model: nn.Module, targets: list[str], rank: int, ctx: Context) -> None:
        for name in targets:
            replace_module(model, name, LoRALinear(model.get_submodule(name), rank, self.options.alpha / rank,
                                                   self.options.dropout, ctx.generator))
        if self.options.fisher == "true":  # its own stream: the run's generator orders the data
            self.sampler = torch.Generator().manual_seed(ctx.generator.initial_seed())

    def begin_task(self, model: nn.Module, task: TaskData, ctx: Context) -> None:
        if not self.anchor:
            self.estimate(model, ctx)

    def end_task(self, model: nn.Module, task: TaskData, ctx: Context) -> None:
        if self.options.refresh:
            self.estimate(model, ctx)

    def estimate(self, model: nn.Module, ctx: Context) -> None:
        """Anchor θ* at the current LoRA weights and the curvature of the preservation loss there."""
        layers = adapted_layers(model, LoRALinear)
        keys = [(n, k) for n in layers for k in ("lora_A", "lora_B")]
        params = [getattr(layers[n], k) for n, k in keys]
        pairs = preservation_pairs(ctx.tokenizer, ctx.preservation, ctx.max_length, self.options.examples)
        kfac = self.options.curvature == "kfac"
        captured: dict[str, list[torch.Tensor]] = {}

        def capture(name):
            def hook(module, args, output):
                captured[name] = [args[0].detach()]
                output.register_hook(lambda g: captured[name].append(g.detach()))
            return hook

        hooks = [layer.register_forward_hook(capture(n)) for n, layer in layers.items()] if kfac else []
        sums: dict[str, list[torch.Tensor]] = {}
        device = params[0].device
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
        tokens, was_training = 0, model.training
        model.eval()
        try:
            for pair in pairs:
                batch = {k: v.to(device) for k, v in collate([pair], ctx.tokenizer.pad_token_id).items()}
                with autocast:
                    loss = example_loss(model, batch, self.sampler)
                grads = torch.autograd.grad(loss, params)
                if kfac:
                    tokens += batch["input_ids"].shape[1] - 1
                    terms = {f"{n}.{k}": t for n, layer in layers.items()
                             for k, t in kfac_terms(layer, *captured[n]).items()}
                else:
                    terms = {f"{n}.{k}": (g.float() ** 2,) for (n, k), g in zip(keys, grads)}
                for key, values in terms.items():
                    sums[key] = [s + v for s, v in zip(sums[key], values)] if key in sums else list(values)
        finally:
            for handle in hooks:
                handle.remove()
            model.train(was_training)
        if not pairs:  # no preservation data: the prior alone
            sums = {f"{n}.{k}": [torch.zeros_like(p, dtype=torch.float32)] for (n, k), p in zip(keys, params)}
        n_examples = max(1, len(pairs))
        self.curvature = {key: (v[0] / n_examples,) if len(v) == 1 else (v[0] / n_examples, v[1] / tokens)
                          for key, v in sums.items()}
        self.anchor = {f"{n}.{k}": p.detach().float().clone() for (n, k), p in zip(keys, params)}

    def state_dict(self, model: nn.Module) -> dict:
        return {"anchor": self.anchor, "curvature": {key: list(terms) for key, terms in self.curvature.items()},
                "sampler": None if self.sampler is None else self.sampler.get_state()}

    def load_state_dict(self, model: nn.Module, state: dict) -> None:
        device = next(iter(adapted_layers(model, LoRALinear).values())).lora_A.device
        self.anchor = {key: value.to(device) for key, value in state["anchor"].items()}
        self.curvature = {key: tuple(t.to(device) for t in terms) for key, terms in state["curvature"].items()}
        if self.sampler is not None:
            self.sampler.set_state(state["sampler"])

    def extra_loss(self, model: nn.Module) -> torch.Tensor | None:
        if not self.anchor:
            return None
        delta, total = self.options.prior_precision, 0.0
        for n, layer in adapted_layers(model, LoRALinear).items():
            for k in ("lora_A", "lora_B"):
                d = getattr(layer, k).float() - self.anchor[f"{n}.{k}"]
                curv = self.curvature[f"{n}.{k}"]
                if len(curv) == 1:
                    total = total + ((curv[0] + delta) * d ** 2).sum()
                else:
                    total = total + (d * (curv[0] @ d @ curv[1])).sum() + delta * (d ** 2).sum()
        return 0.5 * self.options.strength * total

    def delta_factors(self, model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {name: (layer.scaling * layer.lora_B.detach(), layer.lora_A.detach())
                for name, layer in adapted_layers(model, LoRALinear).items()}
