"""The one training loop every method shares.

AdamW over whatever the method left trainable, linear warm-up then linear decay, gradient-norm
clipping, bf16 autocast on CUDA (fp32 on the CPU). The loss is the mean token cross-entropy of
the answer given the prompt; methods add terms through `extra_loss`, act on the gradients
through `before_step` and after each optimizer step through `after_step`. Same data order, steps
and schedule for every method. With `--cuda-graphs` a step's losses and backward are replayed as
CUDA graphs (`hipbench.graphed`), the plain loop's own kernels.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from hipbench.graphed import attention_mask, graphed_steps
from hipbench.method import Method
from hipbench.suite import Example

IGNORE = -100


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 150
    batch_size: int = 8
    lr: float = 5e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int = 256


@dataclass
class TrainStats:
    steps: int
    losses: list[float]  # the task loss alone, comparable across methods
    extra_losses: list[float]  # what the method added (0 when nothing)
    tokens: int
    seconds: float
    graphs: dict | None = None  # with CUDA graphs (hipbench.graphed): steps run eagerly, captured, replayed

    def execution(self) -> dict:
        """How the steps ran, for the record beside the losses: the CUDA graph counts, when used."""
        return {} if self.graphs is None else {"graphs": self.graphs}


class NonFiniteLoss(RuntimeError):
    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"loss became {value} at step {step}; run stopped")
        self.step = step
        self.value = value


def encode(tokenizer, example: Example, max_length: int, terminate: bool = True) -> tuple[list[int], list[int]]:
    """Prompt and answer ids, tokenized separately so that scoring and training split the same
    way; the prompt is cut from the left if the pair is longer than `max_length`.

    Training answers end with a newline rather than the EOS token: prompts are raw text, a newline
    is how raw text ends an answer, and greedy scoring reads the first line. Teaching an
    instruction-tuned model to emit its chat end-of-turn token after raw text would shift its
    general distribution for no benefit to any task.
    """
    prompt = tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
    answer = tokenizer(example.answer + ("\n" if terminate else ""), add_special_tokens=False)["input_ids"]
    answer = answer[:max_length - 1]
    prompt = prompt[-(max_length - len(answer)):]
    return prompt, answer


def collate(pairs: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded input ids, attention mask, and labels that score answer tokens only."""
    width = max(len(p) + len(a) for p, a in pairs)
    ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    labels = torch.full((len(pairs), width), IGNORE, dtype=torch.long)
    for row, (prompt, answer) in enumerate(pairs):
        seq = prompt + answer
        ids[row, :len(seq)] = torch.tensor(seq)
        mask[row, :len(seq)] = 1
        labels[row, len(prompt):len(seq)] = torch.tensor(answer)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def batch_schedule(n_examples: int, steps: int, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Example indices for each step: epochs of seeded permutations, concatenated."""
    order: list[int] = []
    needed = steps * batch_size
    while len(order) < needed:
        order.extend(torch.randperm(n_examples, generator=generator).tolist())
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(steps)]


def lr_factor(step: int, steps: int, warmup_ratio: float) -> float:
    warmup = max(1, math.ceil(steps * warmup_ratio)) if warmup_ratio > 0 else 0
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (steps - step) / max(1, steps - warmup))


def token_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    shifted = logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    return nn.functional.cross_entropy(shifted.reshape(-1, shifted.size(-1)), targets.reshape(-1),
                                       ignore_index=IGNORE)


def losses_backward(model: nn.Module, method: Method, batch: dict[str, torch.Tensor | None],
                    autocast) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The task loss (under autocast), the method's extra loss (outside it) and one backward of their
    sum: a step's work between the batch and the gradients, eager or replayed as a CUDA graph.

    The losses come back detached, so nothing outside keeps the step's autograd graph alive: a kept
    graph keeps each parameter's gradient accumulator, which remembers the CUDA stream it was made
    on, and the next step's capture would then accumulate on the eager stream, which a capture
    cannot wait on (torch's `cudaErrorStreamCaptureImplicit`, found on an H200: bench/RESULTS.md)."""
    with autocast:
        loss = token_loss(model, batch)
    extra = method.extra_loss(model)
    (loss if extra is None else loss + extra).backward()
    return loss.detach(), None if extra is None else extra.detach()


def train_task(model: nn.Module, method: Method, examples: tuple[Example, ...], tokenizer,
               cfg: TrainConfig, device: torch.device, generator: torch.Generator,
               desc: str = "train", stop: Callable[[int], bool] | None = None,
               terminate: bool = True, graphs: bool = False) -> TrainStats:
    """Train the method's trainable parameters on `examples` for `cfg.steps` steps.

    `stop(steps_done)`, when given, is asked after every step and ends training early when it
    returns True (knowledge editing stops once the edit is learned); the schedule stays the one of
    `cfg.steps`, so a stopped run is a prefix of the full one. `terminate=False` trains the answer
    tokens alone, without the closing newline (knowledge editing scores exactly those tokens).
    `graphs=True` (--cuda-graphs) replays each batch shape's step as a CUDA graph when the method is
    graph-safe (`hipbench.graphed`: the same kernels, fewer launches)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise RuntimeError(f"{method.name} left no trainable parameters")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, cfg.steps, cfg.warmup_ratio))
    encoded = [encode(tokenizer, ex, cfg.max_length, terminate) for ex in examples]
    schedule = batch_schedule(len(encoded), cfg.steps, cfg.batch_size, generator)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    losses: list[float] = []
    extra_losses: list[float] = []
    tokens = 0
    start = time.perf_counter()
    step_fn = lambda m, b: losses_backward(m, method, b, autocast)  # noqa: E731
    graphed = graphed_steps(graphs, method, params, step_fn, model, device)
    model.train()
    bar = tqdm(schedule, desc=desc, leave=False, dynamic_ncols=True)
    for step, indices in enumerate(bar):
        collated = collate([encoded[i] for i in indices], tokenizer.pad_token_id)
        batch_tokens = int(collated["attention_mask"].sum())  # counted on the host: no device sync per step
        batch = {k: v.to(device) for k, v in collated.items()}
        if graphed is None:
            loss, extra = step_fn(model, batch)
        else:  # the same step, replayed as one graph per batch shape
            padded = batch_tokens < collated["input_ids"].numel()
            batch["attention_mask"] = attention_mask(batch["attention_mask"], padded)
            loss, extra = graphed.losses_backward(model, batch)
        task_value = float(loss.detach())  # one host read per term and step
        extra_value = 0.0 if extra is None else float(extra.detach())
        value = task_value + extra_value
        if not math.isfinite(value):
            raise NonFiniteLoss(step, value)
        method.before_step(model)
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        if graphed is None:  # graphs keep their gradient tensors and zero them
            optimizer.zero_grad(set_to_none=True)
        method.after_step(model)
        losses.append(task_value)
        extra_losses.append(extra_value)
        tokens += batch_tokens
        bar.set_postfix(loss=f"{value:.3f}")
        if stop is not None and stop(step + 1):
            break
    bar.close()
    if graphed is not None:
        graphed.close()
    model.eval()
    return TrainStats(len(losses), losses, extra_losses, tokens, time.perf_counter() - start,
                      None if graphed is None else dict(graphed.counts))
