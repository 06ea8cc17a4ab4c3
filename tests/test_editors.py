"""Knowledge editors: each closed form against its equation, the FT-M loss, GRACE's radius, and a
single edit of every editor through the edit protocol on the tiny model.

The tiny random model's activations are about a hundred times smaller than a trained model's, so
the value optimisation's defaults (clamp at 4 · ‖init‖, decay relative to ‖init‖², λ = 15,000,
AlphaEdit's absolute threshold and α) hold the edit near zero there; the editing tests loosen those
options (`TINY_OPTIONS`) and use a one-token target right after the subject, which a two-layer
random model can be made to predict through one position."""
from __future__ import annotations

import copy

import pytest
import torch

from conftest import make_suite
from hipbench.config import RunConfig
from hipbench.editors.alphaedit import null_space_projector, null_space_update
from hipbench.editors.ft import target_token_loss
from hipbench.editors.grace import GRACE
from hipbench.editors.memit import least_squares_update
from hipbench.editors.rome import ROME, rank_one_update
from hipbench.method import Context, options_from_strings
from hipbench.protocols import edit
from hipbench.protocols.edit_editors import numerical_rank
from hipbench.records import RunRecord
from hipbench.registry import method_class
from hipbench.suite import EditRequest, Example, Suite
from hipbench.train import IGNORE, TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

LOCATE = {"clamp_norm_factor": "1000", "v_weight_decay": "0", "prefixes": "5x2"}
TINY_OPTIONS = {
    "rome": LOCATE,
    "memit": {**LOCATE, "mom2_update_weight": "1"},
    "alphaedit": {**LOCATE, "v_lr": "0.5", "nullspace_threshold": "1e-3", "l2": "1e-4"},
    "ft-l": {"norm_constraint": "0.1", "lr": "0.01"},
    "ft-m": {"lr": "0.01"},
    "grace": {"eps": "0.02"},  # the tiny model's inputs lie 0.03 to 0.3 apart: ε_init = 1.0 would cover every token
}
REQUEST = EditRequest("cap of foo", "foo", "Z", "Y", ("the cap of foo",), (Example("cap of qux is", " zed"),))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPBENCH_CACHE", str(tmp_path / "cache"))


def make(name: str, **extra: str):
    cls = method_class(name)
    return cls(options_from_strings(cls.Options, {**TINY_OPTIONS[name], **extra}, name))


def context(tokenizer, seed: int = 0) -> Context:
    return Context(tokenizer, torch.device("cpu"), torch.Generator().manual_seed(seed), make_suite().preservation)


def test_rome_update_stores_the_key_value_pair_and_is_rank_one():
    gen = torch.Generator().manual_seed(1)
    weight, key, value = (torch.randn(6, 9, generator=gen, dtype=torch.float64), torch.randn(9, generator=gen,
                          dtype=torch.float64), torch.randn(6, generator=gen, dtype=torch.float64))
    root = torch.randn(9, 9, generator=gen, dtype=torch.float64)
    delta = rank_one_update(weight, key, value, root @ root.T + torch.eye(9, dtype=torch.float64))
    assert torch.allclose((weight + delta) @ key, value, atol=1e-10)
    assert int(torch.linalg.matrix_rank(delta)) == 1


def test_rome_on_the_tiny_model_writes_v_star_at_k_star_in_one_rank(tiny):
    model, tokenizer = tiny
    model.requires_grad_(False)
    editor, ctx = make("rome"), context(tokenizer)
    editor.prepare(model, ctx)
    outcome = editor.edit(model, [REQUEST], ctx)
    (name, delta), = outcome.deltas.items()
    trace = editor.trace[0]
    weight = model.get_submodule(trace["module"]).weight
    assert name == trace["module"] + ".weight"
    assert torch.allclose(weight.double() @ trace["key"], trace["value"], atol=1e-5, rtol=0)
    assert not torch.allclose(outcome.previous[name].double() @ trace["key"], trace["value"], atol=1e-3)
    assert numerical_rank(delta, weight.detach()) == 1
    editor.undo(model, outcome)
    assert torch.equal(weight, outcome.previous[name])  # undo is exact


