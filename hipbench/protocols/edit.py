"""Knowledge editing (PROTOCOLS.md section 2) with any registered adapter method or knowledge editor.

An edit request "prompt -> target_new" is learned by the method's adapter with the shared loop
(`hipbench.train.train_task`), or applied to the weights by a knowledge editor (ROME, MEMIT,
AlphaEdit, FT-L, FT-M, GRACE: `hipbench.editor`) with its own procedure, which its docstring
states (`edit_editors.py` says how modes, checkpoints and record fields carry over to editors).
Nothing else is ever trained on (rephrases, locality and portability prompts are test-only).
Every adapter method gets the same rule:

- **Steps.** At most `steps_per_edit` optimizer steps per task: `--steps` when given, and
  `DEFAULT_STEPS_PER_EDIT` (30) when `--steps` is left at the CLI default (150, sized for
  continual tasks). The schedule (warm-up, linear decay) is the one of the cap.
- **Early stop.** After every step the task's edit prompts are scored under teacher forcing; the
  task ends as soon as every `target_new` token of every request of the task is the arg-max.
- **Batch.** Every step sees every request of the task once (one request: batch size 1, the
  gradient of repeating it would be the same). The loss covers the `target_new` tokens alone, as
  in EasyEdit's fine-tuning editors: not the newline that ends answers elsewhere in hipbench, which
  taught the default model to put a newline after every prompt of the edited kind (a smoke run
  measured locality answers replaced by "\n").

Modes (`--edit-mode`, default sequential; `--num-edits N`, default 10, or `all`: every request that
passes the filter, the largest N the suite allows on the model; batch mode's batch size is N):
- **single**: each request on a fresh copy of the base model with a fresh method instance,
  initialised and fed exactly as if it were the run's only edit, measured right after its edit;
  metrics averaged over requests, general capability measured after every edit and averaged, spectral diagnostics of the last edit's adapter.
- **batch**: the N requests are one task, learned together.
- **sequential**: the N requests are N tasks of the method, one after another on the same model
  and adapter, with `begin_task`/`end_task` at every boundary, so each method accumulates edits
  as it accumulates tasks (O-LoRA freezes each edit's adapter and opens a new one; LaLoRA
  re-anchors its penalty; LoRA, PiSSA, HiP-LoRA and SC-LoRA keep training one adapter). All N are
  measured after the last one; reliability right after each edit is recorded too
  ("immediate"), and the mean drop from it to the end is `reliability_drop`.

After the last edit (single mode: after each) every request is measured under teacher forcing and
by greedy generation, and general capability is probed (`edit_measure.py`).

Requests come from the suite (the built-in `edit` suite keeps only requests whose `ground_truth`
the base model predicts under teacher forcing, and records the filter's pass rate) or from
`--data FILE` (EasyEdit, ZsRE or CounterFact; no filter, but the share the base model knows is
recorded). The first N requests that pass are edited: the same ones for every method and seed.
Locality is agreement with the base model's predictions, before any edit, in every mode.

**Resume** (`read_checkpoint`; the runner calls it as for the continual protocol). An interrupted
run continues from its last checkpoint, and on the CPU its final metrics equal an uninterrupted
run's except for wall-clock fields (`train[i].seconds`, `finished`):
- **sequential**: a checkpoint after an edit (after its "immediate" row) holds, for an editor,
  the weights it changed and its state (`edit_editors.py`); for an adapter method, the tensors
  of the model that are not unchanged pretrained weights (the adapter, O-LoRA's frozen per-edit adapters,
  PiSSA's and SC-LoRA's residual W), `Method.state_dict` (LaLoRA's anchor and curvature, O-LoRA's
  counters), the init and data-order generators and torch's RNG, the per-edit training log, and
  which requests were selected, so the resumed run skips selection and base measurement, rebuilds
  the model, restores it and makes the remaining edits.
- **single**: every edit starts from the base model with fresh generators, so a checkpoint holds no
  model: the finished edits' rows and training log, and torch's RNG (dropout draws from it across
  edits). The resumed run skips the finished edits.
- **batch**: one task on one model; an interruption inside it has no boundary to resume from, so the
  run starts over (no checkpoint is written).
No checkpoint is written after the last edit, so the process that finishes the run has made the
last edit itself and holds the model its spectral diagnostics and adapter export read. Checkpoints
follow edits as often as they stay cheap (`Cadence`). On SmolLM2-135M a LoRA or O-LoRA checkpoint
is 10 MB and took 0.2 s to collect and write (measured on a CPU machine), PiSSA's 445 MB (the
residual W of every target module) and 2.3 s, while an edit takes 1 to 4 s on an H100 (published
records): every edit for the first kind would cost little, for the second more than the edit.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from hipbench import edit_metrics, scoring
from hipbench.config import RunConfig
from hipbench.costs import CostMeter, export_mb, peft_export_mb
from hipbench.edit_formats import load_edit_file
from hipbench.editor import is_editor
from hipbench.export import export_peft_adapter
from hipbench.method import Context, Method, plugin_cpu_threads
from hipbench.method_statistics import method_columns, with_statistics
from hipbench.models import LoadedModel, frozen_copy
from hipbench.protocols.continual import (DIAGNOSTIC_K, adapter_state, origins, plan_budget, restore, restore_rng,
                                          rng_state)
from hipbench.protocols.edit_editors import EditorSession, editor_metrics, empty_spectral, export_edit, module_deltas
from hipbench.protocols.edit_measure import (LEADERBOARD_COLUMNS, LEADERBOARD_NOTE, OPTIONAL_COLUMNS,  # noqa: F401
                                             PAIRED_COLUMNS, example_scores, measure_final, measure_general,
                                             measure_requests, summarize, write_plots)
from hipbench.protocols.edit_resume import (CHECKPOINT_VERSION, Cadence, read_checkpoint,  # noqa: F401
                                            request_pairs)
from hipbench.records import RunRecord
from hipbench.spectral import RECORD_KEYS, SVDCache, spectral_diagnostics
from hipbench.suite import APPENDED_AFTER, EditRequest, Example, Suite, SuiteDataError, TaskData
from hipbench.train import NonFiniteLoss, TrainConfig, train_task

OPTIONS: frozenset[str] = frozenset({"edit_mode", "num_edits", "data"})
TUNING_OBJECTIVE = ("mean of validation reliability and locality", ("reliability", "locality"))
MODES = ("single", "batch", "sequential")
DEFAULT_MODE = "sequential"
DEFAULT_NUM_EDITS = 10
ALL_EDITS = "all"  # --num-edits all: every request that passes the filter
DEFAULT_STEPS_PER_EDIT = 30
CHECK_EVERY = 1  # steps between early-stop checks
BASE_FILTER = "base_predicts_ground_truth"  # a suite's definition["filter"] that asks for the filter


@dataclass(frozen=True)
class EditPlan:
    """The resolved protocol options of one run (recorded in its metrics)."""

    mode: str
    num_edits: int | None  # None: all requests that pass the filter (--num-edits all)
    steps_per_edit: int
    data: str | None


def trained_alone(metrics: dict) -> bool:
    """Whether no edit was learned with an earlier one in place: `single` (a fresh model per edit),
    `batch` (all edits as one task) and a sequence of one edit."""
    return metrics.get("edit_mode") in ("single", "batch") or metrics.get("num_edits") == 1


def resolve_options(cfg: RunConfig) -> EditPlan:
    """Mode, N and the per-edit step cap from the run config; a bad value fails naming the option."""
    options = cfg.protocol_options
    mode = options.get("edit_mode", DEFAULT_MODE)
    if mode not in MODES:
        raise ValueError(f"--edit-mode {mode}: expected one of {', '.join(MODES)}")
    num_edits = options.get("num_edits", DEFAULT_NUM_EDITS)
    if num_edits == ALL_EDITS:
        num_edits = None
    elif isinstance(num_edits, bool) or not isinstance(num_edits, int) or num_edits < 1:
        raise ValueError(f"--num-edits must be a positive integer or '{ALL_EDITS}' (got {num_edits!r})")
    steps = DEFAULT_STEPS_PER_EDIT if cfg.train.steps == TrainConfig.steps else cfg.train.steps
    return EditPlan(mode, num_edits, steps, options.get("data"))


def prepare_suite(suite: Suite, cfg: RunConfig) -> Suite:
    """Check the options and, with `--data FILE`, replace the suite's requests by the file's
    (format detected, capped at `--limit`), before any model is loaded. Idempotent."""
    plan = resolve_options(cfg)
    if plan.data is None or suite.definition.get("edit_data", {}).get("file") == plan.data:
        return suite
    path = Path(plan.data)
    kind, requests = load_edit_file(path)
    total = len(requests)
    requests = requests[:cfg.limit] if cfg.limit is not None else requests
    data = {"file": plan.data, "format": kind, "records": total, "used": len(requests),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "filter": None}
    kept = {k: v for k, v in suite.definition.items() if k != APPENDED_AFTER}  # the file's requests: one part
    return replace(suite, edits=requests, definition={**kept, "edit_data": data})


def held_out_note(suite: Suite, cfg: RunConfig) -> str:
    """Where the requests are fewer for the validation split (`hipbench.suite.with_data_split`), say so."""
    held = suite.definition.get("validation_split", {}).get("validation_edits", 0)
    if not held:
        return ""
    if cfg.data_split == "holdout-validation":
        return f" (the {held} validation requests: --data-split holdout-validation)"
    return f" ({held} more held out as validation: --data-split {cfg.data_split})"


def edit_filter(suite: Suite) -> str | None:
    """The base-knowledge filter the requests go through: the suite's, unless they come from --data."""
    if "edit_data" in suite.definition:
        return None
    return suite.definition.get("filter")


