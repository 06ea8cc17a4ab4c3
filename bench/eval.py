"""Evaluation throughput: hipbench's batched option scoring and greedy generation against a naive
loop that handles one example (and one option) at a time, on the same model and examples.

Scoring (`hipbench.scoring.choice_correct`): every (prompt, option) pair's summed continuation
log-likelihood, padded batches sorted by length. The naive loop runs one forward pass per pair.
Generation (`greedy_continuations`): left-padded batches through `model.generate`; the naive loop
generates one prompt at a time. Both sides use the same precision (bf16 autocast for scoring on
CUDA, as hipbench; generation as hipbench runs it), so the ratio measures batching alone.

Predictions must agree. Where they do not, the naive loop's two best options (or, for generation,
the two best next tokens at the first differing position) must be within `--tie-tol` nats: padding
changes the reduction order of bf16 matrix products, which can only flip a near-tie. Any other
disagreement fails the bench.

Examples: the built-in continual suite's test sets (choice with 4 and 8 options; number words and
two-digit sums for generation) and prompts in the cl-benchmark format (hipbench's template, with
dbpedia's 14, amazon's 5, agnews' 4, MNLI's 3 and BoolQA's 2 labels) with generated sentences of
typical length; `--data-dir` reads the real cl-benchmark files instead.

    python bench/eval.py --json eval.json                               # GPU, SmolLM2-135M
    python bench/eval.py --model tiny-llama --device cpu --limit 4      # quick check
"""
from __future__ import annotations

import argparse
import random
import time

import torch
from benchlib import environment, timed, write_json

from hipbench import scoring
from hipbench.models import load_model
from hipbench.suite import Example, TaskData
from hipbench.train import encode
from hipbench.tasks import cl_benchmark, continual

SCORING_TARGET = 10.0  # batched option scoring at least this many times the naive loop's examples/s, on a GPU
MAX_LENGTH = 256  # hipbench's scoring length (prompt cut from the left beyond it)
CL_LABELS = {  # the O-LoRA benchmark's label sets, 2 to 14 options
    "dbpedia": ["Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation",
                "Building", "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork"],
    "amazon": ["very negative", "negative", "neutral", "positive", "very positive"],
    "agnews": ["World", "Sports", "Business", "Sci/Tech"],
    "MNLI": ["entailment", "neutral", "contradiction"],
    "BoolQA": ["False", "True"],
}
CL_FIELDS = {"dbpedia": ("Title", "Text"), "amazon": ("Title", "Review"), "agnews": ("Title", "Text"),
             "MNLI": ("sentence 1", "sentence 2"), "BoolQA": ("question", "passage")}
WORDS = ("the a of and to in is was for on with as by at from his her their new city team year company music "
         "film river school group season album world market game government player station system village "
         "species state series road park church island house book song north south league club award").split()


def cl_like_tasks(limit: int, seed: int = 0) -> list[TaskData]:
    """cl-benchmark-format choice tasks with generated two-field sentences of 50–110 words (the
    benchmark's texts run to its 600-character cut)."""
    rng = random.Random(seed)
    text = lambda n: " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."  # noqa: E731
    tasks = []
    for name, labels in CL_LABELS.items():
        first, second = CL_FIELDS[name]
        examples = []
        for _ in range(limit):
            sentence = f"{first}: {text(rng.randint(5, 15))}\n{second}: {text(rng.randint(45, 95))}"
            label = rng.choice(labels)
            examples.append(Example(cl_benchmark._prompt(name, labels, sentence), f" {label}",
                                    tuple(f" {option}" for option in labels)))
        tasks.append(TaskData(f"cl-like/{name}", "choice", (), tuple(examples)))
    return tasks


def benchmark_tasks(limit: int, data_dir: str | None) -> list[TaskData]:
    suite = continual.load()
    tasks = [task.limited(limit) for task in suite.tasks]
    if data_dir:
        tasks += list(cl_benchmark.load(data_dir, n_train=1, n_test=limit).tasks)
    else:
        tasks += cl_like_tasks(limit)
    return tasks


@torch.no_grad()
def naive_option_scores(model, tokenizer, examples: tuple[Example, ...], device: torch.device) -> list[list[float]]:
    """One forward pass per (prompt, option): the option tokens' summed log-probability."""
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    scores = []
    for example in examples:
        row = []
        for option in example.options:
            # hipbench's split (prompt and option tokenized apart, the prompt cut from the left), so
            # that both loops score the same tokens
            prompt, cont = encode(tokenizer, Example(example.prompt, option), MAX_LENGTH, terminate=False)
            ids = torch.tensor([prompt + cont], device=device)
            with autocast:
                logits = model(input_ids=ids).logits[0]
            logprobs = torch.log_softmax(logits[len(prompt) - 1:-1].float(), dim=-1)
            row.append(float(logprobs.gather(-1, torch.tensor(cont, device=device)[:, None]).sum()))
        scores.append(row)
    return scores


