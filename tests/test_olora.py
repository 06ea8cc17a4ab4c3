"""O-LoRA: the code's orthogonality loss, frozen earlier adapters, the per-task budget and ΔW."""
from __future__ import annotations


import pytest
import torch
from conftest import attach_method

from hipbench.method import DEFAULT_TARGETS, adapted_layers, find_targets
from hipbench.methods.olora import OLoRA, OLoRALinear, OLoRAOptions
from hipbench.train import TrainConfig, train_task

CPU = torch.device("cpu")


def setup(tiny, tiny_suite, rank=3, **options):
    method = OLoRA(OLoRAOptions(**options))
    model, pretrained, ctx = attach_method(tiny, method, rank, tiny_suite.preservation)
    return model, pretrained, method, ctx


def run_task(model, method, task, ctx, steps=3):
    method.begin_task(model, task, ctx)
    train_task(model, method, task.train, ctx.tokenizer, TrainConfig(steps=steps, batch_size=4, lr=1e-2), CPU,
               torch.Generator().manual_seed(0))
    method.end_task(model, task, ctx)


def shapes(model):
    return [(model.get_submodule(n).out_features, model.get_submodule(n).in_features)
            for n in find_targets(model, DEFAULT_TARGETS)]


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_trainable_count_is_one_task_adapter_and_frozen_ones_are_reported(tiny, tiny_suite):
    model, pretrained, method, ctx = setup(tiny, tiny_suite)
    per_task = sum(3 * (m + n) for m, n in shapes(pretrained))
    assert trainable(model) == method.trainable_count(shapes(pretrained), 3) == per_task
    run_task(model, method, tiny_suite.tasks[0], ctx)
    method.begin_task(model, tiny_suite.tasks[1], ctx)
    assert trainable(model) == per_task
    assert method.frozen_params == per_task
    assert all(len(layer.lora_A) == 2 for layer in adapted_layers(model, OLoRALinear).values())


def test_orthogonality_loss_is_zero_for_orthogonal_as_and_the_hand_sum_otherwise(tiny, tiny_suite):
    model, _, method, ctx = setup(tiny, tiny_suite, lambda_1=0.7)
    assert float(method.extra_loss(model).detach()) == 0.0  # task 1: nothing to be orthogonal to
    method.end_task(model, tiny_suite.tasks[0], ctx)
    method.begin_task(model, tiny_suite.tasks[1], ctx)
    layers = adapted_layers(model, OLoRALinear).values()
    for layer in layers:  # disjoint coordinate rows: exactly orthogonal
        n = layer.base.in_features
        layer.lora_A[0].data = torch.eye(n)[:3] * 2.0
        layer.lora_A[1].data = torch.eye(n)[3:6] * -1.5
    assert float(method.extra_loss(model).detach()) == 0.0
    gen = torch.Generator().manual_seed(4)
    expected = 0.0
    for layer in layers:
        layer.lora_A[1].data = torch.randn(layer.lora_A[1].shape, generator=gen)
        expected += sum(abs((layer.lora_A[0][i] @ layer.lora_A[1][j]).item()) for i in range(3) for j in range(3))
    loss = method.extra_loss(model)
    assert float(loss.detach()) > 0
    assert float(loss.detach()) == pytest.approx(0.7 * expected, rel=1e-5)
    loss.backward()  # the penalty reaches the new A only
    assert all(layer.lora_A[1].grad is not None and layer.lora_A[0].grad is None for layer in layers)


def test_l2_term_is_the_unsquared_norm_of_each_new_tensor(tiny, tiny_suite):
    model, _, method, _ = setup(tiny, tiny_suite, lambda_1=0.0, lambda_2=0.3)
    gen = torch.Generator().manual_seed(2)
    for layer in adapted_layers(model, OLoRALinear).values():
        layer.lora_B[0].data = torch.randn(layer.lora_B[0].shape, generator=gen)
    expected = sum(torch.sqrt((layer.lora_A[0] ** 2).sum()).item() + torch.sqrt((layer.lora_B[0] ** 2).sum()).item()
                   for layer in adapted_layers(model, OLoRALinear).values())
    assert float(method.extra_loss(model).detach()) == pytest.approx(0.3 * expected, rel=1e-5)


