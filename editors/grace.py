"""GRACE: General Retrieval Adaptors for Continual Editing (Hartvigsen, Sankaranarayanan, Palangi,
Kim & Ghassemi, NeurIPS 2023; arXiv 2211.11031).

GRACE changes no weight. It wraps one layer (here an MLP down-projection) with a codebook of
entries (key k_i, value v_i, deferral radius ε_i): at every token whose input h to the layer lies
within ε_i of its nearest key k_i (Euclidean distance), the layer's output is replaced by v_i;
every other input passes through untouched (section 3, "GRACE layer"). An edit (section 3.1,
"codebook maintenance"):
- the query is the layer's input at the prompt's last token (the token that predicts the answer),
  read from the same teacher-forced prompt + target sequence the value then trains on, so the
  training forward sees exactly the query (a prompt-only forward differs from it by bf16 rounding
  on the GPU, enough to miss a radius halved by splits);
- with no key within ε_init + ε_i of it, a new entry (query, v, ε_init) is added;
- if the nearest key is that close and has the same answer (label), its radius grows to the
  distance ("coverage" expansion) and its value is trained;
- if it is that close with another answer, a new entry is added and both radii are set to half the
  distance between the keys (the "split"), so the two never overlap;
- the value is trained by Adam (lr `edit_lr`) on the cross-entropy of the target tokens under
  teacher forcing (prompt masked) for at most `n_iter` steps, stopping once the loss is below 0.01
  (EasyEdit's `early_stop` regulariser); a new value starts "cold", uniform in [0, 1) from the
  run's seeded generator (EasyEdit's `val_init: cold`). An entry that no token reaches (a split
  with an identical key leaves both radii 0, and the nearest-key tie goes to the older entry) is
  not trained: its edit fails where measured, and the edit's info counts it as `unreached`
  (EasyEdit trains such a value at its position, but its lookup never returns it either).
Matching is per token (every position's input is compared with the keys, in training, teacher
forcing and generation alike), which makes the replacement independent of padding, batch layout
and the position of the prompt's end; EasyEdit instead replaces at one remembered position. The
codebook (keys, values, radii, labels) is the editor's state: it is checkpointed and restored,
and counted as the edit's added parameters.

Defaults (`Options`), from EasyEdit's hparams/GRACE/llama-7b.yaml: layer 27 of 32 (its
`model.layers[27].mlp.down_proj`), scaled by depth (SmolLM2-135M: 25 of 30; the tiny test model: 1
of 2); ε_init = 1.0, Euclidean distance, coverage expansion, `edit_lr` 1.0, `n_iter` 50.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hipbench.editor import Editor, layers_option, module_name, module_option, option_error, resolve_layers
from hipbench.method import Context, option, replace_module
from hipbench.suite import EditRequest, Example
from hipbench.train import collate, encode

from hipbench.editors.ft import STOP_LOSS, target_token_loss

LLAMA_DEPTH = 32


@dataclass
class GRACEOptions:
    """layers: one layer index ("" = 27 of 32, scaled); module: the wrapped linear; eps: ε_init;
    edit_lr, n_iter: the value's training (module docstring)."""

    layers: str = layers_option("the wrapped layer", most=1)
    module: str = module_option("model.layers.{}.mlp.down_proj", "the wrapped linear")
    eps: float = option(1.0, "ε_init: a new entry's deferral radius", gt=0)
    edit_lr: float = option(1.0, "Adam's learning rate for an entry's value", gt=0)
    n_iter: int = option(50, "at most this many steps per value", ge=1)


