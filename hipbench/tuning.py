"""`hipbench tune`: every method tuned the same way, on validation data only, with Optuna.

Fairness is the point (issue: one untuned learning rate for all confounded every table). So:
- **Same effort.** Every method gets `TRIALS` trials by default, from a space declared here in one
  place: the learning rate × the method's own key option where it has one (`KEY_OPTIONS`), a finer
  learning-rate grid where it has none (LoRA, PiSSA). `--space` replaces it for every method named.
- **No test example in any choice.** A trial is a run with `data_split="holdout-validation"`: 10 %
  of each task's training examples (and of the edit requests) are held out of training and score
  the run instead of test (`hipbench.suite.with_data_split`), so no test example is even loaded into
  a task. The objective is the protocol's `TUNING_OBJECTIVE` (metric keys averaged; validation AA for
  continual learning), averaged over the tuning seeds, and recorded with the choice.
- **Trials are runs.** Each trial's runs go through `hipbench sweep`'s executors (local or Ray), so
  they are ordinary records under `OUT/runs`, skipped when complete and resumed when interrupted.

Optuna keeps the study in SQLite under OUT (`tuning.db`): a tuning run again finishes the trials a
killed one left running (same parameters; their records resume) and asks only for what is missing,
so finished trials never run twice. A grid trial whose run failed (out of memory, a crash) is left
open the same way, not told failed: the next tuning run retries it under its number, and until
every grid point has finished the method gets no choice (a choice from part of a grid would be
less tuning effort than the other methods got, which is what this module exists to prevent; a
study written before this told such trials failed, and its grid stays refused until a new study
runs them). A grid (no `--trials`) is every combination, enqueued in order when the study is
created (`Study.enqueue_trial`; Optuna's `GridSampler` calls `Study.stop` from inside `tell`, which
the ask-and-tell loop here cannot use); `--trials N` uses TPE (seeded, `constant_liar` so a batch
of trials can run at once) over the same value lists.
- **Past an edge, by one rule.** A grid whose best trial sits at the end of a numeric setting's
  range gets up to `EDGE_STEPS` further values beyond it, for every method alike
  (`hipbench.tuning_edges`): a search range, not only a trial count, is part of the effort.
The result is `OUT/tuned.json`: per method, the chosen options and learning rate, the objective, and
every trial; `hipbench run|sweep --tuned OUT/tuned.json` runs the test seeds with it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from hipbench import registry
from hipbench.jobs import Job
from hipbench.method import options_from_strings
from hipbench.protocols import protocol_module
from hipbench.records import COMPLETE, RunRecord, read_json, write_json_atomic
from hipbench.run_groups import RunGroup
from hipbench.runner import suite_protocol
from hipbench.sweeping import Shares, check_jobs, run_sweep
from hipbench.tuning_edges import EDGE_STEPS, edge_candidates

TRIALS = 9
LR_FINE = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3)  # 9 points, the 1-2-5 series
LR_COARSE = (2e-5, 1e-4, 5e-4)  # 3 points of it, for methods with a key option of their own
KEY_OPTIONS = {  # each method's own trade-off knob, 3 values around its default
    "hiplora": ("budget", (0.2, 0.5, 1.0)),
    "lalora": ("strength", (1e2, 1e3, 1e4)),
    "olora": ("lambda_1", (0.05, 0.5, 5.0)),
    "sclora": ("beta", (0.25, 0.5, 0.75)),
}
RUN_KEYS = {"lr": float, "steps": int, "batch_size": int}  # run settings a space may name


class TuningError(ValueError):
    """Bad tuning input (a --space, a tuned file); one line names the option and value."""


def default_space(method: str) -> dict[str, tuple]:
    """The declared space of `method`: TRIALS points for every adapter method. Knowledge editors
    train nothing at the shared learning rate, so they have none: their layers and settings are
    tuned with an explicit `--space`."""
    if registry.method_kinds().get(method) == "editor":
        raise TuningError(f"--space: {method} is a knowledge editor and has no declared space; name its "
                          "options, e.g. --space layers=...")
    if method in KEY_OPTIONS:
        key, values = KEY_OPTIONS[method]
        return {"lr": LR_COARSE, key: values}
    return {"lr": LR_FINE}


def parse_space(method: str, pairs: list[str] | tuple[str, ...]) -> dict[str, tuple]:
    """`--space KEY=V1,V2,...` (repeatable) as a typed space for `method`: each key a run setting
    (RUN_KEYS) or one of the method's options, each value of the option's type."""
    fields = {f.name: f for f in dataclasses.fields(registry.method_class(method).Options)}
    defaults = registry.method_class(method).Options()
    space: dict[str, tuple] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TuningError(f"--space: expected KEY=V1,V2,..., got {pair!r}")
        if key not in RUN_KEYS and key not in fields:
            raise TuningError(f"--space {key}: not a run setting ({', '.join(RUN_KEYS)}) or an option of {method} "
                              f"({', '.join(fields) or 'none'})")
        kind = RUN_KEYS.get(key) or type(getattr(defaults, key))
        values = [part.strip() for part in text.split(",") if part.strip()]
        if not values:
            raise TuningError(f"--space {key}: no values given")
        space[key] = tuple(_typed(key, value, kind) for value in values)
        if key not in RUN_KEYS:  # each value within the option's declared range (hipbench.method.option)
            for value in space[key]:
                refusal = _option_refusal(method, key, value)
                if refusal:
                    raise TuningError(f"--space: {refusal}")
    return space


def _option_refusal(method: str, key: str, value: Any) -> str | None:
    """Why `method` refuses `value` for its option `key` (the one-line error of its declared range), or None."""
    try:
        options_from_strings(registry.method_class(method).Options, {key: _option_text(value)}, method)
    except ValueError as error:
        return str(error)
    return None


def _typed(key: str, text: str, kind: type) -> Any:
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise TuningError(f"--space {key}={text}: expected true or false")
        return text.lower() in ("true", "1", "yes")
    try:
        value = kind(text)
    except ValueError:
        raise TuningError(f"--space {key}={text}: expected {kind.__name__}") from None
    if kind in (int, float) and not math.isfinite(value):
        raise TuningError(f"--space {key}={text}: expected a finite number")
    return value


def grid_size(space: dict[str, tuple]) -> int:
    return math.prod(len(values) for values in space.values())


def objective_of(protocol: str, metrics: dict) -> float:
    """The protocol's tuning objective from one run's metrics: its `TUNING_OBJECTIVE` keys, averaged."""
    _, keys = protocol_module(protocol).TUNING_OBJECTIVE
    return sum(float(metrics[key]) for key in keys) / len(keys)


@dataclass(frozen=True)
class Tuning:
    """One method's tuning: the run group its trials vary, the space, seeds and sampler."""
    group: RunGroup  # one method; its seeds are the tuning seeds
    space: dict[str, tuple]
    trials: int | None  # None: the whole grid (GridSampler); else TPE with this many trials
    edge_steps: int = EDGE_STEPS  # a grid's values past a setting's edge (hipbench.tuning_edges); 0: none

    @property
    def method(self) -> str:
        return self.group.methods[0]

    def study_name(self) -> str:
        """Names what the study tunes, so a changed space, seed list or setting is a new study. A
        group setting at its default is left out, so a setting added to hipbench later (with a
        default) does not rename the studies of tunings made before it."""
        defaults = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                    for f in dataclasses.fields(self.group)}
        group = {key: value for key, value in dataclasses.asdict(self.group).items() if value != defaults[key]}
        identity = {"group": group, "space": self.space, "trials": self.trials}
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return f"{self.group.suite}-{Path(self.group.model).name}-{self.method}-{digest}"

    def trial_group(self, params: dict, number: int | None = None) -> RunGroup:
        """The runs of one trial: the group with the trial's values, scored on validation; the study
        and trial number ride along as provenance (not identity) for the tuning table."""
        run = {key: value for key, value in params.items() if key in RUN_KEYS}
        options = {**self.group.options, **{key: _option_text(value) for key, value in params.items()
                                            if key not in RUN_KEYS}}
        provenance = {"study": self.study_name(), "trial": number} if number is not None else {}
        return replace(self.group, options=options, data_split="holdout-validation", tuning=provenance, **run)


