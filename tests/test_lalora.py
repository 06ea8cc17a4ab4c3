"""LaLoRA: the Laplace penalty's shape, its Fisher against brute force, the B = 0 case, and ΔW."""
from __future__ import annotations

import copy

import pytest
import torch

from hipbench.method import DEFAULT_TARGETS, Context, adapted_layers, find_targets
from hipbench.methods.lalora import LaLoRA, LaLoRAOptions
from hipbench.methods.lora import LoRALinear
from hipbench.suite import Example, GeneralSet
from hipbench.train import TrainConfig, collate, encode, token_loss, train_task

CPU = torch.device("cpu")


def setup(tiny, preservation, rank=2, random_b=True, **options):
    model, tokenizer = tiny
    pretrained = copy.deepcopy(model)
    model.requires_grad_(False)
    ctx = Context(tokenizer, CPU, torch.Generator().manual_seed(0), preservation)
    method = LaLoRA(LaLoRAOptions(**options))
    method.attach(model, find_targets(model, DEFAULT_TARGETS), rank, ctx)
    if random_b:  # away from B = 0, where the Fisher of A vanishes
        gen = torch.Generator().manual_seed(1)
        for layer in adapted_layers(model, LoRALinear).values():
            layer.lora_B.data = torch.randn(layer.lora_B.shape, generator=gen) * 0.3
    return model, pretrained, method, ctx


def params(model):
    return {f"{n}.{k}": getattr(l, k) for n, l in adapted_layers(model, LoRALinear).items() for k in ("lora_A", "lora_B")}


def displace(model, method, scale, seed=7):
    gen = torch.Generator().manual_seed(seed)
    for key, p in params(model).items():
        p.data = method.anchor[key] + scale * torch.randn(p.shape, generator=gen)


@pytest.mark.parametrize("curvature", ["diag", "kfac"])
def test_penalty_is_zero_at_the_anchor_and_quadratic_in_the_displacement(tiny, tiny_suite, curvature):
    model, _, method, ctx = setup(tiny, tiny_suite.preservation, curvature=curvature, strength=3.0)
    method.begin_task(model, tiny_suite.tasks[0], ctx)
    assert float(method.extra_loss(model).detach()) == 0.0
    displace(model, method, 0.01)
    small = float(method.extra_loss(model).detach())
    displace(model, method, 0.02)
    assert small > 0
    assert float(method.extra_loss(model).detach()) == pytest.approx(4 * small, rel=1e-4)


def test_diagonal_fisher_matches_brute_force_per_example_gradients(tiny, tiny_suite):
    model, _, method, ctx = setup(tiny, tiny_suite.preservation)
    method.begin_task(model, tiny_suite.tasks[0], ctx)
    tokenizer = ctx.tokenizer
    examples = [encode(tokenizer, Example("", t), 256, False) for t in tiny_suite.preservation.texts]
    examples += [encode(tokenizer, f, 256) for f in tiny_suite.preservation.facts]
    named = params(model)
    expected = {k: torch.zeros_like(p) for k, p in named.items()}
    mean_grad = {k: torch.zeros_like(p) for k, p in named.items()}
    for pair in examples:
        grads = torch.autograd.grad(token_loss(model, collate([pair], tokenizer.pad_token_id)), list(named.values()))
        for key, g in zip(named, grads):
            expected[key] += g ** 2 / len(examples)
            mean_grad[key] += g / len(examples)
    for key, fisher in expected.items():
        assert fisher.abs().max() > 0
        assert torch.allclose(method.curvature[key][0], fisher, rtol=1e-4, atol=1e-12), key
    key = next(iter(named))  # the squared mean gradient (a batched "Fisher") is a different quantity
    assert not torch.allclose(method.curvature[key][0], mean_grad[key] ** 2, rtol=1e-2, atol=1e-12)


def test_at_b_zero_a_is_held_by_the_prior_precision_only(tiny, tiny_suite):
    model, _, method, ctx = setup(tiny, tiny_suite.preservation, random_b=False, strength=2.0, prior_precision=0.5)
    method.begin_task(model, tiny_suite.tasks[0], ctx)
    for key, curv in method.curvature.items():
        assert (curv[0].abs().max() == 0) == key.endswith("lora_A")  # B's curvature is informative
    gen = torch.Generator().manual_seed(3)
    moved = 0.0
    for key, p in params(model).items():
        if key.endswith("lora_A"):
            d = 0.01 * torch.randn(p.shape, generator=gen)
            p.data = p.data + d
            moved += float((d ** 2).sum())
    assert float(method.extra_loss(model).detach()) == pytest.approx(0.5 * 2.0 * 0.5 * moved, rel=1e-5)


def test_kfac_is_exact_for_one_example_with_one_scored_position(tiny):
    one = GeneralSet(texts=("ab",), facts=())  # two tokens: one prediction, one scored position
    model, _, method, ctx = setup(tiny, one, curvature="kfac", prior_precision=0.0, strength=2.0)
    method.begin_task(model, None, ctx)
    named = params(model)
    pair = encode(ctx.tokenizer, Example("", "ab"), 256, False)
    grads = dict(zip(named, torch.autograd.grad(token_loss(model, collate([pair], ctx.tokenizer.pad_token_id)),
                                                list(named.values()))))
    displace(model, method, 0.05)
    expected = sum(float((grads[k] * (p.detach() - method.anchor[k])).sum()) ** 2 for k, p in named.items())
    assert float(method.extra_loss(model).detach()) == pytest.approx(0.5 * 2.0 * expected, rel=1e-4)


def test_anchor_moves_to_the_trained_weights_and_delta_is_relative_to_pretrained(tiny, tiny_suite):
    model, pretrained, method, ctx = setup(tiny, tiny_suite.preservation, random_b=False)
    task = tiny_suite.tasks[0]
    method.begin_task(model, task, ctx)
    train_task(model, method, task.train, ctx.tokenizer, TrainConfig(steps=3, batch_size=4, lr=1e-2), CPU,
               torch.Generator().manual_seed(0))
    method.end_task(model, task, ctx)
    for key, p in params(model).items():
        assert torch.equal(method.anchor[key], p.detach())
        assert method.curvature[key][0].abs().max() > 0  # B != 0 now: A's curvature is informative
    deltas = method.delta_weights(model)
    for name, layer in adapted_layers(model, LoRALinear).items():
        assert deltas[name].abs().max() > 0
        effective = layer(torch.eye(layer.base.in_features)).T
        assert torch.allclose(effective - pretrained.get_submodule(name).weight, deltas[name], atol=1e-5)


def test_true_fisher_samples_labels_reproducibly_and_differs_from_the_empirical_one(tiny, tiny_suite):
    estimates = []
    for kind in ("true", "true", "empirical"):
        model, _, method, ctx = setup(copy.deepcopy(tiny), tiny_suite.preservation, fisher=kind)
        method.begin_task(model, tiny_suite.tasks[0], ctx)
        estimates.append(torch.cat([c[0].flatten() for c in method.curvature.values()]))
    assert torch.isfinite(estimates[0]).all() and estimates[0].min() >= 0 and estimates[0].max() > 0
    assert torch.equal(estimates[0], estimates[1])
    assert not torch.allclose(estimates[0], estimates[2], rtol=1e-2)
