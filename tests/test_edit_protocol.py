"""The editing protocol on the tiny model: what each mode trains, when it stops, what it measures."""
from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
import torch

from hipbench import edit_metrics
from hipbench.config import RunConfig
from hipbench.costs import CostMeter
from hipbench.methods.lora import LoRA
from hipbench.methods.olora import OLoRA, OLoRALinear
from hipbench.method import DEFAULT_TARGETS, Context, adapted_layers, find_targets
from hipbench.method_statistics import METHOD_COLUMNS
from hipbench.protocols import edit
from hipbench.records import RunRecord
from hipbench.suite import EditRequest, Example, Suite, SuiteDataError
from hipbench.train import TrainConfig, TrainStats

from conftest import make_suite

REQUESTS = (
    EditRequest("cap of foo is", "foo", " bar", " baz", ("foo's cap is",), (Example("cap of qux is", " zed"),),
                (Example("bar is cap of", " foo"),)),
    EditRequest("pet of ann is", "ann", " cat", " dog", ("ann's pet is", "ann owns a"),
                (Example("pet of bob is", " fox"),)),
    EditRequest("hue of sky is", "sky", " red", None, (), (Example("hue of sea is", " blue"),)),
)


class SpyLoRA(LoRA):
    """LoRA that logs its task boundaries (instance, hook, task name, number of examples); the
    instances themselves are kept, so that no two can share an id."""

    calls: list = []

    def begin_task(self, model, task, ctx):
        SpyLoRA.calls.append((self, "begin", task.name, len(task.train)))
        super().begin_task(model, task, ctx)

    def end_task(self, model, task, ctx):
        SpyLoRA.calls.append((self, "end", task.name, len(task.train)))
        super().end_task(model, task, ctx)


@pytest.fixture(autouse=True)
def _clear_spy():
    SpyLoRA.calls = []


def edit_suite(requests=REQUESTS, definition=None) -> Suite:
    base = make_suite()
    return Suite("edit-test", (), base.preservation, base.probes, definition or {}, edits=tuple(requests))


def config(mode: str, n: int, steps: int = 4, lr: float = 5e-4, **options) -> RunConfig:
    return RunConfig(method="lora", suite="edit-test", model="tiny-llama", seed=3, train=TrainConfig(steps=steps, lr=lr),
                     protocol_options={"edit_mode": mode, "num_edits": n, **options})


def rows_of(record: RunRecord, stage: str, kind: str | None = None) -> list[dict]:
    return [r for r in record.measurements() if r.get("stage") == stage and (kind is None or r.get("kind") == kind)]


def test_options_default_to_sequential_ten_edits_and_thirty_steps_for_the_cli_default():
    plan = edit.resolve_options(RunConfig(method="lora", suite="edit", model="m", seed=1))
    assert (plan.mode, plan.num_edits, plan.steps_per_edit, plan.data) == ("sequential", 10, 30, None)
    assert edit.resolve_options(config("batch", 4, steps=7)).steps_per_edit == 7  # an explicit --steps is the cap


def test_num_edits_all_means_every_request_that_passes():
    cfg = RunConfig(method="lora", suite="edit", model="m", seed=1, protocol_options={"num_edits": "all"})
    assert edit.resolve_options(cfg).num_edits is None


@pytest.mark.parametrize("options,message", [
    ({"edit_mode": "parallel"}, "--edit-mode parallel: expected one of single, batch, sequential"),
    ({"num_edits": 0}, "--num-edits must be a positive integer or 'all' (got 0)"),
    ({"num_edits": "most"}, "--num-edits must be a positive integer or 'all' (got 'most')"),
])
def test_bad_options_fail_naming_the_option(options, message):
    cfg = RunConfig(method="lora", suite="edit", model="m", seed=1, protocol_options=options)
    with pytest.raises(ValueError) as error:
        edit.resolve_options(cfg)
    assert str(error.value) == message


def spy_on_training(monkeypatch) -> list:
    """Record (examples, batch size, step cap) of every train_task call of the edit protocol."""
    seen = []
    real = edit.train_task

    def spy(model, method, examples, tokenizer, cfg, *args, **kwargs):
        seen.append((examples, cfg.batch_size, cfg.steps))
        return real(model, method, examples, tokenizer, cfg, *args, **kwargs)

    monkeypatch.setattr(edit, "train_task", spy)
    return seen


