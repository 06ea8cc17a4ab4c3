"""Sequential tuning (PROTOCOLS.md section 1): train tasks 1..T in order, evaluate every task after
each one, and measure general capability at every task boundary.

Row 0 of the accuracy matrix is the base model before the adapter is attached. Every method of
a seed sees the same data order and the same schedule: the data order has a generator of its own,
so however many random numbers a method draws for its initialisations, the batches do not change.

An interrupted run resumes at its last finished task boundary (`checkpoint`, `read_checkpoint`):
the runner finds the checkpoint, the record keeps the measurements up to that boundary, and `run`
rebuilds the model and method as usual, restores the state and trains the remaining tasks; on the
CPU the final metrics equal an uninterrupted run's except for wall-clock fields and the costs that
depend on the measuring process (`hipbench.costs.PROCESS_FIELDS`: a resumed run's cover the tasks it trained).

A method that measures itself (`Method.task_statistics`: HiP-LoRA's budget usage and projection
share) has its report in each task's train-log entry and the mean over tasks in the metrics
(`hipbench.method_statistics`): the table's optional "Budget usage" and "Projection active" columns.
"""
from __future__ import annotations

import json
import weakref
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hipbench import general_eval, metrics, scoring
from hipbench.budget import allocate_ranks, default_budget, rank_histogram, rank_summary, target_shapes
from hipbench.config import RunConfig
from hipbench.costs import CostMeter, peft_export_mb
from hipbench.drift import ROTATION_COLUMNS, ROTATION_OPTIONAL
from hipbench.editor import is_editor
from hipbench.export import export_peft_adapter
from hipbench.method import Context, Method, find_targets, plugin_cpu_threads
from hipbench.method_statistics import METHOD_COLUMNS, METHOD_OPTIONAL, method_columns, with_statistics
from hipbench.models import LoadedModel, frozen_copy
from hipbench.pareto import Axis
from hipbench.records import RunRecord
from hipbench.spectral import RECORD_KEYS, SVDCache, spectral_diagnostics
from hipbench.suite import Suite
from hipbench.train import NonFiniteLoss, train_task

DIAGNOSTIC_K = 32  # top-k singular subspace for the spectral diagnostics (PROTOCOLS.md section 4)

CHECKPOINT_VERSION = 1
OPTIONS: frozenset[str] = frozenset()  # protocol options (`hipbench run --edit-mode` etc.) it accepts
# The Pareto figure: forgetting and general-capability loss against AA (`hipbench.plots.plot_pareto`)
PARETO_PRIMARY = Axis("aa", "AA", True)
PARETO_TRADEOFFS = (Axis("bwt", "BWT", True), Axis("fact_retention", "fact retention", True),
                    Axis("nll_delta", "NLL Δ (nats)", False))
TUNING_OBJECTIVE = ("validation AA", ("aa",))  # hipbench.tuning: metric keys averaged
LEADERBOARD_COLUMNS = [
    ("aa", "AA"),
    ("bwt", "BWT"),
    ("fwt", "FWT"),
    ("forgetting", "Forgetting"),
    ("fact_retention", "Fact retention"),
    ("nll_delta", "NLL Δ"),
    ("ppl_ratio", "PPL ratio"),
    ("principal_energy", "Principal energy"),
    ("drift_left", "Boundary drift U"),
    ("drift_right", "Boundary drift V"),
    *ROTATION_COLUMNS,
    *METHOD_COLUMNS,
]
# Columns added after records were published: a table shows one only where a record has it.
OPTIONAL_COLUMNS = {**ROTATION_OPTIONAL, **METHOD_OPTIONAL}
LEADERBOARD_NOTE = (
        "AA = average final accuracy; BWT = backward transfer (negative = forgetting); FWT = forward "
        "transfer vs. the base model; Forgetting = mean max drop (Chaudhry et al., 2018); Fact retention = "
        "share of probe facts the base model knew that are still known; NLL Δ = general-text NLL change "
        "(PPL ratio = exp of it). Principal energy = share of ‖ΔW‖²_F inside the pretrained top-k singular "
        "subspaces; Boundary drift U/V = mean sin² of the principal angles between the top-k left/right singular "
        "subspaces of W0 and W0 + ΔW (k = 32; it also counts near-equal singular values swapping order at k), "
        "averaged over adapted layers."
)

