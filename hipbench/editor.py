"""The editor contract: knowledge editors change a model's weights directly instead of training an adapter.

ROME, MEMIT, AlphaEdit, FT-L, FT-M and GRACE (the baselines of the knowledge-editing literature)
apply a batch of edit requests to the model in place, by a closed form or by their own short
optimisation, rather than in the shared training loop of adapter methods (`hipbench.method`).
They register through the entry-point group `hipbench.editors`, as adapter methods do through
`hipbench.methods`, and the edit protocol treats both alike: same requests, modes, measurements,
records, checkpoints and export.

An editor has no trainable-parameter budget: what it changes is known after the edit, so
`edit` returns an `EditOutcome` with the weight deltas per parameter name, from which the protocol
counts the changed parameters, computes the rank of the change, exports it as a PEFT adapter and
can undo it exactly (`undo`). State that lives outside the weights (GRACE's codebook, AlphaEdit's
accumulated keys of earlier edits) goes through `state_dict` / `load_state_dict`, so a sequential
run can resume from a checkpoint.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from hipbench.method import Context, check_options, option
from hipbench.suite import EditRequest

KIND_ADAPTER = "adapter"
KIND_EDITOR = "editor"


@dataclass
class EditOutcome:
    """What one `Editor.edit` call changed.

    `deltas`: parameter name -> (weight after - weight before), on the CPU, for every parameter the
    edit changed; `previous`: the same parameters' values before the edit, for an exact `undo`;
    `state_before`: the editor's `state_dict` before the edit (GRACE's codebook); `steps`: the
    optimisation steps the edit took (summed over requests and layers); `info`: numbers the run
    record keeps in its per-edit log (losses, norms, codebook size)."""

    deltas: dict[str, torch.Tensor]
    previous: dict[str, torch.Tensor]
    state_before: dict
    steps: int
    seconds: float
    info: dict = field(default_factory=dict)


class Editor:
    """Base class of knowledge editors. Subclasses set `name`, `description`, `Options` (a dataclass
    whose docstring states every default and its source) and implement `apply`.

    Order of calls: `prepare(model, ctx)` once per model, before the first edit (resolve layers,
    load or compute statistics of the pretrained model, install modules such as GRACE's codebook
    layer); then `edit(model, requests, ctx)` per batch of requests, in place. `undo(model, outcome)`
    puts back what an `edit` changed. The model arrives frozen (no parameter requires grad)."""

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type]
    kind: ClassVar[str] = KIND_EDITOR

    def __init__(self, options: Any | None = None) -> None:
        self.options = options if options is not None else self.Options()
        check_options(self.options, self.name)  # each option against its declaration (`option`)

    # --- what subclasses implement ---------------------------------------------------------
    def prepare(self, model: nn.Module, ctx: Context) -> None:
        """Once per model, before the first edit; the model is the pretrained one."""

    def weight_names(self, model: nn.Module) -> list[str]:
        """Names of the parameters this editor may change (after `prepare`)."""
        raise NotImplementedError

    def apply(self, model: nn.Module, requests: list[EditRequest], ctx: Context) -> dict:
        """Apply the requests to the model in place; return `{"steps": int, ...}` for the log."""
        raise NotImplementedError

    def state_dict(self, model: nn.Module) -> dict:
        """State outside the weights that later edits depend on (plain tensors and primitives:
        checkpoints are read with `torch.load(weights_only=True)`). Default: none."""
        return {}

    def load_state_dict(self, model: nn.Module, state: dict) -> None:
        """Restore `state_dict`'s output on a prepared model."""

    def statistics(self) -> dict:
        """What the run record keeps about the statistics the editor used (corpus, token count)."""
        return {}

    # --- the protocol's entry points ------------------------------------------------------------
    def edit(self, model: nn.Module, requests: list[EditRequest], ctx: Context) -> EditOutcome:
        """Apply `requests` in place and report exactly what changed."""
        if not requests:
            raise ValueError(f"{self.name}: edit called with no request")
        params = dict(model.named_parameters())
        names = self.weight_names(model)
        previous = {name: params[name].detach().to("cpu", copy=True) for name in names}
        state_before = self.state_dict(model)
        start = time.perf_counter()
        info = self.apply(model, requests, ctx)
        seconds = time.perf_counter() - start
        deltas, kept = {}, {}
        for name in names:
            now = params[name].detach().cpu()
            if not torch.equal(now, previous[name]):
                deltas[name] = now - previous[name]
                kept[name] = previous[name]
        steps = int(info.pop("steps", 0))
        return EditOutcome(deltas, kept, state_before, steps, seconds, info)

    def undo(self, model: nn.Module, outcome: EditOutcome) -> None:
        """Put the weights and the editor's state back as they were before `outcome`'s edit."""
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in outcome.previous.items():
                params[name].copy_(value.to(params[name].device))
        self.load_state_dict(model, outcome.state_before)