def mean_logprob(row: dict) -> float:
    return sum(row["logprobs"]) / len(row["logprobs"])


def test_sequential_makes_every_edit_a_task_and_measures_all_after_the_last(tiny_loaded, tmp_path, monkeypatch):
    before = copy.deepcopy(tiny_loaded.model.state_dict())
    trained = spy_on_training(monkeypatch)
    record = RunRecord(tmp_path)
    metrics = edit.run(tiny_loaded, SpyLoRA(), edit_suite(), config("sequential", 3, steps=6, lr=1e-2), record)
    # only prompt -> target_new is trained on, one request per task, batch size 1
    assert trained == [((Example(r.prompt, r.target_new),), 1, 6) for r in REQUESTS]
    assert all(call[0] is SpyLoRA.calls[0][0] for call in SpyLoRA.calls)
    assert [c[1:] for c in SpyLoRA.calls] == [(hook, f"edit-{i:03d}", 1) for i in range(3) for hook in ("begin", "end")]
    # every request is measured once before any edit and once after the last; its own prompt right after its edit
    final_rewrites = rows_of(record, "final", edit_metrics.REWRITE)
    assert sorted(r["edit"] for r in final_rewrites) == [0, 1, 2]
    assert sorted(r["edit"] for r in rows_of(record, "immediate")) == [0, 1, 2]
    assert {r["kind"] for r in rows_of(record, "immediate")} == {edit_metrics.REWRITE}
    teacher_forced = [r for r in rows_of(record, "final") if r.get("kind") in edit_metrics.KINDS]
    assert len(rows_of(record, "base")) == len(teacher_forced) + 2  # + the two general rows
    assert len([r for r in rows_of(record, "final") if r.get("task") == "general"]) == 2
    # after the last edit, the edit prompt, each rephrase and each portability prompt is also decoded greedily
    generated = [r for r in rows_of(record, "final") if r.get("kind") in edit_metrics.GENERATED_SCORES]
    expected = [(i, kind, item) for i, r in enumerate(REQUESTS) for kind, n in
                (("rewrite_gen", 1), ("rephrase_gen", len(r.rephrase_prompts)), ("portability_gen", len(r.portability)))
                for item in range(n)]
    assert sorted((r["edit"], r["kind"], r["item"]) for r in generated) == sorted(expected)
    # every new answer became more likely, and the metrics are recomputable from the rows alone
    base, final = rows_of(record, "base", edit_metrics.REWRITE), rows_of(record, "final", edit_metrics.REWRITE)
    assert all(mean_logprob(after) > mean_logprob(start) for start, after in zip(base, final))
    assert metrics == {**metrics, **edit.summarize(record.measurements())}
    assert metrics["trainable_params"] == metrics["planned_trainable"]
    assert (metrics["edit_mode"], metrics["num_edits"], metrics["steps_per_edit"]) == ("sequential", 3, 6)
    assert metrics["filter"] == "none" and metrics["filter_passed"] == 3
    for key, _ in edit.LEADERBOARD_COLUMNS:  # all but a method's measurements of itself (HiP-LoRA's budget)
        assert key in metrics or key in dict(METHOD_COLUMNS)
    assert len(metrics["train"]) == 3 and all(1 <= e["steps"] <= 6 for e in metrics["train"])
    # the loaded model is never modified
    after = tiny_loaded.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_batch_learns_all_edits_as_one_task_seeing_every_request_each_step(tiny_loaded, tmp_path, monkeypatch):
    trained = spy_on_training(monkeypatch)
    record = RunRecord(tmp_path)
    metrics = edit.run(tiny_loaded, SpyLoRA(), edit_suite(), config("batch", 2, steps=3), record)
    assert trained == [(tuple(Example(r.prompt, r.target_new) for r in REQUESTS[:2]), 2, 3)]
    assert [c[1:] for c in SpyLoRA.calls] == [("begin", "batch-of-2", 2), ("end", "batch-of-2", 2)]
    assert sorted({r["edit"] for r in rows_of(record, "final") if "kind" in r}) == [0, 1]
    assert rows_of(record, "immediate") == []
    assert metrics["reliability_drop"] != metrics["reliability_drop"]  # nan: no immediate rows in batch mode


