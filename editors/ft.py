"""Fine-tuning editors: FT-L (constrained fine-tuning, ROME's FT+L) and FT-M (EasyEdit's FT-M).

Both fine-tune the weight of one MLP down-projection on the edit requests with Adam, the rest of
the model frozen, and differ in the loss (and the default constraint):
- **FT-L** (Zhu et al., 2020, "Modifying memories in transformer models", as run by Meng et al.,
  2022, ROME appendix, "FT+L"): the negative log-likelihood of the target tokens read from the
  distribution at the prompt's last token (the reference `prompt_last` objective: every target
  token is scored at that one position, exact for single-token targets as in CounterFact), with an
  L∞ constraint: after every step each entry of W is clamped to within `norm_constraint` of its
  pretrained value (ROME's FT+L: 5e-4).
- **FT-M** (Wang et al., 2024, EasyEdit's `objective_optimization: target_new`, "FT-M" in its
  survey): the cross-entropy of the target tokens under teacher forcing on prompt + target, the
  prompt's tokens masked out (`target_token_loss`), no constraint.
Both follow the reference loop (EasyEdit's `ft_main.py`, from ROME's `baselines/ft`): up to
`num_steps` passes over the requests in chunks of `batch_size`, a step skipped when its loss is
already below 0.01, and a stop once a pass's mean loss is below 0.01.

Defaults (`Options`), for Llama: layer 21 of 32 (EasyEdit's hparams/FT/llama-7b.yaml; ROME ran
FT+L on GPT-2 XL's layer 0), scaled by depth (SmolLM2-135M: 20 of 30; the tiny test model: 1 of
2); 25 passes, lr 5e-4, weight decay 0, batch size 1 (EasyEdit's llama-7b); FT-L's
`norm_constraint` 5e-4 (ROME's hparams/FT/gpt2-xl_constr.json), FT-M's 0 = none (EasyEdit).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hipbench.editor import Editor, layers_option, module_name, module_option, resolve_layers
from hipbench.method import Context, option
from hipbench.suite import EditRequest, Example
from hipbench.train import IGNORE, collate, encode

LLAMA_DEPTH = 32
STOP_LOSS = 1e-2  # the reference skips a step, and stops, below this loss


@dataclass
class FTOptions:
    """layers: layer indices or ranges ("" = 21 of 32, scaled); module: the fine-tuned linear;
    num_steps: passes over the requests; lr, weight_decay: Adam's; norm_constraint: the L∞ radius
    around the pretrained weight (0 = none); batch_size: requests per step."""

    layers: str = layers_option("the fine-tuned layer(s)")
    module: str = module_option("model.layers.{}.mlp.down_proj", "the fine-tuned linear")
    num_steps: int = option(25, "passes over the requests", ge=1)
    lr: float = option(5e-4, "Adam's learning rate", gt=0)
    weight_decay: float = option(0.0, "Adam's weight decay", ge=0)
    norm_constraint: float = option(5e-4, "L∞ radius around the pretrained weight (0 = none)", ge=0)
    batch_size: int = option(1, "requests per step", ge=1)


@dataclass
class FTMOptions(FTOptions):
    norm_constraint: float = 0.0


def target_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """FT-M's loss: mean over examples of the mean token cross-entropy at the positions whose label
    is set (the target's tokens; prompt and padding are `IGNORE`), logits at p predicting p + 1."""
    shifted, targets = logits[:, :-1].float(), labels[:, 1:]
    losses = nn.functional.cross_entropy(shifted.transpose(1, 2), targets, ignore_index=IGNORE, reduction="none")
    scored = (targets != IGNORE).float()
    return ((losses * scored).sum(1) / scored.sum(1)).mean()


def prompt_last_loss(logits: torch.Tensor, last: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
    """FT-L's loss: mean over examples of the mean NLL of every target token at the prompt's last
    position `last[i]` (the reference `prompt_last`)."""
    log_probs = torch.log_softmax(logits[torch.arange(len(targets)), last].float(), dim=-1)
    return torch.stack([-log_probs[i, ids].mean() for i, ids in enumerate(targets)]).mean()


class FineTune(Editor):
    """FT-L and FT-M: the module docstring; subclasses pick the loss."""

    objective = ""

    def prepare(self, model: nn.Module, ctx: Context) -> None:
        self.layers = resolve_layers(self.name, self.options.layers, [21], LLAMA_DEPTH, model)
        self.modules = [module_name(self.name, self.options.module, layer, model) for layer in self.layers]

    def weight_names(self, model: nn.Module) -> list[str]:
        return [f"{name}.weight" for name in self.modules]

    def statistics(self) -> dict:
        return {"layers": self.layers}

    def loss(self, model: nn.Module, chunk: list[EditRequest], ctx: Context) -> torch.Tensor:
        examples = [Example(r.prompt, r.target_new) for r in chunk]
        encoded = [encode(ctx.tokenizer, ex, ctx.max_length, terminate=False) for ex in examples]
        if self.objective == "target_new":
            batch = {k: v.to(ctx.device) for k, v in collate(encoded, ctx.tokenizer.pad_token_id).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            return target_token_loss(logits, batch["labels"])
        prompts = collate([(prompt, []) for prompt, _ in encoded], ctx.tokenizer.pad_token_id)
        batch = {k: v.to(ctx.device) for k, v in prompts.items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        last = batch["attention_mask"].sum(1) - 1
        return prompt_last_loss(logits, last, [answer for _, answer in encoded])

    def apply(self, model: nn.Module, requests: list[EditRequest], ctx: Context) -> dict:
        options = self.options
        weights = [model.get_submodule(name).weight for name in self.modules]
        start = [w.detach().clone() for w in weights]
        for weight in weights:
            weight.requires_grad_(True)
        optimizer = torch.optim.Adam(weights, lr=options.lr, weight_decay=options.weight_decay)
        was_training = model.training
        model.eval()
        steps, mean = 0, float("nan")
        try:
            for _ in range(options.num_steps):
                losses = []
                for first in range(0, len(requests), options.batch_size):
                    optimizer.zero_grad()
                    loss = self.loss(model, requests[first:first + options.batch_size], ctx)
                    losses.append(float(loss.detach()))
                    if losses[-1] >= STOP_LOSS:
                        loss.backward()
                        optimizer.step()
                        steps += 1
                    if options.norm_constraint > 0:
                        with torch.no_grad():
                            for weight, origin in zip(weights, start):
                                weight.copy_(torch.clamp(weight, origin - options.norm_constraint,
                                                         origin + options.norm_constraint))
                mean = sum(losses) / len(losses)
                if mean < STOP_LOSS:
                    break
        finally:
            for weight in weights:
                weight.requires_grad_(False)
                weight.grad = None
            model.train(was_training)
        return {"steps": steps, "final_loss": mean}


class FTL(FineTune):
    name = "ft-l"
    description = "FT-L (ROME's FT+L): fine-tune one MLP layer, loss at the prompt's last token, L∞ constraint"
    Options = FTOptions
    objective = "prompt_last"


class FTM(FineTune):
    name = "ft-m"
    description = "FT-M (EasyEdit): fine-tune one MLP layer on the target tokens only (prompt masked)"
    Options = FTMOptions
    objective = "target_new"
