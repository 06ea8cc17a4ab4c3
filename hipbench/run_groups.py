"""A run group: one `hipbench run` invocation as data (methods × seeds on one suite with one set of
options), and sweep files, which are lists of them.

`hipbench run`, `hipbench sweep` and a sweep file's entries all become `RunGroup`s, and a group
becomes its `RunConfig`s in one place (`RunGroup.configs`), so a run named in a sweep file has
exactly the config hash, and so the record directory, that the same options on the command line
give it.

A sweep file (YAML) holds `runs:`, a list of groups, and optionally `defaults:`, fields every
group takes unless it sets them itself:

    defaults: {device: cuda}
    runs:
      - {suite: continual, methods: [lora, pissa], seeds: [42, 100, 2024]}
      - {suite: continual, methods: [hiplora], seeds: [42], options: {complement: step}}

A group's fields are the long options of `hipbench run` with `_` or `-` between words (`methods`,
`suite`, `seeds`, `batch_size`, `data_dir`, `options`, `edit_mode`, ...); paths are read as on the
command line, relative to the directory the sweep is started from. A bad entry fails with one line
naming the file, the entry and the field.

`tuned: PATH` (a group field, or a default) runs the group's methods with the settings a
`hipbench tune` chose (`hipbench.tuning.apply_tuned`, as `--tuned` does), so a leaderboard of tuned
runs is one file too; each suite's groups name their own suite's tuned.json. `tuned: {file: PATH,
keys: [lr]}` takes only the named settings, for an ablation that varies a method's own options at
its tuned learning rate; the record names the keys it took, and the row says `(tuned: lr=...)`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hipbench import registry
from hipbench.budget import DEFAULT_TOLERANCE, RULES
from hipbench.config import DEFAULT_SEEDS, RunConfig
from hipbench.general_eval import config_block
from hipbench.merging import TIES_TRIMS, trim_option
from hipbench.models import DEFAULT_MODEL
from hipbench.suite import DATA_SPLITS, SuiteDataError
from hipbench.train import TrainConfig

DEVICES = ("auto", "cpu", "cuda")
EDIT_MODES = ("single", "batch", "sequential")
SVD_SOLVERS = ("exact", "fast")


class SweepFileError(ValueError):
    """A sweep file that cannot be read; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class RunGroup:
    """The options of one `hipbench run` (see `hipbench run --help` for each one's meaning)."""
    methods: tuple[str, ...]
    suite: str
    model: str = DEFAULT_MODEL
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    budget: int | None = None
    steps: int = TrainConfig.steps
    limit: int | None = None
    batch_size: int = TrainConfig.batch_size
    lr: float = TrainConfig.lr
    device: str = "auto"
    data_dir: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    save_adapters: bool = False
    edit_mode: str | None = None
    num_edits: int | str | None = None  # a count, or "all" (every request that passes the filter)
    data: str | None = None
    tasks_from: str | None = None
    merge_rule: str | None = None
    ties_trim: str | None = None  # None: global for a ties run (hipbench.merging.trim_option)
    merge_instances: int | None = None
    svd: str = "exact"
    trust_remote_code: bool = False
    budget_rule: str = "fill"  # new runs: within 1 %; published sweep files say "uniform" (RunConfig)
    budget_tolerance: float = DEFAULT_TOLERANCE
    # new runs hold a validation split out of training (RunConfig's own default, "all-train", is
    # what records made before validation splits mean)
    data_split: str = "holdout-test"
    general_eval: str | None = None  # "lm-eval:TASK[,TASK]" (hipbench.general_eval)
    general_eval_limit: int | None = None
    general_eval_every_task: bool = False
    general_eval_include: str | None = None  # a directory of lm-eval task YAMLs
    cuda_graphs: bool = False  # hipbench.graphed; RunConfig says why it is not part of a run's identity
    tuning: dict = field(default_factory=dict)  # provenance of tuned settings (hipbench.tuning.apply_tuned)

    def check_names(self) -> None:
        """Fail on an unknown method or suite before anything loads, naming the field that gave it
        (the registry's message alone cannot tell --suite from --tasks-from)."""
        checks = [("--method", registry.METHODS, name) for name in self.methods]
        checks.append(("--suite", registry.SUITES, self.suite))
        if self.tasks_from is not None:
            checks.append(("--tasks-from", registry.SUITES, self.tasks_from))
        for option, group, name in checks:
            try:
                registry.load(group, name)
            except registry.UnknownNameError as error:
                raise registry.UnknownNameError(f"{option}: {error}") from None

    def configs(self, device: str) -> list[RunConfig]:
        """One config per (method, seed), methods outermost; `device` is `self.device` resolved
        ("cpu" or "cuda": part of every run's identity)."""
        self.check_names()
        if not self.methods or not self.seeds:
            raise ValueError("--method/--seeds: no method or seed given")
        if self.data_dir is not None and not Path(self.data_dir).is_dir():
            raise SuiteDataError(f"--data-dir {self.data_dir} does not exist")
        if self.data is not None and not Path(self.data).is_file():
            raise SuiteDataError(f"--data {self.data} does not exist")
        given = {"edit_mode": self.edit_mode, "num_edits": self.num_edits,
                 "data": str(Path(self.data).resolve()) if self.data else None, "tasks_from": self.tasks_from,
                 "merge_rule": self.merge_rule, "merge_instances": self.merge_instances,
                 **trim_option(self.merge_rule, self.ties_trim)}
        protocol_options = {key: value for key, value in given.items() if value is not None}
        include = str(Path(self.general_eval_include).resolve()) if self.general_eval_include else None
        general = config_block(self.general_eval, self.general_eval_limit, self.general_eval_every_task, include)
        train = TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr)
        return [RunConfig(method=method, suite=self.suite, model=self.model, seed=seed, budget=self.budget,
                          method_options=dict(sorted(self.options.items())), data_dir=self.data_dir,
                          limit=self.limit, train=train, device=device, protocol_options=protocol_options,
                          trust_remote_code=self.trust_remote_code, svd=self.svd, budget_rule=self.budget_rule,
                          budget_tolerance=self.budget_tolerance, data_split=self.data_split, general_eval=general,
                          tuning=self.tuning, cuda_graphs=self.cuda_graphs)
                for method in self.methods for seed in self.seeds]


