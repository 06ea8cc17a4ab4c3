"""PiSSA against PEFT's `init_lora_weights="pissa"`, and its ΔW relative to the pretrained weight."""
from __future__ import annotations

import copy

import torch
from peft import LoraConfig, get_peft_model

from hipbench.method import DEFAULT_TARGETS, Context, adapted_layers, find_targets
from hipbench.methods.pissa import PiSSA, PiSSALinear, PiSSAOptions
from hipbench.spectral import SVDCache
from hipbench.suite import GeneralSet
from hipbench.train import TrainConfig, train_task
from hipbench.suite import Example


def attach(model, tokenizer, tmp_path, rank=4, options=None):
    method = PiSSA(options or PiSSAOptions())
    model.requires_grad_(False)
    ctx = Context(tokenizer, torch.device("cpu"), torch.Generator().manual_seed(0), GeneralSet((), ()),
                  svd=SVDCache(tmp_path))
    method.attach(model, find_targets(model, DEFAULT_TARGETS), rank, ctx)
    return method


def test_outputs_unchanged_and_residual_plus_principal_is_w(tiny, tmp_path):
    model, tokenizer = tiny
    pretrained = copy.deepcopy(model)
    ids = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(3))
    attach(model, tokenizer, tmp_path)
    assert torch.allclose(model(ids).logits, pretrained(ids).logits, atol=1e-5)
    for name, layer in adapted_layers(model, PiSSALinear).items():
        w = pretrained.get_submodule(name).weight
        assert torch.allclose(layer.base.weight + layer.scaling * layer.B0 @ layer.A0, w, atol=1e-5)


def test_init_matches_peft_pissa_up_to_sign(tiny, tmp_path):
    model, tokenizer = tiny
    reference = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=4, init_lora_weights="pissa",
                                                               target_modules=list(DEFAULT_TARGETS)))
    attach(model, tokenizer, tmp_path)
    ours = adapted_layers(model, PiSSALinear)
    checked = 0
    for name, module in reference.named_modules():
        if hasattr(module, "lora_A") and isinstance(module.lora_A, torch.nn.ModuleDict):
            layer = ours[name.removeprefix("base_model.model.")]
            a_ref, b_ref = module.lora_A["default"].weight, module.lora_B["default"].weight
            signs = torch.sign((a_ref * layer.lora_A).sum(dim=1))
            assert torch.allclose(layer.lora_A * signs[:, None], a_ref, atol=1e-4)
            assert torch.allclose(layer.lora_B * signs[None, :], b_ref, atol=1e-4)
            assert torch.allclose(layer.base.weight, module.base_layer.weight, atol=1e-5)
            checked += 1
    assert checked == 14


def test_delta_is_relative_to_the_pretrained_weight_after_training(tiny, tmp_path):
    model, tokenizer = tiny
    pretrained = copy.deepcopy(model)
    method = attach(model, tokenizer, tmp_path)
    assert all(d.abs().max() < 1e-5 for d in method.delta_weights(model).values())
    train_task(model, method, (Example("ab", " c"), Example("de", " f")), tokenizer,
               TrainConfig(steps=3, batch_size=2, lr=1e-2), torch.device("cpu"), torch.Generator().manual_seed(0))
    deltas = method.delta_weights(model)
    moved = 0
    for name, layer in adapted_layers(model, PiSSALinear).items():
        eye = torch.eye(layer.base.in_features)
        effective = layer(eye).T
        assert torch.allclose(effective - pretrained.get_submodule(name).weight, deltas[name], atol=1e-5)
        assert method.delta_factors(model)[name][1].shape[0] == 8  # rank 2r
        moved += int(deltas[name].abs().max() > 1e-4)
    assert moved == 14
