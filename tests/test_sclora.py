"""SC-LoRA: the balanced subspace on known covariances, the initialisation on the tiny model, and ΔW."""
from __future__ import annotations

import copy

import pytest
import torch
from conftest import attach_method

from hipbench.method import DEFAULT_TARGETS, adapted_layers, find_targets
from hipbench.methods.sclora import SCLoRA, SCLoRALinear, SCLoRAOptions, balanced_subspace
from hipbench.suite import Example
from hipbench.train import TrainConfig, encode, train_task

CPU = torch.device("cpu")
LAYER = "model.layers.1.mlp.up_proj"


def setup(tiny, tiny_suite, rank=2, **options):
    method = SCLoRA(SCLoRAOptions(**options))
    model, pretrained, ctx = attach_method(tiny, method, rank, tiny_suite.preservation)
    return model, pretrained, method, ctx


def span_residual(q: torch.Tensor, y: torch.Tensor) -> float:
    """||(I - Q Q^T) y|| / ||y|| for the columns of y."""
    return (torch.linalg.norm(y - q @ (q.T @ y)) / torch.linalg.norm(y)).item()


@pytest.mark.parametrize("beta, winners", [(0.5, [0, 2]), (0.0, [0, 1]), (0.9, [0, 3])])
def test_subspace_picks_the_known_winners_of_diagonal_covariances(beta, winners):
    cov_plus = torch.diag(torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.5]))
    cov_minus = torch.diag(torch.tensor([0.0, 10.0, 0.5, 0.0, 6.0, 0.0]))
    # beta 0.5: (2.5, -3, 1.25, 1, -2.5, .25); beta 0: C+ alone; beta 0.9: (.5, -8.6, -.15, .2, -5.3, .05)
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(0)))
    q = balanced_subspace(rotation @ cov_plus @ rotation.T, rotation @ cov_minus @ rotation.T, beta, 2)
    assert torch.allclose(q.T @ q, torch.eye(2), atol=1e-5)
    assert span_residual(q, rotation[:, winners]) < 1e-5


def test_subspace_maximises_the_balanced_objective_over_random_bases():
    gen = torch.Generator().manual_seed(1)
    x_plus, x_minus = torch.randn(40, 8, generator=gen), torch.randn(40, 8, generator=gen) * 2
    cov_plus, cov_minus = x_plus.T @ x_plus / 40, x_minus.T @ x_minus / 40
    delta = 0.7 * cov_plus - 0.3 * cov_minus
    best = float(torch.trace((q := balanced_subspace(cov_plus, cov_minus, 0.3, 3)).T @ delta @ q))
    for _ in range(50):
        other, _ = torch.linalg.qr(torch.randn(8, 3, generator=gen))
        assert float(torch.trace(other.T @ delta @ other)) <= best + 1e-5


def independent_subspace(pretrained, tokenizer, task, preservation, beta, rank):
    """Cov± of LAYER's outputs by brute force: one example at a time, float64, h = W0 x."""
    linear = pretrained.get_submodule(LAYER)
    inputs = []
    handle = linear.register_forward_hook(lambda m, args, out: inputs.append(args[0][0].double()))

    def covariance(pairs):
        inputs.clear()
        for prompt, answer in pairs:
            pretrained(torch.tensor([prompt + answer]))
        h = torch.cat(inputs) @ linear.weight.double().T
        return h.T @ h / h.shape[0]

    plus = covariance([encode(tokenizer, ex, 256) for ex in task.train])
    minus = covariance([encode(tokenizer, Example("", t), 256, False) for t in preservation.texts]
                       + [encode(tokenizer, f, 256) for f in preservation.facts])
    handle.remove()
    values, vectors = torch.linalg.eigh((1 - beta) * plus - beta * minus)
    return vectors[:, -rank:].float(), values