def split_names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_ints(text: str) -> tuple[int, ...]:
    """Comma-separated integers ("42,100"); ValueError names the bad part."""
    values = []
    for part in split_names(text):
        try:
            values.append(int(part))
        except ValueError:
            raise ValueError(f"expected comma-separated integers, got {text!r}") from None
    return tuple(values)


def parse_num_edits(value: Any) -> int | str:
    """`--num-edits`: a count, or `all` (every request that passes the suite's filter); ranges are
    the edit protocol's to check, as for a count typed in a sweep file."""
    if value == "all":
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError(f"--num-edits: expected a positive integer or 'all', got {value!r}")


def parse_option_pairs(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`--option KEY=VALUE` strings as a dict."""
    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--option: expected KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        options[key.strip()] = value.strip()
    return options


# --- sweep files ------------------------------------------------------------------------------

def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return split_names(value)
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(v.strip() for v in value)
    raise ValueError("expected a non-empty list of names or a comma-separated string")


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise ValueError("expected a list of integers")
    if isinstance(value, int):
        return (value,)
    if isinstance(value, str):
        return parse_ints(value)
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    raise ValueError("expected a non-empty list of integers")


def _option_values(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of option names to values")
    options = {}
    for key, raw in value.items():
        if not isinstance(raw, (str, int, float, bool)):
            raise ValueError(f"option {key}: expected a single value, got {type(raw).__name__}")
        options[str(key)] = str(raw).lower() if isinstance(raw, bool) else str(raw)
    return options


def _typed(kind: type, choices: tuple[str, ...] = ()):
    def read(value: Any) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"expected {kind.__name__}, got {value!r}")
        if choices and value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value
    return read


def _num_edits(value: Any) -> int | str:
    """A sweep file's `num_edits`: a YAML integer or `all` (not a number in quotes)."""
    if isinstance(value, str) and value != "all":
        raise ValueError(f"expected an integer or 'all', got {value!r}")
    try:
        return parse_num_edits(value)
    except ValueError:
        raise ValueError(f"expected an integer or 'all', got {value!r}") from None


READERS = {
    "methods": _names, "suite": _typed(str), "model": _typed(str), "seeds": _seeds,
    "budget": _typed(int), "steps": _typed(int), "limit": _typed(int), "batch_size": _typed(int),
    "lr": _typed(float), "device": _typed(str, DEVICES), "data_dir": _typed(str), "options": _option_values,
    "save_adapters": _typed(bool), "edit_mode": _typed(str, EDIT_MODES), "num_edits": _num_edits,
    "data": _typed(str), "tasks_from": _typed(str), "merge_rule": _typed(str), "merge_instances": _typed(int),
    "ties_trim": _typed(str, TIES_TRIMS),
    "svd": _typed(str, SVD_SOLVERS), "trust_remote_code": _typed(bool), "data_split": _typed(str, DATA_SPLITS),
    "budget_rule": _typed(str, RULES), "budget_tolerance": _typed(float),
    "general_eval": _typed(str), "general_eval_limit": _typed(int), "general_eval_every_task": _typed(bool),
    "general_eval_include": _typed(str), "cuda_graphs": _typed(bool),
}
assert set(READERS) | {"tuning"} == {f.name for f in dataclasses.fields(RunGroup)}  # tuning: from --tuned only


def group_from_mapping(entry: Any, where: str) -> RunGroup:
    """One sweep-file entry as a RunGroup; `where` ("sweep.yaml: runs[2]") starts every error."""
    if not isinstance(entry, dict):
        raise SweepFileError(f"{where}: expected a mapping of run options, got {type(entry).__name__}")
    values = {}
    for key, value in entry.items():
        name = str(key).replace("-", "_")
        if name == "method":
            name = "methods"
        if name not in READERS:
            raise SweepFileError(f"{where}: unknown field '{key}'; known: {', '.join(READERS)}")
        if value is None:
            continue
        try:
            values[name] = READERS[name](value)
        except ValueError as error:
            raise SweepFileError(f"{where}: field '{key}': {error}") from None
    for required in ("methods", "suite"):
        if required not in values:
            raise SweepFileError(f"{where}: field '{required}' is required")
    return RunGroup(**values)


def groups_from_mapping(entry: Any, where: str) -> list[RunGroup]:
    """A sweep-file entry as its groups: one, or with `tuned:` one per method with its tuned settings."""
    tuned = entry.pop("tuned", None) if isinstance(entry, dict) else None
    group = group_from_mapping(entry, where)
    if tuned is None:
        return [group]
    from hipbench.tuning import TuningError, apply_tuned, read_tuned

    tuned, keys = tuned_field(tuned, where)
    if "lr" in entry and (keys is None or "lr" in keys):
        raise SweepFileError(f"{where}: fields 'lr' and 'tuned': the tuned file sets the learning rate")
    if not Path(tuned).is_file():
        raise SweepFileError(f"{where}: field 'tuned': {tuned} does not exist")
    try:
        return apply_tuned(group, read_tuned(Path(tuned)), Path(tuned), keys)
    except TuningError as error:
        raise SweepFileError(f"{where}: field 'tuned': {error}") from None


def tuned_field(tuned: Any, where: str) -> tuple[str, tuple[str, ...] | None]:
    """`tuned: PATH` (every tuned setting) or `tuned: {file: PATH, keys: [...]}` (those named)."""
    if isinstance(tuned, str):
        return tuned, None
    if not isinstance(tuned, dict) or set(tuned) != {"file", "keys"} or not isinstance(tuned["file"], str):
        raise SweepFileError(f"{where}: field 'tuned': expected a path to tuned.json or {{file: PATH, keys: [...]}}, "
                             f"got {tuned!r}")
    keys = tuned["keys"]
    if not isinstance(keys, list) or not keys or not all(isinstance(key, str) for key in keys):
        raise SweepFileError(f"{where}: field 'tuned': keys: expected a list of setting names, got {keys!r}")
    return tuned["file"], tuple(keys)


def read_sweep_file(path: Path) -> list[RunGroup]:
    """The groups of a sweep file, with `defaults` applied; every entry is checked for fields and
    types here, and for names, options and data by `hipbench sweep` before any run starts."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SweepFileError(f"--from-file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise SweepFileError(f"{path}: not valid YAML{at}") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list) or not data["runs"]:
        raise SweepFileError(f"{path}: expected a mapping with 'runs:', a non-empty list of run groups")
    unknown = set(data) - {"runs", "defaults"}
    if unknown:
        raise SweepFileError(f"{path}: unknown top-level field '{sorted(unknown)[0]}'; known: runs, defaults")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SweepFileError(f"{path}: defaults: expected a mapping of run options")
    return [group for index, entry in enumerate(data["runs"])
            for group in groups_from_mapping({**defaults, **entry} if isinstance(entry, dict) else entry,
                                             f"{path}: runs[{index}]")]
