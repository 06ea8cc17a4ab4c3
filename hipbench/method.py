"""The method contract: what a plugin implements, and the context every method receives.

Methods never own a training loop. The shared loop in `train.py` calls a few named hooks, which
is what keeps results comparable across methods (DESIGN.md, property 4).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, ContextManager

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
    # Whether the shared loop may replay a step's forward, extra loss and backward as CUDA graphs
    # (hipbench.graphed, --cuda-graphs): only if those draw no random numbers, read no device value
    # on the host, and read no tensor the method replaces during a task. A plugin that does not say
    # so trains eagerly.
    graph_safe: ClassVar[bool] = False

    def __init__(self, options: Any | None = None) -> None:
        self.options = options if options is not None else self.Options()
        check_options(self.options, self.name)

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

    def task_statistics(self, model: nn.Module) -> dict:
        """What the method measured of itself in the task just trained (HiP-LoRA: how much of its
        budget it used and how often its projection acted), asked after training, before
        `end_task`; every protocol keeps it in the unit's log entry and averages its column keys
        over units (`hipbench.method_statistics`). Plain JSON values only. Default: nothing, and
        the record has no such entry."""
        return {}

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
    @classmethod
    def alone_equals(cls, options: Any) -> str | None:
        """The method this one is, exactly, where it has no earlier adapter (every adapter of a merge
        run, a single or batch edit, a one-task stream): its name in words ("LoRA"), so the
        leaderboard shows that row as that method's, not as a result (O-LoRA). None: itself."""
        return None

    def frozen_parameters(self, model: nn.Module) -> int:
        """Parameters the method keeps beside the pretrained model without training them (O-LoRA's
        earlier adapters): a memory cost the trainable count does not show (`hipbench.costs`)."""
        return 0

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


@contextmanager
def one_cpu_thread() -> Iterator[None]:
    """The block with one intra-op CPU thread, for an initialisation a plugin computes on the CPU.
    CPU BLAS splits a product by the thread count and rounds it accordingly (HiP-LoRA's
    complement projection of A at rank 7 on SmolLM2: 27 % of the entries 1e-8 apart between one
    thread and two), so without it the same seed gave a `hipbench run` process (all cores) and a
    Ray worker (one thread) different adapters, and HiP-LoRA's budget turned that into metrics up
    to 0.037 apart (bench/RESULTS.md). One thread is what every Ray-made record computed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def plugin_cpu_threads(device: torch.device) -> ContextManager[None]:
    """What a plugin's own CPU work (an adapter's `attach`, which runs on the CPU; an editor's
    `prepare` and `edit`) runs under in a run on `device`: one thread in a GPU run, the process's
    threads in a CPU run, where the whole model computes on them. CPU algebra rounds by the thread
    count (HiP-LoRA's initial A, `one_cpu_thread`; the editors' fp64 solves of ROME, MEMIT and
    AlphaEdit, 1e-14 apart between one thread and eight and sometimes a bit of the fp32 update),
    so a GPU run's numbers are the same in a `hipbench run` process and in a one-thread Ray worker."""
    return one_cpu_thread() if device.type == "cuda" else nullcontext()


def delta_from_start(b: torch.Tensor, a: torch.Tensor, b0: torch.Tensor, a0: torch.Tensor,
                     scaling: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Factors of ΔW = s (B A - B0 A0) for adapters that start from a piece of W (PiSSA, SC-LoRA):
    the update relative to the pretrained weight has rank 2r, [s B | -s B0] @ [A ; A0]."""
    return torch.cat([b.detach(), -b0], dim=1) * scaling, torch.cat([a.detach(), a0], dim=0)


ADDED_LATER = "added_later"  # dataclasses.field metadata key: see defaulted_later
EARLIER = "earlier"  # field metadata key: the value records made before an added_later field ran
READ_IF = "read_if"  # field metadata key: a predicate on the options, false where the field is not read
DEFAULT_WAS = "default_was"  # field metadata key: an option's default before it changed


def earlier_value(f: dataclasses.Field) -> Any:
    """What a run made before field `f` existed ran: its `EARLIER` value where declared (a field
    that made a new behaviour the default), else its default."""
    if EARLIER in f.metadata:
        return f.metadata[EARLIER]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def defaulted_later(config: Any) -> set[str]:
    """The fields of a config dataclass (a RunConfig, a method's Options) that are marked
    `field(metadata={ADDED_LATER: True})` and hold the value the records made before the field existed
    ran (`earlier_value`): left out of a run's identity, so that those records keep their hash."""
    return {f.name for f in dataclasses.fields(config)
            if f.metadata.get(ADDED_LATER) and getattr(config, f.name) == earlier_value(f)}


def unread(options: Any) -> set[str]:
    """The options that these options make irrelevant (their `read_if` is false: LaLoRA's `accumulate`
    under `refresh=true`): the method never reads them, so they do not identify a run."""
    return {f.name for f in dataclasses.fields(options)
            if f.metadata.get(READ_IF) is not None and not f.metadata[READ_IF](options)}


def options_as_recorded(options_cls: type, resolved: dict) -> Any:
    """The Options a record ran, from its `method_options_resolved`: a field the record does not
    name did not exist when it was made, so it ran that field's `earlier_value`, not today's default."""
    missing = {f.name: earlier_value(f) for f in dataclasses.fields(options_cls)
               if f.metadata.get(ADDED_LATER) and f.name not in resolved}
    return options_cls(**{**missing, **resolved})


def identity_options(options: Any) -> dict:
    """The method options that identify a run: all of them, defaults filled in, but `defaulted_later`
    and `unread` ones."""
    skipped = defaulted_later(options) | unread(options)
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.name not in skipped}


def identity_named(options_cls: type, named: Mapping[str, str], method: str = "") -> dict[str, str]:
    """The options a run named (`--option`, as typed) as its identity keeps them. Left out: an option
    named at the value that was its default before the default changed (`default_was`), and one added
    later named at the value the records before it ran (`earlier`): the run is then the one a record
    made back then without naming it, and finds it (`--option refresh=true` for LaLoRA's records)."""
    fields = {f.name: f for f in dataclasses.fields(options_cls)}
    kept = {}
    for name, raw in named.items():
        meta = fields[name].metadata if name in fields else {}
        former = [meta[key] for key in (DEFAULT_WAS, EARLIER) if key in meta]
        if former and parse_option(options_cls, name, str(raw), method or options_cls.__name__) in former:
            continue
        kept[name] = raw
    return kept


def shown_value(value: Any) -> str:
    """An option value as `--option` takes it: `true`, `step`, `1000`."""
    return str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) else str(value)