# Outcome metrics compared with the baseline under the table (spectral diagnostics describe a
# method's update rather than its result; PPL ratio is exp(NLL Δ)).
PAIRED_COLUMNS = ("aa", "bwt", "fwt", "forgetting", "fact_retention", "nll_delta")


def trained_alone(metrics: dict) -> bool:
    """A stream of one task: its adapter never had an earlier one."""
    return len(metrics.get("tasks", [])) == 1


def example_scores(result: dict, rows: list[dict]) -> dict[str, tuple[str, dict[str, float]]]:
    """Per-example outcomes behind the table's metrics, where the records keep them: fact
    retention (one 0/1 per probe fact the base model knew) and the lm-eval changes from the base
    (`hipbench.general_eval.example_scores`); task accuracies are recorded as totals, so AA, BWT,
    FWT and forgetting can be bounded over seeds only."""
    last = len(result["tasks"])
    scores = general_eval.example_scores(rows, last)
    facts = {r["after_task"]: r["values"] for r in rows if r.get("metric") == "fact_correct"}
    if 0 not in facts or last not in facts:
        return scores
    kept = metrics.retained_facts([bool(v) for v in facts[0]], [bool(v) for v in facts[last]])
    return {"fact_retention": ("probe facts", {str(i): float(v) for i, v in kept.items()}), **scores}


def plan_budget(model: nn.Module, method: Method, cfg: RunConfig) -> dict:
    """Targets, budget, solved ranks and exact trainable count, before anything is trained, under
    the run's budget rule (`hipbench.budget`). `ranks` maps each target to its rank (what `attach`
    takes); `rank` is their summary (the rank, or "min–max") and `rank_histogram` their counts, as
    the record keeps them. A knowledge editor has none of these (`hipbench.editor`): its plan is empty."""
    if is_editor(method):
        return {"targets": [], "budget": None, "rank": None, "ranks": {}, "rank_histogram": None,
                "planned_trainable": None, "modules": 0}
    targets = find_targets(model, cfg.target_modules)
    shapes = target_shapes(model, targets)
    budget = cfg.budget if cfg.budget is not None else default_budget(shapes)
    ranks = allocate_ranks(method, shapes, budget, cfg.budget_rule, cfg.budget_tolerance)
    return {"targets": targets, "budget": budget, "rank": rank_summary(ranks), "ranks": dict(zip(targets, ranks)),
            "rank_histogram": rank_histogram(ranks), "planned_trainable": method.trainable_count(shapes, ranks),
            "modules": len(targets)}


def evaluate(model: nn.Module, tokenizer, suite: Suite, after_task: int, cfg: RunConfig,
             device: torch.device, record: RunRecord, meter: CostMeter) -> None:
    """Append one accuracy row per task and the general-capability rows for this boundary. The
    meter times each kind of scoring apart (`evaluation_choice`, `evaluation_exact`: greedy
    decoding, `evaluation_probes`), so a record says which part of its evaluation costs what."""
    for task in suite.tasks:
        with meter.phase(f"evaluation_{task.scoring}"):  # evaluation_choice or evaluation_exact (suite.Scoring)
            correct = scoring.task_correct(model, tokenizer, task, device, cfg.eval_batch_size)
        record.append({"after_task": after_task, "task": task.name, "metric": "accuracy",
                       "value": sum(correct) / len(correct), "n": len(correct)})
    with meter.phase("evaluation_probes"):
        facts = scoring.facts_correct(model, tokenizer, suite.probes.facts, device, cfg.eval_batch_size)
        nll, count = scoring.text_nll(model, tokenizer, suite.probes.texts, device)
    record.append({"after_task": after_task, "task": "general", "metric": "fact_correct",
                   "values": [int(c) for c in facts], "value": sum(facts) / max(1, len(facts)), "n": len(facts)})
    record.append({"after_task": after_task, "task": "general", "metric": "text_nll", "value": nll, "n": count})