# --- selection and training ------------------------------------------------------------------

def learned(model: nn.Module, tokenizer, requests: list[EditRequest], cfg: RunConfig, device: torch.device) -> bool:
    """Is every `target_new` token of every request the teacher-forced arg-max?"""
    scores = scoring.teacher_forced(model, tokenizer, [(r.prompt, r.target_new) for r in requests], device,
                                    cfg.eval_batch_size, cfg.train.max_length, desc="early stop")
    return all(s.predicted == s.target for s in scores)


def base_knows(model: nn.Module, tokenizer, requests: list[EditRequest], device: torch.device, batch_size: int,
               max_length: int) -> list[bool | None]:
    """The base-knowledge check (filter `base_predicts_ground_truth`): per request, is every token
    of its `ground_truth` the teacher-forced arg-max after its prompt (None: no ground truth)?
    One function, so `scripts/count_known_edits.py` counts exactly what a run keeps."""
    with_truth = [i for i, r in enumerate(requests) if r.ground_truth is not None]
    scores = scoring.teacher_forced(model, tokenizer, [(requests[i].prompt, requests[i].ground_truth)
                                                       for i in with_truth], device, batch_size, max_length,
                                    desc="base knowledge")
    knows: list[bool | None] = [None] * len(requests)
    for i, score in zip(with_truth, scores):
        knows[i] = score.predicted == score.target
    return knows


