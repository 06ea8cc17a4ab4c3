"""--cuda-graphs: the steps it replays must be the plain loop's steps, number for number.

On a CPU nothing is captured, but every step runs through the graphed path (the 4-D mask built
here, fixed gradients zeroed and accumulated into), so these tests check all of it against the
plain loop but the replay itself, which bench/train_step.py --graphs compares on a GPU."""
from __future__ import annotations

import copy

import pytest
import torch
from conftest import attach_method

from hipbench.config import RunConfig
from hipbench.graphed import GraphedSteps, attention_mask
from hipbench.method import Method
from hipbench.runner import make_method
from hipbench.spectral import SVDCache
from hipbench.suite import Example, TaskData
from hipbench.train import TrainConfig, collate, encode, losses_backward, train_task

pytestmark = pytest.mark.usefixtures("one_thread")


def padded_batch(tokenizer) -> dict[str, torch.Tensor]:
    pairs = [encode(tokenizer, Example(prompt, answer), 64) for prompt, answer in
             (("a long prompt here:", " yes"), ("short:", " no"), ("mid prompt:", " x"))]
    return collate(pairs, tokenizer.pad_token_id)


def graphed_lora(tiny, tiny_suite, capture: bool = False, unreached: tuple = ()):
    """(model, its trainable parameters, GraphedSteps over them and `unreached`, the step they run,
    a padded batch with the 4-D mask) for a LoRA on the tiny model."""
    method = make_method("lora", {})
    model, _, _ = attach_method(tiny, method, 4, tiny_suite.preservation)
    params = [p for p in model.parameters() if p.requires_grad]
    step = lambda m, b: losses_backward(m, method, b, torch.autocast("cpu", enabled=False))  # noqa: E731
    batch = padded_batch(tiny[1])
    batch["attention_mask"] = attention_mask(batch["attention_mask"], True)
    return model, params, GraphedSteps(params + list(unreached), step, capture=capture, owner="lora"), step, batch


def test_the_mask_is_the_one_the_model_builds_from_the_2d_mask(tiny):
    model, tokenizer = tiny
    batch = padded_batch(tokenizer)
    with torch.no_grad():
        own = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        built = model(input_ids=batch["input_ids"], attention_mask=attention_mask(batch["attention_mask"], True)).logits
        unpadded = batch["input_ids"][:1, :int(batch["attention_mask"][0].sum())]
        ones = torch.ones_like(unpadded)
        assert attention_mask(ones, False) is None
        plain = model(input_ids=unpadded, attention_mask=ones).logits
        causal = model(input_ids=unpadded, attention_mask=None).logits
    assert torch.equal(own, built) and torch.equal(plain, causal)
    mask = attention_mask(batch["attention_mask"], True)
    assert mask.shape == (3, 1, batch["input_ids"].shape[1], batch["input_ids"].shape[1]) and mask.dtype == torch.bool
    row = int(batch["attention_mask"][1].sum())  # the short row: nothing attends to its padding
    assert not mask[1, 0, :, row:].any() and mask[1, 0, row - 1, :row].all()