# lm-eval rows of the base model, per loaded model and general-eval settings: the base is scored
# once per process, not once per run (`score_general`)
_BASE_SCORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def score_general(model: nn.Module, tokenizer, cfg: RunConfig, device: torch.device, record: RunRecord,
                  after_task: int, task_count: int, base_of: nn.Module) -> None:
    """Append the lm-eval rows of this boundary when `--general-eval` asks for it there
    (`hipbench.general_eval.boundaries`); the base model's (boundary 0) come from `base_of`'s
    memo when another run of this process scored the same model with the same settings."""
    if after_task not in general_eval.boundaries(cfg.general_eval, task_count):
        return
    from hipbench import lmeval_backend

    if after_task == 0:
        settings = {k: v for k, v in cfg.general_eval.items() if k != "every_task"}
        key = json.dumps([settings, str(device), cfg.eval_batch_size], sort_keys=True)
        memo = _BASE_SCORES.setdefault(base_of, {})
        if key not in memo:
            memo[key] = lmeval_backend.score(model, tokenizer, cfg.general_eval, device, cfg.eval_batch_size)
        rows = memo[key]
    else:
        rows = lmeval_backend.score(model, tokenizer, cfg.general_eval, device, cfg.eval_batch_size)
    for row in rows:
        record.append({"after_task": after_task, **row})


def summarize(rows: list[dict], task_names: list[str]) -> dict:
    """Final metrics from measurement rows only."""
    accuracy = metrics.accuracy_matrix(rows, task_names)
    last = len(task_names)
    general = {(r["after_task"], r["metric"]): r for r in rows if r["task"] == "general"}
    result = metrics.continual_metrics(
        accuracy,
        [bool(v) for v in general[(0, "fact_correct")]["values"]],
        [bool(v) for v in general[(last, "fact_correct")]["values"]],
        general[(0, "text_nll")]["value"],
        general[(last, "text_nll")]["value"],
    )
    result["accuracy_matrix"] = accuracy.tolist()
    result["tasks"] = list(task_names)
    result.update(general_eval.summarize(rows, last))
    return result


def origins(model: nn.Module) -> dict[int, str]:
    """Pretrained module identities and names, taken before `attach`: a module keeps its identity
    when a method wraps it (and through `.to(device)`), so its tensors can be found again."""
    return {id(module): name for name, module in model.named_modules()}


def adapter_state(model: nn.Module, origin: dict[int, str], pretrained: dict[str, torch.Tensor]) -> dict:
    """Every tensor of the model's state that is not an unchanged pretrained weight: the adapters,
    their buffers (HiP-LoRA's bases, PiSSA's A0/B0) and pretrained weights a method rewrote
    (PiSSA's and SC-LoRA's residual W). Unchanged weights are reloaded from the model instead."""
    state = model.state_dict()
    for name, module in model.named_modules():
        source = origin.get(id(module))
        if source is None:
            continue
        for local, _ in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            key, reference = f"{name}.{local}".lstrip("."), pretrained.get(f"{source}.{local}".lstrip("."))
            if key in state and reference is not None and torch.equal(state[key], reference.to(state[key].device)):
                del state[key]
    return {key: value.detach().cpu().clone() for key, value in state.items()}


