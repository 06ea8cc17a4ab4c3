"""Batched evaluation: option log-likelihood, greedy exact match, fact probes and text NLL.

Classification is scored by the arg-max of the summed log-likelihood of each option given the
prompt (lm-evaluation-harness's `acc`): no sampling and no parsing failures. Generation tasks
decode greedily and compare after normalisation. Prompt and continuation are tokenized
separately, exactly as in training.
"""
from __future__ import annotations

import inspect
import math
import re
from typing import NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from hipbench.suite import Example, TaskData
from hipbench.train import collate, encode


def keeps_logits(model: nn.Module) -> bool:
    """Whether the model's forward takes transformers' `logits_to_keep` (a 1-D tensor of positions)."""
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def _batches(items: list, size: int, desc: str):
    for start in tqdm(range(0, len(items), size), desc=desc, leave=False, dynamic_ncols=True):
        yield items[start:start + size]


def continuation_scores(model: nn.Module, tokenizer, pairs: list[tuple[str, str]], device: torch.device,
                        batch_size: int = 32, max_length: int = 256,
                        desc: str = "score") -> list[tuple[float, bool]]:
    """For each (prompt, continuation): summed log-probability of the continuation tokens, and
    whether every continuation token is the arg-max under teacher forcing."""
    return [(float(sum(s.logprobs)), s.predicted == s.target)
            for s in teacher_forced(model, tokenizer, pairs, device, batch_size, max_length, desc)]


class TeacherForced(NamedTuple):
    """One continuation under teacher forcing, token by token (knowledge-editing metrics)."""

    target: list[int]  # the continuation's token ids
    predicted: list[int]  # the arg-max token at each of those positions
    logprobs: list[float]  # log-probability of each target token


@torch.no_grad()
def teacher_forced(model: nn.Module, tokenizer, pairs: list[tuple[str, str]], device: torch.device,
                   batch_size: int = 32, max_length: int = 256, desc: str = "teacher forcing") -> list[TeacherForced]:
    """Per (prompt, continuation): target ids, arg-max predictions and target log-probabilities at
    every continuation position. Editing metrics (EasyEdit's token accuracy, ROME's probability
    comparison, locality as agreement with the pre-edit predictions) are computed from these."""
    encoded = [encode(tokenizer, Example(p, c), max_length, terminate=False) for p, c in pairs]
    order = sorted(range(len(encoded)), key=lambda i: -sum(map(len, encoded[i])))
    results: list[TeacherForced | None] = [None] * len(encoded)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    keep = keeps_logits(model)
    for chunk in _batches(order, batch_size, desc):
        batch = {k: v.to(device) for k, v in collate([encoded[i] for i in chunk], tokenizer.pad_token_id).items()}
        targets = batch["labels"][:, 1:]
        scored = targets != -100
        # Logits only where some row of the batch scores a token (logits at p predict token p + 1):
        # a continuation is a few tokens after a long prompt, and the vocabulary projection of every
        # other position was most of a process's GPU memory and a large share of its FLOPs.
        # Row by row, so the values are the full projection's, up to its rounding.
        positions = scored.any(0).nonzero().squeeze(1) if keep else torch.arange(scored.shape[1], device=device)
        with autocast:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           **({"logits_to_keep": positions} if keep else {})).logits
        scored, targets = scored[:, positions], targets[:, positions]
        logprobs = torch.log_softmax(logits[:, :len(positions)][scored].float(), dim=-1)
        wanted = targets[scored]
        per_row = scored.sum(1).tolist()
        picked = logprobs.gather(-1, wanted.unsqueeze(-1)).squeeze(-1).cpu().split(per_row)
        predicted = logprobs.argmax(-1).cpu().split(per_row)
        wanted = wanted.cpu().split(per_row)
        for row, index in enumerate(chunk):
            results[index] = TeacherForced(wanted[row].tolist(), predicted[row].tolist(), picked[row].tolist())
    return results  # type: ignore[return-value]


def choice_correct(model: nn.Module, tokenizer, examples: tuple[Example, ...], device: torch.device,
                   batch_size: int = 32, desc: str = "choice") -> list[bool]:
    """Per example: is the gold answer the option with the highest log-likelihood?"""
    pairs = [(ex.prompt, option) for ex in examples for option in ex.options]
    scores = iter(continuation_scores(model, tokenizer, pairs, device, batch_size, desc=desc))
    correct = []
    for ex in examples:
        option_scores = [next(scores)[0] for _ in ex.options]
        correct.append(ex.options[max(range(len(ex.options)), key=option_scores.__getitem__)] == ex.answer)
    return correct


def normalize(text: str) -> str:
    """First line, lower-cased, whitespace collapsed, trailing punctuation dropped."""
    line = text.strip().split("\n", 1)[0] if text.strip() else ""
    return re.sub(r"\s+", " ", line).strip().rstrip(".!,;:").lower()


@torch.no_grad()
def greedy_continuations(model: nn.Module, tokenizer, prompts: list[str], max_new_tokens: int,
                         device: torch.device, batch_size: int = 32, desc: str = "generate") -> list[str]:
    """Greedy decoding of each prompt (left-padded batches), cut at EOS."""
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    outputs = [""] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    for chunk in _batches(order, batch_size, desc):
        width = max(len(encoded[i]) for i in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, index in enumerate(chunk):
            seq = encoded[index]
            ids[row, width - len(seq):] = torch.tensor(seq)
            mask[row, width - len(seq):] = 1
        generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                   generation_config=config)
        for row, index in enumerate(chunk):
            outputs[index] = tokenizer.decode(generated[row, width:], skip_special_tokens=True)
    return outputs


def exact_correct(model: nn.Module, tokenizer, examples: tuple[Example, ...], device: torch.device,
                  batch_size: int = 32, desc: str = "exact") -> list[bool]:
    longest = max(len(tokenizer(ex.answer, add_special_tokens=False)["input_ids"]) for ex in examples)
    outputs = greedy_continuations(model, tokenizer, [ex.prompt for ex in examples], longest + 2, device,
                                   batch_size, desc)
    return [normalize(out) == normalize(ex.answer) for out, ex in zip(outputs, examples)]


def task_correct(model: nn.Module, tokenizer, task: TaskData, device: torch.device,
                 batch_size: int = 32) -> list[bool]:
    score = choice_correct if task.scoring == "choice" else exact_correct
    return score(model, tokenizer, task.test, device, batch_size, desc=f"eval {task.name}")


def facts_correct(model: nn.Module, tokenizer, facts: tuple[Example, ...], device: torch.device,
                  batch_size: int = 32) -> list[bool]:
    """A fact counts as known when every answer token is the teacher-forced arg-max."""
    pairs = [(fact.prompt, fact.answer) for fact in facts]
    return [hit for _, hit in continuation_scores(model, tokenizer, pairs, device, batch_size, desc="facts")]


@torch.no_grad()
def text_nll(model: nn.Module, tokenizer, texts: tuple[str, ...], device: torch.device,
             batch_size: int = 16, max_length: int = 256) -> tuple[float, int]:
    """Mean token negative log-likelihood over all texts (every token after the first)."""
    pairs = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]
        pairs.append((ids[:1], ids[1:]))
    total, count = 0.0, 0
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    for chunk in _batches(pairs, batch_size, "text nll"):
        batch = {k: v.to(device) for k, v in collate(chunk, tokenizer.pad_token_id).items()}
        with autocast:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        targets = batch["labels"][:, 1:]
        losses = nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets,
                                             ignore_index=-100, reduction="sum")
        total += float(losses)
        count += int((targets != -100).sum())
    return (total / count if count else math.nan), count