def select_indices(model: nn.Module, tokenizer, suite: Suite, plan: EditPlan, cfg: RunConfig,
                   device: torch.device) -> tuple[list[int], dict]:
    """Positions in `suite.edits` of the first N requests that pass the suite's filter, and what
    the filter did; positions, so that a checkpoint can name the requests without the base model."""
    candidates = list(suite.edits)
    if not candidates:
        raise SuiteDataError(f"suite {suite.name} has no edit requests")
    rule = edit_filter(suite)
    if rule not in (None, BASE_FILTER):
        raise SuiteDataError(f"suite {suite.name}: unknown edit filter '{rule}' (known: {BASE_FILTER})")
    knows = base_knows(model, tokenizer, candidates, device, cfg.eval_batch_size, cfg.train.max_length)
    known = {i: k for i, k in enumerate(knows) if k is not None}  # by candidate index
    passed = [i for i in range(len(candidates)) if rule != BASE_FILTER or known.get(i, False)]
    info = {"filter": rule or "none", "filter_candidates": len(candidates), "filter_passed": len(passed),
            "filter_pass_rate": len(passed) / len(candidates),
            "base_knows_ground_truth": (sum(known.values()) / len(known)) if known else math.nan}
    if len(passed) < (plan.num_edits or 1):
        where = f"--data {plan.data}" if plan.data else f"suite {suite.name}"
        raise SuiteDataError(f"{where}: only {len(passed)} of {len(candidates)} edit requests "
                             f"{'pass the filter ' + rule if rule else 'are available'}"
                             f"{' (after --limit ' + str(cfg.limit) + ')' if cfg.limit else ''}"
                             f"{held_out_note(suite, cfg)}; "
                             f"--num-edits {plan.num_edits or ALL_EDITS} needs {plan.num_edits or 1}")
    return passed[:plan.num_edits], info


