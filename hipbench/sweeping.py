"""`hipbench sweep`: many runs (methods × seeds × groups) through one executor, one progress bar.

Executors: `local` runs the jobs one after another in this process, loading each model once for
the jobs that share it (today's `hipbench run`); `ray` (`hipbench.ray_executor`) sends every job to
a Ray cluster as a task with a fraction of a GPU. Both run a job through `jobs.execute`, so a run's
record is the same whichever ran it. Before anything runs, every group is checked without loading a
model (names, options, data: `runner.check`), and complete records are skipped on the spot.

What a sweep leaves besides the records: one log per run in `OUT/logs/<run>.log`, and a summary of
the invocation (`OUT/logs/sweep-<UTC time>.json`: executor, shares, wall-clock, and each run's
status, seconds and peak GPU memory), from which bench/RESULTS.md's sweep figures are read.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from hipbench.jobs import Job, JobResult, execute, log_tail
from hipbench.records import COMPLETE, RunRecord, write_json_atomic
from hipbench.runner import check, prepare

EXECUTORS = ("local", "ray")

# Peak GPU memory of one run, in GB, by (suite, model): torch's reserved memory (what the cap
# `set_per_process_memory_fraction` limits) read from the sweeps' summaries on an H200
# (bench/results/2026-11-30-*), or the process's memory from nvidia-smi on an H100 where no sweep
# measured it (README's table says which). `--gpus-per-run` defaults to HEADROOM times this share
# of the GPU; an unmeasured pair gets FALLBACK_GPU_SHARE.
PEAK_GPU_MEMORY_GB = {
    ("continual", "smollm2-135m"): 3.0,  # 3.00 GB at most over 54 full runs (18 of six methods, 36 tuning trials)
    # 14.41 GB at most over 27 tuning trials and 10 test runs with CUDA graphs at a 0.1 share of an H200 (a 15 GB
    # cap; allocated at most 4.6 GB: the allocator keeps what the cap lets it), bench/results/2026-12-01-h200*-cl-tun*/
    ("cl-benchmark", "smollm2-135m"): 14.5,
    ("edit", "smollm2-135m"): 3.1,  # 3.04 GB at most over 36 sequential N = 10 runs of four adapter methods
}
HEADROOM = 1.5
FALLBACK_GPU_SHARE = 0.25
ASSUMED_GPU_MEMORY_GB = 80.0  # when the driver sees no GPU to read it from


class SweepError(RuntimeError):
    """A sweep that cannot start (executor missing, nothing to run); one line says why."""


@dataclass(frozen=True)
class Shares:
    """What one run may use: CPUs (torch threads; Ray's `num_cpus`) and a fraction of one GPU
    (Ray's `num_gpus`, and the cap on the run's GPU memory)."""
    cpus_per_run: float | None = None  # None: 1 CPU per Ray task; the local executor leaves torch's threads be
    gpus_per_run: float | None = None  # None: default_gpus_per_run for each job

    def threads(self) -> int | None:
        return None if self.cpus_per_run is None else max(1, round(self.cpus_per_run))


def gpu_memory_gb() -> tuple[float, str]:
    """The first GPU's memory as the driver sees it, else ASSUMED_GPU_MEMORY_GB (said so)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory / 1e9, "this machine's GPU"
    return ASSUMED_GPU_MEMORY_GB, "assumed: the driver sees no GPU"


def default_gpus_per_run(suite: str, model: str, gpu_gb: float) -> tuple[float, str]:
    """The GPU share of one run of `suite` on `model`, and where it comes from (for the log)."""
    peak = PEAK_GPU_MEMORY_GB.get((suite, model))
    if peak is None:
        return FALLBACK_GPU_SHARE, f"no measured peak memory for {suite} on {model}"
    share = min(1.0, math.ceil(HEADROOM * peak / gpu_gb * 100) / 100)
    return share, f"measured peak {peak:g} GB x {HEADROOM:g} of {gpu_gb:.0f} GB"


def check_jobs(jobs: list[Job]) -> None:
    """Every group of jobs that would share a model, checked without loading it."""
    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.share_key(), []).append(job)
    for group in groups.values():
        check([job.config for job in group])


