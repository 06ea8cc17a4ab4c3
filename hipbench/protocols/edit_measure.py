"""What the edit protocol measures and how it turns measurement rows into its metrics and table.

Every scored (request, kind, item) becomes one row of `measurements.jsonl`: under teacher forcing
the continuation's token ids, the arg-max at each of its positions and their log-probabilities
(`measure_requests`); after the last edit also the answer decoded greedily from the prompt
(`measure_generation`); and the general-capability probes (`measure_general`). The metrics are
pure functions of those rows (`hipbench.edit_metrics`), whatever method or editor made the edit.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hipbench import edit_metrics, scoring
from hipbench.config import RunConfig
from hipbench.drift import ROTATION_COLUMNS, ROTATION_OPTIONAL
from hipbench.method_statistics import METHOD_COLUMNS, METHOD_OPTIONAL
from hipbench.pareto import Axis
from hipbench.records import RunRecord
from hipbench.suite import EditRequest, Suite

LEADERBOARD_COLUMNS = [
    ("reliability", "Reliability"),
    ("efficacy", "Efficacy"),
    ("generalization", "Generalization"),
    ("generalization_efficacy", "Gen. efficacy"),
    ("locality", "Locality"),
    ("portability", "Portability"),
    ("reliability_gen", "Reliability (gen.)"),
    ("generalization_gen", "Generalization (gen.)"),
    ("portability_gen", "Portability (gen.)"),
    ("reliability_drop", "Rel. drop"),
    ("fact_retention", "Fact retention"),
    ("nll_delta", "NLL Δ"),
    ("mean_steps", "Steps/edit"),
    ("principal_energy", "Principal energy"),
    ("drift_left", "Boundary drift U"),
    ("drift_right", "Boundary drift V"),
    *ROTATION_COLUMNS,
    *METHOD_COLUMNS,
]
LEADERBOARD_NOTE = (
    "Reliability / Generalization / Portability = token accuracy of the new answer under teacher forcing "
    "on the edit prompt / its rephrases / one-hop prompts (EasyEdit); Efficacy and Gen. efficacy = share "
    "of requests whose new answer has a higher mean token log-probability than the old one (CounterFact); "
    "Locality = share of locality-answer tokens predicted as before the edit; Rel. drop = reliability right "
    "after each edit minus after the last (sequential mode only). All measured after the last edit (single "
    "mode: after each edit on its own copy). Fact retention and NLL Δ as in the continual table. Steps/edit = "
    "mean optimizer steps per task (early stop once every target token is predicted). Principal energy and "
    "Boundary drift U/V: spectral diagnostics of the final ΔW (k = 32)."
)
# Columns added after records were published: a table shows one only when one of its records has
# it (older records never measured it: their tables stay as they were), with its sentence of the note.
OPTIONAL_COLUMNS = {
    "reliability_gen": ("(gen.) columns = share of prompts whose greedily decoded answer (as many tokens as the "
                        "reference) equals the reference after normalisation; n/a for records made before "
                        "generation was measured."),
    "generalization_gen": "",
    "portability_gen": "",
    **ROTATION_OPTIONAL,
    **METHOD_OPTIONAL,
}

# The Pareto figure: forgetting of earlier edits and general-capability loss against reliability
PARETO_PRIMARY = Axis("reliability", "reliability", True)
PARETO_TRADEOFFS = (Axis("reliability_drop", "Rel. drop", False), Axis("fact_retention", "fact retention", True),
                    Axis("nll_delta", "NLL Δ (nats)", False))

# Outcome metrics compared with the baseline under the table (not the step count or diagnostics).
PAIRED_COLUMNS = ("reliability", "efficacy", "generalization", "generalization_efficacy", "locality", "portability",
                  "reliability_gen", "generalization_gen", "portability_gen", "reliability_drop", "fact_retention",
                  "nll_delta")


def example_scores(result: dict, rows: list[dict]) -> dict[str, tuple[str, dict[str, float]]]:
    """Per-example outcomes behind the table's metrics, from the measurement rows: each edit
    request's mean score (the metrics average requests), each edit prompt's reliability drop,
    each known probe fact's retention. The general-text NLL is recorded as one total: none."""
    scores = {name: ("edit requests", {str(edit): sum(values) / len(values) for edit, values in per_request.items()
                                       if values})
              for name, per_request in edit_metrics.request_scores(rows, "final").items()}
    scores["reliability_drop"] = ("edit prompts", {f"{edit}/{item}": drop for (edit, item), drop
                                                   in edit_metrics.reliability_drops(rows).items()})
    scores["fact_retention"] = ("probe facts", {str(fact): kept for fact, kept
                                                in edit_metrics.retained_facts(rows).items()})
    return {name: entry for name, entry in scores.items() if entry[1]}


def scored_pairs(request: EditRequest) -> list[tuple[str, int, str, str]]:
    """(kind, item, prompt, continuation) of everything measured for one request."""
    pairs = [(edit_metrics.REWRITE, 0, request.prompt, request.target_new)]
    if request.ground_truth is not None:
        pairs.append((edit_metrics.REWRITE_OLD, 0, request.prompt, request.ground_truth))
    for item, prompt in enumerate(request.rephrase_prompts):
        pairs.append((edit_metrics.REPHRASE, item, prompt, request.target_new))
        if request.ground_truth is not None:
            pairs.append((edit_metrics.REPHRASE_OLD, item, prompt, request.ground_truth))
    pairs += [(edit_metrics.LOCALITY, item, ex.prompt, ex.answer) for item, ex in enumerate(request.locality)]
    pairs += [(edit_metrics.PORTABILITY, item, ex.prompt, ex.answer) for item, ex in enumerate(request.portability)]
    return pairs


