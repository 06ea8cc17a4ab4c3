"""`hipbench run | list | leaderboard | show | models`.

Expected failures (bad names, bad data, unreachable registry, a budget too small) end in one
line naming the option, file or field, and exit status 1; nothing already written is removed.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from hipbench import registry
from hipbench.budget import BudgetError
from hipbench.config import DEFAULT_SEEDS, RunConfig, resolve_device
from hipbench.leaderboard import LeaderboardError, write_leaderboards
from hipbench.models import ALIASES, DEFAULT_MODEL, ModelError, cache_dir
from hipbench.suite import SuiteDataError
from hipbench.train import TrainConfig

EXPECTED = (registry.UnknownNameError, SuiteDataError, ModelError, BudgetError, LeaderboardError, ValueError,
            FileNotFoundError)


def _fail_cleanly(func):
    """Turn expected errors into a one-line message instead of a traceback."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EXPECTED as error:
            raise click.ClickException(str(error).splitlines()[0] if str(error) else type(error).__name__)
    return wrapper


def _int_list(text: str, option: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}", param_hint=option)


def _check_names(methods: list[str], suite: str, tasks_from: str | None) -> None:
    """Fail on an unknown method or suite before anything loads, naming the option that gave it
    (the registry's message alone cannot tell --suite from --tasks-from)."""
    checks = [("--method", registry.METHODS, name) for name in methods] + [("--suite", registry.SUITES, suite)]
    if tasks_from is not None:
        checks.append(("--tasks-from", registry.SUITES, tasks_from))
    for option, group, name in checks:
        try:
            registry.load(group, name)
        except registry.UnknownNameError as error:
            raise registry.UnknownNameError(f"{option}: {error}") from None


@click.group()
@click.version_option(package_name="hipbench")
def main() -> None:
    """hipbench: which adapter learns new tasks while forgetting least, at the same budget?"""


@main.command()
@click.option("--method", "methods", required=True, help="Method name(s), comma-separated (see `hipbench list`).")
@click.option("--suite", required=True, help="Suite name (see `hipbench list suites`).")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Alias, Hugging Face id, local directory, or .gguf file.")
@click.option("--budget", type=int, default=None,
              help="Trainable parameters per task. Default: LoRA rank 8 on every target module.")
@click.option("--seeds", default=",".join(map(str, DEFAULT_SEEDS)), show_default=True)
@click.option("--steps", type=int, default=TrainConfig.steps, show_default=True, help="Optimizer steps per task.")
@click.option("--limit", type=int, default=None, help="Cap examples per split (smoke runs; recorded).")
@click.option("--batch-size", type=int, default=TrainConfig.batch_size, show_default=True)
@click.option("--lr", type=float, default=TrainConfig.lr, show_default=True)
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--data-dir", default=None, help="Data directory for suites that read external files.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="A method option; repeatable.")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False))
@click.option("--save-adapters", is_flag=True, help="Write each task's adapter in PEFT format.")
@click.option("--edit-mode", type=click.Choice(["single", "batch", "sequential"]), default=None,
              help="Editing suites: one edit at a time on a fresh model, all at once, or one after another.")
@click.option("--num-edits", type=int, default=None, help="Editing suites: number of edits N.")
@click.option("--data", "data_file", default=None, type=click.Path(dir_okay=False),
              help="Editing suites: an EasyEdit, ZsRE or CounterFact JSON file (format detected).")
@click.option("--tasks-from", default=None, help="Merging suites: the suite whose tasks get one adapter each.")
@click.option("--merge-rule", default=None, help="Merging suites: sum (task arithmetic) or ties.")
@click.option("--merge-instances", type=int, default=None, help="Merging suites: instances per merge size t.")
@click.option("--svd", default="exact", show_default=True, type=click.Choice(["exact", "fast"]),
              help="Top-k SVD of the pretrained weights (PiSSA, HiP-LoRA, diagnostics): exact full fp64 SVD, or "
                   "fast fp64 subspace iteration to the same precision (recorded in the run's config when fast).")
@click.option("--trust-remote-code", is_flag=True,
              help="Run Python code shipped in the model's repository (off by default: it runs unreviewed code; "
                   "recorded in the run's config).")