class GRACELayer(nn.Module):
    """A linear layer behind a codebook: outputs at inputs within an entry's radius are replaced."""

    def __init__(self, layer: nn.Linear) -> None:
        super().__init__()
        self.layer = layer
        self.keys = torch.zeros(0, layer.in_features)
        self.values = torch.zeros(0, layer.out_features)
        self.radii = torch.zeros(0)
        self.labels: list[str] = []
        self.training_value: torch.Tensor | None = None  # (entry, trainable value) while an edit trains

    def nearest(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distance to, and index of, the nearest key for every row of `inputs` (n × in)."""
        distances = torch.cdist(inputs.float(), self.keys.to(inputs.device).float())
        return distances.min(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer(x)
        if not len(self.keys):
            return out
        flat = x.reshape(-1, x.shape[-1])
        distance, index = self.nearest(flat)
        hit = distance <= self.radii.to(x.device)[index]
        if not bool(hit.any()):
            return out
        values = self.values.to(x.device, out.dtype)
        if self.training_value is not None:
            entry, value = self.training_value
            values = torch.cat([values[:entry], value.unsqueeze(0).to(out.dtype), values[entry + 1:]])
        replaced = torch.where(hit.unsqueeze(1), values[index], out.reshape(-1, out.shape[-1]))
        return replaced.reshape(out.shape)


class GRACE(Editor):
    name = "grace"
    description = "GRACE (Hartvigsen et al., 2023): codebook of key -> value replacements at one layer, deferral radius"
    Options = GRACEOptions

    def prepare(self, model: nn.Module, ctx: Context) -> None:
        layers = resolve_layers(self.name, self.options.layers, [27], LLAMA_DEPTH, model)
        if len(layers) != 1:
            raise option_error(self.name, "layers", f"GRACE wraps one layer (got {self.options.layers!r})")
        self.layer = layers[0]
        self.module = module_name(self.name, self.options.module, self.layer, model)
        replace_module(model, self.module, GRACELayer(model.get_submodule(self.module)))

    def weight_names(self, model: nn.Module) -> list[str]:
        return []  # GRACE changes no weight

    def statistics(self) -> dict:
        return {"layers": [self.layer]}

    def codebook(self, model: nn.Module) -> GRACELayer:
        return model.get_submodule(self.module)

    def state_dict(self, model: nn.Module) -> dict:
        book = self.codebook(model)
        if not len(book.keys):
            return {}
        return {"added": {"keys": book.keys.clone(), "values": book.values.clone(), "radii": book.radii.clone()},
                "labels": list(book.labels)}

    def load_state_dict(self, model: nn.Module, state: dict) -> None:
        book = self.codebook(model)
        if not state:
            book.keys = torch.zeros(0, book.layer.in_features)
            book.values = torch.zeros(0, book.layer.out_features)
            book.radii, book.labels = torch.zeros(0), []
            return
        added = state["added"]
        book.keys, book.values, book.radii = added["keys"].clone(), added["values"].clone(), added["radii"].clone()
        book.labels = list(state["labels"])

    @torch.no_grad()
    def query(self, model: nn.Module, batch: dict[str, torch.Tensor], position: int) -> torch.Tensor:
        """The wrapped layer's input at `position` (the prompt's last token) of the one-row `batch`."""
        taken = []
        handle = self.codebook(model).register_forward_pre_hook(lambda _m, inputs: taken.append(inputs[0][0, position]))
        try:
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        finally:
            handle.remove()
        return taken[0].detach().float().cpu()

    def add_entry(self, model: nn.Module, request: EditRequest, query: torch.Tensor, ctx: Context) -> int:
        """Codebook maintenance for one request (module docstring); returns the entry to train."""
        book, eps = self.codebook(model), self.options.eps
        cold = torch.rand(book.layer.out_features, generator=ctx.generator)
        if len(book.keys):
            distance, index = (float(v) for v in book.nearest(query.unsqueeze(0)))
            index = int(index)
            if distance <= eps + float(book.radii[index]):
                if book.labels[index] == request.target_new:
                    book.radii[index] = max(float(book.radii[index]), distance)
                    return index
                book.radii[index] = distance / 2
                self._append(book, query, cold, distance / 2, request.target_new)
                return len(book.keys) - 1
        self._append(book, query, cold, eps, request.target_new)
        return len(book.keys) - 1

    @staticmethod
    def _append(book: GRACELayer, key: torch.Tensor, value: torch.Tensor, radius: float, label: str) -> None:
        book.keys = torch.cat([book.keys, key.unsqueeze(0)])
        book.values = torch.cat([book.values, value.unsqueeze(0)])
        book.radii = torch.cat([book.radii, torch.tensor([radius])])
        book.labels = [*book.labels, label]

    def apply(self, model: nn.Module, requests: list[EditRequest], ctx: Context) -> dict:
        book, steps, losses, unreached = self.codebook(model), 0, [], 0
        was_training = model.training
        model.eval()
        try:
            for request in requests:
                encoded = [encode(ctx.tokenizer, Example(request.prompt, request.target_new), ctx.max_length,
                                  terminate=False)]
                batch = {k: v.to(ctx.device) for k, v in collate(encoded, ctx.tokenizer.pad_token_id).items()}
                query = self.query(model, batch, len(encoded[0][0]) - 1)
                entry = self.add_entry(model, request, query, ctx)
                distance, nearest = book.nearest(query.unsqueeze(0))
                if int(nearest) != entry or float(distance) > float(book.radii[entry]):
                    unreached += 1  # a tie with an identical older key (module docstring)
                    continue
                value = book.values[entry].clone().to(ctx.device).requires_grad_(True)
                book.training_value = (entry, value)
                optimizer = torch.optim.Adam([value], lr=self.options.edit_lr)
                for _ in range(self.options.n_iter):
                    optimizer.zero_grad()
                    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                    loss = target_token_loss(logits, batch["labels"])
                    if float(loss.detach()) < STOP_LOSS:
                        break
                    if not loss.requires_grad:  # no token reaches the entry (module docstring)
                        unreached += 1
                        break
                    loss.backward()
                    optimizer.step()
                    steps += 1
                losses.append(float(loss.detach()))
                book.values[entry] = value.detach().cpu()
                book.training_value = None
        finally:
            book.training_value = None
            model.train(was_training)
        return {"steps": steps, "final_loss": sum(losses) / len(losses) if losses else float("nan"),
                "codebook_entries": len(book.keys), "unreached": unreached}