def rng_state(generators: dict[str, torch.Generator]) -> dict:
    """The named generators and torch's global RNGs (dropout), as a checkpoint stores them."""
    rng = {name: gen.get_state() for name, gen in generators.items()}
    rng["torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict, generators: dict[str, torch.Generator]) -> None:
    """Put the named generators and torch's global RNGs back where `rng_state` found them."""
    for name, gen in generators.items():
        gen.set_state(rng[name])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def checkpoint(record: RunRecord, model: nn.Module, method: Method, suite: Suite, finished: int,
               adapters: dict, generators: dict[str, torch.Generator], train_log: list[dict]) -> None:
    """Write the state after task `finished` (after its evaluation rows). No optimizer state: the
    shared loop makes a fresh AdamW for every task (train.py), so none crosses a task boundary."""
    record.save_checkpoint({"version": CHECKPOINT_VERSION, "task": finished, "tasks": [t.name for t in suite.tasks],
                            "adapter": adapters, "method": method.state_dict(model), "rng": rng_state(generators),
                            "train_log": train_log})


def read_checkpoint(record: RunRecord, suite: Suite) -> dict | None:
    """The record's checkpoint if this suite's run can resume from it (same task list and format),
    with `at` (where it stands) and `rows` (the measurement rows it keeps) for `RunRecord.resume`.
    A checkpoint written before checkpoints counted their rows keeps its boundary's rows, which are
    a prefix of the file: evaluation rows are appended boundary by boundary."""
    state = record.load_checkpoint()
    if state is None or state.get("version") != CHECKPOINT_VERSION:
        return None
    if state.get("tasks") != [t.name for t in suite.tasks]:
        return None
    if "rows" not in state:
        state["rows"] = sum(row["after_task"] <= state["task"] for row in record.measurements(strict=False))
    return {**state, "at": {"after_task": state["task"]}}


def restore_adapter(model: nn.Module, method: Method, state: dict) -> None:
    """Put a freshly attached model and its method back at a checkpoint's `adapter` and `method`."""
    method.load_state_dict(model, state["method"])
    unexpected = model.load_state_dict(state["adapter"], strict=False).unexpected_keys
    if unexpected:
        raise RuntimeError(f"checkpoint holds tensors the attached model lacks: {', '.join(unexpected[:5])}")


def restore(model: nn.Module, method: Method, state: dict, generators: dict[str, torch.Generator]) -> None:
    """Put a freshly attached model, the method and the generators back at the checkpoint."""
    restore_adapter(model, method, state)
    restore_rng(state["rng"], generators)


def run(loaded: LoadedModel, method: Method, suite: Suite, cfg: RunConfig, record: RunRecord,
        save_adapters: bool = False, resume: dict | None = None) -> dict:
    """Run one (method, seed) over the suite; returns the metrics written to metrics.json.
    With `resume` (a checkpoint from `read_checkpoint`), tasks up to its boundary are not run again."""
    device = torch.device(cfg.device)
    meter = CostMeter(device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # method initialisations
    data_order = torch.Generator().manual_seed(cfg.seed)  # batches: identical for every method
    model = frozen_copy(loaded.model)
    plan = plan_budget(model, method, cfg)
    model.to(device)
    tokenizer = loaded.tokenizer
    task_count = len(suite.tasks)

    def score(after_task: int) -> None:  # every boundary's rows, timed as the run's evaluation
        with meter.phase("evaluation"):
            evaluate(model, tokenizer, suite, after_task, cfg, device, record, meter)
            score_general(model, tokenizer, cfg, device, record, after_task, task_count, loaded.model)

    if resume is None:
        score(0)

    svd = SVDCache(device=device, solver=cfg.svd)
    ctx = Context(tokenizer=tokenizer, device=device, generator=generator, preservation=suite.preservation,
                  batch_size=cfg.train.batch_size, max_length=cfg.train.max_length, svd=svd)
    model.to("cpu")
    origin, pretrained = origins(model), loaded.model.state_dict()
    with meter.setup(), plugin_cpu_threads(device):
        method.attach(model, plan["targets"], plan["ranks"], ctx)
    model.to(device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    generators = {"init": generator, "data_order": data_order}
    done, train_log = 0, []
    if resume is not None:
        restore(model, method, resume, generators)
        done, train_log = resume["task"], list(resume["train_log"])
    stream = tqdm(suite.tasks[done:], desc=f"{method.name} seed {cfg.seed}", dynamic_ncols=True)
    for index, task in enumerate(stream, start=done + 1):
        with meter.setup():
            method.begin_task(model, task, ctx)
        task_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        try:
            stats = train_task(model, method, task.train, tokenizer, cfg.train, device, data_order,
                               desc=f"train {task.name}", graphs=cfg.cuda_graphs)
        except NonFiniteLoss as error:
            record.fail(str(error), task=task.name, task_index=index, step=error.step)
            raise
        own = method.task_statistics(model)
        method.end_task(model, task, ctx)
        meter.trained(stats.steps, stats.seconds, stats.tokens)
        entry = {"task": task.name, "steps": stats.steps, "final_task_loss": stats.losses[-1],
                 "mean_task_loss": sum(stats.losses) / len(stats.losses),
                 "mean_extra_loss": sum(stats.extra_losses) / len(stats.extra_losses), "tokens": stats.tokens,
                 "seconds": stats.seconds, "trainable": task_trainable,
                 "frozen_adapter_params": getattr(method, "frozen_params", 0), **stats.execution()}
        train_log.append(with_statistics(entry, own))
        score(index)
        if save_adapters:
            export_peft_adapter(method.delta_factors(model), record.dir / "adapters" / f"{index:02d}-{task.name}",
                                loaded.name)
        checkpoint(record, model, method, suite, index, adapter_state(model, origin, pretrained), generators,
                   train_log)

    result = summarize(record.measurements(), [t.name for t in suite.tasks])
    with meter.phase("diagnostics"):
        deltas = {name: delta.cpu() for name, delta in method.delta_weights(model).items()}
        result["spectral"] = spectral_diagnostics(loaded.model, deltas, DIAGNOSTIC_K, svd)
    result.update({key: result["spectral"]["mean"][key] for key in RECORD_KEYS})
    result.update(method_columns(train_log))
    result.update({"budget": plan["budget"], "rank": plan["rank"], "rank_histogram": plan["rank_histogram"],
                   "trainable_params": trainable,
                   "planned_trainable": plan["planned_trainable"], "adapted_modules": plan["modules"],
                   "train": train_log})
    factors = method.delta_factors(model)
    result.update(meter.record(peft_export_mb(factors, loaded.name),
                               method.frozen_parameters(model)))
    return result


# --- leaderboard figures -------------------------------------------------------------------------
def mean_accuracy_matrices(records: list[dict]) -> dict[str, np.ndarray]:
    """R per method, averaged over seeds, from `accuracy_matrix` of each run's metrics.json (the
    runner computes it from the accuracy rows of measurements.jsonl; rows: base, then after task i)."""
    from hipbench.leaderboard import by_method

    return {label: np.mean([np.asarray(r["metrics"]["accuracy_matrix"], dtype=float) for r in group], axis=0)
            for label, group in by_method(records).items()}


def write_plots(records: list[dict], header: dict, rows: list[dict], stem: Path) -> list[Path]:
    """The figures next to a continual table (`hipbench leaderboard --plots`), all from the same
    records as the table."""
    from hipbench import plots
    from hipbench.leaderboard import table_file

    def png(name: str) -> Path:
        return table_file(stem, f"__{name}.png")

    title = f"{header['suite']} on {Path(header['model']).name}"
    matrices = mean_accuracy_matrices(records)
    return [plots.plot_accuracy_matrices(matrices, header["tasks"], png("accuracy_matrix"),
                                         f"{title}: accuracy matrix R (mean over seeds)"),
            plots.plot_forgetting_curves(matrices, header["tasks"], png("forgetting"),
                                         f"{title}: accuracy per task across the stream"),
            plots.plot_aa_vs_general(rows, png("aa_vs_general"), f"{title}: AA against general-capability loss"),
            plots.plot_spectral(rows, png("spectral"), f"{title}: spectral footprint"),
            plots.plot_pareto(rows, PARETO_PRIMARY, PARETO_TRADEOFFS, png("pareto"),
                              f"{title}: trade-offs (Pareto front dashed; better is up and right)")]
