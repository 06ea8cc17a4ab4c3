"""The shared loop: schedule, data order, masking, learning, and the non-finite-loss stop."""
from __future__ import annotations

import pytest
import torch

from hipbench.method import DEFAULT_TARGETS, Context, find_targets
from hipbench.methods.lora import LoRA
from hipbench.suite import Example, GeneralSet
from hipbench.train import (IGNORE, NonFiniteLoss, TrainConfig, batch_schedule, collate, encode, lr_factor,
                            token_loss, train_task)


def lora_model(tiny, rank=4):
    model, tokenizer = tiny
    model.requires_grad_(False)
    method = LoRA()
    ctx = Context(tokenizer, torch.device("cpu"), torch.Generator().manual_seed(0), GeneralSet((), ()))
    method.attach(model, find_targets(model, DEFAULT_TARGETS), rank, ctx)
    return model, tokenizer, method


def test_labels_score_answer_tokens_only(tiny):
    _, tokenizer = tiny
    prompt, answer = encode(tokenizer, Example("abc", " de"), 64)
    assert tokenizer.decode(answer) == " de\n" and len(prompt) == 3 and len(answer) == 4
    batch = collate([(prompt, answer), ([1], [2])], tokenizer.pad_token_id)
    assert batch["labels"][0].tolist() == [IGNORE] * 3 + answer
    assert batch["labels"][1].tolist() == [IGNORE, 2] + [IGNORE] * 5
    assert batch["attention_mask"][1].tolist() == [1, 1, 0, 0, 0, 0, 0]


def test_long_prompts_are_cut_from_the_left(tiny):
    _, tokenizer = tiny
    prompt, answer = encode(tokenizer, Example("0123456789", " ab"), 8)
    assert len(prompt) + len(answer) == 8
    assert tokenizer.decode(prompt) == "6789"


def test_warmup_then_linear_decay():
    factors = [lr_factor(step, 10, 0.2) for step in range(10)]
    assert factors[:2] == [0.5, 1.0]
    assert factors[2] == 1.0 and factors[-1] == pytest.approx(1 / 8)
    assert all(a >= b for a, b in zip(factors[1:], factors[2:]))


def test_batch_schedule_is_seeded_and_covers_each_epoch():
    first = batch_schedule(5, 4, 3, torch.Generator().manual_seed(7))
    again = batch_schedule(5, 4, 3, torch.Generator().manual_seed(7))
    other = batch_schedule(5, 4, 3, torch.Generator().manual_seed(8))
    assert first == again and first != other
    flat = [i for step in first for i in step]
    assert sorted(flat[:5]) == list(range(5)) and sorted(flat[5:10]) == list(range(5))


def test_training_lowers_the_loss_and_moves_only_adapter_weights(tiny):
    model, tokenizer, method = lora_model(tiny)
    frozen = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    examples = tuple(Example(f"q{i}:", f" {'xyz'[i % 3]}") for i in range(6))
    batch = collate([encode(tokenizer, ex, 64) for ex in examples], tokenizer.pad_token_id)
    with torch.no_grad():
        before = float(token_loss(model, batch))
    stats = train_task(model, method, examples, tokenizer, TrainConfig(steps=40, batch_size=6, lr=5e-3),
                       torch.device("cpu"), torch.Generator().manual_seed(0))
    with torch.no_grad():
        after = float(token_loss(model, batch))
    assert stats.steps == 40 and len(stats.losses) == 40
    assert after < 0.85 * before  # a random 2-layer model learns slowly; B = 0 alone would not move it
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if not p.requires_grad)


def test_non_finite_loss_stops_the_run_with_its_step(tiny):
    model, tokenizer, method = lora_model(tiny)
    calls = []

    def exploding(_model):
        calls.append(1)
        return torch.tensor(float("nan")) if len(calls) == 3 else None

    method.extra_loss = exploding
    with pytest.raises(NonFiniteLoss) as error:
        train_task(model, method, (Example("a", " b"),), tokenizer, TrainConfig(steps=5, batch_size=1),
                   torch.device("cpu"), torch.Generator().manual_seed(0))
    assert error.value.step == 2