def test_outputs_unchanged_and_initial_update_lies_in_the_balanced_subspace(tiny, tiny_suite):
    model, pretrained, method, ctx = setup(tiny, tiny_suite)
    ids = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(3))
    reference = pretrained(ids).logits
    assert torch.equal(model(ids).logits, reference)  # before the data-dependent init
    method.begin_task(model, tiny_suite.tasks[0], ctx)
    assert torch.allclose(model(ids).logits, reference, atol=1e-5)
    for name, layer in adapted_layers(model, SCLoRALinear).items():
        w = pretrained.get_submodule(name).weight
        assert torch.allclose(layer.base.weight + layer.scaling * layer.B0 @ layer.A0, w, atol=1e-5)
        assert torch.allclose(layer.lora_B.T @ layer.lora_B, torch.eye(2), atol=1e-5)
    q, values = independent_subspace(pretrained, ctx.tokenizer, tiny_suite.tasks[0], tiny_suite.preservation, 0.5, 2)
    assert values[-2] - values[-3] > 1e-3 * values.abs().max()  # a clear gap: the subspace is well defined
    layer = adapted_layers(model, SCLoRALinear)[LAYER]
    x = torch.randn(layer.base.in_features, 16, generator=torch.Generator().manual_seed(4))
    update = layer.scaling * layer.lora_B @ (layer.lora_A @ x)
    assert span_residual(q, update) < 1e-5
    projected = q @ (q.T @ (pretrained.get_submodule(LAYER).weight @ x))
    assert torch.allclose(update, projected, atol=1e-5)  # s B0 A0 x = Q Q^T W0 x


def test_trainable_count_and_delta_relative_to_pretrained_after_training(tiny, tiny_suite):
    model, pretrained, method, ctx = setup(tiny, tiny_suite)
    shapes = [(pretrained.get_submodule(n).out_features, pretrained.get_submodule(n).in_features)
              for n in find_targets(pretrained, DEFAULT_TARGETS)]
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == method.trainable_count(shapes, 2) \
        == sum(2 * (m + n) for m, n in shapes)
    for task in tiny_suite.tasks:
        method.begin_task(model, task, ctx)
        train_task(model, method, task.train, ctx.tokenizer, TrainConfig(steps=2, batch_size=4, lr=1e-2), CPU,
                   torch.Generator().manual_seed(0))
        method.end_task(model, task, ctx)
    deltas = method.delta_weights(model)
    for name, layer in adapted_layers(model, SCLoRALinear).items():
        assert deltas[name].abs().max() > 1e-4
        assert method.delta_factors(model)[name][1].shape[0] == 4  # rank 2r
        effective = layer(torch.eye(layer.base.in_features)).T
        assert torch.allclose(effective - pretrained.get_submodule(name).weight, deltas[name], atol=1e-5)


def test_covariances_in_groups_initialise_bit_for_bit_as_in_one_pass(tiny, tiny_suite, monkeypatch):
    """A model too large for every layer's covariances at once (an 8B: 118.6 GB) computes them in
    groups, one set of passes per group. Every layer must get the same A0, B0 and W_res as in one
    pass: in particular no layer may be initialised before the last group's passes have run on W0."""
    from hipbench.methods import sclora
    untouched = (copy.deepcopy(tiny[0]), tiny[1])
    one_pass, _, method, ctx = setup(tiny, tiny_suite)
    method.begin_task(one_pass, tiny_suite.tasks[0], ctx)
    smallest = min(layer.base.out_features for layer in adapted_layers(one_pass, SCLoRALinear).values())
    monkeypatch.setattr(sclora, "COVARIANCE_BYTES", 2 * 4 * smallest ** 2)  # one layer per group
    grouped, _, method, ctx = setup(untouched, tiny_suite)
    assert len(sclora.covariance_groups(adapted_layers(grouped, SCLoRALinear), sclora.COVARIANCE_BYTES)) \
        == len(adapted_layers(grouped, SCLoRALinear))
    method.begin_task(grouped, tiny_suite.tasks[0], ctx)
    for (name, a), b in zip(adapted_layers(one_pass, SCLoRALinear).items(), adapted_layers(grouped, SCLoRALinear).values()):
        for tensor in ("A0", "B0", "lora_A", "lora_B"):
            assert torch.equal(getattr(a, tensor), getattr(b, tensor)), (name, tensor)
        assert torch.equal(a.base.weight, b.base.weight), name
