"""HiP-LoRA's invariants after real training steps, its budget, and its ΔW."""
from __future__ import annotations

import copy

import pytest
import torch

from hipbench.method import DEFAULT_TARGETS, Context, adapted_layers, find_targets
from hipbench.methods.hiplora import (HiPLoRA, HiPLoRALinear, HiPLoRAOptions, complement_factors,
                                      project_onto_budgets)
from hipbench.spectral import SVDCache
from hipbench.suite import Example, GeneralSet
from hipbench.train import TrainConfig, train_task

EXAMPLES = tuple(Example(f"q{i}:", f" {'xyz'[i % 3]}") for i in range(6))


def trained(tiny, tmp_path, steps=8, lr=2e-2, **options):
    model, tokenizer = tiny
    pretrained = copy.deepcopy(model)
    method = HiPLoRA(HiPLoRAOptions(k=4, **options))
    model.requires_grad_(False)
    ctx = Context(tokenizer, torch.device("cpu"), torch.Generator().manual_seed(0), GeneralSet((), ()),
                  svd=SVDCache(tmp_path))
    method.attach(model, find_targets(model, DEFAULT_TARGETS), 3, ctx)
    ids = torch.randint(0, 256, (2, 7), generator=torch.Generator().manual_seed(1))
    assert torch.equal(model(ids).logits, pretrained(ids).logits)  # unchanged at step 0
    train_task(model, method, EXAMPLES, tokenizer, TrainConfig(steps=steps, batch_size=6, lr=lr),
               torch.device("cpu"), torch.Generator().manual_seed(0))
    return model, pretrained, method


@pytest.mark.parametrize("principal", ["relative", "absolute"])
def test_update_splits_into_principal_diag_and_complement_only_residual(tiny, tmp_path, principal):
    """ΔW = U diag(d) V^T + s B~ A~ with d = sigma ⊙ phi (relative, the default) or phi (absolute,
    the published records' form)."""
    model, pretrained, method = trained(tiny, tmp_path, budget=100.0, principal=principal)
    deltas = method.delta_weights(model)
    for name, layer in adapted_layers(model, HiPLoRALinear).items():
        dw = deltas[name]
        u, v = layer.U, layer.V
        assert layer.phi.abs().max() > 0 and layer.lora_B.abs().max() > 0  # both channels trained
        phi = layer.phi.detach()
        d = layer.sigma * phi if principal == "relative" else phi
        b, a = complement_factors(layer.lora_B.detach(), layer.lora_A.detach(), u, v)
        assert torch.allclose(dw, u @ torch.diag(d) @ v.T + layer.scaling * b @ a, atol=1e-6)
        assert torch.allclose(u.T @ dw @ v, torch.diag(d), atol=1e-5)
        assert torch.allclose(u.T @ dw @ (torch.eye(v.shape[0]) - v @ v.T), torch.zeros(u.shape[1], v.shape[0]),
                              atol=1e-5)
        assert torch.allclose((torch.eye(u.shape[0]) - u @ u.T) @ dw @ v, torch.zeros(u.shape[0], v.shape[1]),
                              atol=1e-5)
        effective = layer(torch.eye(layer.base.in_features)).T
        assert torch.allclose(effective - pretrained.get_submodule(name).weight, dw, atol=1e-5)


def test_projection_keeps_every_layer_within_its_budget(tiny, tmp_path):
    model, _, _ = trained(tiny, tmp_path, budget=0.01, lr=5e-2)
    usages = [layer.budget_usage().item() for layer in adapted_layers(model, HiPLoRALinear).values()]
    assert max(usages) <= 1.0 + 1e-4
    assert max(usages) > 0.99  # the bound was active, not vacuous


@pytest.mark.parametrize("principal", ["relative", "absolute"])
def test_projection_is_the_exact_weighted_projection(principal):
    sigma = torch.tensor([4.0, 2.0, 1.0])
    layer = HiPLoRALinear(torch.nn.Linear(6, 5, bias=False), torch.eye(5, 3), sigma,
                          torch.eye(6, 3), 1, 1.0, 1.0, torch.Generator().manual_seed(0), principal=principal)
    start = torch.tensor([1.0, -1.0, 1.0]) / (100.0 if principal == "relative" else 1.0)
    layer.phi.data = start.clone()
    layer.project_phi()
    w = (sigma / sigma[0]) ** 2
    c = w * sigma ** 2 if principal == "relative" else w  # the budget Σ w d² as a weight on phi itself
    assert float((w * layer.change().detach() ** 2).sum() / layer.radius ** 2) == pytest.approx(1.0, abs=1e-5)
    assert layer.budget_usage().item() == pytest.approx(1.0, abs=1e-5)
    mu = (1.0 / (layer.phi / start) - 1) / c  # phi_i = phi0_i / (1 + mu c_i)
    assert torch.allclose(mu, mu[0].expand(3), rtol=1e-3)  # one multiplier: KKT of the exact projection


