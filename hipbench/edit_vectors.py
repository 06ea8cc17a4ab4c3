"""Keys and target values of locate-then-edit editors (ROME, MEMIT, AlphaEdit).

The three share two steps (ROME's `compute_u`/`compute_v`, MEMIT's `compute_ks`/`compute_z`):
- the **key** k* of a request at a layer: the input of that layer's MLP down-projection at the
  subject's last token, averaged over the prompt preceded by random text prefixes (ROME section
  3.1, eq. 3; MEMIT eq. 15), so the edit is not tied to one context;
- the **target value**: the vector that, added at a site (ROME: the MLP's output; MEMIT: the
  layer's output, the residual stream) at the subject's last token, makes the model predict
  `target_new` (ROME eq. 4, MEMIT eq. 16-17): δ is optimised with Adam on the negative
  log-likelihood of the target tokens after every prefixed prompt, plus the "essence" term, a
  KL divergence between the next-token distributions at the subject of "{subject} is a" with and
  without δ (weighted by `kl_factor`), plus a weight decay `‖δ‖ / ‖init‖²`; after each step δ
  is clamped to `clamp_norm_factor · ‖init‖`, and the loop stops early once the loss is below
  0.05, as the reference code does.

Prefixes are sampled from the model itself (top-5 sampling, as the reference `generate_fast`),
from the run's seeded generator, once per run on the pretrained model: `""` (the prompt alone)
and, per (length, count) pair, `count` texts of `length` new tokens after MEMIT's five opening
words ("The", "Therefore", "Because", "I", "You"; ROME samples its prefixes unconditionally after
GPT-2's <|endoftext|>, which a Llama tokenizer has no plain-text equivalent of), each followed
by ". ". Prompt and target are tokenized separately, exactly as the protocol scores them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hipbench.suite import EditRequest

OPENING_WORDS = ("The", "Therefore", "Because", "I", "You")
TOP_K = 5
EARLY_STOP_LOSS = 5e-2  # the reference compute_v / compute_z stop below this loss
FACT_TOKENS = ("subject_last", "last")


def parse_prefix_plan(editor: str, spec: str) -> list[tuple[int, int]]:
    """"5x10,10x10" -> [(5, 10), (10, 10)]: (tokens per prefix, number of prefixes)."""
    plan = []
    for part in spec.split(","):
        if not part.strip():
            continue
        try:
            length, count = (int(x) for x in part.lower().split("x"))
        except ValueError:
            raise ValueError(f"{editor}: --option prefixes: expected LENGTHxCOUNT pairs such as 5x10,10x10, "
                             f"got {spec!r}") from None
        if length < 1 or count < 1:
            raise ValueError(f"{editor}: --option prefixes: lengths and counts must be positive (got {spec!r})")
        plan.append((length, count))
    return plan


def is_prefix_plan(spec: str) -> bool:
    """Whether `spec` is a `prefixes` option `parse_prefix_plan` reads."""
    try:
        parse_prefix_plan("", spec)
        return True
    except ValueError:
        return False


@torch.no_grad()
def sample_prefixes(model: nn.Module, tokenizer, plan: list[tuple[int, int]], generator: torch.Generator,
                    device: torch.device) -> list[str]:
    """`[""]` and one sampled prefix per (length, count) draw, each ending in ". " (module docstring)."""
    prefixes = [""]
    for length, count in plan:
        for start in range(len(OPENING_WORDS)):
            rows = len(range(start, count, len(OPENING_WORDS)))  # prefixes given to this opening word
            if not rows:
                continue
            ids = torch.tensor([tokenizer(OPENING_WORDS[start], add_special_tokens=False)["input_ids"]] * rows)
            for _ in range(length):
                logits = model(input_ids=ids.to(device)).logits[:, -1].float().cpu()
                top = logits.topk(TOP_K, dim=-1)
                choice = torch.multinomial(torch.softmax(top.values, dim=-1), 1, generator=generator)
                ids = torch.cat([ids, top.indices.gather(1, choice)], dim=1)
            prefixes += [tokenizer.decode(row, skip_special_tokens=True).replace("\n", " ") + ". " for row in ids]
    return prefixes


def subject_position(tokenizer, text: str, subject_end: int) -> int:
    """Index of the token of `text` that holds character `subject_end - 1` (the subject's last token)."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded.get("offset_mapping")
    if offsets:
        starts = [i for i, (begin, _end) in enumerate(offsets) if begin < subject_end]
        return starts[-1]
    return len(tokenizer(text[:subject_end], add_special_tokens=False)["input_ids"]) - 1


def find_subject(prompt: str, subject: str) -> int:
    """Where `subject` starts in `prompt`, or -1. A prompt that starts with its subject has that
    subject capitalised ("the Great Wall" opens "The Great Wall is located in ...",
    `tasks.edit.sentence`), so the subject is also looked for with its first letter upper-cased
    at the prompt's start."""
    if not subject:
        return -1
    where = prompt.find(subject)
    if where < 0 and prompt.startswith(subject[:1].upper() + subject[1:]):
        return 0
    return where


def lookup(editor: str, tokenizer, prefix: str, prompt: str, subject: str, fact_token: str) -> tuple[list[int], int]:
    """Token ids of `prefix + prompt` and the position the fact is looked up at."""
    text = prefix + prompt
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if fact_token == "last":
        return ids, len(ids) - 1
    where = find_subject(prompt, subject)
    if where < 0:
        raise ValueError(f"{editor}: request {prompt!r}: its subject {subject!r} does not occur in the prompt "
                         f"(field subject; --option fact_token=last uses the prompt's last token instead)")
    return ids, subject_position(tokenizer, text, len(prefix) + where + len(subject))


def _batch(rows: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    return ids.to(device), mask.to(device)


def _first(output):
    return output[0] if isinstance(output, tuple) else output


@torch.no_grad()
def capture(model: nn.Module, tokenizer, rows: list[list[int]], positions: list[int], module: str,
            side: str, device: torch.device) -> torch.Tensor:
    """The input (`side="input"`) or output of `module` at one position per row, in fp64 on the CPU."""
    taken: list[torch.Tensor] = []
    index = torch.arange(len(rows), device=device), torch.tensor(positions, device=device)

    def pre(_module, inputs):
        taken.append(inputs[0][index].detach())

    def post(_module, _inputs, output):
        taken.append(_first(output)[index].detach())

    target = model.get_submodule(module)
    handle = target.register_forward_pre_hook(pre) if side == "input" else target.register_forward_hook(post)
    try:
        ids, mask = _batch(rows, tokenizer.pad_token_id, device)
        model(input_ids=ids, attention_mask=mask)
    finally:
        handle.remove()
    return taken[0].double().cpu()


def average_keys(editor: str, model: nn.Module, tokenizer, requests: list[EditRequest], prefixes: list[str],
                 module: str, fact_token: str, device: torch.device) -> torch.Tensor:
    """k* per request (rows): `module`'s input at the fact token, averaged over the prefixes."""
    rows, positions = [], []
    for request in requests:
        for prefix in prefixes:
            ids, position = lookup(editor, tokenizer, prefix, request.prompt, request.subject, fact_token)
            rows.append(ids)
            positions.append(position)
    keys = capture(model, tokenizer, rows, positions, module, "input", device)
    return keys.view(len(requests), len(prefixes), -1).mean(1)


def outputs_at(editor: str, model: nn.Module, tokenizer, requests: list[EditRequest], module: str, fact_token: str,
               device: torch.device) -> torch.Tensor:
    """`module`'s output at the fact token of each request's prompt alone (rows)."""
    pairs = [lookup(editor, tokenizer, "", r.prompt, r.subject, fact_token) for r in requests]
    return capture(model, tokenizer, [ids for ids, _ in pairs], [p for _, p in pairs], module, "output", device)


@dataclass(frozen=True)
class ValueSettings:
    """The target-value optimisation's options (each editor's docstring states its defaults)."""

    steps: int
    lr: float
    weight_decay: float
    kl_factor: float
    clamp_norm_factor: float
    fact_token: str


@dataclass
class TargetValue:
    """`init`: the site's output at the fact token of the prompt alone; `delta`: the optimised
    change; `steps`: Adam steps taken; `loss`: the last loss evaluated."""

    init: torch.Tensor
    delta: torch.Tensor
    steps: int
    loss: float


def optimise_value(editor: str, model: nn.Module, tokenizer, request: EditRequest, prefixes: list[str], site: str,
                   settings: ValueSettings, device: torch.device) -> TargetValue:
    """δ added at `site`'s output (the fact token of every prompt) that makes `target_new` likely
    (module docstring). The model's weights are not changed."""
    target = tokenizer(request.target_new, add_special_tokens=False)["input_ids"]
    if not target:
        raise ValueError(f"{editor}: request {request.prompt!r}: target_new {request.target_new!r} has no tokens")
    rows, positions, starts = [], [], []
    for prefix in prefixes:
        ids, position = lookup(editor, tokenizer, prefix, request.prompt, request.subject, settings.fact_token)
        rows.append(ids + target[:-1])
        positions.append(position)
        starts.append(len(ids))
    kl_ids, kl_position = lookup(editor, tokenizer, "", f"{request.subject} is a", request.subject,
                                 settings.fact_token)
    rows.append(kl_ids)
    positions.append(kl_position)
    ids, mask = _batch(rows, tokenizer.pad_token_id, device)
    n = len(prefixes)
    answer_positions = torch.tensor([[start - 1 + j for j in range(len(target))] for start in starts], device=device)
    answer_ids = torch.tensor(target, device=device).expand(n, -1)
    row_index, site_index = torch.arange(len(rows), device=device), torch.tensor(positions, device=device)

    module = model.get_submodule(site)
    width = module.out_features if isinstance(module, nn.Linear) else int(model.config.hidden_size)
    delta = torch.zeros(width, device=device, requires_grad=True)
    state: dict[str, torch.Tensor] = {}

    def add_delta(_module, _inputs, output):
        hidden = _first(output)
        if "init" not in state:
            state["init"] = hidden[0, positions[0]].detach().clone()
        hidden = hidden.clone()
        hidden[row_index, site_index] = hidden[row_index, site_index] + delta.to(hidden.dtype)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    optimizer = torch.optim.Adam([delta], lr=settings.lr)
    handle = module.register_forward_hook(add_delta)
    was_training = model.training
    model.eval()
    steps, value = 0, float("nan")
    try:
        for step in range(settings.steps):
            optimizer.zero_grad()
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            log_probs = torch.log_softmax(logits[:n].gather(
                1, answer_positions.unsqueeze(-1).expand(-1, -1, logits.size(-1))), dim=-1)
            nll = -log_probs.gather(-1, answer_ids.unsqueeze(-1)).squeeze(-1).mean(1).mean()
            kl_log_probs = torch.log_softmax(logits[n, kl_position], dim=-1)
            if "kl_init" not in state:
                state["kl_init"] = kl_log_probs.detach().clone()
            kl = settings.kl_factor * nn.functional.kl_div(state["kl_init"], kl_log_probs, log_target=True,
                                                            reduction="sum")
            decay = settings.weight_decay * delta.norm() / state["init"].norm() ** 2
            loss = nll + kl + decay
            value = float(loss.detach())
            if value < EARLY_STOP_LOSS or step == settings.steps - 1:
                break
            loss.backward()
            optimizer.step()
            steps += 1
            with torch.no_grad():
                limit = settings.clamp_norm_factor * state["init"].norm()
                if delta.norm() > limit:
                    delta.mul_(limit / delta.norm())
    finally:
        handle.remove()
        model.train(was_training)
    return TargetValue(state["init"].double().cpu(), delta.detach().double().cpu(), steps, value)

