"""Sweep (methods × seeds) over one suite: resolve everything once, write one record per run.

A run's directory is `OUT/<suite>/<model>/<method>/seed-<s>-<config hash>`, so runs with
different settings never overwrite each other, and a run whose complete record exists is skipped.
An incomplete one resumes from its last checkpoint where its protocol keeps them (`read_checkpoint`
in the protocol module: continual task boundaries, sequential and single edits, merge evaluations),
and starts over otherwise.
"""
from __future__ import annotations

import json
import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock, Timeout

from hipbench import general_eval, registry
from hipbench.budget import budget_used
from hipbench.config import RunConfig, environment
from hipbench.costs import peak_memory
from hipbench.editor import check_protocol
from hipbench.method import Method, identity_named, identity_options, options_from_strings
from hipbench.models import LoadedModel, load_model, resolve_model
from hipbench.protocols import protocol_module
from hipbench.protocols.continual import plan_budget
from hipbench.records import COMPLETE, RunRecord
from hipbench.suite import Suite, SuiteDataError, with_data_split
from hipbench.train import NonFiniteLoss


@dataclass
class RunOutcome:
    method: str
    seed: int
    directory: Path
    status: str  # "complete", "skipped" or "failed"
    metrics: dict | None = None


def model_slug(spec: str) -> str:
    """A directory-safe name for a model spec (a path keeps only its file or folder name)."""
    name = Path(spec).name if ("/" in spec and Path(spec).exists()) else spec
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def run_hash(cfg: RunConfig, method: Method) -> str:
    """The run's identity: its config, the method's options resolved (`identity_options`) and the
    ones it named as the identity keeps them (`identity_named`)."""
    named = identity_named(type(method.options), cfg.method_options, cfg.method)
    return cfg.hash(identity_options(method.options), named)


def record_dir(out: Path, cfg: RunConfig, method: Method) -> Path:
    return out / cfg.suite / model_slug(cfg.model) / cfg.method / f"seed-{cfg.seed}-{run_hash(cfg, method)}"


def load_suite(name: str, data_dir: str | None, limit: int | None, tasks_from: str | None = None) -> Suite:
    """The suite's data; with `tasks_from` (merging) the tasks come from that suite instead."""
    spec = registry.suite_spec(tasks_from or name)
    if spec.needs_data_dir and data_dir is None:
        raise SuiteDataError(f"--data-dir is required for suite {spec.name}")
    return spec.load(Path(data_dir) if data_dir else None).limited(limit)


def suite_protocol(name: str) -> str:
    return getattr(registry.suite_spec(name), "protocol", "continual")


def make_method(name: str, option_strings: dict[str, str]) -> Method:
    cls = registry.method_class(name)
    return cls(options_from_strings(cls.Options, option_strings, name))


class RunOutOfMemory(RuntimeError):
    """A run ran out of (GPU) memory; the message names the run, its peak and what to lower."""


def out_of_memory_message(directory: Path, cfg: RunConfig) -> str:
    """One line: which run, how much memory it had reached, what to change. The record stays
    incomplete, so the same command resumes it from its last checkpoint."""
    if cfg.device == "cuda":
        peak = torch.cuda.max_memory_reserved() / 1e9
        total = torch.cuda.get_device_properties(0).total_memory / 1e9
        used = f"peak {peak:.1f} GB of the GPU's {total:.1f} GB"
    else:
        used = f"peak resident memory {peak_memory(torch.device('cpu'))[0]:.1f} GB"
    return (f"{directory}: out of memory ({used}); lower --batch-size, or give each run more of the GPU "
            f"with hipbench sweep --gpus-per-run; the record is kept and resumes from its last checkpoint")


def run_lock(out: Path, directory: Path) -> FileLock:
    """The lock one run holds while it runs: `OUT/.locks/<the record's path>.lock`.

    Two processes that reach the same record (a sweep started again while a worker of the killed
    one still finishes, two sweeps over one out directory) would otherwise both append to its
    measurements. The lock is an OS file lock (filelock, flock on Unix), released when its process
    dies however it dies, so a stale lock file never blocks a resume; it lives outside the record so
    that published records hold no lock files."""
    path = out / ".locks" / directory.relative_to(out).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path)