def test_layers_of_different_widths_are_projected_together_and_alone_alike():
    """All layers are solved in one padded matrix (constants cached per set of layers): a layer's
    result must not depend on which others it is solved with, in either order."""
    def layer(k: int, seed: int) -> HiPLoRALinear:
        made = HiPLoRALinear(torch.nn.Linear(8, 7, bias=False), torch.eye(7, k), torch.linspace(3.0, 1.0, k),
                             torch.eye(8, k), 1, 1.0, 1.0, torch.Generator().manual_seed(seed))
        made.phi.data = torch.randn(k, generator=torch.Generator().manual_seed(seed))
        return made

    alone = [layer(k, seed) for seed, k in enumerate((3, 5, 5))]
    together = copy.deepcopy(alone)
    for one in alone:
        project_onto_budgets([one])
    stacks = {}  # as a run keeps them: the constants of the first set must not serve the second
    project_onto_budgets(together, stacks)
    project_onto_budgets(together[1:], stacks)
    for one, other in zip(alone, together):
        assert one.budget_usage().item() == pytest.approx(1.0, abs=1e-5)
        assert torch.allclose(one.phi, other.phi, atol=1e-6)


@torch.no_grad()
def bracket_and_bisect(layers: list[HiPLoRALinear]) -> None:
    """The multiplier solve every HiP-LoRA record published before 2026-11-25 (evening) ran: grow a
    bracket by 4x for 40 steps, then bisect it 60 times. Kept here as the reference the faster
    binary search over float bit patterns must reproduce bit for bit."""
    width = max(layer.phi.numel() for layer in layers)
    phi = torch.stack([torch.nn.functional.pad(layer.phi, (0, width - layer.phi.numel())) for layer in layers])
    w = torch.stack([torch.nn.functional.pad(layer.w, (0, width - layer.w.numel())) for layer in layers])
    r2 = torch.tensor([layer.radius ** 2 for layer in layers])

    def usage(mu):
        return (w * (phi / (1 + mu[:, None] * w)) ** 2).sum(dim=1)

    high = torch.ones_like(r2)
    for _ in range(40):
        high = torch.where(usage(high) > r2, high * 4, high)
    low = torch.zeros_like(r2)
    for _ in range(60):
        mid = (low + high) / 2
        over = usage(mid) > r2
        low, high = torch.where(over, mid, low), torch.where(over, high, mid)
    mu = torch.where(usage(torch.zeros_like(r2)) > r2, high, torch.zeros_like(r2))
    for row, layer in enumerate(layers):
        layer.phi.copy_((phi[row] / (1 + mu[row] * w[row]))[:layer.phi.numel()])


def test_cached_budget_constants_follow_a_rewritten_weight():
    """A run keeps the stacked weights between steps; a layer whose budget weights c are written in
    place (a loaded state dict, say) must be projected with the new ones, exactly as without the cache."""
    def layer() -> HiPLoRALinear:
        made = HiPLoRALinear(torch.nn.Linear(8, 7, bias=False), torch.eye(7, 4), torch.linspace(3.0, 1.0, 4),
                             torch.eye(8, 4), 1, 1.0, 1.0, torch.Generator().manual_seed(0))
        made.phi.data = torch.tensor([0.5, -0.4, 0.3, 0.2])
        return made

    cached, fresh = layer(), layer()
    stacks = {}
    project_onto_budgets([cached], stacks)
    for one in (cached, fresh):
        with torch.no_grad():
            one.c.copy_(torch.tensor([1.0, 1.0, 1.0, 1.0]))
            one.phi.copy_(torch.tensor([0.5, -0.4, 0.3, 0.2]))
    project_onto_budgets([cached], stacks)
    project_onto_budgets([fresh])
    assert torch.equal(cached.phi, fresh.phi)