def _option_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _sampler(tuning: Tuning):
    import optuna

    if tuning.trials is None:  # every trial is enqueued (grid_points); the sampler never draws
        return optuna.samplers.RandomSampler(seed=0)
    return optuna.samplers.TPESampler(seed=0, constant_liar=True)


def grid_points(space: dict[str, tuple]) -> list[dict]:
    """Every combination of the space's values, the first key varying slowest."""
    return [dict(zip(space, combo)) for combo in itertools.product(*space.values())]


def _suggest(trial, space: dict[str, tuple]) -> dict:
    return {key: trial.suggest_categorical(key, list(values)) for key, values in space.items()}


def tune_methods(tunings: list[Tuning], out: Path, executor: str, shares: Shares, address: str | None,
                 log: Callable[[str], None], parallel: int = 4) -> dict[str, dict]:
    """Run every tuning's missing trials, write their entries into OUT/tuned.json and return them.

    Each round asks every method's study for its next batch (a grid: all its missing points; TPE:
    `parallel` trials) and runs all of them as one sweep, so the methods' trials share the GPUs
    instead of waiting for one another: a sweep lasts as long as its slowest run, and tuning six
    methods one after the other would take six of those. For the same reason a method whose grid
    has finished sends its next trials past the grid's edges in the round where the other methods
    still run grid points (a tuning resumed on GPU runs one round where it would otherwise run two)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{(out / 'tuning.db').resolve()}"
    studies = {tuning.method: _open_study(tuning, storage) for tuning in tunings}
    stale = {method: _running(study) for method, study in studies.items()}  # a killed or failed tuning's, first
    for method, running in stale.items():
        if running:
            log(f"{method}: finishing {len(running)} trial(s) an earlier tuning left unfinished")
    samples = {tuning.method: tuning.trials is not None for tuning in tunings}
    extensions: dict[str, list[tuple[int, dict, float | None]]] = {tuning.method: [] for tuning in tunings}
    while True:
        batches, past_edge = {}, set()
        for tuning in tunings:
            method = tuning.method
            batches[method] = _round_batch(tuning, studies[method], stale[method], out, parallel)
            if batches[method] is None:  # a finished grid goes on past its edges in the same sweep as the others
                batches[method] = _round_edges(tuning, studies[method], extensions[method], out)
                past_edge.add(method)
        stale = {method: [] for method in stale}
        objectives = _run_trials(tunings, batches, out, executor, shares, address, log)
        if not objectives:
            break
        for (method, number), value in objectives.items():
            if method in past_edge:
                extensions[method].append((number, dict(batches[method])[number], value))
            elif value is not None:
                studies[method].tell(number, value)
            elif samples[method]:  # TPE: a failed trial is one of the N asked for
                studies[method].tell(number, state=optuna.trial.TrialState.FAIL)
            # a grid point whose run failed stays open: the next tuning run retries it (module docstring)
    entries, failed = {}, []
    for tuning in tunings:
        try:
            entries[tuning.method] = tuned_entry(tuning, studies[tuning.method], suite_protocol(tuning.group.suite),
                                                 extensions[tuning.method])
        except TuningError as error:
            failed.append(str(error))
    write_tuned(out / "tuned.json", entries)  # the methods that have a choice keep it, whatever failed
    if failed:
        raise TuningError("; ".join(failed))
    return entries


def _round_batch(tuning: Tuning, study, stale: list[tuple[int, dict]], out: Path,
                 parallel: int) -> list[tuple[int, dict]] | None:
    """This round's trials of the study still to run, or None when the study asks for none. A trial
    whose records are all complete already (a resumed tuning's, or records copied from another
    machine into a new study) is told its objective here instead of going out with the sweep, so
    that a grid done on record goes past its edges in this round rather than the next."""
    batch = _next_batch(tuning, study, stale, parallel)
    while batch:
        pending, recorded = _split_recorded(tuning, batch, out)
        for number, _, value in recorded:
            study.tell(number, value)
        if pending:
            return pending
        batch = _next_batch(tuning, study, [], parallel)
    return None


def _round_edges(tuning: Tuning, study, extended: list[tuple[int, dict, float | None]], out: Path) -> list[tuple[int, dict]]:
    """This round's trials past the grid's edges still to run; those already on record join `extended`."""
    while True:
        batch = _edge_batch(tuning, study, extended)
        pending, recorded = _split_recorded(tuning, batch, out)
        extended += recorded
        if pending or not batch:
            return pending


def _split_recorded(tuning: Tuning, batch: list[tuple[int, dict]],
                    out: Path) -> tuple[list[tuple[int, dict]], list[tuple[int, dict, float]]]:
    """`batch` as (trials still to run, trials complete on record with their objective)."""
    pending, recorded = [], []
    for number, params in batch:
        value = _recorded_objective(_trial_jobs(tuning, number, params, out))
        if value is None:
            pending.append((number, params))
        else:
            recorded.append((number, params, value))
    return pending, recorded


def _trial_jobs(tuning: Tuning, number: int, params: dict, out: Path) -> list[Job]:
    return [Job(cfg, out / "runs") for cfg in tuning.trial_group(params, number).configs(tuning.group.device)]


def _recorded_objective(trial_jobs: list[Job]) -> float | None:
    """The trial's objective when every one of its records is complete, else None. Complete is the
    sweep's own test (`RunRecord.status`), so a trial counts as on record exactly when a sweep
    would skip its runs."""
    records = [RunRecord(job.directory) for job in trial_jobs]
    if any(record.status() != COMPLETE for record in records):
        return None
    protocol = suite_protocol(trial_jobs[0].config.suite)
    return sum(objective_of(protocol, read_json(record.metrics_path)) for record in records) / len(records)


def _run_trials(tunings: list[Tuning], batches: dict[str, list[tuple[int, dict]]], out: Path, executor: str,
                shares: Shares, address: str | None, log: Callable[[str], None]) -> dict[tuple[str, int], float | None]:
    """Every method's batch of trials as one sweep; each trial's objective (None where a run failed)."""
    jobs = {(tuning.method, number): _trial_jobs(tuning, number, params, out)
            for tuning in tunings for number, params in batches[tuning.method]}
    if not jobs:
        return {}
    check_jobs([job for trial_jobs in jobs.values() for job in trial_jobs])
    for tuning in tunings:
        if batches[tuning.method]:
            log(f"{tuning.method}: trials {', '.join(str(n) for n, _ in batches[tuning.method])} "
                f"({len(tuning.group.seeds)} seed(s) each)")
    run_sweep([j for trial_jobs in jobs.values() for j in trial_jobs], executor, shares, out / "runs", address, log)
    # a run's record is complete exactly when it did not fail (runner.run_one): read every objective from records
    return {key: _recorded_objective(trial_jobs) for key, trial_jobs in jobs.items()}


def _edge_batch(tuning: Tuning, study, extended: list[tuple[int, dict, float | None]]) -> list[tuple[int, dict]]:
    """The next `hipbench.tuning_edges` trials of a finished grid, numbered after the study's trials
    and the extensions run so far; none while a grid point is open (its value could move the best).
    A resumed tuning finds their complete records and runs only what is missing."""
    from optuna.trial import TrialState

    grid = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    if tuning.trials is not None or any(t.state == TrialState.RUNNING for t in grid):
        return []
    tried = [(dict(t.params), t.value if t.state == TrialState.COMPLETE else None) for t in grid]
    tried += [(params, value) for _, params, value in extended]
    candidates = edge_candidates(tuning.space, tried, tuning.edge_steps, _accepts(tuning.method))
    return [(len(tried) + i, params) for i, params in enumerate(candidates)]


def _accepts(method: str) -> Callable[[str, float], bool]:
    """Whether `method` takes `value` for `key`: a positive run setting, or an option value within
    its declared range."""
    def accepts(key: str, value: float) -> bool:
        return value > 0 if key in RUN_KEYS else _option_refusal(method, key, value) is None
    return accepts


def _open_study(tuning: Tuning, storage: str):
    import optuna

    study = optuna.create_study(study_name=tuning.study_name(), storage=storage, direction="maximize",
                                sampler=_sampler(tuning), load_if_exists=True)
    if tuning.trials is None and not study.get_trials(deepcopy=False):
        for params in grid_points(tuning.space):
            study.enqueue_trial(params)
    return study


def _running(study) -> list[tuple[int, dict]]:
    from optuna.trial import TrialState

    return [(t.number, dict(t.params)) for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]


def _total(tuning: Tuning) -> int:
    return grid_size(tuning.space) if tuning.trials is None else tuning.trials


def _next_batch(tuning: Tuning, study, stale: list[tuple[int, dict]], parallel: int) -> list[tuple[int, dict]]:
    """The trials to run next: those a stopped tuning left running, then new ones up to the total."""
    from optuna.trial import TrialState

    states = [t.state for t in study.get_trials(deepcopy=False)]
    ended = sum(state in (TrialState.COMPLETE, TrialState.FAIL) for state in states)
    running = states.count(TrialState.RUNNING)
    room = _total(tuning) - ended - running
    batch = list(stale)
    for _ in range(max(0, min(room, _total(tuning) if tuning.trials is None else parallel))):
        trial = study.ask()
        batch.append((trial.number, _suggest(trial, tuning.space)))
    return batch


def tuned_entry(tuning: Tuning, study, protocol: str,
                extensions: list[tuple[int, dict, float | None]] = ()) -> dict:
    """What tuned.json keeps of one method: the choice, its objective, and every trial (the study's,
    then the ones past its grid's edges, marked `edge`)."""
    from optuna.trial import TrialState

    trials = [{"number": t.number, "params": t.params, "objective": t.value, "state": t.state.name}
              for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)]
    trials += [{"number": number, "params": params, "objective": value,
                "state": "FAIL" if value is None else "COMPLETE", "edge": True} for number, params, value in extensions]
    done = [t for t in trials if t["state"] == TrialState.COMPLETE.name]
    finished = [t["params"] for t in done]
    open_points = [t["number"] for t in trials if not t.get("edge") and t["params"] not in finished]
    if tuning.trials is None and open_points:
        raise TuningError(f"{tuning.method}: grid trial(s) {', '.join(map(str, open_points))} did not finish (see the "
                          "logs under the out directory); no choice is made from part of a grid: tune again to retry them")
    if not done:
        raise TuningError(f"{tuning.method}: no trial finished (see the logs under the out directory)")
    best = max(done, key=lambda t: (t["objective"], -t["number"]))  # ties: the earliest trial
    name, _ = protocol_module(protocol).TUNING_OBJECTIVE
    sampler = "grid" if tuning.trials is None else f"tpe ({tuning.trials} trials)"
    return {
        "suite": tuning.group.suite, "model": tuning.group.model, "seeds": list(tuning.group.seeds),
        "objective_name": name, "objective": best["objective"], "chosen_trial": best["number"],
        "options": {k: _option_text(v) for k, v in best["params"].items() if k not in RUN_KEYS},
        "run": {k: v for k, v in best["params"].items() if k in RUN_KEYS},
        "space": {k: list(v) for k, v in tuning.space.items()},
        "sampler": sampler + (f", {len(extensions)} trial(s) past its edges" if extensions else ""),
        "study": study.study_name, "storage": "tuning.db",  # beside tuned.json; no machine's path
        "trials": trials,
    }