def run_local(jobs: list[Job], shares: Shares, on_done: Callable[[JobResult], None]) -> None:
    """One job after another in this process; consecutive jobs that share a model load it once."""
    key, prepared, failure = None, None, ""
    for job in jobs:
        if job.share_key() != key:
            key, prepared = job.share_key(), None
            try:
                prepared = prepare([j.config for j in jobs if j.share_key() == key])
            except Exception as error:  # every job of the group fails with it; other groups go on
                failure = f"{type(error).__name__}: {error}".splitlines()[0]
        if prepared is None:
            on_done(JobResult(job.name, str(job.directory), "failed", 0.0, f"could not prepare its group: {failure}"))
            continue
        on_done(execute(job, prepared, echo=True, cpus=shares.threads(), gpu_fraction=shares.gpus_per_run))


def run_sweep(jobs: list[Job], executor: str, shares: Shares, out: Path, address: str | None = None,
              log: Callable[[str], None] = lambda message: print(message, file=sys.stderr)) -> list[JobResult]:
    """Run `jobs`, checked by `check_jobs` (complete records skipped on the spot), and write the
    sweep's summary under OUT/logs; returns every job's result, in the order they ended."""
    if executor not in EXECUTORS:
        raise SweepError(f"--executor {executor}: expected one of {', '.join(EXECUTORS)}")
    if not jobs:
        raise SweepError("nothing to run: no method or seed given")
    started, clock = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), time.perf_counter()
    results: list[JobResult] = []
    todo = []
    for job in jobs:
        if RunRecord(job.directory).status() == COMPLETE:
            results.append(JobResult(job.name, str(job.directory), "skipped", 0.0, "already complete"))
        else:
            todo.append(job)
    bar = tqdm(total=len(jobs), initial=len(results), desc=f"sweep ({executor})", unit="run", file=sys.stderr,
               dynamic_ncols=True)

    def on_done(result: JobResult) -> None:
        results.append(result)
        failed = sum(r.status == "failed" for r in results)
        bar.set_postfix_str(f"failed {failed}" if failed else "")
        bar.update(1)
        if result.status == "failed":
            bar.write(f"FAILED {result.name}: {result.message}")

    log(f"{len(jobs)} runs: {len(results)} already complete, {len(todo)} to run with the {executor} executor")
    try:
        if executor == "ray":
            from hipbench.ray_executor import run_on_ray
            run_on_ray(todo, shares, address, on_done, log)
        elif todo:
            run_local(todo, shares, on_done)
    finally:
        bar.close()
        write_summary(out, executor, shares, started, time.perf_counter() - clock, results)
    report_failures(jobs, results, log)
    return results


def write_summary(out: Path, executor: str, shares: Shares, started: str, seconds: float,
                  results: list[JobResult]) -> Path:
    path = out / "logs" / f"sweep-{started.replace(':', '').replace('-', '')}.json"
    write_json_atomic(path, {"executor": executor, "shares": asdict(shares), "started": started,
                             "wall_seconds": round(seconds, 1), "results": [asdict(r) for r in results]})
    return path


def report_failures(jobs: list[Job], results: list[JobResult], log: Callable[[str], None]) -> None:
    """Each failed run by name, with why and the last lines of its log."""
    logs = {job.name: job.log_path for job in jobs}
    for result in results:
        if result.status == "failed":
            log(f"FAILED {result.name}: {result.message}\n  last lines of {logs[result.name]}:\n"
                + "\n".join(f"    {line}" for line in log_tail(logs[result.name]).splitlines()))
    done = sum(r.status != "failed" for r in results)
    log(f"{done} of {len(results)} runs complete" + (f", {len(results) - done} failed" if done < len(results) else ""))