def test_memit_update_is_the_regularised_least_squares_solution():
    """ΔW = R Kᵀ (λC + KKᵀ)⁻¹ minimises ‖ΔW K − R‖² + λ tr(ΔW C ΔWᵀ): solved independently as
    least squares over [K, √λ L] with C = L Lᵀ."""
    gen = torch.Generator().manual_seed(2)
    keys, residuals = torch.randn(7, 3, generator=gen, dtype=torch.float64), torch.randn(5, 3, generator=gen,
                                                                                          dtype=torch.float64)
    root = torch.randn(7, 7, generator=gen, dtype=torch.float64)
    covariance, weight = root @ root.T / 7 + 0.1 * torch.eye(7, dtype=torch.float64), 4.0
    lower = torch.linalg.cholesky(covariance)
    design = torch.cat([keys, weight ** 0.5 * lower], dim=1)  # ΔW @ design ≈ [R, 0]
    targets = torch.cat([residuals, torch.zeros(5, 7, dtype=torch.float64)], dim=1)
    expected = torch.linalg.lstsq(design.T, targets.T).solution.T
    assert torch.allclose(least_squares_update(keys, residuals, covariance, weight), expected, atol=1e-10)


def test_alphaedit_update_leaves_the_preserved_keys_outputs_unchanged():
    gen = torch.Generator().manual_seed(3)
    preserved = torch.randn(8, 3, generator=gen, dtype=torch.float64) @ torch.randn(3, 50, generator=gen,
                                                                                     dtype=torch.float64)
    projector = null_space_projector(preserved @ preserved.T / 50, threshold=1e-8)
    assert int(round(float(projector.trace()))) == 5  # rank-3 keys in 8 dimensions leave a 5-dim null space
    keys, residuals = torch.randn(8, 2, generator=gen, dtype=torch.float64), torch.randn(4, 2, generator=gen,
                                                                                          dtype=torch.float64)
    earlier = torch.randn(8, 2, generator=gen, dtype=torch.float64)
    delta = null_space_update(keys, residuals, projector, earlier @ earlier.T, alpha=0.5)
    assert torch.allclose(delta @ preserved, torch.zeros(4, 50, dtype=torch.float64), atol=1e-5)
    assert delta.abs().max() > 1e-2  # it does change the edited keys' outputs
    # the closed form solves eq. 15 with P applied on the right
    system = (keys @ keys.T + earlier @ earlier.T) @ projector + 0.5 * torch.eye(8, dtype=torch.float64)
    assert torch.allclose(delta @ system, residuals @ keys.T @ projector, atol=1e-10)


def test_ft_m_loss_scores_target_tokens_only():
    logits = torch.randn(2, 6, 11, requires_grad=True)
    labels = torch.full((2, 6), IGNORE)
    labels[0, 3:5], labels[1, 4:6] = torch.tensor([1, 2]), torch.tensor([3, 4])
    loss = target_token_loss(logits, labels)
    loss.backward()
    scoring = {(0, 2), (0, 3), (1, 3), (1, 4)}  # logits at p predict the label at p + 1
    for row in range(2):
        for position in range(6):
            touched = bool(logits.grad[row, position].abs().sum() > 0)
            assert touched == ((row, position) in scoring), (row, position)
    manual = torch.stack([torch.nn.functional.cross_entropy(logits[0, 2:4], labels[0, 3:5]),
                          torch.nn.functional.cross_entropy(logits[1, 3:5], labels[1, 4:6])]).mean()
    assert torch.allclose(loss, manual)


def test_grace_leaves_inputs_outside_every_radius_untouched(tiny):
    model, tokenizer = tiny
    model.requires_grad_(False)
    base = copy.deepcopy(model)
    editor, ctx = make("grace"), context(tokenizer)
    editor.prepare(model, ctx)
    outcome = editor.edit(model, [REQUEST], ctx)
    assert outcome.deltas == {} and len(editor.codebook(model).keys) == 1
    # "cap of fox" ends 0.029 from the key: a near miss just outside the radius 0.02
    others = tokenizer(["dogs bark at night.", "red green blue", "cap of fox"], return_tensors="pt", padding=True)
    book = editor.codebook(model)
    with torch.no_grad():
        inputs = []
        handle = book.register_forward_pre_hook(lambda _m, args: inputs.append(args[0]))
        edited = model(**others).logits
        handle.remove()
        assert bool((book.nearest(inputs[0].reshape(-1, inputs[0].shape[-1]))[0] > book.radii[0]).all())
        assert torch.equal(edited, base(**others).logits)
        prompt = tokenizer([REQUEST.prompt], return_tensors="pt")
        assert not torch.equal(model(**prompt).logits[0, -1], base(**prompt).logits[0, -1])
    editor.undo(model, outcome)
    assert len(editor.codebook(model).keys) == 0


