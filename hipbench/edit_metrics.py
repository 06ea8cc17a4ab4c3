"""Knowledge-editing metrics (PROTOCOLS.md section 2): pure functions of recorded measurements.

The edit protocol records, for every scored (prompt, continuation) pair, the continuation's token
ids, the model's arg-max prediction at each of those positions under teacher forcing, and the
log-probability of each token. From those rows alone:

- **token accuracy** (EasyEdit's `rewrite_acc`, Wang et al., 2024): share of continuation tokens
  that are the arg-max; on the edit prompt with `target_new` it is **reliability**, on rephrases
  **generalization**, on portability prompts with their answers **portability**;
- **efficacy** (CounterFact's efficacy score, Meng et al., 2022, ROME section 3.2 / appendix; its
  code compares mean token NLLs): 1 when the mean token log-probability of `target_new` exceeds
  that of `ground_truth`, on the edit prompt (efficacy) and on rephrases (paraphrase score);
- **locality** (EasyEdit's `locality`): share of a locality answer's positions where the edited
  model's arg-max equals the pre-edit model's arg-max (the answer is the teacher-forcing input,
  not the reference).

- **generation** (`reliability_gen`, `generalization_gen`, `portability_gen`): the answer decoded
  greedily from the prompt, as many tokens as the reference answer has, equals the answer after
  `scoring.normalize` (first line, case, whitespace, trailing punctuation): 1 or 0 per prompt, as
  EasyEdit scores edits with generation instead of teacher forcing. All-or-nothing where token
  accuracy gives partial credit; the two agree on a fully learned answer.

Scores are averaged over a request's prompts first, then over requests, so a request with two
rephrases weighs as much as one with one. Where no request has a kind of prompt the metric is nan
(so are the generation metrics of records made before they were measured).
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np

from hipbench import metrics

# what each recorded kind scores: (prompt, continuation)
REWRITE = "rewrite"  # edit prompt -> target_new
REWRITE_OLD = "rewrite_old"  # edit prompt -> ground_truth
REPHRASE = "rephrase"  # rephrase -> target_new
REPHRASE_OLD = "rephrase_old"  # rephrase -> ground_truth
LOCALITY = "locality"  # locality prompt -> its answer
PORTABILITY = "portability"  # portability prompt -> its answer
KINDS = (REWRITE, REWRITE_OLD, REPHRASE, REPHRASE_OLD, LOCALITY, PORTABILITY)
# greedy generation of the same prompts: rows with "generated" text and "match" (0/1)
GENERATED = {REWRITE: "rewrite_gen", REPHRASE: "rephrase_gen", PORTABILITY: "portability_gen"}
GENERATED_SCORES = {"rewrite_gen": "reliability_gen", "rephrase_gen": "generalization_gen",
                    "portability_gen": "portability_gen"}


def token_accuracy(predicted: Sequence[int], target: Sequence[int]) -> float:
    """Share of positions where the arg-max prediction is the target token."""
    if len(predicted) != len(target):
        raise ValueError(f"predicted has {len(predicted)} tokens, target has {len(target)}")
    if not target:
        raise ValueError("token accuracy of an empty continuation")
    return sum(int(p == t) for p, t in zip(predicted, target)) / len(target)


def prefers_new(new_logprobs: Sequence[float], old_logprobs: Sequence[float]) -> bool:
    """CounterFact's efficacy test: mean token log-probability of the new answer above the old one's
    (ROME compares mean token NLLs, so answers of different lengths are comparable)."""
    if not new_logprobs or not old_logprobs:
        raise ValueError("efficacy needs both continuations to have at least one token")
    return float(np.mean(new_logprobs)) > float(np.mean(old_logprobs))


def agreement(base_predicted: Sequence[int], edited_predicted: Sequence[int]) -> float:
    """Locality of one prompt: share of positions where the edited model predicts what the
    pre-edit model predicted."""
    if len(base_predicted) != len(edited_predicted):
        raise ValueError(f"pre-edit has {len(base_predicted)} positions, post-edit has {len(edited_predicted)}")
    if not base_predicted:
        raise ValueError("locality of an empty continuation")
    return sum(int(a == b) for a, b in zip(base_predicted, edited_predicted)) / len(base_predicted)


def mean_over_requests(scores: dict[int, list[float]]) -> float:
    """Mean over requests of each request's mean score; nan when no request has a score."""
    means = [sum(values) / len(values) for values in scores.values() if values]
    return float(np.mean(means)) if means else math.nan


def _index(rows: Iterable[dict], stage: str) -> dict[tuple[int, str, int], dict]:
    return {(r["edit"], r["kind"], r["item"]): r for r in rows if r.get("stage") == stage and r.get("kind") in KINDS}


SCORE_NAMES = ("reliability", "efficacy", "generalization", "generalization_efficacy", "locality", "portability",
               *GENERATED_SCORES.values())