def test_earlier_adapters_do_not_change_and_delta_is_relative_to_pretrained(tiny, tiny_suite):
    model, pretrained, method, ctx = setup(tiny, tiny_suite)
    run_task(model, method, tiny_suite.tasks[0], ctx)
    first = {n: (l.lora_A[0].detach().clone(), l.lora_B[0].detach().clone())
             for n, l in adapted_layers(model, OLoRALinear).items()}
    assert all(b.abs().max() > 0 for _, b in first.values())  # task 1 trained
    ids = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(3))
    before = model(ids).logits
    method.begin_task(model, tiny_suite.tasks[1], ctx)
    assert torch.allclose(model(ids).logits, before, atol=1e-6)  # the new adapter starts at B = 0
    train_task(model, method, tiny_suite.tasks[1].train, ctx.tokenizer, TrainConfig(steps=3, batch_size=4, lr=1e-2),
               CPU, torch.Generator().manual_seed(1))
    method.end_task(model, tiny_suite.tasks[1], ctx)
    deltas = method.delta_weights(model)
    for name, layer in adapted_layers(model, OLoRALinear).items():
        assert torch.equal(layer.lora_A[0], first[name][0]) and torch.equal(layer.lora_B[0], first[name][1])
        assert layer.lora_B[1].abs().max() > 0  # task 2 trained its own adapter
        assert method.delta_factors(model)[name][1].shape[0] == 6  # rank grows by r per task
        effective = layer(torch.eye(layer.base.in_features)).T
        assert torch.allclose(effective - pretrained.get_submodule(name).weight, deltas[name], atol=1e-5)


def test_olora_is_lora_only_where_no_earlier_adapter_exists_and_its_l2_term_is_off():
    """What `hipbench.leaderboard.alone_equals` reads: the method's own rule and each protocol's."""
    from hipbench.leaderboard import alone_equals
    from hipbench.methods.olora import OLoRA, OLoRAOptions
    from hipbench.protocols import continual, edit, merge

    assert OLoRA.alone_equals(OLoRAOptions()) == "LoRA"
    assert OLoRA.alone_equals(OLoRAOptions(lambda_2=0.1)) is None  # its L2 term acts on a first adapter too
    assert merge.trained_alone({})
    assert edit.trained_alone({"edit_mode": "single", "num_edits": 10})
    assert edit.trained_alone({"edit_mode": "batch", "num_edits": 10})
    assert edit.trained_alone({"edit_mode": "sequential", "num_edits": 1})
    assert not edit.trained_alone({"edit_mode": "sequential", "num_edits": 10})
    assert continual.trained_alone({"tasks": ["a"]}) and not continual.trained_alone({"tasks": ["a", "b"]})

    def record(method, protocol, metrics, resolved):
        return {"config": {"config": {"method": method}, "protocol": protocol, "method_options_resolved": resolved},
                "metrics": metrics}

    plain = vars(OLoRAOptions())
    assert alone_equals(record("olora", "merge", {}, plain)) == "LoRA"
    assert alone_equals(record("olora", "continual", {"tasks": ["a", "b"]}, plain)) is None
    assert alone_equals(record("lora", "merge", {}, {"alpha": 16.0, "dropout": 0.0})) is None


def test_the_cached_frozen_adapters_give_the_very_numbers_of_concatenating_all_of_them_and_follow_a_load():
    """Sequential editing makes a task per edit: the frozen adapters are concatenated once per task,
    and the forward, the gradient and the orthogonality sum stay bit for bit those of concatenating
    every adapter in every forward; a checkpoint's values (load_state_dict) replace the cache."""
    generator = torch.Generator().manual_seed(0)
    layer = OLoRALinear(torch.nn.Linear(12, 10), scaling=2.0, dropout=0.0)
    for _ in range(6):
        layer.add_adapter(3, generator)
        with torch.no_grad():
            layer.lora_B[-1].normal_(generator=generator)
    x = torch.randn(4, 12, generator=generator)

    def direct():
        a, b = torch.cat(list(layer.lora_A), dim=0), torch.cat(list(layer.lora_B), dim=1)
        return layer.base(x) + layer.scaling * (x @ a.T @ b.T), (a[:-3] @ layer.lora_A[-1].T).abs().sum()

    for _ in range(2):  # the second pass reads the cache
        (out, ortho), (want, want_ortho) = (layer(x), layer.orthogonality()), direct()
        assert torch.equal(out, want) and torch.equal(ortho, want_ortho)
    grad = torch.autograd.grad(layer(x).square().sum() + layer.orthogonality(), layer.lora_A[-1])[0]
    want_out, want_ortho = direct()
    want_grad = torch.autograd.grad(want_out.square().sum() + want_ortho, layer.lora_A[-1])[0]
    assert torch.equal(grad, want_grad)
    state = {k: v + 1.0 for k, v in layer.state_dict().items()}  # e.g. a resumed run's checkpoint
    layer.load_state_dict(state)
    assert torch.equal(layer(x), direct()[0])
    layer.add_adapter(3, generator)  # a new task freezes the sixth adapter: the cache grows with it
    assert layer.frozen()[1].shape[0] == 18 and torch.equal(layer(x), direct()[0])