def test_budget_solve_reproduces_the_published_bisection_bit_for_bit():
    """Spectra spanning three decades, budgets from 0.03% to 30%, phi from far inside to far outside
    its budget, widths 32 and 5 mixed: the same floats as the bracket-and-bisect solve, not merely
    close ones, so every published record reproduces at this commit."""
    g = torch.Generator().manual_seed(0)
    layers = []
    for i in range(240):
        k = 5 if i % 7 == 0 else 32
        scale = float(10 ** (3 * torch.rand(1, generator=g)))
        sigma = torch.sort(scale * torch.rand(k, generator=g), descending=True).values + 1e-3
        budget = float(10 ** (3 * torch.rand(1, generator=g) - 1.5))
        layer = HiPLoRALinear(torch.nn.Linear(40, 36, bias=False), torch.eye(36, k), sigma, torch.eye(40, k), 1,
                              1.0, budget, g, principal="absolute")  # the published records' form
        layer.phi.data = torch.randn(k, generator=g) * float(10 ** (4 * torch.rand(1, generator=g) - 3)) * scale
        layers.append(layer)
    inside = sum(layer.budget_usage().item() <= 1 for layer in layers)
    assert 30 < inside < 210  # both the untouched and the projected case are exercised
    expected = copy.deepcopy(layers)
    bracket_and_bisect(expected)
    project_onto_budgets(layers)
    for got, want in zip(layers, expected):
        assert torch.equal(got.phi, want.phi)


def test_penalty_mode_adds_a_loss_that_is_zero_at_init(tiny, tmp_path):
    model, tokenizer = tiny
    method = HiPLoRA(HiPLoRAOptions(k=4, budget_mode="penalty"))
    model.requires_grad_(False)
    method.attach(model, find_targets(model, DEFAULT_TARGETS), 2,
                  Context(tokenizer, torch.device("cpu"), torch.Generator(), GeneralSet((), ()), svd=SVDCache(tmp_path)))
    assert method.extra_loss(model).item() == 0.0
    for layer in adapted_layers(model, HiPLoRALinear).values():
        layer.phi.data.fill_(0.1)
    first = method.extra_loss(model).item()
    for layer in adapted_layers(model, HiPLoRALinear).values():
        layer.phi.data.fill_(0.2)
    assert method.extra_loss(model).item() == pytest.approx(4 * first, rel=1e-5)


def test_budget_counts_phi_and_residual_factors():
    method = HiPLoRA(HiPLoRAOptions(k=4))
    assert method.trainable_per_module(10, 6, 3) == 4 + 3 * 16
    assert method.trainable_per_module(3, 6, 1) == 3 + 9  # k capped at min(m, n)


def away_from_init() -> HiPLoRALinear:
    """One HiP-LoRA layer on a random 20x24 weight (k = 5, r = 3) with B and phi moved off zero, so
    both channels carry signal and gradient."""
    torch.manual_seed(0)
    base = torch.nn.Linear(24, 20)
    u, s, vh = torch.linalg.svd(base.weight.detach(), full_matrices=False)
    layer = HiPLoRALinear(base, u[:, :5], s[:5], vh[:5].T, rank=3, scaling=2.0, budget=0.5,
                          generator=torch.Generator().manual_seed(0))
    base.requires_grad_(False)
    torch.nn.init.normal_(layer.lora_B)
    torch.nn.init.normal_(layer.phi, std=0.1)
    return layer


def outputs_and_grads(layer: HiPLoRALinear, x: torch.Tensor) -> list[torch.Tensor]:
    """The layer's output and the gradients of phi, A and B, for the loss sum(output^2)."""
    layer.zero_grad(set_to_none=True)
    out = layer(x)
    out.pow(2).sum().backward()
    return [out.detach()] + [p.grad.clone() for p in (layer.phi, layer.lora_A, layer.lora_B)]


def test_step_projection_trains_the_same_adapter_as_the_forward_projection(tiny, tmp_path):
    """complement="step" keeps A and B in the complement (gradients projected before, factors
    after each AdamW step) and runs one fused product; in fp32 it must follow the same trajectory
    as the published forward projection: same losses, same ΔW, with clipping and weight decay on."""
    runs = {}
    for complement in ("forward", "step"):  # (the default "relative" phi)
        model, tokenizer = copy.deepcopy(tiny[0]), tiny[1]
        method = HiPLoRA(HiPLoRAOptions(k=4, budget=100.0, complement=complement))
        model.requires_grad_(False)
        ctx = Context(tokenizer, torch.device("cpu"), torch.Generator().manual_seed(0), GeneralSet((), ()),
                      svd=SVDCache(tmp_path))
        method.attach(model, find_targets(model, DEFAULT_TARGETS), 3, ctx)
        cfg = TrainConfig(steps=8, batch_size=6, lr=2e-2, weight_decay=0.1, max_grad_norm=0.05)
        stats = train_task(model, method, EXAMPLES, tokenizer, cfg, torch.device("cpu"), torch.Generator().manual_seed(0))
        runs[complement] = (stats.losses, method.delta_weights(model), adapted_layers(model, HiPLoRALinear))
    (losses, deltas, _), (step_losses, step_deltas, step_layers) = runs["forward"], runs["step"]
    assert losses[-1] < losses[0] - 0.1  # it did train
    assert step_losses == pytest.approx(losses, rel=1e-5, abs=1e-6)
    for name, dw in deltas.items():
        assert dw.abs().max() > 0
        assert (step_deltas[name] - dw).abs().max() < 1e-4 * dw.abs().max(), name  # float rounding apart
        layer = step_layers[name]  # the factors themselves stay in the complement
        assert (layer.U.T @ layer.lora_B).abs().max() < 1e-5 and (layer.lora_A @ layer.V).abs().max() < 1e-5