def untyped_differences(options_cls: type, typed: Mapping[str, Any], resolved: Mapping[str, Any]) -> dict[str, str]:
    """Options a record ran with a value other than today's default without naming it: a default
    changed after the record was made (LaLoRA's `refresh`, true until the paper's form became the
    default). A record's row label shows them, so that an old record and a new run of the same
    behaviour share a row and a new default never takes an old record's row. `resolved` is the
    record's `method_options_resolved`; an option it lacks ran its `earlier_value` (one added later)
    or is skipped; options the others leave unread are skipped, and so are recorded options the
    method no longer has."""
    fields = {f.name: f for f in dataclasses.fields(options_cls)}
    ran = options_as_recorded(options_cls, {name: value for name, value in resolved.items() if name in fields})
    default, skipped = options_cls(), unread(ran) | set(typed)
    return {name: shown_value(getattr(ran, name)) for name in fields
            if name not in skipped and (name in resolved or fields[name].metadata.get(ADDED_LATER))
            and getattr(ran, name) != getattr(default, name)}


OPTION = "option"  # dataclasses.field metadata key: an OptionSpec (see `option`)
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class OptionSpec:
    """What values a method option accepts and what it means: the declaration `option` puts in a
    field's metadata, read by `check_option` (run input) and `option_rows` (`hipbench list methods
    --options`, README's table), so the accepted range is stated once, beside the default."""

    help: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] = ()
    valid: Callable[[Any], bool] | None = None  # for structured strings ("4-8", "10x5")
    allowed: str = ""  # what `valid` accepts, in words
    infinite: bool = False  # +inf is accepted too (HiP-LoRA's budget=inf: no bound)

    def _describe(self, kind: type) -> str:
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if kind is bool:
            return "true or false"
        if self.allowed:
            return self.allowed
        noun = {int: "an integer", float: "a number", str: "text"}.get(kind, kind.__name__)
        low = (self.ge, "[") if self.ge is not None else (self.gt, "(") if self.gt is not None else None
        high = (self.le, "]") if self.le is not None else (self.lt, ")") if self.lt is not None else None
        if low and high:
            return f"{noun} in {low[1]}{low[0]:g}, {high[0]:g}{high[1]}"
        if low:
            return f"{noun} {'>=' if low[1] == '[' else '>'} {low[0]:g}"
        if high:
            return f"{noun} {'<=' if high[1] == ']' else '<'} {high[0]:g}"
        return "a finite number" if kind is float else noun

    def describe(self, kind: type) -> str:
        """The accepted values in words: "integer >= 1", "number in (0, 1]", "one of diag, kfac"."""
        return self._describe(kind) + (", or inf" if self.infinite else "")

    def accepts(self, value: Any) -> bool:
        if self.choices and value not in self.choices:
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return self.infinite and value == math.inf
        bounds_ok = ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                     and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))
        return bounds_ok and (self.valid is None or bool(self.valid(value)))