def is_editor(method: Any) -> bool:
    """Whether a method instance or class is a knowledge editor (not an adapter method)."""
    return getattr(method, "kind", KIND_ADAPTER) == KIND_EDITOR


def check_protocol(method: Any, protocol: str, budget: int | None) -> None:
    """Editors run on editing suites only and take no budget: fail before anything loads."""
    if not is_editor(method):
        return
    if protocol != "edit":
        raise ValueError(f"--method {method.name}: a knowledge editor runs on editing suites only "
                         f"(--suite edit), not on a {protocol} suite")
    if budget is not None:
        raise ValueError(f"--budget does not apply to the knowledge editor {method.name}: editors have no "
                         f"trainable-parameter budget")


def option_error(editor: str, option: str, message: str) -> ValueError:
    """The one-line error for a bad editor option, naming it as the CLI spells it."""
    return ValueError(f"{editor}: --option {option}: {message}")


def decoder_layers(model: nn.Module) -> int:
    """Number of transformer blocks (`config.num_hidden_layers`)."""
    config = getattr(model, "config", None)
    count = getattr(config, "num_hidden_layers", None)
    if not isinstance(count, int) or count < 1:
        raise ValueError("the model's config has no num_hidden_layers: knowledge editors need a decoder-only "
                         "transformer with numbered layers")
    return count


def scaled_layer(reference: int, reference_depth: int, depth: int) -> int:
    """The layer at the same relative depth as `reference` of a `reference_depth`-layer model, in a
    `depth`-layer one (rounded, kept inside the model): how a default chosen for Llama-7B's 32 layers
    carries over to SmolLM2's 30 or the tiny test model's 2."""
    return min(depth - 1, max(0, round(reference * depth / reference_depth)))


def parse_layers(editor: str, spec: str) -> list[int]:
    """"4,5,6" or "4-8" -> layer indices ("" -> none: the default); checked when the editor is made,
    before any model is loaded (the range is checked against the model in `resolve_layers`)."""
    layers: list[int] = []
    try:
        for part in filter(None, (part.strip() for part in spec.split(","))):
            if "-" in part[1:]:
                low, high = part.split("-", 1)
                layers.extend(range(int(low), int(high) + 1))
            else:
                layers.append(int(part))
    except ValueError:
        raise option_error(editor, "layers", f"expected comma-separated integers or ranges like 4-8, got "
                                             f"{spec!r}") from None
    if spec.strip() and not layers:
        raise option_error(editor, "layers", f"{spec!r} names no layer")
    return layers


def is_layer_spec(spec: str, most: int | None = None) -> bool:
    """Whether `spec` is a layer option `parse_layers` reads ("" for the default, or indices >= 0),
    naming at most `most` distinct layers."""
    try:
        layers = parse_layers("", spec)
    except ValueError:
        return False
    return all(layer >= 0 for layer in layers) and (most is None or len(set(layers)) <= most)


def layers_option(help: str, most: int | None = None) -> str:
    """The `layers` option every editor has: its declaration (`hipbench.method.option`); `most`
    caps the number of layers (GRACE wraps one)."""
    if most == 1:
        return option("", help, valid=lambda spec: is_layer_spec(spec, 1),
                      allowed='one layer index >= 0 ("" for the default)')
    return option("", help, valid=is_layer_spec,
                  allowed='comma-separated layer indices >= 0 or ranges like 4-8 ("" for the default)')


def module_option(default: str, help: str) -> str:
    """The `module` option every editor has: a module name with `{}` standing for the layer."""
    return option(default, help, valid=lambda name: "{}" in name, allowed="a module name with {} for the layer")


def resolve_layers(editor: str, spec: str, defaults: list[int], reference_depth: int, model: nn.Module) -> list[int]:
    """The editor's layers: `spec` ("4,5,6" or "4-8") when given, else `defaults` (chosen for a
    `reference_depth`-layer Llama) scaled to this model's depth, duplicates dropped, ascending."""
    depth = decoder_layers(model)
    layers = parse_layers(editor, spec)
    if layers:
        if any(not 0 <= layer < depth for layer in layers):
            raise option_error(editor, "layers", f"{spec!r} is outside the model's layers 0..{depth - 1}")
    else:
        layers = [scaled_layer(layer, reference_depth, depth) for layer in defaults]
    return sorted(set(layers))


def module_name(editor: str, template: str, layer: int, model: nn.Module) -> str:
    """`template.format(layer)`, checked to name an `nn.Linear` of the model."""
    name = template.format(layer)
    try:
        module = model.get_submodule(name)
    except AttributeError:
        raise option_error(editor, "module", f"the model has no module {name}") from None
    if not isinstance(module, nn.Linear):
        raise option_error(editor, "module", f"{name} is a {type(module).__name__}, not an nn.Linear")
    return name