def edit_task(name: str, requests: list[EditRequest]) -> TaskData:
    """A task of the method made of edit prompts only: prompt -> target_new."""
    examples = tuple(Example(r.prompt, r.target_new) for r in requests)
    return TaskData(name, "exact", examples, examples, f"{len(requests)} edit request(s)")


def learn(model: nn.Module, method: Method, task: TaskData, requests: list[EditRequest], tokenizer,
          cfg: RunConfig, plan: EditPlan, device: torch.device, data_order: torch.Generator,
          ctx: Context, meter: CostMeter) -> dict:
    """One task of the method: begin_task, train until learned or the cap, end_task."""
    with meter.setup():
        method.begin_task(model, task, ctx)
    train_cfg = replace(cfg.train, steps=plan.steps_per_edit, batch_size=len(task.train))
    done = {"learned": False}

    def stop(steps: int) -> bool:
        if steps % CHECK_EVERY:
            return False
        model.eval()
        done["learned"] = learned(model, tokenizer, requests, cfg, device)
        model.train()
        return done["learned"]

    stats = train_task(model, method, task.train, tokenizer, train_cfg, device, data_order,
                       desc=f"edit {task.name}", stop=stop, terminate=False, graphs=cfg.cuda_graphs)
    own = method.task_statistics(model)  # before end_task, as in the continual protocol
    method.end_task(model, task, ctx)
    meter.trained(stats.steps, stats.seconds, stats.tokens)
    return with_statistics({"task": task.name, "steps": stats.steps, "learned": done["learned"],
                            "final_loss": stats.losses[-1],
                            "mean_extra_loss": sum(stats.extra_losses) / len(stats.extra_losses),
                            "tokens": stats.tokens, "seconds": stats.seconds,
                            "frozen_adapter_params": getattr(method, "frozen_params", 0),
                            **stats.execution()}, own)


def attach(base: nn.Module, method: Method, plan: dict, ctx: Context, device: torch.device,
           meter: CostMeter) -> tuple[nn.Module, dict[int, str]]:
    """A frozen copy of `base` with the method's adapter, on `device` (attached on the CPU, as in
    the continual protocol, so initialisations draw from the CPU generator), and its pretrained
    modules' names by identity (`continual.origins`), which tell a checkpoint what is pretrained."""
    model = frozen_copy(base).to("cpu")
    origin = origins(model)
    with meter.setup(), plugin_cpu_threads(device):
        method.attach(model, plan["targets"], plan["ranks"], ctx)
    return model.to(device), origin


# --- the run -----------------------------------------------------------------------------------