def test_fused_factors_make_the_two_channel_update():
    """complement="step" runs ΔW x as right (left^T x), one product of width k + r: right @ left^T
    must be exactly the ΔW of the two channels."""
    layer = away_from_init()  # k = 5
    for rank, width in ((3, 8), (4, 9)):
        base = layer.base
        fused = HiPLoRALinear(base, layer.U, torch.linspace(2.0, 1.0, 5), layer.V, rank, 2.0, 0.5,
                              torch.Generator().manual_seed(0), factors_in_complement=True)
        torch.nn.init.normal_(fused.lora_B)
        torch.nn.init.normal_(fused.phi, std=0.1)
        right, left = fused.fused_factors()
        assert right.shape == (20, width) and left.shape == (24, width)
        d = torch.linspace(2.0, 1.0, 5) * fused.phi  # relative: d = sigma ⊙ phi
        two_channel = fused.U @ torch.diag(d) @ fused.V.T + 2.0 * fused.lora_B @ fused.lora_A
        assert torch.allclose(right @ left.T, two_channel, atol=1e-6)


def test_step_projection_needs_a_known_place():
    with pytest.raises(ValueError, match="complement=sometimes"):
        HiPLoRA(HiPLoRAOptions(complement="sometimes")).attach(torch.nn.Module(), [], 1, None)


def test_cached_casts_of_the_fixed_basis_change_no_bit_under_autocast():
    """`frozen` hands the matmuls a bf16 copy of U and V made once instead of letting autocast
    cast them at every matmul: outputs and all gradients must be bit-identical, and the copy must
    follow the buffer when it is written."""
    layer = away_from_init()
    x = torch.randn(4, 7, 24).to(torch.bfloat16)

    def run(frozen):
        layer.zero_grad(set_to_none=True)
        inp = x.clone().requires_grad_(True)
        layer.frozen = frozen
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = layer(inp)
            out = layer(inp) + out  # a second forward reuses the cached copies
        out.float().pow(2).sum().backward()
        del layer.frozen
        return [out.detach(), inp.grad] + [p.grad for p in (layer.phi, layer.lora_A, layer.lora_B)]

    cached = run(layer.frozen)
    assert layer._casts["U"][1].dtype == torch.bfloat16
    uncached = run(lambda name: getattr(layer, name))  # autocast casts the fp32 buffers itself
    for a, b in zip(cached, uncached):
        assert a.dtype == b.dtype and torch.equal(a, b)
    with torch.no_grad():
        layer.U.mul_(-1)  # a written buffer (a loaded state dict, say) must not be served stale
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(layer.frozen("U"), layer.U.to(torch.bfloat16))
    assert layer.frozen("U") is layer.U  # no autocast: the fp32 buffer itself


def test_initial_factors_do_not_depend_on_the_cpu_thread_count():
    """A at rank 7 on SmolLM2's shapes, projected into V's complement on the CPU: with two threads
    the plain product rounds 27 % of A's entries otherwise than with one (a `hipbench run` process
    and a Ray worker trained different HiP-LoRA adapters from one seed), so the layer computes it
    with one thread and gives the process its thread count back."""
    basis = torch.Generator().manual_seed(0)
    u = torch.linalg.qr(torch.randn(1536, 32, generator=basis))[0]
    v = torch.linalg.qr(torch.randn(576, 32, generator=basis))[0]
    made, before = {}, torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            layer = HiPLoRALinear(torch.nn.Linear(576, 1536, bias=False), u, torch.linspace(3, 1, 32), v, 7, 16 / 7,
                                  0.5, torch.Generator().manual_seed(1), factors_in_complement=True)
            assert torch.get_num_threads() == threads
            made[threads] = layer.lora_A.detach()
    finally:
        torch.set_num_threads(before)
    assert torch.equal(made[1], made[2])
