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


def test_with_refresh_the_anchor_moves_to_the_trained_weights_and_delta_is_relative_to_pretrained(tiny, tiny_suite):
    model, pretrained, method, ctx = setup(tiny, tiny_suite.preservation, random_b=False, refresh=True)
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


def close(actual, expected, rel=1e-4):
    """Equal up to float summation order, relative to the tensor's scale (off-diagonal K-FAC
    entries cancel towards zero, where an element-wise rtol would only measure rounding)."""
    return float((actual - expected).abs().max()) <= rel * float(expected.abs().max())


def kfac_brute_force(model, ctx, pairs):
    """Σ over examples and positions (each example alone, no padding) of g g^T and a a^T, per factor."""
    layers = adapted_layers(model, LoRALinear)
    sums, tokens = {}, 0
    for pair in pairs:
        seen = {}
        hooks = [layer.register_forward_hook(lambda m, a, out, n=n: seen.__setitem__(n, (a[0], out)))
                 for n, layer in layers.items()]
        loss = token_loss(model, collate([pair], ctx.tokenizer.pad_token_id))
        for handle in hooks:
            handle.remove()
        grads = torch.autograd.grad(loss, [seen[n][1] for n in layers])
        tokens += len(pair[0]) + len(pair[1]) - 1
        for (n, layer), g in zip(layers.items(), grads):
            x, g_b = seen[n][0][0, :-1].detach(), layer.scaling * g[0, :-1]
            g_a, u = g_b @ layer.lora_B.detach(), x @ layer.lora_A.detach().T
            for key, terms in ((f"{n}.lora_A", (g_a.T @ g_a, x.T @ x)), (f"{n}.lora_B", (g_b.T @ g_b, u.T @ u))):
                sums[key] = [s + t for s, t in zip(sums[key], terms)] if key in sums else list(terms)
    return {key: (g / len(pairs), a / tokens) for key, (g, a) in sums.items()}


def test_batched_kfac_matches_examples_taken_one_at_a_time(tiny, tiny_suite, monkeypatch):
    import hipbench.methods.lalora as lalora

    monkeypatch.setattr(lalora, "FISHER_CHUNK", 3)  # several chunks, each padded to its longest row
    model, _, method, ctx = setup(tiny, tiny_suite.preservation, curvature="kfac")
    method.begin_task(model, tiny_suite.tasks[0], ctx)
    pairs = lalora.preservation_pairs(ctx.tokenizer, ctx.preservation, ctx.max_length, method.options.examples)
    assert len(pairs) > 3 and len({len(p) + len(a) for p, a in pairs}) > 1
    expected = kfac_brute_force(model, ctx, pairs)
    assert expected.keys() == method.curvature.keys()
    for key, (g, a) in expected.items():
        assert g.abs().max() > 0 and a.abs().max() > 0
        assert close(method.curvature[key][0], g) and close(method.curvature[key][1], a), key


@pytest.mark.parametrize("options", [{"curvature": "diag"}, {"curvature": "kfac"}, {"fisher": "true"}])
def test_curvature_does_not_depend_on_how_examples_are_chunked(tiny, tiny_suite, monkeypatch, options):
    """Padding a row beside longer ones changes nothing, and the sampler draws the same labels."""
    import hipbench.methods.lalora as lalora

    estimates = []
    for chunk in (1, 4, 64):
        monkeypatch.setattr(lalora, "FISHER_CHUNK", chunk)
        model, _, method, ctx = setup(copy.deepcopy(tiny), tiny_suite.preservation, **options)
        method.begin_task(model, tiny_suite.tasks[0], ctx)
        estimates.append({key: terms for key, terms in method.curvature.items()})
    for key, terms in estimates[0].items():
        assert terms[0].abs().max() > 0, key
        for other in estimates[1:]:
            assert all(close(o, t) for o, t in zip(other[key], terms)), key


def train_one_task(model, method, ctx, task):
    method.begin_task(model, task, ctx)
    train_task(model, method, task.train, ctx.tokenizer, TrainConfig(steps=3, batch_size=4, lr=1e-2), CPU,
               torch.Generator().manual_seed(0))
    method.end_task(model, task, ctx)