def test_grace_splits_the_radii_of_conflicting_edits(tiny):
    model, tokenizer = tiny
    model.requires_grad_(False)
    editor, ctx = GRACE(GRACE.Options(eps=1e3)), context(tokenizer)
    editor.prepare(model, ctx)
    editor.edit(model, [REQUEST, EditRequest("cap of fop", "fop", "Q")], ctx)
    book = editor.codebook(model)
    distance = float(torch.dist(book.keys[0], book.keys[1]))
    assert book.labels == ["Z", "Q"] and torch.allclose(book.radii, torch.tensor([distance / 2] * 2))


def test_grace_does_not_train_an_entry_an_identical_older_key_shadows(tiny):
    """Two edits of one prompt with different answers: the split leaves both radii 0 and the
    nearest-key tie goes to the older entry, so the newer one can never be read; it is counted as
    unreached instead of trained (its value stays as initialised) and the first answer still holds."""
    model, tokenizer = tiny
    model.requires_grad_(False)
    editor, ctx = make("grace"), context(tokenizer)
    editor.prepare(model, ctx)
    first = editor.edit(model, [REQUEST], ctx)
    book = editor.codebook(model)
    prompt = tokenizer([REQUEST.prompt], return_tensors="pt")
    with torch.no_grad():
        after_first = model(**prompt).logits[0, -1]
    second = editor.edit(model, [EditRequest(REQUEST.prompt, REQUEST.subject, "Q")], ctx)
    assert first.info["unreached"] == 0 and second.info["unreached"] == 1
    assert second.steps == 0 and book.labels == ["Z", "Q"] and torch.equal(book.radii, torch.zeros(2))
    assert bool(((book.values[1] >= 0) & (book.values[1] < 1)).all())  # the cold start, untrained
    with torch.no_grad():
        assert torch.equal(model(**prompt).logits[0, -1], after_first)


@pytest.mark.parametrize("name", sorted(TINY_OPTIONS))
def test_a_single_edit_of_every_editor_reaches_reliability_one(name, tiny_loaded, tmp_path):
    suite = Suite("edit-test", (), make_suite().preservation, make_suite().probes, {}, edits=(REQUEST,))
    cfg = RunConfig(method=name, suite="edit-test", model="tiny-llama", seed=3, train=TrainConfig(steps=4),
                    protocol_options={"edit_mode": "single", "num_edits": 1})
    metrics = edit.run(tiny_loaded, make(name), suite, cfg, RunRecord(tmp_path), save_adapters=True)
    assert metrics["reliability"] == 1.0 and metrics["reliability_gen"] == 1.0
    assert metrics["method_kind"] == "editor" and metrics["budget"] is None and metrics["planned_trainable"] is None
    assert metrics["train"][0]["learned"] is True
    if name == "grace":
        assert metrics["changed_params"] == 0 and metrics["rank"] == 0 and metrics["added_params"] > 0
        assert (tmp_path / "adapters" / "000" / "editor_state.pt").is_file()
    else:
        assert metrics["changed_params"] > 0 and metrics["rank"] >= 1
        assert metrics["trainable_params"] == metrics["changed_params"]
        assert (tmp_path / "adapters" / "000" / "adapter_model.safetensors").is_file()
    if name in ("rome", "memit", "alphaedit"):
        assert metrics["rank"] == 1 and metrics["editor_statistics"]["stats_tokens"] > 0


def test_bad_editor_options_fail_naming_the_option():
    with pytest.raises(ValueError, match=r"^rome: --option fact_token=first: expected one of subject_last, last$"):
        make("rome", fact_token="first")
    with pytest.raises(ValueError, match=r"^rome: --option prefixes=5by10: expected comma-separated LENGTHxCOUNT"):
        make("rome", prefixes="5by10")
    with pytest.raises(ValueError, match=r"^grace: --option eps=0: expected a number > 0$"):
        make("grace", eps="0")
    with pytest.raises(ValueError, match=r"^grace: --option layers=1,2: expected one layer index"):
        make("grace", layers="1,2")  # GRACE wraps one layer: refused before a model is loaded


def test_layers_default_scaled_by_depth_and_checked(tiny):
    model, tokenizer = tiny
    model.requires_grad_(False)
    ctx = context(tokenizer)
    editor = make("rome")
    editor.prepare(model, ctx)
    assert editor.layers == [0]  # layer 5 of a 32-layer Llama is layer 0 of 2
    with pytest.raises(ValueError, match=r"rome: --option layers: '7' is outside the model's layers 0..1"):
        make("rome", layers="7").prepare(model, ctx)
    with pytest.raises(ValueError, match=r"request 'cap of foo': its subject 'bar' does not occur in the prompt"):
        editor.edit(model, [EditRequest("cap of foo", "bar", "Z")], ctx)