def write_tuned(path: Path, entries: dict[str, dict]) -> None:
    """Add or replace methods' entries in tuned.json (other methods' entries are kept)."""
    existing = read_json(path) if path.is_file() else {}
    write_json_atomic(path, {**existing, **entries})


def read_tuned(path: Path) -> dict[str, dict]:
    """tuned.json, checked enough that `apply_tuned` can trust it; errors name the file and field."""
    if not path.is_file():
        raise TuningError(f"--tuned {path} does not exist")
    try:
        data = read_json(path)
    except json.JSONDecodeError as error:
        raise TuningError(f"--tuned {path}: not JSON ({error.msg}, line {error.lineno})") from None
    except UnicodeDecodeError:
        raise TuningError(f"--tuned {path}: not JSON (not UTF-8 text)") from None
    if not isinstance(data, dict) or not data:
        raise TuningError(f"--tuned {path}: expected an object of tuned methods")
    for method, entry in data.items():
        where = f"--tuned {path}: {method}"
        for key, kind in (("options", dict), ("run", dict), ("objective", (int, float)), ("suite", str)):
            if not isinstance(entry, dict) or key not in entry:
                raise TuningError(f"{where}: field '{key}' is missing")
            if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
                raise TuningError(f"{where}: field '{key}' has the wrong type ({type(entry[key]).__name__})")
        for key, value in entry["run"].items():
            if key not in RUN_KEYS:
                raise TuningError(f"{where}: run setting '{key}' cannot be tuned")
            if isinstance(value, bool) or not isinstance(value, (int, float) if RUN_KEYS[key] is float else int):
                raise TuningError(f"{where}: run setting {key}={value!r}: expected {RUN_KEYS[key].__name__}")
        for key, value in entry["options"].items():
            if not isinstance(value, (str, int, float, bool)):
                raise TuningError(f"{where}: option {key}: expected a single value, got {type(value).__name__}")
        entry["options"] = {key: _option_text(value) for key, value in entry["options"].items()}
    return data


