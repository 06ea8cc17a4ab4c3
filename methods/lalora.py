"""LaLoRA — Sliwa, Schneider, Hennig & Hernández-Lobato, "Mitigating Forgetting in Low Rank
Adaptation" (arXiv 2512.17720, Dec 2025).

A Laplace approximation over the LoRA weights only: the source-domain posterior of θ = {A, B} is
approximated by a Gaussian at an anchor θ* with precision λ(F + δI), F the Fisher of the LoRA
weights on surrogate source data, δ a prior precision. Training on the target adds its negative
log density:

    L = L_task + (λ / 2) Σ_i (F_i + δ) (θ_i - θ*_i)^2          (curvature = "diag", the default)
    L = L_task + (λ / 2) Σ_W [ tr(D^T G D Ā) + δ ||D||^2 ],  D = W - W*   (curvature = "kfac")

The architecture is LoRA's (`hipbench.methods.lora.LoRALinear`: A Kaiming, B = 0, s = alpha / r),
and one adapter keeps training across tasks as in the LoRA baseline. With unequal ranks each module
takes LoRA's s_i = alpha / r_i; the penalty is per parameter and needs no rescaling. The paper compares diagonal,
block K-FAC and block tri-diagonal K-FAC curvature; we offer the first two. "kfac" treats A and B
as two linear maps, each with Kronecker factors Ā = mean over tokens of its input a a^T and
G = (1/N) Σ_examples Σ_tokens g g^T of its output gradient g ("K-FAC expand", Eschenhagen et al.
2023): for A the input is x and g = s B^T ∂L/∂y; for B the input is A x and g = s ∂L/∂y. Its
memory is n^2 + r^2 (A) and m^2 + r^2 (B) per module, so for 8B models prefer "diag". The
tri-diagonal variant (A-B cross blocks) is not implemented.

Curvature data: the shared preservation set (`ctx.preservation`, never test data): texts scored as
plain language modelling (every token after the first) and facts as prompt + answer (answer
tokens scored), at most `examples` of them, evenly spaced, no randomness. F is the per-example
Fisher: the gradient of each example's own mean-token loss, squared, averaged over examples
("empirical", labels from the data; "true" samples labels from the model's own predictive, one
draw per position of each example, from a generator seeded with the run's seed). The per-example
gradients come from one backward pass per chunk of examples (the layer inputs and output
gradients of each row give its LoRA gradients in closed form), not one pass per example.

The paper's penalty, and the anchor (the paper's answer to the B = 0 degeneracy was not
available to us): a Laplace approximation of the source posterior *at the pretrained model*. At
LoRA's initialisation the adapted model is the pretrained one, so θ* = θ0 (A Kaiming, B = 0) is the
source mode, and the precision is the curvature of the preservation (source-surrogate) loss there:

    L = L_task + (λ / 2) Σ_i (F_i(θ0) + δ) (θ_i - θ0_i)^2          (the paper's form, one target task)

At θ0, ∂L/∂A = s B^T g x^T = 0, so the Fisher of A is exactly zero while B's is not (∂L/∂B =
s g (A x)^T): B is held by its curvature, A by the prior precision δ alone (honest: the source loss
is flat in A there). On a single task (the paper's setting) that is the whole method.

Over a stream of tasks (the default, `accumulate = true`): the anchor stays θ0 and the precision
*accumulates*. At every task boundary (`end_task`) the curvature of the same preservation loss is
estimated again at the trained weights θ_t and added to the precision, as online Laplace adds each
new Hessian to the precision of the running posterior (Ritter, Botev & Barber 2018: the precision
of each task's Laplace approximation is the previous one plus the new curvature; here without
their moving mean):

    L_{t+1} = L_task + (λ / 2) Σ_i (Σ_{j=0..t} F_i(θ_j) + δ) (θ_i - θ0_i)^2

Why accumulate and not replace or freeze: the pull must stay towards the pretrained weights (the
knowledge LaLoRA protects is the source model's, and a moving anchor lets the adapter drift from it
task by task); θ0's estimate alone never holds A, since the source loss is flat in A at B = 0,
while each boundary's estimate sees A through the B the tasks have trained; and a sum never
releases a direction an earlier estimate held. The preservation data are the same at every
boundary, so the sum counts them once per estimate: the precision grows with the number of tasks
(λ is the strength of one estimate; a sequential edit of N = 100 requests ends with 101
estimates). For "kfac" the sum of Kronecker products is not one; the precision is kept as
(Σ_j G_j) ⊗ (mean_j Ā_j), exact where the Ā_j agree (the usual expectation-factorised K-FAC
approximation), so memory stays n^2 + r^2 per factor.
`accumulate = false` keeps θ0's estimate alone for the whole stream (what `refresh = false` ran
before the accumulating form existed). `refresh = true` (the default until then, our variant, not the
paper's) replaces anchor and curvature at each boundary by the estimate at the trained weights,
so after task 1 nothing pulls towards θ0; `accumulate` is not read then.

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

from hipbench.method import Context, Method, Ranks, adapted_layers, module_ranks, option, replace_module
from hipbench.methods.lora import LoRALinear
from hipbench.suite import Example, GeneralSet, TaskData
from hipbench.train import IGNORE, collate, encode


@dataclass
class LaLoRAOptions:
    alpha: float = option(16.0, "s = alpha / r, as the LoRA baseline", gt=0)
    strength: float = option(1e3, "λ: the learning-forgetting trade-off", ge=0)
    prior_precision: float = option(1e-6, "δ: the prior precision added to the curvature", ge=0)
    curvature: str = option("diag", "diagonal Fisher or block K-FAC per LoRA factor", choices=("diag", "kfac"))
    fisher: str = option("empirical", "labels from the data (empirical) or sampled from the model (true)",
                         choices=("empirical", "true"))
    examples: int = option(64, "preservation examples used for the curvature", ge=1)
    refresh: bool = option(False, "replace anchor and curvature by their estimate at every task boundary "
                                  "(our variant; false: the paper's single anchor at the pretrained weights)",
                           default_was=True)
    # records made before it existed never accumulated: with refresh=false they kept θ0's curvature
    accumulate: bool = option(True, "add each task boundary's curvature to the precision, anchor kept at θ0 "
                                    "(online Laplace); false: θ0's curvature alone", added_later=True,
                              earlier=False, read_if=lambda options: not options.refresh)
    dropout: float = option(0.0, "dropout probability on the adapter's input", ge=0, lt=1)


def preservation_pairs(tokenizer, preservation: GeneralSet, max_length: int, limit: int) -> list:
    """(prompt ids, scored ids) for the preservation texts and facts, evenly subsampled to `limit`."""
    pairs = [encode(tokenizer, Example("", text), max_length, False) for text in preservation.texts]
    pairs += [encode(tokenizer, fact, max_length) for fact in preservation.facts]
    pairs = [(p, a) for p, a in pairs if a and len(p) + len(a) >= 2]
    if len(pairs) > limit:
        pairs = [pairs[i * len(pairs) // limit] for i in range(limit)]
    return pairs


FISHER_CHUNK = 16  # preservation examples per forward/backward of the curvature estimate


def example_losses(model: nn.Module, batch: dict, lengths: list[int],
                   sampler: torch.Generator | None) -> torch.Tensor:
    """Mean-token cross-entropy of each row of a right-padded batch; with a sampler, targets are
    drawn from the model, row by row over the row's own positions (the draws a batch of one makes).
    No attention mask: under right padding and causal attention no real token sees a pad."""
    logits = model(input_ids=batch["input_ids"]).logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    if sampler is not None:
        drawn = torch.full_like(targets, IGNORE)
        for row, length in enumerate(lengths):
            probs = logits[row, :length - 1].detach().softmax(-1).cpu()
            drawn[row, :length - 1] = torch.multinomial(probs, 1, generator=sampler).squeeze(-1).to(targets.device)
        targets = torch.where(targets == IGNORE, targets, drawn)
    losses = nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE, reduction="none")
    return losses.sum(1) / (targets != IGNORE).sum(1)


def per_example_terms(layer: LoRALinear, x: torch.Tensor, grad_y: torch.Tensor, valid: torch.Tensor,
                      kfac: bool) -> dict[str, tuple[torch.Tensor, ...]]:
    """Curvature sums over the rows of a batch, from the layer's input x and the gradient of the sum
    of per-example losses at its output, (rows, tokens, features) each. Rows do not interact, so row
    n of grad_y is example n's own gradient: its LoRA gradients are ∂ℓ/∂B = s Σ_t g (A x)^T and
    ∂ℓ/∂A = s Σ_t (B^T g) x^T, formed per example without a backward pass per example.
    diag: Σ_n (∂ℓ_n/∂θ)^2. kfac: Σ_n Σ_t (g g^T, a a^T) over `valid` positions (real tokens but the
    last, which never reaches a causal LM's loss)."""
    x, g_b = x.float(), layer.scaling * grad_y.float()
    g_a = g_b @ layer.lora_B.detach().float()
    u = x @ layer.lora_A.detach().float().T
    if kfac:
        x, g_a, g_b, u = x[valid], g_a[valid], g_b[valid], u[valid]
        return {"lora_A": (g_a.T @ g_a, x.T @ x), "lora_B": (g_b.T @ g_b, u.T @ u)}
    return {"lora_A": ((torch.einsum("ntr,nti->nri", g_a, x) ** 2).sum(0),),
            "lora_B": ((torch.einsum("nto,ntr->nor", g_b, u) ** 2).sum(0),)}


class LaLoRA(Method):
    name = "lalora"
    description = "LaLoRA (Sliwa et al., 2025): LoRA with a Laplace (Fisher) penalty on the LoRA weights"
    Options = LaLoRAOptions

    @property
    def graph_safe(self) -> bool:  # hipbench.graphed: a dropout draws random numbers in the forward
        return self.options.dropout == 0

    def __init__(self, options: LaLoRAOptions | None = None) -> None:
        super().__init__(options)
        if self.options.curvature not in ("diag", "kfac"):
            raise ValueError(f"curvature={self.options.curvature}: expected diag or kfac")
        if self.options.fisher not in ("empirical", "true"):
            raise ValueError(f"fisher={self.options.fisher}: expected empirical or true")
        self.anchor: dict[str, torch.Tensor] = {}  # "module.lora_A" -> θ*
        self.curvature: dict[str, tuple[torch.Tensor, ...]] = {}  # -> (Σ F,) or (Σ G, Σ Ā)
        self.estimates = 0  # curvature estimates summed in `curvature` (Ā is their mean: divide by it)
        self.sampler: torch.Generator | None = None

    def trainable_per_module(self, out_features: int, in_features: int, rank: int) -> int:
        return rank * (out_features + in_features)

    def attach(self, model: nn.Module, targets: list[str], rank: Ranks, ctx: Context) -> None:
        for name, r in module_ranks(rank, targets).items():
            replace_module(model, name, LoRALinear(model.get_submodule(name), r, self.options.alpha / r,
                                                   self.options.dropout, ctx.generator))
        if self.options.fisher == "true":  # its own stream: the run's generator orders the data
            self.sampler = torch.Generator().manual_seed(ctx.generator.initial_seed())

    def begin_task(self, model: nn.Module, task: TaskData, ctx: Context) -> None:
        if not self.anchor:  # θ0: the pretrained model, before any task
            self.anchor = self.current_weights(model)
            self.curvature, self.estimates = self.estimate(model, ctx), 1

    def end_task(self, model: nn.Module, task: TaskData, ctx: Context) -> None:
        if self.options.refresh:
            self.anchor = self.current_weights(model)
            self.curvature, self.estimates = self.estimate(model, ctx), 1
        elif self.options.accumulate:
            added = self.estimate(model, ctx)
            self.curvature = {key: tuple(s + a for s, a in zip(self.curvature[key], terms))
                              for key, terms in added.items()}
            self.estimates += 1

    @staticmethod
    def current_weights(model: nn.Module) -> dict[str, torch.Tensor]:
        return {f"{n}.{k}": getattr(layer, k).detach().float().clone()
                for n, layer in adapted_layers(model, LoRALinear).items() for k in ("lora_A", "lora_B")}

    def estimate(self, model: nn.Module, ctx: Context) -> dict[str, tuple[torch.Tensor, ...]]:
        """The curvature of the preservation loss at the current LoRA weights: (F,) or (G, Ā) per
        factor. Examples go through the model FISHER_CHUNK at a time: a backward per example made
        this the bulk of a LaLoRA edit (101 estimates in an N = 100 sequential run)."""
        layers = adapted_layers(model, LoRALinear)
        keys = [(n, k) for n in layers for k in ("lora_A", "lora_B")]
        params = [getattr(layers[n], k) for n, k in keys]
        pairs = preservation_pairs(ctx.tokenizer, ctx.preservation, ctx.max_length, self.options.examples)
        kfac = self.options.curvature == "kfac"
        captured: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

        def capture(name):
            def hook(module, args, output):
                captured[name] = (args[0].detach(), output)
            return hook

        hooks = [layer.register_forward_hook(capture(n)) for n, layer in layers.items()]
        sums: dict[str, list[torch.Tensor]] = {}
        device = params[0].device
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
        tokens, was_training = 0, model.training
        model.eval()
        try:
            for start in range(0, len(pairs), FISHER_CHUNK):
                chunk = pairs[start:start + FISHER_CHUNK]
                lengths = [len(p) + len(a) for p, a in chunk]
                batch = {k: v.to(device) for k, v in collate(chunk, ctx.tokenizer.pad_token_id).items()}
                with autocast:
                    loss = example_losses(model, batch, lengths, self.sampler).sum()
                outputs = torch.autograd.grad(loss, [captured[n][1] for n in layers])
                valid = torch.arange(batch["input_ids"].shape[1], device=device) < torch.tensor(
                    lengths, device=device).unsqueeze(1) - 1
                tokens += int(valid.sum())
                for (n, layer), grad_y in zip(layers.items(), outputs):
                    for k, values in per_example_terms(layer, captured[n][0], grad_y, valid, kfac).items():
                        key = f"{n}.{k}"
                        sums[key] = [s + v for s, v in zip(sums[key], values)] if key in sums else list(values)
                captured.clear()
        finally:
            for handle in hooks:
                handle.remove()
            model.train(was_training)
        if not pairs:  # no preservation data: the prior alone
            sums = {f"{n}.{k}": [torch.zeros_like(p, dtype=torch.float32)] for (n, k), p in zip(keys, params)}
        n_examples = max(1, len(pairs))
        return {key: (v[0] / n_examples,) if len(v) == 1 else (v[0] / n_examples, v[1] / max(1, tokens))
                for key, v in sums.items()}

    def state_dict(self, model: nn.Module) -> dict:
        return {"anchor": self.anchor, "curvature": {key: list(terms) for key, terms in self.curvature.items()},
                "estimates": self.estimates, "sampler": None if self.sampler is None else self.sampler.get_state()}

    def load_state_dict(self, model: nn.Module, state: dict) -> None:
        device = next(iter(adapted_layers(model, LoRALinear).values())).lora_A.device
        self.anchor = {key: value.to(device) for key, value in state["anchor"].items()}
        self.curvature = {key: tuple(t.to(device) for t in terms) for key, terms in state["curvature"].items()}
        self.estimates = int(state.get("estimates", 1))  # checkpoints from before accumulation held one
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
                    total = total + (d * (curv[0] @ d @ curv[1])).sum() / self.estimates + delta * (d ** 2).sum()
        return 0.5 * self.options.strength * total

    def delta_factors(self, model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {name: (layer.scaling * layer.lora_B.detach(), layer.lora_A.detach())
                for name, layer in adapted_layers(model, LoRALinear).items()}