def measure_base(loaded: LoadedModel, suite: Suite, plan: EditPlan, cfg: RunConfig, device: torch.device,
                 record: RunRecord) -> tuple[list[int], dict]:
    """Select the requests on the base model and measure them and general capability before any
    edit; returns the selected positions in `suite.edits` and what the filter did."""
    tokenizer = loaded.tokenizer
    reference = frozen_copy(loaded.model).to(device)
    selected, selection = select_indices(reference, tokenizer, suite, plan, cfg, device)
    requests = [suite.edits[i] for i in selected]
    record.append({"stage": "selection", **selection, "edits": [
        {"edit": i, "prompt": r.prompt, "target_new": r.target_new, "ground_truth": r.ground_truth,
         "relation": r.relation} for i, r in enumerate(requests)]})
    measure_requests(reference, tokenizer, dict(enumerate(requests)), "base", cfg, device, record)
    measure_general(reference, tokenizer, suite, "base", cfg, device, record)
    reference.to("cpu")
    return selected, selection


@dataclass
class Stream:
    """What every mode of one run shares: the run's settings, the selected requests, the context and
    generators, the training log so far and where a resumed run starts."""

    loaded: LoadedModel
    suite: Suite
    cfg: RunConfig
    plan: EditPlan
    record: RunRecord
    requests: list[EditRequest]
    header: dict  # the fixed part of every checkpoint
    ctx: Context
    device: torch.device
    data_order: torch.Generator
    log: list[dict]
    done: int
    resume: dict | None
    save_adapters: bool
    cadence: Cadence
    meter: CostMeter

    @property
    def remaining(self) -> range:
        return range(self.done, len(self.requests))

    def bar(self, name: str):
        return tqdm(self.remaining, desc=f"{name} seed {self.cfg.seed} {self.plan.mode} edits", initial=self.done,
                    total=len(self.requests), dynamic_ncols=True)

    def checkpoint(self, index: int, state: dict) -> None:
        """After edit `index`, when it is not the last and the cadence says so."""
        if index + 1 < len(self.requests) and self.cadence.due():
            self.cadence.write(lambda: self.record.save_checkpoint(
                {**self.header, "edits_done": index + 1, "train": self.log, **state}))