@_fail_cleanly
def run(methods, suite, model, budget, seeds, steps, limit, batch_size, lr, device, data_dir, options, out,
        save_adapters, edit_mode, num_edits, data_file, tasks_from, merge_rule, merge_instances,
        svd, trust_remote_code) -> None:
    """Run each method on the suite for each seed; one run record per (method, seed)."""
    from hipbench.runner import sweep

    method_names = [m.strip() for m in methods.split(",") if m.strip()]
    _check_names(method_names, suite, tasks_from)
    option_strings = {}
    for pair in options:
        if "=" not in pair:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        key, value = pair.split("=", 1)
        option_strings[key.strip()] = value.strip()
    if data_dir is not None and not Path(data_dir).is_dir():
        raise SuiteDataError(f"--data-dir {data_dir} does not exist")
    if data_file is not None and not Path(data_file).is_file():
        raise SuiteDataError(f"--data {data_file} does not exist")
    given = {"edit_mode": edit_mode, "num_edits": num_edits,
             "data": str(Path(data_file).resolve()) if data_file else None, "tasks_from": tasks_from,
             "merge_rule": merge_rule, "merge_instances": merge_instances}
    protocol_options = {key: value for key, value in given.items() if value is not None}
    train = TrainConfig(steps=steps, batch_size=batch_size, lr=lr)
    configs = [RunConfig(method=m, suite=suite, model=model, seed=seed, budget=budget,
                         method_options=dict(sorted(option_strings.items())), data_dir=data_dir, limit=limit,
                         train=train, device=resolve_device(device), protocol_options=protocol_options,
                         trust_remote_code=trust_remote_code, svd=svd)
               for m in method_names for seed in _int_list(seeds, "--seeds")]
    if not configs:
        raise click.BadParameter("no method or seed given", param_hint="--method/--seeds")
    outcomes = sweep(configs, Path(out), option_strings, save_adapters)
    failed = [o for o in outcomes if o.status == "failed"]
    click.echo(f"{len(outcomes) - len(failed)} of {len(outcomes)} runs complete under {out}; "
               f"build tables with: hipbench leaderboard {out}")
    if failed:
        sys.exit(1)


@main.command(name="list")
@click.argument("what", type=click.Choice(["methods", "suites", "models", "all"]), default="all")
def list_(what: str) -> None:
    """Show registered methods, suites and model aliases."""
    if what in ("methods", "all"):
        click.echo("methods (kind: adapter = trained in the shared loop, editor = changes weights directly):")
        for group, kind in ((registry.METHODS, "adapter"), (registry.EDITORS, "editor")):
            for name, obj in registry.available(group).items():
                text = f"BROKEN ({type(obj).__name__}: {obj})" if isinstance(obj, Exception) else obj.description
                click.echo(f"  {name:14s} {kind:8s} {text}")
    if what in ("suites", "all"):
        click.echo("suites:")
        for name, obj in registry.available(registry.SUITES).items():
            text = f"BROKEN ({type(obj).__name__}: {obj})" if isinstance(obj, Exception) else obj.description
            click.echo(f"  {name:14s} {text}")
    if what in ("models", "all"):
        click.echo("models:")
        for name, text in ALIASES.items():
            click.echo(f"  {name:14s} {text}")


@main.command()
@click.argument("runs_dir", default="runs", type=click.Path(file_okay=False))
@click.option("--suite", default=None, help="Only this suite.")
@click.option("--out", default="leaderboards", show_default=True, type=click.Path(file_okay=False))
@click.option("--plots", is_flag=True, help="Also write figures (PNG) per table and OUT/index.html with all of them.")
@_fail_cleanly
def leaderboard(runs_dir, suite, out, plots) -> None:
    """Build tables (markdown, CSV, JSON) from the complete run records under RUNS_DIR."""
    if not Path(runs_dir).is_dir():
        raise FileNotFoundError(f"runs directory {runs_dir} does not exist")
    written, incomplete = write_leaderboards(Path(runs_dir), Path(out), suite, plots=plots)
    for path in written:
        click.echo(str(path))
    if incomplete:
        click.echo(f"skipped {incomplete} incomplete run record(s)", err=True)


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def show(run_dir) -> None:
    """Print one run record's config and metrics."""
    for name in ("config.json", "metrics.json"):
        path = Path(run_dir) / name
        if path.is_file():
            click.echo(f"== {name}")
            click.echo(json.dumps(json.loads(path.read_text()), indent=2))


@main.command()
def models() -> None:
    """Show model aliases and the cache directory."""
    click.echo(f"cache: {cache_dir()}")
    for name, text in ALIASES.items():
        click.echo(f"  {name:14s} {text}")