def entry_digest(entry: dict) -> str:
    """sha256 of a method's entry as the tuned file holds it (canonical JSON). A record names its
    own entry rather than the whole file, so adding another method's tuning to the file later
    leaves the records already run at this method's settings traceable to it."""
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()


def apply_tuned(group: RunGroup, tuned: dict[str, dict], path: Path,
                keys: tuple[str, ...] | None = None) -> list[RunGroup]:
    """One group per method, with its tuned options and run settings (only `keys`, where given); a
    method the file does not tune keeps the group's, and an --option the file also sets is refused
    (which one would win?)."""
    groups = []
    as_stored = read_json(path)  # `tuned` has its options as text; the digest is of the entry as the file holds it
    for method in group.methods:
        entry = tuned.get(method)
        if entry is None:
            groups.append(replace(group, methods=(method,)))
            continue
        if keys is not None:
            missing = [key for key in keys if key not in entry["options"] and key not in entry["run"]]
            if missing:
                raise TuningError(f"--tuned {path}: {method} has no tuned setting '{missing[0]}'")
            entry = {**entry, "options": {k: v for k, v in entry["options"].items() if k in keys},
                     "run": {k: v for k, v in entry["run"].items() if k in keys}}
        if entry["suite"] != group.suite:
            raise TuningError(f"--tuned {path}: {method} was tuned on suite {entry['suite']}, not {group.suite}")
        clash = set(entry["options"]) & set(group.options)
        if clash:
            raise TuningError(f"--option {sorted(clash)[0]}: also set by --tuned {path} for {method}")
        provenance = {"file": str(path), "entry_sha256": entry_digest(as_stored[method]),
                      "keys": sorted([*entry["options"], *entry["run"]]),
                      "objective": entry["objective"], "objective_name": entry.get("objective_name")}
        groups.append(replace(group, methods=(method,), options={**group.options, **entry["options"]},
                              tuning=provenance, **entry["run"]))
    return groups