def run(loaded: LoadedModel, method: Method, suite: Suite, cfg: RunConfig, record: RunRecord,
        save_adapters: bool = False, resume: dict | None = None) -> dict:
    """Run one (method, seed) over the edit requests; returns the metrics written to metrics.json.
    With `resume` (a checkpoint from `read_checkpoint`), the edits it holds are not made again."""
    plan = resolve_options(cfg)
    suite = prepare_suite(suite, cfg)
    device = torch.device(cfg.device)
    meter = CostMeter(device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # method initialisations
    data_order = torch.Generator().manual_seed(cfg.seed)  # batches: identical for every method
    budget = plan_budget(loaded.model, method, cfg)
    if resume is None:
        selected, selection = measure_base(loaded, suite, plan, cfg, device, record)
        done, log = 0, []
    else:
        selected, selection = list(resume["selected"]), resume["selection"]
        done, log = resume["edits_done"], list(resume["train"])
    requests = [suite.edits[i] for i in selected]
    header = {"version": CHECKPOINT_VERSION, "protocol": "edit", "mode": plan.mode, "selected": selected,
              "requests": request_pairs(requests), "selection": selection}
    svd = SVDCache(device=device, solver=cfg.svd)
    ctx = Context(tokenizer=loaded.tokenizer, device=device, generator=generator, preservation=suite.preservation,
                  batch_size=cfg.train.batch_size, max_length=cfg.train.max_length, svd=svd)
    stream = Stream(loaded, suite, cfg, plan, record, requests, header, ctx, device, data_order, log, done, resume,
                    save_adapters, Cadence(), meter)
    if is_editor(method):
        deltas, sizes = _editor_edits(stream, method)
        steps_rule = (f"{method.name}'s own procedure per {'batch' if plan.mode == 'batch' else 'edit'} (its options; "
                      f"--steps, --lr and --batch-size do not apply to editors)")
    else:
        deltas, sizes = _adapter_edits(stream, method, budget)
        steps_rule = (f"at most {plan.steps_per_edit} steps per task ("
                      + ("--steps" if plan.steps_per_edit == cfg.train.steps else
                         f"protocol default; --steps left at the CLI default {TrainConfig.steps}")
                      + f"), stop once every target token is the teacher-forced arg-max, checked every "
                        f"{CHECK_EVERY} step(s); every step sees every request of the task once")

    result = summarize(record.measurements())
    result["spectral"] = (spectral_diagnostics(loaded.model, deltas, DIAGNOSTIC_K, svd) if deltas
                          else empty_spectral(DIAGNOSTIC_K))
    result.update({key: result["spectral"]["mean"][key] for key in RECORD_KEYS})
    result.update(method_columns(log))
    steps = [entry["steps"] for entry in log]
    result.update(selection)
    count = f"N = {len(requests)}" + (" (all that pass the filter)" if plan.num_edits is None else "")
    result.update({
        "tasks": [f"{plan.mode} editing, {count}, " + (
            f"{method.name}'s own procedure" if is_editor(method) else
            f"at most {plan.steps_per_edit} steps per {'edit' if plan.mode != 'batch' else 'batch'} (early stop)")],
        "edit_mode": plan.mode, "num_edits": len(requests), "steps_per_edit": plan.steps_per_edit,
        "steps_rule": steps_rule, "data_source": plan.data or f"suite {suite.name}",
        "data_format": suite.definition.get("edit_data", {}).get("format", "suite"),
        "mean_steps": sum(steps) / len(steps), "learned_share": sum(e["learned"] for e in log) / len(log),
        **sizes, "train": log})
    result.update(meter.record(result.pop("adapter_mb"), result.pop("frozen_params")))
    return result


def _adapter_edits(stream: Stream, method: Method, budget: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """The edits made by training the method's adapter; returns the final ΔW per module and the
    record's size fields (budget, rank, trainable and planned counts)."""
    s = stream
    cfg, plan, record, requests, device, tokenizer = s.cfg, s.plan, s.record, s.requests, s.device, s.loaded.tokenizer
    adapters = record.dir / "adapters"
    if plan.mode == "single":
        if s.resume is not None:
            restore_rng(s.resume["rng"], {})
        for index in s.bar(method.name):
            # as if this were the run's only edit: same initialisation and batches for every request
            ctx = replace(s.ctx, generator=torch.Generator().manual_seed(cfg.seed))
            edited_method = type(method)(method.options)
            model, _ = attach(s.loaded.model, edited_method, budget, ctx, device, s.meter)
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            s.log.append(_learn_or_fail(model, edited_method, f"edit-{index:03d}", [requests[index]], tokenizer, cfg,
                                        plan, device, torch.Generator().manual_seed(cfg.seed), ctx, record, index,
                                        s.meter))
            measure_final(model, tokenizer, {index: requests[index]}, s.suite, cfg, device, record, edit=index)
            if s.save_adapters:
                export_peft_adapter(edited_method.delta_factors(model), adapters / f"{index:03d}", s.loaded.name)
            final_method = edited_method
            s.checkpoint(index, {"rng": rng_state({})})
    else:
        model, origin = attach(s.loaded.model, method, budget, s.ctx, device, s.meter)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if plan.mode == "batch":
            s.log.append(_learn_or_fail(model, method, f"batch-of-{len(requests)}", requests, tokenizer, cfg, plan,
                                        device, s.data_order, s.ctx, record, 0, s.meter))
        else:
            generators, pretrained = {"init": s.ctx.generator, "data_order": s.data_order}, s.loaded.model.state_dict()
            if s.resume is not None:
                restore(model, method, s.resume, generators)
            for index in s.bar(method.name):
                s.log.append(_learn_or_fail(model, method, f"edit-{index:03d}", [requests[index]], tokenizer, cfg,
                                            plan, device, s.data_order, s.ctx, record, index, s.meter))
                measure_requests(model, tokenizer, {index: requests[index]}, "immediate", cfg, device, record,
                                 kinds=(edit_metrics.REWRITE,))
                s.checkpoint(index, {"rng": rng_state(generators), "adapter": adapter_state(model, origin, pretrained),
                                     "method": method.state_dict(model)})
        measure_final(model, tokenizer, dict(enumerate(requests)), s.suite, cfg, device, record)
        if s.save_adapters:
            export_peft_adapter(method.delta_factors(model), adapters / "final", s.loaded.name)
        final_method = method
    deltas = {name: delta.cpu() for name, delta in final_method.delta_weights(model).items()}
    factors = final_method.delta_factors(model)
    return deltas, {"adapter_mb": peft_export_mb(factors, s.loaded.name),
                    "frozen_params": final_method.frozen_parameters(model),
                    "budget": budget["budget"], "rank": budget["rank"], "rank_histogram": budget["rank_histogram"],
                    "trainable_params": trainable,
                    "planned_trainable": budget["planned_trainable"], "adapted_modules": budget["modules"]}


def _editor_edits(stream: Stream, editor) -> tuple[dict[str, torch.Tensor], dict]:
    """The edits made by a knowledge editor in place (`edit_editors.py`); returns the final ΔW per
    module and the record's size fields."""
    s = stream
    cfg, plan, record, requests, device, tokenizer = s.cfg, s.plan, s.record, s.requests, s.device, s.loaded.tokenizer
    adapters = record.dir / "adapters"
    session = EditorSession(s.loaded, editor, s.ctx, device, s.meter)

    def apply(name: str, chosen: list[EditRequest], ctx: Context) -> dict:
        entry = session.edit(name, chosen, ctx)
        s.meter.trained(entry["steps"], entry["seconds"], None)  # editors count no tokens
        return {**entry, "learned": learned(session.model, tokenizer, chosen, cfg, device)}

    if plan.mode == "single":
        if s.resume is not None:
            restore_rng(s.resume["rng"], {})
        for index in s.bar(editor.name):
            session.undo_last()  # every request is edited on the pretrained weights, with a fresh generator
            ctx = replace(s.ctx, generator=torch.Generator().manual_seed(cfg.seed))
            s.log.append(apply(f"edit-{index:03d}", [requests[index]], ctx))
            measure_final(session.model, tokenizer, {index: requests[index]}, s.suite, cfg, device, record, edit=index)
            if s.save_adapters:
                export_edit(session, adapters / f"{index:03d}", s.loaded.name)
            s.checkpoint(index, {"rng": rng_state({})})
    else:
        if plan.mode == "batch":
            s.log.append(apply(f"batch-of-{len(requests)}", requests, s.ctx))
        else:
            generators = {"init": s.ctx.generator}
            if s.resume is not None:
                session.restore(s.resume)
                restore_rng(s.resume["rng"], generators)
            for index in s.bar(editor.name):
                s.log.append(apply(f"edit-{index:03d}", [requests[index]], s.ctx))
                measure_requests(session.model, tokenizer, {index: requests[index]}, "immediate", cfg, device, record,
                                 kinds=(edit_metrics.REWRITE,))
                s.checkpoint(index, {"rng": rng_state(generators), **session.checkpoint_state()})
        measure_final(session.model, tokenizer, dict(enumerate(requests)), s.suite, cfg, device, record)
        if s.save_adapters:
            export_edit(session, adapters / "final", s.loaded.name)
    exported = export_mb(lambda to: export_edit(session, to, s.loaded.name))  # no frozen adapter kept
    return module_deltas(session.changes()), {**editor_metrics(session), "adapter_mb": exported, "frozen_params": 0}


def _learn_or_fail(model, method, name, requests, tokenizer, cfg, plan, device, data_order, ctx, record,
                   index, meter) -> dict:
    try:
        return learn(model, method, edit_task(name, requests), requests, tokenizer, cfg, plan, device, data_order,
                     ctx, meter)
    except NonFiniteLoss as error:
        record.fail(str(error), task=name, task_index=index, step=error.step)
        raise
