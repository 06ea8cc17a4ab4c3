"""The method contract: what a plugin implements, and the context every method receives.

Methods never own a training loop. The shared loop in `train.py` calls a few named hooks, which
is what keeps results comparable across methods (DESIGN.md, property 4).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from hipbench.suite import GeneralSet, TaskData

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

Ranks = int | Mapping[str, int]  # one rank for every target module, or one per target name


def module_ranks(rank: Ranks, targets: Sequence[str]) -> dict[str, int]:
    """Every target's rank, whether `attach` got one rank for all (the legacy contract, and what a
    third-party plugin may still pass on) or a mapping from the budget solver (`hipbench.budget`,
    which gives unequal ranks when that brings the trainable count within 1 % of the budget)."""
    if isinstance(rank, Mapping):
        missing = [name for name in targets if name not in rank]
        if missing:
            raise ValueError(f"no rank given for target module {missing[0]}")
        return {name: int(rank[name]) for name in targets}
    return {name: int(rank) for name in targets}


@dataclass
class Context:
    """Everything a method may read besides the model; identical for every method of a run.

    `preservation` is the suite's preservation set (never used for scoring); `generator` is the
    run's seeded CPU generator, so initialisations depend on the seed and nothing else; `svd`
    serves cached singular triplets of the pretrained weights.
    """

    tokenizer: Any
    device: torch.device
    generator: torch.Generator
    preservation: GeneralSet
    batch_size: int = 8
    max_length: int = 256
    svd: Any = None  # hipbench.spectral.SVDCache: the cached top-k SVD of pretrained weights
    extras: dict = dataclasses.field(default_factory=dict)


class Method:
    """Base class of adapter methods. Subclasses set `name`, `description`, `Options`.

    Hooks, in the order the shared loop calls them: `attach` once, then for every task
    `begin_task`, per step `extra_loss` (added to the task loss), `before_step` (after backward,
    before clipping) and `after_step` (after the optimizer step), and `end_task`. The optimizer
    trains whatever parameters have `requires_grad` at `begin_task` time; the base model is frozen
    before `attach`.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type]

    def __init__(self, options: Any | None = None) -> None:
        self.options = options if options is not None else self.Options()

    # --- budget -------------------------------------------------------------------------
    def trainable_per_module(self, out_features: int, in_features: int, rank: int) -> int:
        """Trainable parameters of one module of this shape at this rank; must grow with the rank
        (the budget solver relies on it)."""
        raise NotImplementedError

    def trainable_count(self, shapes: list[tuple[int, int]], rank: int | Sequence[int]) -> int:
        """Trainable parameters over `shapes` at one rank for all, or at `rank[i]` for shape i."""
        ranks = [rank] * len(shapes) if isinstance(rank, int) else list(rank)
        if len(ranks) != len(shapes):
            raise ValueError(f"{len(ranks)} ranks for {len(shapes)} modules")
        return sum(self.trainable_per_module(out_f, in_f, r) for (out_f, in_f), r in zip(shapes, ranks))

    # --- hooks --------------------------------------------------------------------------
    def attach(self, model: nn.Module, targets: list[str], rank: Ranks, ctx: Context) -> None:
        """Wrap every target linear. `rank` is one rank for all targets or a rank per target name
        (`module_ranks` reads either); each method's docstring states its scaling with unequal ranks."""
        raise NotImplementedError

    def begin_task(self, model: nn.Module, task: TaskData, ctx: Context) -> None:
        pass

    def extra_loss(self, model: nn.Module) -> torch.Tensor | None:
        return None

    def before_step(self, model: nn.Module) -> None:
        """After backward, before gradient clipping and the optimizer step: where a method that
        keeps parameters on a subspace projects their gradients."""

    def after_step(self, model: nn.Module) -> None:
        pass

    def end_task(self, model: nn.Module, task: TaskData, ctx: Context) -> None:
        pass

    # --- resuming at a task boundary ----------------------------------------------------
    # The protocol checkpoints every tensor of the model that is not an unchanged pretrained
    # weight (adapters, buffers, PiSSA's residual W) by itself; these two hooks carry what lives
    # outside the model. The state must be plain dicts/lists of tensors and primitives: it is
    # read back with `torch.load(weights_only=True)`, never unpickled as objects.
    def state_dict(self, model: nn.Module) -> dict:
        """The method's Python-side state at a task boundary (counters, anchors, frozen parts
        kept outside the model). Default: none."""
        return {}

    def load_state_dict(self, model: nn.Module, state: dict) -> None:
        """Restore `state_dict`'s output on a freshly attached model, before the model's tensors
        are loaded, so a method whose modules grow per task (O-LoRA) can rebuild their shape."""

    # --- results ------------------------------------------------------------------------
    def delta_factors(self, model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Low-rank factors `(B, A)` with `ΔW = B @ A` per adapted module, relative to the
        pretrained weight. Export writes these as a PEFT LoRA with scaling 1."""
        raise NotImplementedError

    def delta_weights(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Dense ΔW per adapted module: the one way results leave a method (merging,
        diagnostics and export all read it)."""
        return {name: b @ a for name, (b, a) in self.delta_factors(model).items()}


def adapter_input(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The activations as an adapter's matmuls take them. Under autocast the matmul casts its
    inputs to the autocast dtype itself, so casting bf16 activations up to the adapter's fp32 first
    would round-trip exactly and only add two full-size casts per module and pass (`aten::copy_`
    in the profiles of bench/RESULTS.md); without autocast the dtypes must match. Bit-identical
    for a layer whose input feeds one matmul (tests/test_adapter_input.py); HiP-LoRA's feeds two,
    whose input gradients its fp32 copy sums in fp32, so it keeps the cast until a re-run."""
    if torch.is_autocast_enabled(x.device.type):
        return x
    return x.to(dtype)


def delta_from_start(b: torch.Tensor, a: torch.Tensor, b0: torch.Tensor, a0: torch.Tensor,
                     scaling: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Factors of ΔW = s (B A - B0 A0) for adapters that start from a piece of W (PiSSA, SC-LoRA):
    the update relative to the pretrained weight has rank 2r, [s B | -s B0] @ [A ; A0]."""
    return torch.cat([b.detach(), -b0], dim=1) * scaling, torch.cat([a.detach(), a0], dim=0)


ADDED_LATER = "added_later"  # dataclasses.field metadata key: see defaulted_later


def defaulted_later(config: Any) -> set[str]:
    """The fields of a config dataclass (a RunConfig, a method's Options) that are marked
    `field(metadata={ADDED_LATER: True})` and hold their default: left out of a run's identity, so
    that the records made before the field existed (which ran exactly that default) keep their hash."""
    def default(f: dataclasses.Field) -> Any:
        return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return {f.name for f in dataclasses.fields(config)
            if f.metadata.get(ADDED_LATER) and getattr(config, f.name) == default(f)}


def identity_options(options: Any) -> dict:
    """The method options that identify a run: all of them, defaults filled in, but `defaulted_later`."""
    skipped = defaulted_later(options)
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.name not in skipped}


def options_from_strings(options_cls: type, pairs: dict[str, str]) -> Any:
    """Build a method's Options dataclass from `--option key=value` strings, typed by its fields."""
    fields = {f.name: f for f in dataclasses.fields(options_cls)}
    values: dict[str, Any] = {}
    for key, raw in pairs.items():
        if key not in fields:
            raise ValueError(f"--option {key}: unknown option; known: {', '.join(fields) or 'none'}")
        kind = type(getattr(options_cls(), key))
        try:
            values[key] = raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw)
        except ValueError:
            raise ValueError(f"--option {key}={raw}: expected {kind.__name__}") from None
    return options_cls(**values)


def find_targets(model: nn.Module, suffixes: tuple[str, ...]) -> list[str]:
    """Names of the `nn.Linear` modules whose last name component is one of `suffixes`."""
    names = [name for name, module in model.named_modules()
             if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in suffixes]
    if not names:
        raise ValueError(f"no nn.Linear named {', '.join(suffixes)} in the model")
    return names


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def adapted_layers(model: nn.Module, kind: type) -> dict[str, nn.Module]:
    """The adapter layers of class `kind` in `model`, by the name of the linear they wrap."""
    return {name: module for name, module in model.named_modules() if isinstance(module, kind)}