def uneven(task: TaskData) -> TaskData:
    """`task` with prompts of two lengths, so that some batches are padded (the 4-D mask) and some not."""
    train = tuple(Example(e.prompt * (1 + i // 5), e.answer) for i, e in enumerate(task.train))
    return TaskData(task.name, task.scoring, train, task.test)


def two_tasks(tiny, tiny_suite, name: str, options: dict, graphs: bool, tmp_path) -> tuple[list, list, dict]:
    """Both fixture tasks, with uneven prompts, trained as the continual protocol trains them;
    (losses, extra losses, trainable parameters at the end)."""
    method = make_method(name, options)
    model, _, ctx = attach_method((copy.deepcopy(tiny[0]), tiny[1]), method, 4, tiny_suite.preservation,
                                  svd=SVDCache(tmp_path / name))
    losses, extras = [], []
    order = torch.Generator().manual_seed(5)
    for task in map(uneven, tiny_suite.tasks):
        method.begin_task(model, task, ctx)
        stats = train_task(model, method, task.train, tiny[1], TrainConfig(steps=6, batch_size=3, lr=5e-3),
                           torch.device("cpu"), order, graphs=graphs)
        assert (stats.graphs is not None) == graphs
        if graphs:  # 3 of 10 examples per step: padded and unpadded batches both occur
            assert stats.graphs == {"eager": 6, "captured": 0, "replayed": 0}
        method.end_task(model, task, ctx)
        losses += stats.losses
        extras += stats.extra_losses
    return losses, extras, {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("name,options", [
    ("lora", {}), ("pissa", {}), ("olora", {"lambda_2": "0.1"}), ("sclora", {}),
    ("lalora", {}), ("hiplora", {}), ("hiplora", {"complement": "forward", "budget_mode": "penalty"}),
])
def test_the_graphed_path_trains_exactly_as_the_plain_loop(tiny, tiny_suite, tmp_path, name, options):
    plain = two_tasks(tiny, tiny_suite, name, options, False, tmp_path)
    graphed = two_tasks(tiny, tiny_suite, name, options, True, tmp_path)
    assert plain[0] == graphed[0] and plain[1] == graphed[1]
    assert plain[2].keys() == graphed[2].keys()
    assert all(torch.equal(plain[2][n], graphed[2][n]) for n in plain[2])
    if name in ("olora", "lalora") or "budget_mode" in options:
        assert any(value != 0 for value in plain[1])  # an extra loss took part


def test_every_shipped_method_is_graph_safe_and_a_dropout_is_not():
    for name in ("lora", "pissa", "olora", "sclora", "lalora", "hiplora"):
        assert make_method(name, {}).graph_safe, name
    for name in ("lora", "olora", "lalora"):
        assert not make_method(name, {"dropout": "0.1"}).graph_safe, name
    assert not Method.graph_safe  # a plugin that does not say so trains eagerly


def test_a_step_hands_back_its_losses_without_their_autograd_graph(tiny, tiny_suite):
    """A loss that kept its graph would keep every parameter's gradient accumulator, made on the
    eager stream, alive into the next step's capture, which then fails on a GPU
    (cudaErrorStreamCaptureImplicit). Both losses are checked: the extra one too."""
    method = make_method("lora", {})
    model, _, _ = attach_method(tiny, method, 4, tiny_suite.preservation)
    params = [p for p in model.parameters() if p.requires_grad]
    method.extra_loss = lambda m: sum((p ** 2).sum() for p in params)
    batch = padded_batch(tiny[1])
    loss, extra = losses_backward(model, method, batch, torch.autocast("cpu", enabled=False))
    assert loss.grad_fn is None and extra.grad_fn is None
    assert float(loss) > 0 and float(extra) > 0 and all(p.grad is not None for p in params)


def test_a_method_that_replaces_a_gradient_is_stopped(tiny, tiny_suite):
    method = make_method("lora", {})
    model, _, _ = attach_method(tiny, method, 4, tiny_suite.preservation)
    method.before_step = lambda m: [setattr(p, "grad", p.grad.clone()) for p in m.parameters() if p.requires_grad]
    with pytest.raises(RuntimeError, match="replaced a parameter's .grad.*without --cuda-graphs"):
        train_task(model, method, tiny_suite.tasks[0].train, tiny[1], TrainConfig(steps=3, batch_size=2),
                   torch.device("cpu"), torch.Generator().manual_seed(0), graphs=True)


def test_steps_are_counted_and_gradients_left_as_the_plain_loop_leaves_them(tiny, tiny_suite):
    model, params, steps, _, batch = graphed_lora(tiny, tiny_suite)
    first = float(steps.losses_backward(model, batch)[0].detach())
    grads = [p.grad.clone() for p in params]
    second = float(steps.losses_backward(model, batch)[0].detach())  # zeroed, not accumulated onto the first
    assert first == second and all(torch.equal(g, p.grad) for g, p in zip(grads, params))
    assert steps.counts == {"eager": 2, "captured": 0, "replayed": 0}
    steps.close()
    assert all(p.grad is None for p in params)


def test_only_padded_shapes_are_captured_and_only_at_their_second_occurrence(tiny, tiny_suite, monkeypatch):
    """An unpadded batch runs eagerly every time: captured, transformers 5.17 would give SDPA an
    explicit causal mask where the eager step gives none (another kernel, other rounding)."""
    model, _, steps, step, padded = graphed_lora(tiny, tiny_suite, capture=True)
    captured = []
    monkeypatch.setattr(steps, "_capture", lambda m, b, key: captured.append(key) or step(m, b))
    unpadded = {"input_ids": padded["input_ids"][:1, :4], "attention_mask": None, "labels": padded["labels"][:1, :4]}
    for batch in (padded, unpadded, padded, unpadded, unpadded):
        steps.losses_backward(model, batch)
    assert captured == [(tuple(padded["input_ids"].shape), False)]
    assert steps.counts["eager"] == 4


def test_a_parameter_the_loss_does_not_reach_is_refused(tiny, tiny_suite):
    """With a zero gradient instead of none, AdamW would still move it by its momentum."""
    model, _, steps, _, batch = graphed_lora(tiny, tiny_suite, unreached=(torch.nn.Parameter(torch.ones(3)),))
    steps.losses_backward(model, batch)
    with pytest.raises(RuntimeError, match="lora: a trainable parameter got no gradient"):
        steps.losses_backward(model, batch)


def test_a_model_whose_mask_is_not_a_plain_causal_one_is_refused(tiny, tiny_suite):
    method = make_method("lora", {})
    model, _, _ = attach_method(tiny, method, 4, tiny_suite.preservation)
    model.config.model_type = "mistral"  # a sliding window would be left out of the mask built here
    with pytest.raises(ValueError, match="--cuda-graphs: only Llama models attending through SDPA.*mistral"):
        train_task(model, method, tiny_suite.tasks[0].train, tiny[1], TrainConfig(steps=1, batch_size=2),
                   torch.device("cpu"), torch.Generator().manual_seed(0), graphs=True)


def test_cuda_graphs_are_recorded_but_not_part_of_the_run_identity():
    base = RunConfig(method="lora", suite="continual", model="tiny-llama", seed=1, device="cuda")
    graphed = RunConfig(method="lora", suite="continual", model="tiny-llama", seed=1, device="cuda", cuda_graphs=True)
    assert base.hash() == graphed.hash() and graphed.to_dict()["cuda_graphs"] is True
    with pytest.raises(ValueError, match="--cuda-graphs needs --device cuda"):
        RunConfig(method="lora", suite="continual", model="tiny-llama", seed=1, cuda_graphs=True).validate()