def option(default: Any, help: str, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None, choices: tuple[str, ...] = (), valid: Callable[[Any], bool] | None = None,
           allowed: str = "", infinite: bool = False, added_later: bool = False, earlier: Any = dataclasses.MISSING,
           read_if: Callable[[Any], bool] | None = None, default_was: Any = dataclasses.MISSING) -> Any:
    """A method option's field: its default, one-line meaning and accepted values (bounds `ge`/`gt`/
    `le`/`lt`, `choices`, or a `valid` predicate described by `allowed`), declared once where the
    default is, for adapter methods and knowledge editors alike. Only the value enters a run's
    identity (`identity_options`), so declaring or changing a range never changes a config hash.

    `infinite` accepts +inf besides the range. `added_later`: records made before the option existed
    ran `earlier` (default: `default`), and a run at that value keeps their hash; `read_if(options)`
    false: the method ignores the option under those options, and it is left out of the run's
    identity; `default_was`: the default before it changed to `default`, which a run may name to be a
    record's made then (`identity_named`)."""
    metadata: dict[str, Any] = {OPTION: OptionSpec(help, ge, gt, le, lt, tuple(choices), valid, allowed, infinite)}
    if earlier is not dataclasses.MISSING and not added_later:
        raise ValueError("option(earlier=...) is the value of records made before an added_later option existed")
    if added_later:
        metadata[ADDED_LATER] = True
        if earlier is not dataclasses.MISSING:
            metadata[EARLIER] = earlier
    if read_if is not None:
        metadata[READ_IF] = read_if
    if default_was is not dataclasses.MISSING:
        metadata[DEFAULT_WAS] = default_was
    return dataclasses.field(default=default, metadata=metadata)


def option_spec(options_cls: type, name: str) -> OptionSpec | None:
    """The spec of option `name`, from the nearest class that declares one: an Options subclass
    that only changes a default (FT-M's `norm_constraint = 0.0`) keeps its base's range."""
    for cls in options_cls.__mro__:
        declared = getattr(cls, "__dataclass_fields__", {}).get(name)
        if declared is not None and OPTION in declared.metadata:
            return declared.metadata[OPTION]
    return None


def _kind(options_cls: type, name: str) -> type:
    field_ = {f.name: f for f in dataclasses.fields(options_cls)}[name]
    return type(field_.default if field_.default is not dataclasses.MISSING else field_.default_factory())


def option_value_error(method: str, name: str, shown: Any, options_cls: type) -> ValueError:
    """The one-line error for a bad option value: method, option, value and what is allowed."""
    spec = option_spec(options_cls, name)
    allowed = spec.describe(_kind(options_cls, name)) if spec else _kind(options_cls, name).__name__
    return ValueError(f"{method}: --option {name}={shown}: expected {allowed}")


def parse_option(options_cls: type, name: str, raw: str, method: str) -> Any:
    """One `--option name=raw` string, typed by the field's default and checked against its spec."""
    kind = _kind(options_cls, name)
    text = raw.strip()
    try:
        if kind is bool:
            if text.lower() not in TRUE_WORDS + FALSE_WORDS:
                raise ValueError
            value: Any = text.lower() in TRUE_WORDS
        else:
            value = kind(text)
    except (ValueError, TypeError, OverflowError):
        raise option_value_error(method, name, raw, options_cls) from None
    check_option(options_cls, name, value, method, shown=raw)
    return value


def check_option(options_cls: type, name: str, value: Any, method: str, shown: str | None = None) -> None:
    """Fail in one line (`option_value_error`, showing `shown` or the value) unless `value` is of the
    field's type and its spec accepts it."""
    kind = _kind(options_cls, name)
    spec = option_spec(options_cls, name)
    right_type = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        right_type, value = True, float(value)
    if not right_type or (spec is not None and not spec.accepts(value)):
        raise option_value_error(method, name, value if shown is None else shown, options_cls)


def check_options(options: Any, method: str) -> None:
    """Every field of an Options instance against its spec, however the instance was built."""
    for f in dataclasses.fields(options):
        check_option(type(options), f.name, getattr(options, f.name), method)


def options_from_strings(options_cls: type, pairs: dict[str, str], method: str = "") -> Any:
    """Build a method's Options dataclass from `--option key=value` strings, typed by its fields and
    checked against their declared values (`option`), so a bad value fails before anything loads:
    the one place `--option` and sweep-file options are read."""
    fields = {f.name: f for f in dataclasses.fields(options_cls)}
    where = f"{method}: " if method else ""
    values: dict[str, Any] = {}
    for key, raw in pairs.items():
        if key not in fields:
            raise ValueError(f"{where}--option {key}: unknown option; known: {', '.join(fields) or 'none'}")
        values[key] = parse_option(options_cls, key, raw, method or options_cls.__name__)
    return options_cls(**values)


def option_rows(options_cls: type) -> list[tuple[str, str, str, str]]:
    """(name, default, accepted values, meaning) for each option: what `hipbench list methods
    --options` prints and README's option table shows."""
    rows = []
    for f in dataclasses.fields(options_cls):
        spec = option_spec(options_cls, f.name)
        kind = _kind(options_cls, f.name)
        default = getattr(options_cls(), f.name)
        shown = repr(default) if kind is str else shown_value(default)
        rows.append((f.name, shown, spec.describe(kind) if spec else kind.__name__, spec.help if spec else ""))
    return rows


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