@pytest.mark.parametrize("curvature", ["diag", "kfac"])
def test_by_default_the_anchor_stays_at_the_pretrained_weights_and_the_curvature_accumulates(tiny, tiny_suite,
                                                                                             curvature):
    """The paper's single anchor θ0; each boundary adds the curvature at the trained weights."""
    model, _, method, ctx = setup(tiny, tiny_suite.preservation, random_b=False, curvature=curvature)
    assert not method.options.refresh and method.options.accumulate
    method.begin_task(model, tiny_suite.tasks[0], ctx)
    theta0 = {key: value.clone() for key, value in method.anchor.items()}
    first = {key: tuple(t.clone() for t in terms) for key, terms in method.curvature.items()}
    train_one_task(model, method, ctx, tiny_suite.tasks[0])
    at_trained = method.estimate(model, ctx)
    assert method.estimates == 2
    for key, p in params(model).items():
        assert torch.equal(method.anchor[key], theta0[key]) and not torch.equal(p.detach(), theta0[key])
        for total, a, b in zip(method.curvature[key], first[key], at_trained[key]):
            assert torch.allclose(total, a + b)
    a_keys = [key for key in first if key.endswith("lora_A")]
    assert all(first[key][0].abs().max() == 0 for key in a_keys)  # B = 0 at θ0: A flat there
    assert all(method.curvature[key][0].abs().max() > 0 for key in a_keys)  # held once B has trained
    if curvature == "kfac":  # (Σ G) ⊗ (mean Ā): the penalty divides the summed Ā by the count
        displace(model, method, 0.01)
        expected = 0.0
        for n, layer in adapted_layers(model, LoRALinear).items():
            for k in ("lora_A", "lora_B"):
                g, a = method.curvature[f"{n}.{k}"]
                d = getattr(layer, k).detach() - theta0[f"{n}.{k}"]
                expected += float((d * (g @ d @ (a / 2))).sum() + method.options.prior_precision * (d ** 2).sum())
        assert float(method.extra_loss(model).detach()) == pytest.approx(0.5 * method.options.strength * expected,
                                                                        rel=1e-4)


def test_without_accumulation_the_pretrained_curvature_is_kept_for_the_whole_stream(tiny, tiny_suite):
    model, _, method, ctx = setup(tiny, tiny_suite.preservation, random_b=False, accumulate=False)
    method.begin_task(model, tiny_suite.tasks[0], ctx)
    kept = {key: (value.clone(), method.curvature[key][0].clone()) for key, value in method.anchor.items()}
    train_one_task(model, method, ctx, tiny_suite.tasks[0])
    assert method.estimates == 1
    for key, (anchor, curvature) in kept.items():
        assert torch.equal(method.anchor[key], anchor) and torch.equal(method.curvature[key][0], curvature)


def old_record(resolved: dict) -> dict:
    """The config.json fields a record made before the paper form was the default holds: the run
    named no option, and its resolved options lack `accumulate` (the published LaLoRA records)."""
    return {"config": {"method": "lalora", "method_options": {}}, "method_options_resolved": resolved}


OLD_DEFAULT = {"alpha": 16.0, "curvature": "diag", "dropout": 0.0, "examples": 64, "fisher": "empirical",
               "prior_precision": 1e-06, "refresh": True, "strength": 1000.0}


def test_an_old_default_record_resolves_to_refresh_and_a_new_default_run_to_the_paper_form():
    from dataclasses import replace

    from hipbench.config import RunConfig
    from hipbench.leaderboard import method_label
    from hipbench.runner import run_hash

    old_cfg = RunConfig(method="lalora", suite="continual", model="tiny-llama", seed=1)
    old = old_record(OLD_DEFAULT)
    assert LaLoRAOptions(**old["method_options_resolved"]).refresh  # what it ran, whatever today's default
    old_hash = old_cfg.hash(OLD_DEFAULT)  # how the record was hashed: its resolved options, nothing named
    # `--option refresh=true` finds the record: the same identity (accumulate is not read under
    # refresh, and refresh named at its former default is the record's unnamed run) ...
    refresh_cfg = replace(old_cfg, method_options={"refresh": "true"})
    assert run_hash(refresh_cfg, LaLoRA(LaLoRAOptions(refresh=True))) == old_hash
    # ... and shares its row, though the record names no option
    assert method_label(old["config"], old["method_options_resolved"]) == "lalora [refresh=true]"
    assert method_label(refresh_cfg.to_dict(), vars(LaLoRAOptions(refresh=True))) == "lalora [refresh=true]"
    # a new default run is the paper form, with an identity and a row no earlier record has
    paper = LaLoRA()
    assert not paper.options.refresh and paper.options.accumulate
    assert run_hash(old_cfg, paper) != old_hash
    assert method_label(old_cfg.to_dict(), vars(paper.options)) == "lalora"
    # a record that ran refresh=false before accumulation existed kept θ0's curvature: accumulate=false
    # finds it, and the new default does not
    fixed_cfg = replace(old_cfg, method_options={"refresh": "false"})
    fixed_hash = fixed_cfg.hash({**OLD_DEFAULT, "refresh": False})
    fixed_now = replace(old_cfg, method_options={"refresh": "false", "accumulate": "false"})
    assert run_hash(fixed_now, LaLoRA(LaLoRAOptions(accumulate=False))) == fixed_hash
    assert run_hash(fixed_cfg, LaLoRA()) != fixed_hash
    assert method_label(fixed_cfg.to_dict(), {**OLD_DEFAULT, "refresh": False}) \
        == method_label(fixed_now.to_dict(), vars(LaLoRAOptions(accumulate=False))) \
        == "lalora [accumulate=false,refresh=false]"