def measure_requests(model: nn.Module, tokenizer, requests: dict[int, EditRequest], stage: str, cfg: RunConfig,
                     device: torch.device, record: RunRecord, kinds: tuple[str, ...] = edit_metrics.KINDS) -> None:
    """Append one row per scored (request, kind, item) at this stage; `requests` maps edit index -> request."""
    items = [(edit, kind, item, prompt, answer) for edit, request in requests.items()
             for kind, item, prompt, answer in scored_pairs(request) if kind in kinds]
    scores = scoring.teacher_forced(model, tokenizer, [(p, a) for *_, p, a in items], device, cfg.eval_batch_size,
                                    cfg.train.max_length, desc=f"measure {stage}")
    for (edit, kind, item, prompt, answer), score in zip(items, scores):
        record.append({"stage": stage, "edit": edit, "kind": kind, "item": item, "prompt": prompt,
                       "continuation": answer, "target": score.target, "predicted": score.predicted,
                       "logprobs": [round(v, 6) for v in score.logprobs]})


def measure_generation(model: nn.Module, tokenizer, requests: dict[int, EditRequest], stage: str, cfg: RunConfig,
                       device: torch.device, record: RunRecord) -> None:
    """Append one row per edit prompt, rephrase and portability prompt: the answer decoded greedily
    (as many new tokens as the reference answer has) and whether it matches after normalisation.
    Prompts are decoded together in groups of equal answer length."""
    items = [(edit, edit_metrics.GENERATED[kind], item, prompt, answer) for edit, request in requests.items()
             for kind, item, prompt, answer in scored_pairs(request) if kind in edit_metrics.GENERATED]
    lengths = [len(tokenizer(answer, add_special_tokens=False)["input_ids"]) for *_, answer in items]
    generated: list[str] = [""] * len(items)
    for length in sorted(set(lengths)):
        chosen = [i for i, n in enumerate(lengths) if n == length]
        texts = scoring.greedy_continuations(model, tokenizer, [items[i][3] for i in chosen], length, device,
                                             cfg.eval_batch_size, desc=f"generate {stage}")
        for i, text in zip(chosen, texts):
            generated[i] = text
    for (edit, kind, item, prompt, answer), text in zip(items, generated):
        record.append({"stage": stage, "edit": edit, "kind": kind, "item": item, "prompt": prompt,
                       "continuation": answer, "generated": text,
                       "match": int(scoring.normalize(text) == scoring.normalize(answer))})


def measure_general(model: nn.Module, tokenizer, suite: Suite, stage: str, cfg: RunConfig, device: torch.device,
                    record: RunRecord, edit: int | None = None) -> None:
    """Known-fact probes and general-text NLL, as the continual protocol measures them."""
    facts = scoring.facts_correct(model, tokenizer, suite.probes.facts, device, cfg.eval_batch_size)
    record.append({"stage": stage, "edit": edit, "task": "general", "metric": "fact_correct",
                   "values": [int(c) for c in facts], "value": sum(facts) / max(1, len(facts)), "n": len(facts)})
    nll, count = scoring.text_nll(model, tokenizer, suite.probes.texts, device)
    record.append({"stage": stage, "edit": edit, "task": "general", "metric": "text_nll", "value": nll, "n": count})


def measure_final(model: nn.Module, tokenizer, requests: dict[int, EditRequest], suite: Suite, cfg: RunConfig,
                  device: torch.device, record: RunRecord, edit: int | None = None) -> None:
    """Everything measured after the last edit (single mode: after each edit, `edit` naming it)."""
    measure_requests(model, tokenizer, requests, "final", cfg, device, record)
    measure_generation(model, tokenizer, requests, "final", cfg, device, record)
    measure_general(model, tokenizer, suite, "final", cfg, device, record, edit=edit)


def summarize(rows: list[dict]) -> dict:
    """Final metrics from measurement rows only."""
    result = edit_metrics.edit_scores(rows, "final")
    result["reliability_drop"] = edit_metrics.reliability_drop(rows)
    result.update(edit_metrics.general_degradation(rows))
    base = edit_metrics.edit_scores(rows, "base")
    result["base_reliability"] = base["reliability"]
    result["base_portability"] = base["portability"]
    return result


def write_plots(records: list[dict], header: dict, rows: list[dict], stem: Path) -> list[Path]:
    """`<stem>__pareto.png` next to an edit table (`hipbench leaderboard --plots`): Rel. drop, fact
    retention and NLL Δ against reliability, and against each cost the rows have, as Pareto fronts."""
    from hipbench.leaderboard import table_file
    from hipbench.plots import plot_pareto

    options = header.get("protocol_options") or {}
    setting = ", ".join(f"{key} {value}" for key, value in sorted(options.items()))
    title = f"{header['suite']} on {Path(header['model']).name}" + (f" ({setting})" if setting else "")
    return [plot_pareto(rows, PARETO_PRIMARY, PARETO_TRADEOFFS, table_file(stem, "__pareto.png"),
                        f"{title}: trade-offs (Pareto front dashed; better is up and right)")]
