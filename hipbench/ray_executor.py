"""The Ray executor: each run is one Ray task holding a fraction of a GPU.

Ray (Ray Core tasks) schedules the runs over every GPU of a machine or a cluster with the same
code: a task asks for `--cpus-per-run` CPUs and `--gpus-per-run` of a GPU, so many small runs
share one GPU, and a run waits until its share is free. Ray is an optional extra, imported here
only. A task runs `jobs.execute` on the node it lands on, in the driver's working directory and
with the driver's `HIPBENCH_*` and Hugging Face variables, so relative paths and the model cache
mean there what they mean here; on a cluster that needs the out directory, the data and the
working directory on a file system every node shares, and hipbench installed on every node.

Each run gets a process of its own (`max_calls=1`: the worker exits when its task ends). Ray
otherwise hands a finished task's worker the next task, and that process still holds what the run
before left in it: on two H200s, 5 of the 7 PiSSA `cl-benchmark` trials that Ray started in a
finished run's worker ran out of their GPU-memory cap, while all 20 trials started in fresh workers
finished (bench/results/2026-12-01-h200x2-cl-tuning/). A fresh process also makes a run in a sweep
the run `hipbench run` makes, with no state of another run (threads, caches, CUDA graphs) around it.

A task whose process dies (a crash, the out-of-memory killer) is retried once (`max_retries=1`);
a run that raises is not (it would raise again), but is reported with its log's last lines while
the others go on. A retried or re-submitted run resumes from its record's checkpoint, and the
record's lock (`runner.run_lock`) keeps a straggler of an interrupted sweep and its retry from
writing one record at once.
"""
from __future__ import annotations

import math
import os
import socket
from pathlib import Path
from typing import Callable

from hipbench.jobs import Job, JobResult, execute
from hipbench.sweeping import Shares, SweepError, default_gpus_per_run, gpu_memory_gb

FORWARDED_ENV = ("HIPBENCH_", "HF_", "TRANSFORMERS_", "TQDM_DISABLE", "PYTORCH_CUDA_ALLOC_CONF")


def import_ray():
    try:
        import ray
    except ImportError:
        raise SweepError("--executor ray needs Ray: pip install 'hipbench[ray]' (or pip install 'ray>=2.9')") from None
    return ray


def _task(job: Job, cwd: str, env: dict[str, str], cpus: int, gpu_fraction: float | None) -> JobResult:
    """What a Ray worker runs: one job, as the driver would see it."""
    os.environ.update(env)
    if Path(cwd).is_dir():
        os.chdir(cwd)
    return execute(job, echo=False, cpus=cpus, gpu_fraction=gpu_fraction)


def check_address(address: str | None) -> None:
    """A HOST:PORT that nothing answers is refused at once: Ray itself retries for minutes before it
    gives up. ("auto" and Ray's own address forms are left to Ray.)"""
    if address in (None, "auto") or ":" not in address or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as error:
        raise SweepError(f"--address {address}: no Ray cluster answers there ({error})") from None


def connect(ray, address: str | None) -> None:
    """`ray.init`, joining `address` when given; a failure to connect is one line."""
    check_address(address)
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False, include_dashboard=None)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise SweepError(f"--address {address}: Ray could not connect ({str(error).splitlines()[0]})") from None


def gpu_shares(jobs: list[Job], shares: Shares, cluster_gpus: float, log: Callable[[str], None]) -> dict[str, float]:
    """Each job's GPU share: `--gpus-per-run`, else the larger of its suite's measured memory share
    (`default_gpus_per_run`) and an even split of the cluster's GPUs among the sweep's GPU runs;
    0 for CPU runs. The even split is there because Ray fills one GPU with fractional tasks before
    it starts on the next: with the memory share alone, a sweep of 18 SmolLM2 runs (0.03 each)
    would put every run on the first GPU of two."""
    on_gpu = [job for job in jobs if job.config.device == "cuda"]
    result = {job.name: 0.0 for job in jobs}
    if shares.gpus_per_run is not None:
        return {**result, **{job.name: shares.gpus_per_run for job in on_gpu}}
    even = math.floor(100 * cluster_gpus / len(on_gpu)) / 100 if on_gpu else 0.0
    chosen: dict[tuple[str, str], float] = {}
    memory = None
    for job in on_gpu:
        pair = (job.config.suite, job.config.model)
        if pair not in chosen:
            memory = memory or gpu_memory_gb()
            by_memory, why = default_gpus_per_run(*pair, memory[0])
            chosen[pair] = min(1.0, max(by_memory, even))
            log(f"--gpus-per-run for {pair[0]} on {pair[1]}: {chosen[pair]:g} (memory: {by_memory:g}, {why}, "
                f"GPU memory {memory[1]}; even split of {cluster_gpus:g} GPUs over {len(on_gpu)} runs: {even:g})")
        result[job.name] = chosen[pair]
    return result


def run_on_ray(jobs: list[Job], shares: Shares, address: str | None, on_done: Callable[[JobResult], None],
               log: Callable[[str], None]) -> None:
    """Submit every job as a task, report each as it ends; a local Ray instance is started (and
    stopped) when no `address` is given, else the driver joins that cluster."""
    ray = import_ray()
    if not jobs:
        return
    env = {key: value for key, value in os.environ.items() if key.startswith(FORWARDED_ENV)}
    connect(ray, address)
    try:
        cluster = ray.cluster_resources()
        log(f"ray: {cluster.get('CPU', 0):g} CPUs, {cluster.get('GPU', 0):g} GPUs")
        fractions = gpu_shares(jobs, shares, cluster.get("GPU", 0.0), log)
        if any(fractions.values()) and not cluster.get("GPU"):
            raise SweepError(f"runs ask for --device cuda, but the Ray cluster at {address or 'this machine'} has no GPU")
        remote = ray.remote(max_calls=1)(_task)  # a process per run (module docstring)
        pending = {}
        for job in jobs:
            fraction = fractions[job.name]
            ref = remote.options(num_cpus=shares.cpus_per_run or 1, num_gpus=fraction, max_retries=1,
                                 retry_exceptions=False, name=job.name).remote(
                job, os.getcwd(), env, shares.threads() or 1, fraction or None)
            pending[ref] = job
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as error:  # the task's process died twice, or Ray could not run it
                result = JobResult(job.name, str(job.directory), "failed", 0.0,
                                   f"{type(error).__name__}: {error}".splitlines()[0])
            on_done(result)
    finally:
        ray.shutdown()
