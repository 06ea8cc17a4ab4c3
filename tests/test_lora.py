"""LoRA against PEFT's reference implementation, and the delta/export contract."""
from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from hipbench.export import export_peft_adapter
from hipbench.method import DEFAULT_TARGETS, Context, adapted_layers, find_targets
from hipbench.methods.lora import LoRA, LoRALinear, LoRAOptions
from hipbench.suite import GeneralSet


def attach_lora(model, tokenizer, rank=4, alpha=8.0, seed=0):
    method = LoRA(LoRAOptions(alpha=alpha))
    model.requires_grad_(False)
    ctx = Context(tokenizer=tokenizer, device=torch.device("cpu"), generator=torch.Generator().manual_seed(seed),
                  preservation=GeneralSet((), ()))
    method.attach(model, find_targets(model, DEFAULT_TARGETS), rank, ctx)
    return method


def randomize_b(model, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for layer in adapted_layers(model, LoRALinear).values():
        layer.lora_B.data = torch.randn(layer.lora_B.shape, generator=gen) * 0.1


def batch():
    return torch.randint(0, 256, (3, 11), generator=torch.Generator().manual_seed(5))


def test_lora_leaves_outputs_unchanged_at_init(tiny):
    model, tokenizer = tiny
    ids = batch()
    before = model(ids).logits
    attach_lora(model, tokenizer)
    assert torch.equal(model(ids).logits, before)


def test_lora_forward_matches_peft_with_same_factors(tiny):
    model, tokenizer = tiny
    reference = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8.0, lora_dropout=0.0,
                                                               target_modules=list(DEFAULT_TARGETS)))
    attach_lora(model, tokenizer)
    randomize_b(model)
    ours = adapted_layers(model, LoRALinear)
    for name, module in reference.named_modules():
        if hasattr(module, "lora_A") and isinstance(module.lora_A, torch.nn.ModuleDict):
            key = name.removeprefix("base_model.model.")
            module.lora_A["default"].weight.data.copy_(ours[key].lora_A.data)
            module.lora_B["default"].weight.data.copy_(ours[key].lora_B.data)
            assert module.scaling["default"] == pytest.approx(ours[key].scaling)
    ids = batch()
    assert torch.allclose(model(ids).logits, reference(ids).logits, atol=1e-5)


def test_lora_init_follows_kaiming_uniform_bound_and_zero_b(tiny):
    model, tokenizer = tiny
    attach_lora(model, tokenizer, rank=4)
    for layer in adapted_layers(model, LoRALinear).values():
        bound = 1 / layer.lora_A.shape[1] ** 0.5  # kaiming_uniform with a = sqrt(5)
        assert layer.lora_A.abs().max() <= bound
        assert layer.lora_A.abs().max() > 0.5 * bound
        assert torch.count_nonzero(layer.lora_B) == 0


def test_delta_weights_equal_effective_weight_minus_base(tiny):
    model, tokenizer = tiny
    method = attach_lora(model, tokenizer)
    randomize_b(model)
    deltas = method.delta_weights(model)
    assert len(deltas) == 14
    for name, layer in adapted_layers(model, LoRALinear).items():
        eye = torch.eye(layer.base.in_features)
        effective = (layer(eye) - layer.base.bias if layer.base.bias is not None else layer(eye)).T
        assert torch.allclose(effective - layer.base.weight, deltas[name], atol=1e-6)


def test_exported_adapter_loads_in_peft_with_the_same_outputs(tiny, tmp_path):
    model, tokenizer = tiny
    base = copy.deepcopy(model)
    method = attach_lora(model, tokenizer, alpha=6.0)
    randomize_b(model)
    export_peft_adapter(method.delta_factors(model), tmp_path, "tiny-llama")
    loaded = PeftModel.from_pretrained(base, tmp_path)
    ids = batch()
    assert torch.allclose(model(ids).logits, loaded(ids).logits, atol=1e-5)


def test_trainable_count_matches_formula(tiny):
    model, tokenizer = tiny
    shapes = [(model.get_submodule(n).out_features, model.get_submodule(n).in_features)
              for n in find_targets(model, DEFAULT_TARGETS)]
    method = attach_lora(model, tokenizer, rank=3)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == method.trainable_count(shapes, 3) == sum(3 * (m + n) for m, n in shapes)
