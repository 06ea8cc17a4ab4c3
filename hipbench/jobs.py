"""One run of a sweep as a job: what names it, where its log goes, and how a process runs it.

Every executor runs a job through `execute`, which is `hipbench run` for one config (the runner's
`prepare` and `run_one`: the same record directory, skip, resume and lock), with the run's output
in `OUT/logs/<name>.log`, its threads and GPU memory held to the share it was given, and every
failure caught and returned as a result instead of raised, so one run's failure never stops
another's.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from hipbench.config import RunConfig
from hipbench.runner import Prepared, RunOutOfMemory, describe, make_method, model_slug, prepare, record_dir, run_one

LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class Job:
    config: RunConfig
    out: Path
    save_adapters: bool = False

    @functools.cached_property
    def directory(self) -> Path:
        """The record's directory (`runner.record_dir`), named by the config hash; made once per job."""
        return record_dir(self.out, self.config, make_method(self.config.method, self.config.method_options))

    @property
    def name(self) -> str:
        """`<suite>-<model>-<method>-seed<s>-<hash>`: unique per record, readable in a listing."""
        cfg = self.config
        run_hash = self.directory.name.rsplit("-", 1)[1]
        return f"{cfg.suite}-{model_slug(cfg.model)}-{cfg.method}-seed{cfg.seed}-{run_hash}"

    @property
    def log_path(self) -> Path:
        return self.out / "logs" / f"{self.name}.log"

    def share_key(self) -> tuple:
        """Jobs with equal keys can share one loaded model and suite (`runner.prepare`)."""
        cfg = self.config
        return (cfg.suite, cfg.model, cfg.data_dir, cfg.limit, repr(sorted(cfg.protocol_options.items())),
                cfg.trust_remote_code, cfg.device, cfg.data_split)


@dataclass
class JobResult:
    name: str
    directory: str
    status: str  # "complete", "skipped" or "failed"
    seconds: float
    message: str = ""  # the outcome line, or why it failed
    peak_gpu_memory_gb: float | None = None  # torch's peak reserved memory in the run's process


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a run's log (what a failure report shows), each as a terminal would
    leave it: a progress bar's redraws (carriage returns) keep their last state."""
    if not path.is_file():
        return f"(no log at {path})"
    with open(path, errors="replace") as fh:
        shown = [line.rstrip("\n").split("\r")[-1].rstrip() for line in fh]
    return "\n".join([line for line in shown if line][-lines:])


class _Tee:
    def __init__(self, *streams) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def logged_to(path: Path, echo: bool) -> Iterator[None]:
    """Send this process's output to `path` while the block runs.

    `echo` (the local executor): Python-level output goes to the console as well, as `hipbench run`
    prints it. Without it (a Ray worker, whose process runs nothing else meanwhile), file
    descriptors 1 and 2 are pointed at the log, so output from C code and subprocesses lands there
    too instead of being forwarded to the driver's console."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as log:
        log.write(f"==== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} pid {os.getpid()}\n")
        log.flush()
        if echo:
            with contextlib.redirect_stdout(_Tee(sys.stdout, log)), contextlib.redirect_stderr(_Tee(sys.stderr, log)):
                yield
            return
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def hold_to_share(device: str, cpus: int | None, gpu_fraction: float | None) -> None:
    """Keep this process within its share: `cpus` threads for torch, and at most `gpu_fraction` of
    the GPU's memory for torch's allocator (an allocation past it raises out-of-memory in this run
    instead of starving the runs beside it)."""
    import torch

    if cpus:
        torch.set_num_threads(cpus)
    if device == "cuda":
        if gpu_fraction:
            torch.cuda.set_per_process_memory_fraction(min(1.0, gpu_fraction), 0)
        torch.cuda.reset_peak_memory_stats(0)


def peak_gpu_memory_gb(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_reserved(0) / 1e9 if device == "cuda" else None


def execute(job: Job, prepared: Prepared | None = None, echo: bool = True, cpus: int | None = None,
            gpu_fraction: float | None = None) -> JobResult:
    """Run `job` in this process (`prepared`: a model and suite loaded for jobs of its `share_key`;
    loaded here when None); never raises for a failure of the run itself."""
    started = time.perf_counter()
    cfg = job.config
    name, directory = job.name, str(job.directory)
    with logged_to(job.log_path, echo):
        try:
            hold_to_share(cfg.device, cpus, gpu_fraction)
            log = lambda message: print(message, file=sys.stderr)
            prepared = prepared or prepare([cfg], log)
            outcome = run_one(prepared.loaded, prepared.suite, cfg, job.out, cfg.method_options, job.save_adapters,
                              prepared.env, prepared.protocol)
            message = describe(outcome, prepared.protocol)
            log(message)
            status = outcome.status
        except BaseException as error:  # a run may fail in any way; the sweep goes on
            if isinstance(error, KeyboardInterrupt):
                raise
            status, message = "failed", f"{type(error).__name__}: {error}".splitlines()[0]
            if isinstance(error, RunOutOfMemory):  # expected and said in full: no traceback
                print(message, file=sys.stderr)
            else:
                traceback.print_exc()
    peak = peak_gpu_memory_gb(cfg.device)
    prepared = outcome = None  # what this function holds of the run; a caller's shared model stays theirs
    release_memory(cfg.device)
    return JobResult(name, directory, status, time.perf_counter() - started, message, peak)


def release_memory(device: str) -> None:
    """Free what a finished run leaves in this process before another run starts in it.

    A process's first run leaves its whole model in reference cycles (on the CPU, every parameter of
    tiny-llama survives `execute` until the cycle collector happens to run), and torch keeps freed
    GPU blocks cached for this process. A process that runs one run after another (the local
    executor; Ray workers did until each run got its own) would start the next run with the last
    one's memory held, which is the likely reason why five PiSSA trials that Ray started in finished
    runs' workers ran out of their memory cap on two H200s (bench/results/2026-12-01-h200x2-cl-tuning/;
    not yet measured on a GPU with this release)."""
    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()