def request_scores(rows: Iterable[dict], stage: str = "final") -> dict[str, dict[int, list[float]]]:
    """Per metric, per request (edit index): the scores of its prompts at `stage`, with locality
    against the "base" stage. `edit_scores` averages them; the leaderboard resamples requests
    from them to bound differences between methods. Rows: {"stage", "edit", "kind", "item",
    "target", "predicted", "logprobs"}, and for the generation kinds {"stage", "edit", "kind",
    "item", "match"}."""
    rows = list(rows)
    now, base = _index(rows, stage), _index(rows, "base")
    scores: dict[str, dict[int, list[float]]] = {name: defaultdict(list) for name in SCORE_NAMES}
    for (edit, kind, item), row in sorted(now.items()):
        if kind in (REWRITE, REPHRASE, PORTABILITY):
            name = {REWRITE: "reliability", REPHRASE: "generalization", PORTABILITY: "portability"}[kind]
            scores[name][edit].append(token_accuracy(row["predicted"], row["target"]))
        if kind in (REWRITE, REPHRASE):
            old = now.get((edit, REWRITE_OLD if kind == REWRITE else REPHRASE_OLD, item))
            if old is not None:
                name = "efficacy" if kind == REWRITE else "generalization_efficacy"
                scores[name][edit].append(float(prefers_new(row["logprobs"], old["logprobs"])))
        if kind == LOCALITY:
            reference = base.get((edit, kind, item))
            if reference is None:
                raise ValueError(f"locality item {item} of edit {edit} has no pre-edit (base) measurement")
            scores["locality"][edit].append(agreement(reference["predicted"], row["predicted"]))
    for row in rows:
        if row.get("stage") == stage and row.get("kind") in GENERATED_SCORES:
            scores[GENERATED_SCORES[row["kind"]]][row["edit"]].append(float(row["match"]))
    return {name: dict(per_request) for name, per_request in scores.items()}


def edit_scores(rows: Iterable[dict], stage: str = "final") -> dict[str, float]:
    """Reliability, efficacy, generalization (+ efficacy), locality and portability of one stage's
    rows (see `request_scores`), each averaged over a request's prompts, then over requests."""
    return {name: mean_over_requests(per_request) for name, per_request in request_scores(rows, stage).items()}


def reliability_drops(rows: Iterable[dict]) -> dict[tuple[int, int], float]:
    """Sequential editing, per (edit, item) of the edit prompt: reliability right after the edit
    ("immediate" rows) minus after the last edit ("final"). Empty in single and batch modes."""
    rows = list(rows)
    immediate, final = _index(rows, "immediate"), _index(rows, "final")
    drops = {}
    for (edit, kind, item), row in sorted(immediate.items()):
        if kind == REWRITE and (edit, kind, item) in final:
            after = final[(edit, kind, item)]
            drops[(edit, item)] = (token_accuracy(row["predicted"], row["target"])
                                   - token_accuracy(after["predicted"], after["target"]))
    return drops


def reliability_drop(rows: Iterable[dict]) -> float:
    """Mean of `reliability_drops`: positive = later edits undid earlier ones. nan without
    immediate rows (single and batch modes)."""
    drops = list(reliability_drops(rows).values())
    return float(np.mean(drops)) if drops else math.nan


def retained_facts(rows: Iterable[dict]) -> dict[int, float]:
    """Per probe fact the base model knew: the share of "final" measurements (one per edited model;
    several in single mode) that still answer it correctly. Their mean over facts is the
    `fact_retention` of `general_degradation`."""
    general = [r for r in rows if r.get("task") == "general" and r.get("metric") == "fact_correct"]
    base = [r for r in general if r["stage"] == "base"]
    if not base:
        raise ValueError("no base (pre-edit) general-capability measurement")
    known = [bool(v) for v in base[0]["values"]]
    finals = [metrics.retained_facts(known, [bool(v) for v in r["values"]]) for r in general if r["stage"] == "final"]
    facts = sorted({fact for final in finals for fact in final})
    return {fact: float(np.mean([final[fact] for final in finals])) for fact in facts}


def general_degradation(rows: Iterable[dict]) -> dict[str, float]:
    """Known-fact retention and general-text NLL change from the "base" general rows to the
    "final" ones (PROTOCOLS.md section 1). Single mode has one final measurement per edited model:
    retention and NLL delta are then averaged over them, and the perplexity ratio is exp of the
    mean delta. Rows: {"stage", "task": "general", "metric": "fact_correct" (with "values") or
    "text_nll" (with "value")}."""
    general = [r for r in rows if r.get("task") == "general"]
    base = {r["metric"]: r for r in general if r["stage"] == "base"}
    final = [r for r in general if r["stage"] == "final"]
    if "fact_correct" not in base or "text_nll" not in base:
        raise ValueError("no base (pre-edit) general-capability measurement")
    known = [bool(v) for v in base["fact_correct"]["values"]]
    retention = [metrics.fact_retention(known, [bool(v) for v in r["values"]])
                 for r in final if r["metric"] == "fact_correct"]
    deltas = [metrics.nll_delta(base["text_nll"]["value"], r["value"]) for r in final if r["metric"] == "text_nll"]
    if not retention or not deltas:
        raise ValueError("no final (post-edit) general-capability measurement")
    kept = [v for v in retention if not math.isnan(v)]
    delta = float(np.mean(deltas))
    return {"fact_retention": float(np.mean(kept)) if kept else math.nan, "nll_delta": delta,
            "ppl_ratio": float(math.exp(delta))}
