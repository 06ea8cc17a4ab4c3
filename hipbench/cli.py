"""`hipbench run | sweep | tune | list | leaderboard | show | models`.

Expected failures (bad names, bad data, unreachable registry, a budget too small) end in one
line naming the option, file or field, and exit status 1; nothing already written is removed.
"""
from __future__ import annotations

import functools
from dataclasses import replace
import json
import sys
from pathlib import Path

import click

from hipbench import registry
from hipbench.budget import DEFAULT_TOLERANCE, RULES, BudgetError
from hipbench.config import DEFAULT_SEEDS, resolve_device
from hipbench.jobs import Job
from hipbench.leaderboard import LeaderboardError, write_leaderboards
from hipbench.merging import TIES_TRIMS
from hipbench.models import ALIASES, DEFAULT_MODEL, ModelError, cache_dir
from hipbench.run_groups import (DEVICES, EDIT_MODES, SVD_SOLVERS, RunGroup, parse_ints, parse_num_edits,
                                 parse_option_pairs, read_sweep_file, split_names)
from hipbench.runner import RunOutOfMemory
from hipbench.suite import DATA_SPLITS, SuiteDataError
from hipbench.sweeping import EXECUTORS, SweepError, check_jobs
from hipbench.train import TrainConfig
from hipbench.tuning_edges import EDGE_STEPS

EXPECTED = (registry.UnknownNameError, SuiteDataError, ModelError, BudgetError, LeaderboardError, ValueError,
            FileNotFoundError, SweepError, RunOutOfMemory)


