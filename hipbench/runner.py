"""Sweep (methods × seeds) over one suite: resolve everything once, write one record per run.

A run's directory is `OUT/<suite>/<model>/<method>/seed-<s>-<config hash>`, so runs with
different settings never overwrite each other, and a run whose complete record exists is skipped.
An incomplete one resumes from its last checkpoint where its protocol keeps them (`read_checkpoint`
in the protocol module: continual task boundaries, sequential and single edits, merge evaluations),
and starts over otherwise.
"""
from __future__ import annotations

import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from hipbench import registry
from hipbench.config import RunConfig, environment
from hipbench.editor import check_protocol
from hipbench.method import Method, identity_options, options_from_strings
from hipbench.models import LoadedModel, load_model
from hipbench.protocols import protocol_module
from hipbench.protocols.continual import plan_budget
from hipbench.records import COMPLETE, RunRecord
from hipbench.suite import Suite, SuiteDataError
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


def record_dir(out: Path, cfg: RunConfig, method: Method) -> Path:
    run_hash = cfg.hash(identity_options(method.options))
    return out / cfg.suite / model_slug(cfg.model) / cfg.method / f"seed-{cfg.seed}-{run_hash}"


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
    return cls(options_from_strings(cls.Options, option_strings))


def run_one(loaded: LoadedModel, suite: Suite, cfg: RunConfig, out: Path, option_strings: dict[str, str],
            save_adapters: bool, env: dict, protocol: str = "continual") -> RunOutcome:
    method = make_method(cfg.method, option_strings)
    directory = record_dir(out, cfg, method)
    record = RunRecord(directory)
    if record.status() == COMPLETE:
        return RunOutcome(cfg.method, cfg.seed, directory, "skipped")
    config = {"config": cfg.to_dict(), "config_hash": cfg.hash(identity_options(method.options)), "environment": env,
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
    except BaseException as error:
        record.fail(f"{type(error).__name__}: {error}")
        raise
    if metrics["planned_trainable"] is not None and metrics["trainable_params"] != metrics["planned_trainable"]:
        record.fail(f"trainable count {metrics['trainable_params']} differs from the budget plan "
                    f"{metrics['planned_trainable']}")
        raise RuntimeError(f"{cfg.method}: trainable count does not match its budget plan")
    metrics["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record.finish(metrics)
    return RunOutcome(cfg.method, cfg.seed, directory, COMPLETE, metrics)


def sweep(configs: list[RunConfig], out: Path, option_strings: dict[str, str], save_adapters: bool,
          log=lambda message: print(message, file=sys.stderr)) -> list[RunOutcome]:
    """Run every config (same suite, model and device); the model and suite load once."""
    first = configs[0]
    protocol = suite_protocol(first.suite)
    accepted = getattr(protocol_module(protocol), "OPTIONS", frozenset())  # unknown protocols fail here
    for key in first.protocol_options:
        if key not in accepted:
            raise ValueError(f"--{key.replace('_', '-')} does not apply to suite {first.suite} "
                             f"(protocol {protocol})")
    suite = load_suite(first.suite, first.data_dir, first.limit, first.protocol_options.get("tasks_from"))
    prepare = getattr(protocol_module(protocol), "prepare_suite", None)
    if prepare is not None:  # protocol data read before the model loads (the edit protocol's --data file)
        suite = prepare(suite, first)
    for cfg in configs:  # fail fast on bad names/options before loading anything heavy
        check_protocol(make_method(cfg.method, option_strings), protocol, cfg.budget)
        cfg.validate()
    log(f"loading model {first.model}")
    loaded = load_model(first.model, trust_remote_code=first.trust_remote_code)
    for cfg in {c.method: c for c in configs}.values():  # budgets are solved before any record is written
        plan = plan_budget(loaded.model, make_method(cfg.method, option_strings), cfg)
        if plan["budget"] is None:  # a knowledge editor (hipbench/editor.py)
            log(f"{cfg.method}: knowledge editor, no trainable-parameter budget")
            continue
        log(f"{cfg.method}: budget {plan['budget']} trainable parameters"
            f"{' (default: LoRA rank 8 on every target module)' if cfg.budget is None else ''}, "
            f"rank {plan['rank']} on {plan['modules']} modules -> {plan['planned_trainable']} trainable")
    env = environment(first.device)
    if first.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    outcomes = []
    for cfg in configs:
        outcome = run_one(loaded, suite, cfg, out, option_strings, save_adapters, env, protocol)
        log(describe(outcome, protocol))
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
    if protocol != "continual":  # the protocol's leaderboard columns
        cells = "  ".join(f"{title} {fmt(m.get(key))}" for key, title in protocol_module(protocol).LEADERBOARD_COLUMNS)
        return f"{outcome.method} seed {outcome.seed}: {cells}  ({m['trainable_params']} trainable) -> {where}"
    return (f"{outcome.method} seed {outcome.seed}: AA {fmt(m['aa'])}  BWT {fmt(m['bwt'])}  "
            f"FWT {fmt(m['fwt'])}  forgetting {fmt(m['forgetting'])}  fact retention "
            f"{fmt(m['fact_retention'])}  NLL delta {fmt(m['nll_delta'])}  "
            f"({m['trainable_params']} trainable) -> {where}")
