"""Scoring against hand-built expectations and brute-force recomputation."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hipbench import scoring
from hipbench.suite import Example

CPU = torch.device("cpu")


class NextByteLM(nn.Module):
    """Logits favour byte b+1 after byte b: deterministic, so the right answers are known."""

    def __init__(self, vocab: int, tokenizer) -> None:
        super().__init__()
        self.table = torch.full((vocab, vocab), -5.0)
        byte_id = {tokenizer.convert_tokens_to_ids(t): t for t in tokenizer.get_vocab()}
        for token_id in range(vocab):
            nxt = tokenizer.convert_tokens_to_ids(tokenizer.convert_ids_to_tokens(token_id))
            self.table[token_id, (nxt + 1) % vocab] = 5.0
        del byte_id

    def forward(self, input_ids, attention_mask=None):
        return type("Out", (), {"logits": self.table[input_ids]})()


def test_choice_picks_the_most_likely_option(tiny):
    _, tokenizer = tiny
    model = NextByteLM(len(tokenizer), tokenizer)
    ab = tokenizer("ab", add_special_tokens=False)["input_ids"]
    nxt = tokenizer.decode([ab[-1] + 1, ab[-1] + 2])
    examples = (Example("ab", nxt, (nxt, "zz")), Example("ab", "zz", ("zz", nxt)))
    assert scoring.choice_correct(model, tokenizer, examples, CPU) == [True, False]


def test_fact_is_known_only_if_every_token_is_argmax(tiny):
    _, tokenizer = tiny
    model = NextByteLM(len(tokenizer), tokenizer)
    ids = tokenizer("ab", add_special_tokens=False)["input_ids"]
    good = tokenizer.decode([ids[-1] + 1, ids[-1] + 2])
    half = tokenizer.decode([ids[-1] + 1, ids[-1] + 5])
    assert scoring.facts_correct(model, tokenizer, (Example("ab", good), Example("ab", half)), CPU) == [True, False]


def test_batched_greedy_matches_step_by_step_decoding(tiny):
    model, tokenizer = tiny
    prompts = ["hello there", "a", "the quick brown fox"]
    outputs = scoring.greedy_continuations(model, tokenizer, prompts, 4, CPU, batch_size=3)
    for prompt, output in zip(prompts, outputs):
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        new = []
        for _ in range(4):
            nxt = int(model(torch.tensor([ids + new])).logits[0, -1].argmax())
            if nxt == tokenizer.eos_token_id:
                break
            new.append(nxt)
        assert output == tokenizer.decode(new, skip_special_tokens=True)


def test_exact_match_compares_normalised_first_lines(tiny, monkeypatch):
    _, tokenizer = tiny
    seen = {}

    def fake_generate(model, tok, prompts, max_new_tokens, device, batch_size, desc):
        seen["max_new_tokens"] = max_new_tokens
        return [" Seventy-One.\nQ: next", " 71 apples", "42"]

    monkeypatch.setattr(scoring, "greedy_continuations", fake_generate)
    examples = (Example("p", " seventy-one"), Example("q", " 71"), Example("r", " 42"))
    assert scoring.exact_correct(None, tokenizer, examples, CPU) == [True, False, True]
    assert seen["max_new_tokens"] == len(" seventy-one") + 2  # byte tokenizer: one token per byte


@pytest.mark.parametrize("raw,clean", [(" Thirty-Seven.\nmore", "thirty-seven"), ("  71  ", "71"), ("", "")])
def test_normalize(raw, clean):
    assert scoring.normalize(raw) == clean


def test_text_nll_equals_the_models_own_loss(tiny):
    model, tokenizer = tiny
    texts = ("the cat sat", "a much longer sentence about dogs")
    nll, count = scoring.text_nll(model, tokenizer, texts, CPU, batch_size=2)
    total, n = 0.0, 0
    for text in texts:
        ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
        loss = model(ids, labels=ids).loss
        total += loss.item() * (ids.shape[1] - 1)
        n += ids.shape[1] - 1
    assert count == n and nll == pytest.approx(total / n, rel=1e-5)


def test_teacher_forcing_projects_only_scored_positions_and_changes_no_value(tiny, monkeypatch):
    """With transformers' logits_to_keep the batch's vocabulary projection covers the union of its
    rows' continuation positions only; targets, arg-max and log-probabilities stay those of the
    full projection (prompts of different lengths, so rows score different positions)."""
    model, tokenizer = tiny
    pairs = [("The capital of France is", " Paris"), ("ab", "cd"), ("a much longer prompt than the others", " x"),
             ("q", " an answer of several tokens"), ("", "text scored from its second token")]
    seen = []
    forward = model.forward

    def spy(*args, **kwargs):
        seen.append(kwargs.get("logits_to_keep"))
        return forward(*args, **kwargs)

    assert scoring.keeps_logits(model)
    monkeypatch.setattr(model, "forward", spy)
    monkeypatch.setattr(scoring, "keeps_logits", lambda m: True)
    kept = scoring.teacher_forced(model, tokenizer, pairs, CPU, batch_size=3)
    assert all(p is not None and p.ndim == 1 for p in seen)
    assert sum(len(p) for p in seen) < sum(len(tokenizer(p + c)["input_ids"]) for p, c in pairs)  # fewer rows projected
    monkeypatch.setattr(scoring, "keeps_logits", lambda m: False)
    full = scoring.teacher_forced(model, tokenizer, pairs, CPU, batch_size=3)
    for a, b in zip(kept, full):
        assert a.target == b.target and a.predicted == b.predicted and a.target
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)