def test_single_edits_each_request_on_a_fresh_model_and_method(tiny_loaded, tmp_path):
    record = RunRecord(tmp_path)
    method = SpyLoRA()
    metrics = edit.run(tiny_loaded, method, edit_suite(), config("single", 3, steps=2), record)
    instances = [c[0] for c in SpyLoRA.calls if c[1] == "begin"]
    assert len({id(i) for i in instances}) == 3 and all(i is not method for i in instances)
    assert [c[2] for c in SpyLoRA.calls if c[1] == "begin"] == ["edit-000", "edit-001", "edit-002"]
    general = [r for r in rows_of(record, "final") if r.get("task") == "general"]
    assert sorted(r["edit"] for r in general if r["metric"] == "text_nll") == [0, 1, 2]
    assert metrics["trainable_params"] == metrics["planned_trainable"]


def test_single_edit_models_do_not_see_each_others_edits(tiny_loaded, tmp_path):
    """Edit 1 of a single-mode run is exactly what editing that request alone gives."""
    (tmp_path / "single").mkdir(), (tmp_path / "alone").mkdir()
    single, alone = RunRecord(tmp_path / "single"), RunRecord(tmp_path / "alone")
    edit.run(tiny_loaded, LoRA(), edit_suite(), config("single", 2, steps=3, lr=1e-2), single)
    edit.run(tiny_loaded, LoRA(), edit_suite(REQUESTS[1:2]), config("sequential", 1, steps=3, lr=1e-2), alone)
    second = [r for r in rows_of(single, "final") if r.get("edit") == 1 and "kind" in r]
    reference = [r for r in rows_of(alone, "final") if "kind" in r]
    assert len(second) == len(reference) == 7 + 3  # teacher-forced rows, then the greedy decodings
    outcome = lambda r: (r["kind"], r["predicted"] if "predicted" in r else r["generated"])  # noqa: E731
    assert [outcome(r) for r in second] == [outcome(r) for r in reference]
    base = [r for r in rows_of(single, "base") if r.get("edit") == 1 and "kind" in r]
    assert [r["predicted"] for r in base] != [r["predicted"] for r in second[:7]]  # the edit did change something


@pytest.mark.parametrize("answer,expected_steps", [(True, 1), (False, 3)])
def test_early_stop_ends_a_task_once_every_target_token_is_predicted(tiny_loaded, tmp_path, monkeypatch, answer,
                                                                    expected_steps):
    monkeypatch.setattr(edit, "learned", lambda *args: answer)
    metrics = edit.run(tiny_loaded, LoRA(), edit_suite(), config("sequential", 2, steps=3), RunRecord(tmp_path))
    assert [e["steps"] for e in metrics["train"]] == [expected_steps] * 2
    assert metrics["mean_steps"] == expected_steps and metrics["learned_share"] == float(answer)


def test_olora_keeps_one_frozen_adapter_per_sequential_edit(tiny_loaded, tmp_path):
    method = OLoRA()
    seen = []
    real_end = method.end_task

    def end_task(model, task, ctx):
        real_end(model, task, ctx)
        layer = next(iter(adapted_layers(model, OLoRALinear).values()))
        seen.append((len(layer.lora_A), sum(not p.requires_grad for p in layer.lora_A)))

    method.end_task = end_task
    metrics = edit.run(tiny_loaded, method, edit_suite(), config("sequential", 3, steps=2), RunRecord(tmp_path))
    assert seen == [(1, 0), (2, 1), (3, 2)]  # a new trainable adapter per edit, the earlier ones frozen
    frozen = [e["frozen_adapter_params"] for e in metrics["train"]]
    assert frozen[0] == 0 and frozen[2] == 2 * frozen[1] > 0


def known_continuations(model, tokenizer, prompts: list[str]) -> list[tuple[str, str]]:
    """(prompt, the model's arg-max next token as text) where that text tokenizes back to the token."""
    known = []
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            token = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
        text = tokenizer.decode([token])
        if tokenizer(text, add_special_tokens=False)["input_ids"] == [token]:
            known.append((prompt, text))
    return known