def test_a_subject_capitalised_at_the_start_of_its_prompt_is_found():
    """The built-in suite writes "the Great Wall" as the subject of "The Great Wall is located in
    the country of" (a sentence is capitalised): the subject is found there, not refused."""
    from hipbench.edit_vectors import find_subject
    from tasks.edit import build_requests

    assert find_subject("The Great Wall is located in the country of", "the Great Wall") == 0
    assert find_subject("Visitors of the Great Wall say", "the Great Wall") == 12
    assert find_subject("Thus the Great Wall", "The Great Wall") == -1  # only at the start, as sentences are
    assert find_subject("the tower", "") == -1
    assert all(find_subject(r.prompt, r.subject) >= 0 for r in build_requests())  # every built-in request


def test_key_statistics_are_cached_by_model_and_corpus(tiny, tmp_path):
    from hipbench.key_stats import KeyStatistics, preservation_corpus

    model, tokenizer = tiny
    corpus = preservation_corpus(make_suite().preservation)
    stats = KeyStatistics(tmp_path)
    name = "model.layers.0.mlp.down_proj"
    (mom2, count), = stats.second_moments(model, tokenizer, [name], corpus, 10_000, torch.device("cpu")).values()
    keys = []
    handle = model.get_submodule(name).register_forward_pre_hook(lambda _m, args: keys.append(args[0][0]))
    for text in corpus.texts:
        model(input_ids=torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]]))
    handle.remove()
    reference = torch.cat(keys).double()
    assert count == len(reference) and torch.allclose(mom2, reference.T @ reference / count, atol=1e-9)
    again = KeyStatistics(tmp_path)
    assert torch.equal(again.second_moments(model, tokenizer, [name], corpus, 10_000, torch.device("cpu"))[name][0],
                       mom2) and (again.loaded, again.computed) == (1, 0)
    capped = again.second_moments(model, tokenizer, [name], corpus, 50, torch.device("cpu"))[name][1]
    assert capped == 50 and again.computed == 1  # another token cap is another entry
    with torch.no_grad():
        model.get_submodule(name).weight.add_(1.0)  # keys of layer 0 do not depend on its own down_proj,
    assert again.second_moments(model, tokenizer, [name], corpus, 10_000, torch.device("cpu"))  # but the key does
    assert again.computed == 2


def test_a_gpu_run_prepares_and_edits_with_one_cpu_thread(tiny_loaded, monkeypatch):
    """The editors solve their systems in fp64 on the CPU, and those solves round by the thread
    count; in a GPU run the session prepares and edits with one thread (what a Ray worker has), in
    a CPU run with the process's threads. No GPU here: the session is handed the GPU's rule."""
    from hipbench.costs import CostMeter
    from hipbench.method import one_cpu_thread, plugin_cpu_threads
    from hipbench.protocols import edit_editors

    seen = []
    editor = make("rome")
    monkeypatch.setattr(editor, "prepare", lambda model, ctx: seen.append(torch.get_num_threads()))
    monkeypatch.setattr(editor, "weight_names", lambda model: [])
    monkeypatch.setattr(editor, "apply", lambda model, requests, ctx: seen.append(torch.get_num_threads()) or {})
    ctx, cpu = context(tiny_loaded.tokenizer), torch.device("cpu")
    torch.set_num_threads(2)  # the module's fixture gives the thread count back afterwards
    session = edit_editors.EditorSession(tiny_loaded, editor, ctx, cpu, CostMeter(cpu))
    session.edit("edit 0", [REQUEST], ctx)
    assert seen == [2, 2]  # a CPU run: the model computes on the CPU, with every thread
    monkeypatch.setattr(edit_editors, "plugin_cpu_threads", lambda device: one_cpu_thread())
    session = edit_editors.EditorSession(tiny_loaded, editor, ctx, cpu, CostMeter(cpu))
    session.edit("edit 0", [REQUEST], ctx)
    assert seen[2:] == [1, 1] and torch.get_num_threads() == 2
    with plugin_cpu_threads(torch.device("cuda")):  # the rule itself (a device object needs no GPU)
        assert torch.get_num_threads() == 1
    with plugin_cpu_threads(cpu):
        assert torch.get_num_threads() == 2