def _fail_cleanly(func):
    """Turn expected errors into a one-line message instead of a traceback."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EXPECTED as error:
            raise click.ClickException(str(error).splitlines()[0] if str(error) else type(error).__name__)
    return wrapper


def run_options(required: bool):
    """The options of one run group, shared by `run` and `sweep` (whose --from-file makes --method
    and --suite optional)."""
    options = [
        click.option("--method", "methods", required=required, help="Method name(s), comma-separated (see `hipbench list`)."),
        click.option("--suite", required=required, help="Suite name (see `hipbench list suites`)."),
        click.option("--model", default=DEFAULT_MODEL, show_default=True,
                     help="Alias, Hugging Face id, local directory, or .gguf file."),
        click.option("--budget", type=int, default=None,
                     help="Trainable parameters per task. Default: LoRA rank 8 on every target module."),
        click.option("--budget-rule", default="fill", show_default=True, type=click.Choice(RULES),
                     help="fill: rank r or r + 1 per module, count within the tolerance of the budget; uniform: "
                          "one rank for all (what the published records ran)."),
        click.option("--budget-tolerance", type=float, default=DEFAULT_TOLERANCE, show_default=True,
                     help="fill: the largest shortfall of the trainable count below the budget, as a fraction."),
        click.option("--seeds", default=",".join(map(str, DEFAULT_SEEDS)), show_default=True),
        click.option("--steps", type=int, default=TrainConfig.steps, show_default=True, help="Optimizer steps per task."),
        click.option("--limit", type=int, default=None, help="Cap examples per split (smoke runs; recorded)."),
        click.option("--batch-size", type=int, default=TrainConfig.batch_size, show_default=True),
        click.option("--lr", type=float, default=TrainConfig.lr, show_default=True),
        click.option("--device", default="auto", show_default=True, type=click.Choice(DEVICES)),
        click.option("--data-dir", default=None, help="Data directory for suites that read external files."),
        click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="A method option; repeatable."),
        click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False)),
        click.option("--save-adapters", is_flag=True, help="Write each task's adapter in PEFT format."),
        click.option("--edit-mode", type=click.Choice(EDIT_MODES), default=None,
                     help="Editing suites: one edit at a time on a fresh model, all at once, or one after another."),
        click.option("--num-edits", default=None,
                     help="Editing suites: number of edits N (batch mode: the batch size), or 'all': every request "
                          "the base model knows."),
        click.option("--data", "data_file", default=None, type=click.Path(dir_okay=False),
                     help="Editing suites: an EasyEdit, ZsRE or CounterFact JSON file (format detected)."),
        click.option("--tasks-from", default=None, help="Merging suites: the suite whose tasks get one adapter each."),
        click.option("--merge-rule", default=None, help="Merging suites: sum (task arithmetic) or ties."),
        click.option("--ties-trim", type=click.Choice(TIES_TRIMS), default=None,
                     help="Merging suites, --merge-rule ties: keep the top 20% of each whole task vector "
                          "(global, the default) or of each module (module, what records before this option ran)."),
        click.option("--merge-instances", type=int, default=None, help="Merging suites: instances per merge size t."),
        click.option("--svd", default="exact", show_default=True, type=click.Choice(SVD_SOLVERS),
                     help="Top-k SVD of the pretrained weights (PiSSA, HiP-LoRA, diagnostics): exact full fp64 SVD, "
                          "or fast fp64 subspace iteration to the same precision (recorded in the run's config when fast)."),
        click.option("--data-split", default="holdout-test", show_default=True, type=click.Choice(DATA_SPLITS),
                     help="holdout-test: 10% of each task's training examples (and of edit requests) held out as "
                          "validation, never trained on, test scores; holdout-validation: the same, validation "
                          "scores (tuning trials); all-train: no hold-out (records made before validation splits)."),
        click.option("--general-eval", default=None, metavar="lm-eval:TASK[,TASK]",
                     help="Also score general capability with lm-evaluation-harness tasks (pip install -e '.[lmeval]'): "
                          "the base model, and the adapted model after the last task, in memory (continual suites)."),
        click.option("--general-eval-limit", type=int, default=None,
                     help="--general-eval: score only the first N examples of each task (recorded)."),
        click.option("--general-eval-every-task", is_flag=True,
                     help="--general-eval: score after every task, not only after the last."),
        click.option("--general-eval-include", default=None, type=click.Path(file_okay=False),
                     help="--general-eval: a directory of lm-eval task YAMLs of your own, beside lm-eval's tasks."),
        click.option("--cuda-graphs", is_flag=True,
                     help="Replay each training step's forward and backward as a CUDA graph (one per batch shape): "
                          "the eager kernels with fewer launches, the same numbers; recorded, not part of a run's identity."),
        click.option("--trust-remote-code", is_flag=True,
                     help="Run Python code shipped in the model's repository (off by default: it runs unreviewed "
                          "code; recorded in the run's config)."),
    ]

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


def group_from_options(methods, suite, model, budget, budget_rule, budget_tolerance, seeds, steps, limit,
                       batch_size, lr, device, data_dir, options, save_adapters, edit_mode, num_edits, data_file,
                       tasks_from, merge_rule, ties_trim, merge_instances, svd, trust_remote_code, data_split,
                       general_eval, general_eval_limit, general_eval_every_task, general_eval_include,
                       cuda_graphs=False) -> RunGroup:
    try:
        seed_list = parse_ints(seeds)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--seeds")
    if num_edits is not None:
        num_edits = parse_num_edits(num_edits)
    try:
        option_strings = parse_option_pairs(options)
    except ValueError as error:
        raise click.BadParameter(str(error).removeprefix("--option: "), param_hint="--option")
    return RunGroup(methods=split_names(methods), suite=suite, model=model, seeds=seed_list, budget=budget,
                    steps=steps, limit=limit, batch_size=batch_size, lr=lr, device=device, data_dir=data_dir,
                    options=option_strings, save_adapters=save_adapters, edit_mode=edit_mode,
                    num_edits=num_edits, data=data_file, tasks_from=tasks_from, merge_rule=merge_rule,
                    ties_trim=ties_trim, merge_instances=merge_instances, svd=svd, trust_remote_code=trust_remote_code,
                    budget_rule=budget_rule, budget_tolerance=budget_tolerance, data_split=data_split,
                    general_eval=general_eval, general_eval_limit=general_eval_limit,
                    general_eval_every_task=general_eval_every_task, general_eval_include=general_eval_include,
                    cuda_graphs=cuda_graphs)


@click.group()
@click.version_option(package_name="hipbench")
def main() -> None:
    """hipbench: which adapter learns new tasks while forgetting least, at the same budget?"""


TUNED = click.option("--tuned", default=None, type=click.Path(dir_okay=False),
                     help="tuned.json from `hipbench tune`: each method's tuned options and learning rate (recorded).")


def executor_options(func):
    """How `sweep` and `tune` run their runs: the executor and each run's share of the machine."""
    options = [
        click.option("--executor", default="local", show_default=True, type=click.Choice(EXECUTORS),
                     help="local: one run after another in this process; ray: every run a Ray task "
                          "(pip install 'hipbench[ray]')."),
        click.option("--gpus-per-run", type=float, default=None,
                     help="Ray: fraction of a GPU per run, in (0, 1] (default: from the suite's measured peak "
                          "memory, README)."),
        click.option("--cpus-per-run", type=float, default=None,
                     help="CPUs (torch threads) per run; a fraction runs more processes than cores on Ray. Default: "
                          "1 on Ray; the local executor leaves torch's threads as they are."),
        click.option("--address", default=None, help="Ray: join this cluster (`ray start --head` prints it; 'auto' "
                                                     "finds a local one); without it a local Ray instance is started."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def with_tuned(group: RunGroup, tuned: str | None) -> list[RunGroup]:
    """The group, or one group per method with its tuned settings (hipbench.tuning.apply_tuned)."""
    if tuned is None:
        return [group]
    from hipbench.tuning import apply_tuned, read_tuned

    if group.tuning:
        raise click.BadParameter("the sweep file's groups name their tuned settings (tuned:) already",
                                 param_hint="--tuned")
    if click.get_current_context().get_parameter_source("lr") == click.core.ParameterSource.COMMANDLINE:
        raise click.BadParameter("--lr and --tuned: the tuned file sets the learning rate", param_hint="--lr")
    return apply_tuned(group, read_tuned(Path(tuned)), Path(tuned))


@main.command()
@run_options(required=True)
@TUNED
@_fail_cleanly
def run(out, tuned, **values) -> None:
    """Run each method on the suite for each seed, in this process; one run record per (method, seed)."""
    from hipbench.runner import sweep

    group = group_from_options(**values)
    device = resolve_device(group.device)
    configs = [cfg for each in with_tuned(group, tuned) for cfg in each.configs(device)]
    outcomes = sweep(configs, Path(out), group.save_adapters)
    failed = [o for o in outcomes if o.status == "failed"]
    click.echo(f"{len(outcomes) - len(failed)} of {len(outcomes)} runs complete under {out}; "
               f"build tables with: hipbench leaderboard {out}")
    if failed:
        sys.exit(1)


@main.command()
@run_options(required=False)
@click.option("--from-file", "sweep_file", default=None, type=click.Path(dir_okay=False),
              help="A sweep file (YAML): a list of run groups, instead of --method/--suite and the run options.")
@executor_options
@TUNED
@_fail_cleanly
def sweep(out, sweep_file, executor, gpus_per_run, cpus_per_run, address, tuned, **values) -> None:
    """Run many groups of runs (methods x seeds x suites) through one executor, with per-run logs
    under OUT/logs; a failing run is reported and the others go on."""
    from hipbench.sweeping import Shares, run_sweep

    check_shares(gpus_per_run, cpus_per_run, executor, address)
    if sweep_file is not None:
        if values["methods"] or values["suite"]:
            raise click.BadParameter("give either --from-file or --method/--suite", param_hint="--from-file")
        groups = read_sweep_file(Path(sweep_file))
    elif not values["methods"] or not values["suite"]:
        raise click.BadParameter("--method and --suite are required without --from-file", param_hint="--method/--suite")
    else:
        groups = [group_from_options(**values)]
    jobs = []
    for index, group in enumerate(groups):
        where = f"{sweep_file}: runs[{index}]: " if sweep_file else ""
        try:
            device = sweep_device(group.device, executor, address)
            group_jobs = [Job(cfg, Path(out), group.save_adapters)
                          for each in with_tuned(group, tuned) for cfg in each.configs(device)]
            check_jobs(group_jobs)
        except EXPECTED as error:
            raise click.ClickException(f"{where}{error}".splitlines()[0]) from None
        jobs += group_jobs
    results = run_sweep(jobs, executor, Shares(cpus_per_run, gpus_per_run), Path(out), address)
    click.echo(f"build tables with: hipbench leaderboard {out}")
    if any(result.status == "failed" for result in results):
        sys.exit(1)


@main.command()
@run_options(required=True)
@click.option("--space", "spaces", multiple=True, metavar="KEY=V1,V2,...",
              help="Values to try: lr, steps, batch_size or a method option; repeatable. Default: each method's "
                   "declared space (hipbench/tuning.py), 9 trials each.")
@click.option("--trials", type=int, default=None, help="TPE with this many trials instead of the whole grid.")
@click.option("--edge-steps", type=click.IntRange(min=0), default=EDGE_STEPS, show_default=True,
              help="Grid only: where the best trial sits at the end of a numeric setting's range, try up to this "
                   "many values beyond it, for every method alike (hipbench/tuning_edges.py); 0: the grid alone.")
@executor_options
@_fail_cleanly
def tune(out, spaces, trials, edge_steps, executor, gpus_per_run, cpus_per_run, address, **values) -> None:
    """Tune each method's settings on validation data (Optuna; trials are runs of `hipbench sweep`),
    writing OUT/tuned.json; seeds default to 42 here."""
    from hipbench.sweeping import Shares
    from hipbench.tuning import Tuning, default_space, grid_points, parse_space, tune_methods

    if click.get_current_context().get_parameter_source("seeds") == click.core.ParameterSource.DEFAULT:
        values["seeds"] = "42"
    if trials is not None and trials < 1:
        raise click.BadParameter(f"expected at least 1, got {trials}", param_hint="--trials")
    check_shares(gpus_per_run, cpus_per_run, executor, address)
    group = group_from_options(**values)
    group.check_names()
    tunings = [Tuning(replace(group, methods=(method,), device=sweep_device(group.device, executor, address)),
                      parse_space(method, spaces) if spaces else default_space(method), trials, edge_steps)
               for method in group.methods]
    Path(out).mkdir(parents=True, exist_ok=True)
    for tuning in tunings:  # every trial's runs are checked before the first one starts
        for params in grid_points(tuning.space):
            check_jobs([Job(cfg, Path(out) / "runs") for cfg in tuning.trial_group(params).configs(tuning.group.device)])
    entries = tune_methods(tunings, Path(out), executor, Shares(cpus_per_run, gpus_per_run), address,
                           lambda message: click.echo(message, err=True))
    for method, entry in entries.items():
        click.echo(f"{method}: {entry['objective_name']} {entry['objective']:.4f} with "
                   f"{', '.join(f'{k}={v}' for k, v in {**entry['run'], **entry['options']}.items())} "
                   f"(trial {entry['chosen_trial']} of {len(entry['trials'])})")
    click.echo(f"run the test seeds with: hipbench run --tuned {Path(out) / 'tuned.json'} ...")


def check_shares(gpus_per_run: float | None, cpus_per_run: float | None, executor: str, address: str | None) -> None:
    if gpus_per_run is not None and not 0 < gpus_per_run <= 1:
        raise click.BadParameter(f"expected a fraction in (0, 1], got {gpus_per_run:g}", param_hint="--gpus-per-run")
    if cpus_per_run is not None and not cpus_per_run > 0:
        raise click.BadParameter(f"expected a positive number, got {cpus_per_run:g}", param_hint="--cpus-per-run")
    if address is not None and executor != "ray":
        raise click.BadParameter("only the ray executor joins a cluster", param_hint="--address")
    if address is not None:
        from hipbench.ray_executor import check_address

        check_address(address)


def sweep_device(choice: str, executor: str, address: str | None) -> str:
    """`--device auto` for a sweep: on Ray, where the runs' nodes may have GPUs the driver's lacks,
    cuda when the cluster has GPUs; else this machine's choice."""
    if choice != "auto" or executor != "ray" or address is None:
        return resolve_device(choice)
    from hipbench.ray_executor import connect, import_ray

    ray = import_ray()
    connect(ray, address)
    try:
        return "cuda" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"
    finally:
        ray.shutdown()


@main.command(name="list")
@click.argument("what", type=click.Choice(["methods", "suites", "models", "all"]), default="all")
@click.option("--options", "with_options", is_flag=True,
              help="Each method's options: default, accepted values and meaning.")
@click.option("--markdown", is_flag=True, help="With --options: as README's markdown table.")
def list_(what: str, with_options: bool, markdown: bool) -> None:
    """Show registered methods, suites and model aliases."""
    if with_options:
        from hipbench.option_table import options_markdown, options_text

        click.echo("\n".join(options_markdown() if markdown else options_text()))
        return
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