def run_one(loaded: LoadedModel, suite: Suite, cfg: RunConfig, out: Path, option_strings: dict[str, str],
            save_adapters: bool, env: dict, protocol: str = "continual") -> RunOutcome:
    """One run, under its lock: skipped when its complete record exists, resumed from its checkpoint
    when an incomplete one has one, started afresh otherwise."""
    method = make_method(cfg.method, option_strings)
    directory = record_dir(out, cfg, method)
    lock = run_lock(out, directory)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"{directory}: another process is running this record; waiting for it", file=sys.stderr)
        lock.acquire()
    try:
        return _run_locked(loaded, suite, cfg, method, directory, save_adapters, env, protocol)
    finally:
        lock.release()


def _run_locked(loaded: LoadedModel, suite: Suite, cfg: RunConfig, method: Method, directory: Path,
                save_adapters: bool, env: dict, protocol: str) -> RunOutcome:
    record = RunRecord(directory)
    if record.status() == COMPLETE:
        return RunOutcome(cfg.method, cfg.seed, directory, "skipped")
    config = {"config": cfg.to_dict(), "config_hash": run_hash(cfg, method), "environment": env,
              "model_source": loaded.source,  # the file and sha256 actually loaded (README.md cites it)
              "method_options_resolved": vars(method.options).copy(), "suite_definition": suite.definition,
              "protocol": protocol, "save_adapters": save_adapters,
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    module = protocol_module(protocol)
    checkpoint = module.read_checkpoint(record, suite) if hasattr(module, "read_checkpoint") else None
    if checkpoint is None:
        record.start(config)
    else:
        record.resume(config, checkpoint["rows"], checkpoint["at"])
    resume = {} if checkpoint is None else {"resume": checkpoint}  # protocols without resume keep their signature
    try:
        metrics = module.run(loaded, method, suite, cfg, record, save_adapters, **resume)
    except NonFiniteLoss:
        return RunOutcome(cfg.method, cfg.seed, directory, "failed")
    except torch.cuda.OutOfMemoryError as error:  # torch.OutOfMemoryError from torch 2.5 on
        record.fail(f"{type(error).__name__}: {error}".splitlines()[0])
        raise RunOutOfMemory(out_of_memory_message(directory, cfg)) from None
    except BaseException as error:
        record.fail(f"{type(error).__name__}: {error}")
        raise
    if metrics["planned_trainable"] is not None and metrics["trainable_params"] != metrics["planned_trainable"]:
        record.fail(f"trainable count {metrics['trainable_params']} differs from the budget plan "
                    f"{metrics['planned_trainable']}")
        raise RuntimeError(f"{cfg.method}: trainable count does not match its budget plan")
    metrics["budget_used"] = budget_used(metrics)
    metrics["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record.finish(metrics)
    return RunOutcome(cfg.method, cfg.seed, directory, COMPLETE, metrics)


@dataclass
class Prepared:
    """What every run of one group shares: the suite's data, its protocol, the loaded model and the
    recorded environment (`prepare`)."""
    suite: Suite
    protocol: str
    loaded: LoadedModel
    env: dict


def check(configs: list[RunConfig]) -> tuple[Suite, str]:
    """Everything about `configs` that can be checked without loading the model (protocol options,
    run settings, method names and options, the model spec, the suite's data), cheapest first, so
    a bad one fails before anything heavy loads; returns the suite and its protocol. The configs
    share suite, model and data."""
    first = configs[0]
    protocol = suite_protocol(first.suite)
    accepted = getattr(protocol_module(protocol), "OPTIONS", frozenset())  # unknown protocols fail here
    for key in first.protocol_options:
        if key not in accepted:
            raise ValueError(f"--{key.replace('_', '-')} does not apply to suite {first.suite} "
                             f"(protocol {protocol})")
    for cfg in configs:
        cfg.validate()
        check_protocol(make_method(cfg.method, cfg.method_options), protocol, cfg.budget)
    check_general_eval(configs, protocol)
    resolve_model(first.model)
    suite = load_suite(first.suite, first.data_dir, first.limit, first.protocol_options.get("tasks_from"))
    prepare_suite = getattr(protocol_module(protocol), "prepare_suite", None)
    if prepare_suite is not None:  # protocol data read before the model loads (the edit protocol's --data file)
        suite = prepare_suite(suite, first)
    suite = with_data_split(suite, first.data_split)
    return suite, protocol


def check_general_eval(configs: list[RunConfig], protocol: str) -> None:
    """`--general-eval`: continual suites only (it scores task boundaries), lm-eval installed and
    every task name known to it (`hipbench.lmeval_backend.check`), before any model loads."""
    blocks = {json.dumps(cfg.general_eval, sort_keys=True): cfg.general_eval for cfg in configs if cfg.general_eval}
    if blocks and protocol != "continual":
        raise ValueError(f"--general-eval: suite {configs[0].suite} (protocol {protocol}) has no task boundaries to "
                         "score; it applies to continual suites")
    if blocks:
        from hipbench import lmeval_backend

        for block in blocks.values():
            lmeval_backend.check(block)


def prepare(configs: list[RunConfig], log=lambda message: print(message, file=sys.stderr)) -> Prepared:
    """`check`, then load the model once and solve each method's budget before any record is written."""
    suite, protocol = check(configs)
    first = configs[0]
    log(f"loading model {first.model}")
    loaded = load_model(first.model, trust_remote_code=first.trust_remote_code)
    for cfg in {c.method: c for c in configs}.values():
        plan = plan_budget(loaded.model, make_method(cfg.method, cfg.method_options), cfg)
        if plan["budget"] is None:  # a knowledge editor (hipbench/editor.py)
            log(f"{cfg.method}: knowledge editor, no trainable-parameter budget")
            continue
        log(f"{cfg.method}: budget {plan['budget']} trainable parameters"
            f"{' (default: LoRA rank 8 on every target module)' if cfg.budget is None else ''}, "
            f"rank {plan['rank']} on {plan['modules']} modules ({cfg.budget_rule} rule) -> "
            f"{plan['planned_trainable']} trainable ({plan['planned_trainable'] / plan['budget']:.2%} of the budget)")
    if first.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    return Prepared(suite, protocol, loaded, environment(first.device))


def sweep(configs: list[RunConfig], out: Path, save_adapters: bool,
          log=lambda message: print(message, file=sys.stderr)) -> list[RunOutcome]:
    """Run every config (same suite, model and device) in this process; the model and suite load once."""
    prepared = prepare(configs, log)
    outcomes = []
    for cfg in configs:
        outcome = run_one(prepared.loaded, prepared.suite, cfg, out, cfg.method_options, save_adapters,
                          prepared.env, prepared.protocol)
        log(describe(outcome, prepared.protocol))
        outcomes.append(outcome)
    return outcomes


def describe(outcome: RunOutcome, protocol: str = "continual") -> str:
    where = outcome.directory
    if outcome.status == "skipped":
        return f"{outcome.method} seed {outcome.seed}: already complete in {where}, skipped"
    if outcome.status == "failed":
        return f"{outcome.method} seed {outcome.seed}: FAILED (non-finite loss), incomplete record in {where}"
    m = outcome.metrics
    fmt = lambda v: "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"
    if protocol != "continual":  # the protocol's leaderboard columns this run has (an editor: no budget usage)
        cells = "  ".join(f"{title} {fmt(m[key])}" for key, title in protocol_module(protocol).LEADERBOARD_COLUMNS
                          if m.get(key) is not None)
        return f"{outcome.method} seed {outcome.seed}: {cells}  ({m['trainable_params']} trainable) -> {where}"
    general = "".join(f"  {title} {fmt(m[key])}" for key, title in general_eval.paired_columns([m]))
    return (f"{outcome.method} seed {outcome.seed}: AA {fmt(m['aa'])}  BWT {fmt(m['bwt'])}  "
            f"FWT {fmt(m['fwt'])}  forgetting {fmt(m['forgetting'])}  fact retention "
            f"{fmt(m['fact_retention'])}  NLL delta {fmt(m['nll_delta'])}{general}  "
            f"({m['trainable_params']} trainable) -> {where}")