def test_filter_keeps_only_requests_whose_ground_truth_the_base_model_predicts(tiny_loaded):
    model, tokenizer = tiny_loaded.model, tiny_loaded.tokenizer
    pairs = known_continuations(model, tokenizer, [f"{word} of {thing} is" for word in ("cap", "pet", "hue", "sum")
                                                   for thing in ("foo", "ann", "sky")])
    assert len(pairs) >= 2
    known = [EditRequest(p, "s", " zz", truth) for p, truth in pairs[:2]]
    unknown = EditRequest("hue of sea is", "s", " zz", " definitely not")
    suite = edit_suite([known[0], unknown, known[1]], definition={"filter": edit.BASE_FILTER})
    cfg = config("batch", 2)
    plan = edit.resolve_options(cfg)
    chosen, info = edit.select_indices(model, tokenizer, suite, plan, cfg, torch.device("cpu"))
    assert chosen == [0, 2] and [suite.edits[i] for i in chosen] == known
    assert info == {"filter": edit.BASE_FILTER, "filter_candidates": 3, "filter_passed": 2,
                    "filter_pass_rate": pytest.approx(2 / 3), "base_knows_ground_truth": pytest.approx(2 / 3)}
    with pytest.raises(SuiteDataError) as error:
        edit.select_indices(model, tokenizer, suite, replace(plan, num_edits=3), cfg, torch.device("cpu"))
    assert str(error.value) == ("suite edit-test: only 2 of 3 edit requests pass the filter "
                                "base_predicts_ground_truth; --num-edits 3 needs 3")


def test_data_file_replaces_the_suite_requests_and_is_recorded(tmp_path):
    data = tmp_path / "edits.json"
    data.write_text(json.dumps([{"src": f"q{i}?", "alt": f"a{i}", "answers": ["t"]} for i in range(5)]))
    cfg = replace(config("sequential", 2, data=str(data)), limit=3)
    suite = edit.prepare_suite(edit_suite(), cfg)
    assert [r.prompt for r in suite.edits] == ["q0?", "q1?", "q2?"]  # --limit caps the file's requests
    assert suite.definition["edit_data"]["format"] == "zsre"
    assert (suite.definition["edit_data"]["records"], suite.definition["edit_data"]["used"]) == (5, 3)
    assert len(suite.definition["edit_data"]["sha256"]) == 64
    assert edit.edit_filter(suite) is None
    data.write_text("broken")  # prepared once: a second call does not read the file again
    assert edit.prepare_suite(suite, cfg) is suite


def test_a_data_file_replacing_the_built_in_requests_is_held_out_as_one_part(tmp_path):
    """The built-in suite's "appended after 439" applies to its own requests, not to a file's."""
    from hipbench.suite import APPENDED_AFTER, hold_out_validation
    from hipbench.tasks import edit as built_in

    data = tmp_path / "edits.json"
    data.write_text(json.dumps([{"src": f"q{i}?", "alt": f"a{i}", "answers": ["t"]} for i in range(600)]))
    suite = edit.prepare_suite(built_in.load(), config("sequential", 2, data=str(data)))
    assert APPENDED_AFTER not in suite.definition and len(suite.edits) == 600
    plain = replace(suite, definition={})
    assert hold_out_validation(suite).validation_edits == hold_out_validation(plain).validation_edits


def test_edits_train_the_target_tokens_without_the_closing_newline(tiny, monkeypatch):
    """train_task(terminate=False) scores the answer alone: 13 prompt + 4 answer bytes per step, not 18."""
    model, tokenizer = tiny
    model.requires_grad_(False)
    method = LoRA()
    ctx = Context(tokenizer, torch.device("cpu"), torch.Generator().manual_seed(0), make_suite().preservation)
    method.attach(model, find_targets(model, DEFAULT_TARGETS), 2, ctx)
    example = (Example("cap of foo is", " bar"),)
    cfg = TrainConfig(steps=2, batch_size=1)
    for terminate, tokens in ((False, 2 * 17), (True, 2 * 18)):
        stats = edit.train_task(model, method, example, tokenizer, cfg, torch.device("cpu"), torch.Generator(),
                                terminate=terminate)
        assert stats.tokens == tokens
    calls = []
    monkeypatch.setattr(edit, "train_task", lambda *args, **kwargs: calls.append(kwargs) or TrainStats(
        1, [0.0], [0.0], 0, 0.0))
    edit.learn(model, method, edit.edit_task("e", [REQUESTS[0]]), [REQUESTS[0]], tokenizer,
               config("sequential", 1), edit.EditPlan("sequential", 1, 3, None), torch.device("cpu"),
               torch.Generator(), ctx, CostMeter(torch.device("cpu")))
    assert calls[0]["terminate"] is False