def batched_option_scores(model, tokenizer, examples: tuple[Example, ...], device: torch.device,
                          batch_size: int) -> list[list[float]]:
    pairs = [(ex.prompt, option) for ex in examples for option in ex.options]
    flat = iter(score for score, _ in scoring.continuation_scores(model, tokenizer, pairs, device, batch_size))
    return [[next(flat) for _ in ex.options] for ex in examples]


@torch.no_grad()
def naive_generate(model, tokenizer, prompts: list[str], max_new_tokens: int,
                   device: torch.device) -> list[tuple[str, list[int]]]:
    """One `generate` call per prompt: (decoded text, generated token ids)."""
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    outputs = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]], device=device)
        new = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)[0, ids.shape[1]:]
        outputs.append((tokenizer.decode(new, skip_special_tokens=True), new.tolist()))
    return outputs


@torch.no_grad()
def divergence_margin(model, tokenizer, prompt: str, naive_ids: list[int], other: str, device: torch.device) -> float:
    """Where the naive loop's tokens stop spelling a prefix of the other output, the gap (nats) between
    the two most likely next tokens, in the naive loop's own context (fp32, as generation runs)."""
    shared = 0
    while shared < len(naive_ids) and other.startswith(
            tokenizer.decode(naive_ids[:shared + 1], skip_special_tokens=True)):
        shared += 1
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] + naive_ids[:shared]
    logits = model(input_ids=torch.tensor([ids], device=device)).logits[0, -1].float()
    top = torch.log_softmax(logits, -1).topk(2).values
    return float(top[0] - top[1])


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def compare_choices(naive: list[list[float]], batched: list[list[float]], tie_tol: float) -> dict:
    disagreements, near_ties = 0, 0
    for a, b in zip(naive, batched):
        if argmax(a) != argmax(b):
            disagreements += 1
            ordered = sorted(a, reverse=True)
            near_ties += ordered[0] - ordered[1] < tie_tol
    worst = max(abs(x - y) for a, b in zip(naive, batched) for x, y in zip(a, b))
    return {"disagreements": disagreements, "near_ties": near_ties, "max_abs_score_diff": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="an alias (tiny-llama for a quick check) or a path")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--limit", type=int, default=40, help="test examples per task")
    parser.add_argument("--batch-size", type=int, default=32, help="hipbench's eval batch size (its default)")
    parser.add_argument("--data-dir", default=None, help="a cl-benchmark data directory instead of generated prompts")
    parser.add_argument("--tie-tol", type=float, default=None,
                        help="largest top-two gap (nats) a disagreement may have (default 0.05 on CUDA, 1e-4 on CPU)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    tie_tol = args.tie_tol if args.tie_tol is not None else (0.05 if device.type == "cuda" else 1e-4)
    torch.backends.cuda.matmul.allow_tf32 = False  # as hipbench's runner sets it
    loaded, load_s = timed(lambda: load_model(args.model), device)
    model, tokenizer = loaded.model.to(device).eval(), loaded.tokenizer
    tasks = benchmark_tasks(args.limit, args.data_dir)
    choice = [ex for task in tasks if task.scoring == "choice" for ex in task.test]
    exact = [ex for task in tasks if task.scoring == "exact" for ex in task.test]
    report: dict = {"bench": "eval", "environment": environment(device), "model": args.model, "source": loaded.source,
                    "model_load_s": load_s, "batch_size": args.batch_size, "tie_tol": tie_tol,
                    "tasks": {t.name: {"scoring": t.scoring, "examples": len(t.test),
                                       "options": len(t.test[0].options) if t.test and t.scoring == "choice" else None}
                              for t in tasks}}
    print(f"{args.model} on {device} (loaded in {load_s:.1f} s): {len(choice)} choice examples "
          f"({sum(len(e.options) for e in choice)} option pairs), {len(exact)} generation prompts")

    warm = tuple(choice[:2])  # kernels, allocator and autocast caches, outside every timing
    naive_option_scores(model, tokenizer, warm, device)
    batched_option_scores(model, tokenizer, warm, device, args.batch_size)
    naive, naive_s = timed(lambda: naive_option_scores(model, tokenizer, tuple(choice), device), device)
    # untimed, before the timings: every batch shape once (a first pass over new shapes was 4x slower)
    batched = batched_option_scores(model, tokenizer, tuple(choice), device, args.batch_size)
    correct, batched_s = timed(lambda: scoring.choice_correct(model, tokenizer, tuple(choice), device,
                                                              args.batch_size), device)
    keeps = scoring.keeps_logits
    scoring.keeps_logits = lambda m: False  # the same batches with every position projected (before logits_to_keep)
    try:
        full_s = timed(lambda: scoring.choice_correct(model, tokenizer, tuple(choice), device, args.batch_size),
                       device)[1]
    finally:
        scoring.keeps_logits = keeps
    agreement = compare_choices(naive, batched, tie_tol)
    naive_correct = [ex.options[argmax(s)] == ex.answer for ex, s in zip(choice, naive)]
    agreement["correct_flags_differ"] = sum(a != b for a, b in zip(correct, naive_correct))
    report["scoring"] = {"examples": len(choice), "naive_s": naive_s, "batched_s": batched_s,
                         "naive_examples_per_s": len(choice) / naive_s, "batched_examples_per_s": len(choice) / batched_s,
                         "ratio": naive_s / batched_s, "accuracy": sum(correct) / len(correct),
                         "batched_full_projection_s": full_s, "ratio_full_projection": naive_s / full_s, **agreement}
    write_json(args.json, report)

    longest = max(len(tokenizer(ex.answer, add_special_tokens=False)["input_ids"]) for ex in exact)
    max_new = longest + 2  # as hipbench's exact_correct
    prompts = [ex.prompt for ex in exact]
    naive_generate(model, tokenizer, prompts[:2], max_new, device)
    scoring.greedy_continuations(model, tokenizer, prompts[:2], max_new, device, args.batch_size)
    naive_out, naive_gen_s = timed(lambda: naive_generate(model, tokenizer, prompts, max_new, device), device)
    batched_out, batched_gen_s = timed(lambda: scoring.greedy_continuations(model, tokenizer, prompts, max_new, device,
                                                                            args.batch_size), device)
    differing = [(p, ids, b) for p, (text, ids), b in zip(prompts, naive_out, batched_out) if text != b]
    margins = [divergence_margin(model, tokenizer, p, ids, b, device) for p, ids, b in differing]
    report["generation"] = {"prompts": len(prompts), "max_new_tokens": max_new, "naive_s": naive_gen_s,
                            "batched_s": batched_gen_s, "naive_examples_per_s": len(prompts) / naive_gen_s,
                            "batched_examples_per_s": len(prompts) / batched_gen_s, "ratio": naive_gen_s / batched_gen_s,
                            "disagreements": len(differing), "near_ties": sum(m < tie_tol for m in margins),
                            "disagreement_margins": margins}
    report["target"] = {"scoring_ratio_at_least": SCORING_TARGET, "met": report["scoring"]["ratio"] >= SCORING_TARGET,
                        "applies": device.type == "cuda"}
    write_json(args.json, report)

    s, g = report["scoring"], report["generation"]
    print(f"option scoring   naive {s['naive_examples_per_s']:8.1f} ex/s   batched {s['batched_examples_per_s']:8.1f} ex/s"
          f"   {s['ratio']:.1f}x  (target ≥ {SCORING_TARGET:.0f}x on a GPU: "
          f"{('met' if report['target']['met'] else 'MISSED') if device.type == 'cuda' else 'n/a here'})"
          f"   disagreements {s['disagreements']} "
          f"(near-ties {s['near_ties']}), max |score diff| {s['max_abs_score_diff']:.1e}")
    print(f"  the same batches projecting every position: {s['examples'] / s['batched_full_projection_s']:8.1f} ex/s"
          f"   {s['ratio_full_projection']:.1f}x")
    print(f"greedy generate  naive {g['naive_examples_per_s']:8.1f} ex/s   batched {g['batched_examples_per_s']:8.1f} ex/s"
          f"   {g['ratio']:.1f}x  disagreements {g['disagreements']} (near-ties {g['near_ties']})")
    print(f"(finished {time.strftime('%H:%M:%S')})")
    assert s["disagreements"] == s["near_ties"], "batched and naive option scoring disagree beyond near-ties"
    assert s["correct_flags_differ"] <= s["near_ties"], "choice_correct disagrees with the naive loop"
    assert g["disagreements"] == g["near_ties"], "batched and naive generation disagree beyond near-ties"


if __name__ == "__main__":
    main()
