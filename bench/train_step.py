"""Training throughput: hipbench's shared loop per method against a plain PEFT LoRA loop.

Both sides train the same model on the same batches (same examples, batch size, sequence length,
AdamW, bf16 autocast on CUDA). The plain loop gets its batches tokenized in advance and calls the
model with `labels=`, as a user's script would; hipbench's loop tokenizes per step and runs its
hooks, so any harness overhead shows up in the ratio. Ratios are measured in one process, one
after the other, after a warm-up, so they compare like with like on whatever machine runs this.
Peak GPU memory is measured over each contender's timed steps; "own" is that peak minus what was
allocated before the contender's copy of the model was made (the shared reference model).

`--fast` adds a PEFT contender for the stretch target: fused AdamW and batches staged on the device
before timing (`--compile` also wraps the model in torch.compile; `--compile-mode reduce-overhead`
replays CUDA graphs, which removes the per-op launch cost that bounds a step of a few short
examples, issue 18; graphs need fixed shapes, so `--pad-to N` pads every batch to N tokens, for
the PEFT contenders alike: padding is masked and unlabelled, it changes no loss beyond rounding). It trains from the same LoRA
initialisation on the same batches as the plain loop, and its losses over the first 20 steps must
equal the plain loop's to 1e-3. A larger micro-batch or sequence packing would change the losses,
so they are not part of it.

`--graphs` times each hipbench method a second time with `--cuda-graphs` (hipbench/graphed.py: each
batch shape's forward and backward captured at its second occurrence and replayed), from the same
start on the same batches, and fails unless every loss equals the eager contender's bit for bit; a
third, eager again, shows whether the GPU reproduces the eager losses at all;
`--data continual` trains on that suite's first task (its few batch shapes) instead of random words.

`hiplora-step` is HiP-LoRA with `--option complement=step` (A and B kept in the complement once per
step, one fused product per forward; methods/hiplora.py, its default since issue 20), `hiplora` the
same with `complement=forward` (the projection in every forward, the default every published record
ran): the same trajectory in exact arithmetic, so their losses are printed side by side to show the
bf16 rounding gap.

Models: an alias (smollm2-135m, tiny-llama) or path, or `llama8b-shape` (Llama-3.1-8B's shapes,
random bf16 weights; throughput does not depend on the values) and `llama-mini-shape` (the same
proportions, tiny, for a CPU check). PiSSA and HiP-LoRA need the top-k SVD of every target: it is
computed before timing, batched, by the fast solver unless `--svd exact` (the solver does not change
the training step), in a temporary cache.

    python bench/train_step.py --model smollm2-135m --methods lora,hiplora --steps 20
    python bench/train_step.py --model llama8b-shape --methods lora,hiplora --steps 10 --fast
    python bench/train_step.py --model llama-mini-shape --device cpu --steps 3 --warmup 1 --fast
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from benchlib import SHAPES, environment, random_llama, sync, timed, write_json

from hipbench.config import RunConfig
from hipbench.method import DEFAULT_TARGETS, Context, adapted_layers
from hipbench.models import load_model
from hipbench.protocols.continual import plan_budget
from hipbench.runner import load_suite, make_method
from hipbench.spectral import SVDCache
from hipbench.suite import Example, GeneralSet, TaskData
from hipbench import train as train_module
from hipbench.train import IGNORE, TrainConfig, collate, encode, train_task

WORDS = ("river stone light paper window garden silver market engine forest cloud letter bridge "
         "number candle orange winter music planet circle doctor yellow mirror island").split()
LOSS_CHECK_STEPS = 20
LOSS_TOLERANCE = 1e-3
# top-k each attach reads, from the per-module ranks (RunConfig's default uniform rule, as bench/RESULTS.md measured)
SVD_K = {"hiplora": lambda method, ranks: method.options.k, "pissa": lambda method, ranks: max(ranks.values())}


def examples(count: int, words: int, seed: int = 0) -> tuple[Example, ...]:
    rng = random.Random(seed)
    text = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))  # noqa: E731
    return tuple(Example(prompt=text(words), answer=text(words // 8)) for _ in range(count))


def suite_examples(suite: str, count: int) -> tuple[Example, ...]:
    """`count` training examples of `suite`'s first task, repeated in order as needed: its prompts'
    lengths, so its batch shapes (what CUDA graphs are captured for)."""
    train = load_suite(suite, None, None).tasks[0].train
    return tuple(train[i % len(train)] for i in range(count))


def memory_gib(device: torch.device, before: int) -> dict:
    if device.type != "cuda":
        return {"peak_gib": None, "own_gib": None}
    peak = torch.cuda.max_memory_allocated(device)
    return {"peak_gib": peak / 2**30, "own_gib": (peak - before) / 2**30}


def start_memory(device: torch.device) -> int:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else 0


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def release(device: torch.device) -> None:
    """Free a finished contender's model copy now: PEFT and method modules hold reference cycles,
    and at 8B every copy left for the garbage collector is 16 GB."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def pad_batch(batch: dict[str, torch.Tensor], width: int, pad_id: int) -> dict[str, torch.Tensor]:
    """`batch` right-padded to `width` tokens: padding masked out of attention and unlabelled."""
    extra = width - batch["input_ids"].shape[1]
    if extra < 0:
        raise SystemExit(f"--pad-to {width}: a batch is {batch['input_ids'].shape[1]} tokens wide")
    fills = {"input_ids": pad_id, "attention_mask": 0, "labels": IGNORE}
    return {key: torch.nn.functional.pad(value, (0, extra), value=fills[key]) for key, value in batch.items()}


def peft_contender(model: torch.nn.Module, batches: list[dict], warmup: int, cfg: TrainConfig,
                   device: torch.device, fast: bool = False, compile_model: bool = False,
                   compile_mode: str = "default") -> dict:
    """A PEFT LoRA r8 loop as a user writes it (or with the `--fast` changes): warm-up steps, the
    LoRA weights put back to their initial values, then the timed steps with a fresh optimizer."""
    from peft import LoraConfig, get_peft_model

    before = start_memory(device)
    work = copy.deepcopy(model)
    torch.manual_seed(0)  # the same LoRA initialisation for every PEFT contender
    peft_model = get_peft_model(work, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                 target_modules=list(DEFAULT_TARGETS)))
    peft_model.train()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    initial = [p.detach().clone() for p in params]
    forward = torch.compile(peft_model, mode=compile_mode) if compile_model else peft_model
    graphs = compile_model and compile_mode == "reduce-overhead"
    if fast:  # staged once, outside the timing: the loop then never waits for a host copy
        batches = [{k: v.to(device, non_blocking=True) for k, v in b.items()} for b in batches]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def steps(chunk: list[dict]) -> list[torch.Tensor]:
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, fused=True if fast else None)
        losses = []
        for batch in chunk:
            batch = {k: v.to(device) for k, v in batch.items()}
            if graphs:  # a new training step: the graphs' earlier outputs may be overwritten
                torch.compiler.cudagraph_mark_step_begin()
            with autocast:
                loss = forward(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach().clone())  # read after the timing: no host sync per step
        return losses

    _, warmup_s = timed(lambda: steps(batches[:warmup]), device)  # includes compiling, when compiled
    with torch.no_grad():
        for param, value in zip(params, initial):
            param.copy_(value)
    reset_peak(device)
    losses, seconds = timed(lambda: steps(batches[warmup:]), device)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[warmup:])
    result = {"tokens_per_s": tokens / seconds, "seconds": seconds, "steps": len(losses), "warmup_s": warmup_s,
              "losses": [float(x) for x in losses], **memory_gib(device, before)}
    del forward, peft_model, work
    return result


# contenders that are a registered method with named options: `hiplora` is the forward projection
# (HiP-LoRA's default until issue 20, what bench/RESULTS.md timed), `hiplora-step` today's default
VARIANTS = {"hiplora": ("hiplora", {"complement": "forward"}), "hiplora-step": ("hiplora", {"complement": "step"})}


def hipbench_contender(name: str, model: torch.nn.Module, tokenizer, data: tuple[Example, ...], args,
                       cfg: TrainConfig, device: torch.device, svd_dir: str, graphs: bool = False) -> dict:
    """One method through hipbench's own loop (`train_task`), attached as the continual protocol does;
    `graphs`: with --cuda-graphs (warm-up and timed steps alike, each capturing its own graphs)."""
    label = name
    name, options = VARIANTS.get(label, (label, {}))
    method = make_method(name, options)
    before = start_memory(device)
    work = copy.deepcopy(model)
    plan = plan_budget(work, method, RunConfig(method=name, suite="bench", model=args.model, seed=0, train=cfg))
    cache = SVDCache(svd_dir, device=device, solver=args.svd)
    if name in SVD_K:  # batched, before timing; attach then reads the factors from memory
        k = SVD_K[name](method, plan["ranks"])
        _, svd_s = timed(lambda: cache.top_k_many([work.get_submodule(t).weight for t in plan["targets"]], k), device)
    preservation = GeneralSet(tuple(f"{e.prompt} {e.answer}" for e in data[:16]), ())
    ctx = Context(tokenizer=tokenizer, device=device, generator=torch.Generator().manual_seed(0),
                  preservation=preservation, batch_size=args.batch, max_length=cfg.max_length, svd=cache)
    method.attach(work, plan["targets"], plan["ranks"], ctx)
    work.to(device)
    _, begin_s = timed(lambda: method.begin_task(work, TaskData(name="bench", scoring="exact", train=data, test=()), ctx),
                       device)  # data-dependent initialisation (SC-LoRA's covariances), before timing
    warm = args.batch * args.warmup
    train_task(work, method, data[:warm], tokenizer, TrainConfig(steps=args.warmup, batch_size=args.batch),
               device, torch.Generator().manual_seed(0), graphs=graphs)
    reset_peak(device)
    sync(device)
    with profiled(args.profile, label, device, cfg.steps), host_phases(args.phases, label, method, cfg.steps) as phases:
        stats = train_task(work, method, data[warm:], tokenizer, cfg, device, torch.Generator().manual_seed(1),
                           graphs=graphs)
    result = {**({"host_ms_per_step": phases} if phases else {}), "rank": plan["rank"],
              "trainable": plan["planned_trainable"], "tokens_per_s": stats.tokens / stats.seconds,
              "seconds": stats.seconds, "begin_task_s": begin_s, "steps": stats.steps, "losses": stats.losses,
              **({"graphs": stats.graphs} if graphs else {}),
              **memory_gib(device, before)}
    if name in SVD_K:
        result.update(svd_s=svd_s, svd_solver=args.svd, svd_fallbacks=cache.fallbacks)
    del work
    return result


@contextlib.contextmanager
def profiled(directory: str | None, name: str, device: torch.device, steps: int):
    """With --profile DIR: torch.profiler over the timed steps, its op table written to DIR/<name>.txt
    (sorted by the device's own time, then by launch count), to explain a ratio; the profiled run's
    timings are not the bench's numbers (the profiler adds its own overhead). The head line says
    per step how many aten ops the host dispatched, how many kernels ran and how long the device was
    busy against the wall time: a device busy for a small part of the wall is launch-bound."""
    if directory is None:
        yield
        return
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    start = time.perf_counter()
    with torch.profiler.profile(activities=activities) as prof:
        yield
        sync(device)
    wall_ms = (time.perf_counter() - start) * 1000 / steps
    sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    Path(directory).mkdir(parents=True, exist_ok=True)
    events = prof.key_averages()
    kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    host_ops = sum(e.count for e in events if e.key.startswith("aten::"))
    busy_ms = sum(e.self_device_time_total for e in kernels) / 1000 / steps
    head = (f"{name}: per step, {host_ops / steps:.0f} aten ops dispatched, {sum(e.count for e in kernels) / steps:.0f}"
            f" kernels, device busy {busy_ms:.1f} ms of {wall_ms:.1f} ms wall (profiled, {steps} steps)\n\n")
    Path(directory, f"{name}.txt").write_text(head + events.table(sort_by=sort, row_limit=40) + "\n\nby launches:\n"
                                              + events.table(sort_by="count", row_limit=30))


@contextlib.contextmanager
def host_phases(enabled: bool, name: str, method, steps: int):
    """With --phases: the host's milliseconds per step in each part of `train_task`'s step, taken by
    wrapping the calls it makes (no synchronisation added). "extra loss" is the time between the
    forward's return and the backward (the method's extra loss; profiles from before the loop ran the
    backward ahead of reading the losses call it "loss read", the device read then sat there); the
    one device read now follows the backward and counts in "other". A part whose host time exceeds
    the device's work sets the step time there. Yields the dict it fills on exit."""
    phases: dict[str, float] = {}
    if not enabled:
        yield phases
        return
    clock = time.perf_counter
    marks: dict[str, float] = {}

    def clocked(label: str, fn):  # not benchlib's `timed`: no sync, accumulates per label
        def wrapper(*args, **kwargs):
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[label] = phases.get(label, 0.0) + clock() - start
                marks[label] = clock()
        return wrapper

    def backward(tensor, *args, **kwargs):  # the gap since the forward returned: the extra loss
        phases["extra loss"] = phases.get("extra loss", 0.0) + clock() - marks.get("forward", clock())
        return clocked("backward", original["backward"])(tensor, *args, **kwargs)

    original = {"forward": train_module.token_loss, "backward": torch.Tensor.backward,
                "clip": torch.nn.utils.clip_grad_norm_, "optimizer": torch.optim.AdamW.step}
    train_module.token_loss = clocked("forward", original["forward"])
    torch.Tensor.backward = backward
    torch.nn.utils.clip_grad_norm_ = clocked("clip", original["clip"])
    torch.optim.AdamW.step = clocked("optimizer", original["optimizer"])
    method.before_step = clocked("before_step", method.before_step)
    method.after_step = clocked("after_step", method.after_step)
    start = clock()
    try:
        yield phases
    finally:
        train_module.token_loss, torch.Tensor.backward = original["forward"], original["backward"]
        torch.nn.utils.clip_grad_norm_, torch.optim.AdamW.step = original["clip"], original["optimizer"]
        del method.before_step, method.after_step
        phases["step"] = clock() - start
        for label in phases:
            phases[label] = round(phases[label] * 1000 / steps, 2)
        phases["other"] = round(phases["step"] - sum(v for k, v in phases.items() if k != "step"), 2)
        print(f"{name} host ms per step: " + ", ".join(f"{k} {v}" for k, v in phases.items()))


def build_model(spec: str, device: torch.device):
    """(model on the device with every weight frozen, tokenizer, seconds to build it)."""
    start = time.perf_counter()
    if spec in SHAPES:
        model, tokenizer = random_llama(SHAPES[spec], device)
    else:
        loaded = load_model(spec)
        model, tokenizer = loaded.model.to(device), loaded.tokenizer
    model.requires_grad_(False)
    sync(device)
    return model, tokenizer, time.perf_counter() - start


def one_round(results: dict, model, tokenizer, data, batches, args, cfg: TrainConfig, device: torch.device,
              svd_dir: str, report: dict) -> None:
    """Every contender once, in a fixed order, into `results` (the JSON is rewritten after each)."""
    results["plain PEFT LoRA r8"] = peft_contender(model, batches, args.warmup, cfg, device)
    release(device)
    write_json(args.json, report)
    if args.fast:
        label = "fast PEFT LoRA r8" + (f" (compiled, {args.compile_mode})" if args.compile else "")
        fast = peft_contender(model, batches, args.warmup, cfg, device, fast=True, compile_model=args.compile,
                              compile_mode=args.compile_mode)
        checked = min(LOSS_CHECK_STEPS, args.steps)
        gap = max(abs(a - b) for a, b in zip(fast["losses"][:checked], results["plain PEFT LoRA r8"]["losses"][:checked]))
        fast.update(loss_max_abs_diff=gap, loss_steps_checked=checked, losses_equal=gap <= LOSS_TOLERANCE)
        results[label] = fast
        release(device)
        write_json(args.json, report)
    for name in [m for m in args.methods.split(",") if m]:
        try:
            results[f"hipbench {name}"] = hipbench_contender(name, model, tokenizer, data, args, cfg, device, svd_dir)
            if args.graphs:  # the same steps replayed: every loss bit for bit, as
                eager = results[f"hipbench {name}"]["losses"]  # an eager run again must be (else the GPU is not)
                for label, graphs in (("graphs", True), ("eager again", False)):
                    row = hipbench_contender(name, model, tokenizer, data, args, cfg, device, svd_dir, graphs=graphs)
                    row.update(losses_identical=row["losses"] == eager,
                               loss_max_abs_diff_to_eager=max(abs(a - b) for a, b in zip(row["losses"], eager)))
                    results[f"hipbench {name} ({label})"] = row
        except torch.OutOfMemoryError as error:  # one method too large for the device is a result, not a crash
            results[f"hipbench {name}"] = {"error": f"out of memory: {str(error).splitlines()[0]}"}
        base = results.get(f"hipbench {VARIANTS[name][0]}", {}) if name in VARIANTS else {}
        if "losses" in base and "losses" in results[f"hipbench {name}"]:  # an option's effect on the numerics
            results[f"hipbench {name}"]["loss_max_abs_diff_to_default"] = max(
                abs(a - b) for a, b in zip(results[f"hipbench {name}"]["losses"], base["losses"]))
        release(device)
        write_json(args.json, report)


def median_rounds(rounds: list[dict]) -> dict:
    """Per contender: the first round's row with tokens/s replaced by the median over rounds, and the
    per-round values kept beside it (with one round, that round's row)."""
    merged = {}
    for label, row in rounds[0].items():
        values = [r[label]["tokens_per_s"] for r in rounds if "tokens_per_s" in r.get(label, {})]
        merged[label] = dict(row, **({"tokens_per_s": float(statistics.median(values)),
                                      "tokens_per_s_rounds": values} if values else {}))
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="alias, path, or one of " + ", ".join(SHAPES))
    parser.add_argument("--methods", default="lora,pissa,hiplora,olora,lalora,sclora")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--words", type=int, default=180, help="prompt words per example (~1.3 tokens each)")
    parser.add_argument("--svd", default="fast", choices=["fast", "exact"], help="top-k SVD for PiSSA and HiP-LoRA")
    parser.add_argument("--fast", action="store_true", help="add the fused-AdamW PEFT contender (losses checked)")
    parser.add_argument("--compile", action="store_true", help="with --fast: also torch.compile the model")
    parser.add_argument("--compile-mode", default="default", choices=["default", "reduce-overhead", "max-autotune"],
                        help="torch.compile's mode; reduce-overhead replays CUDA graphs")
    parser.add_argument("--pad-to", type=int, default=None, metavar="N",
                        help="pad every PEFT contender's batch to N tokens (fixed shapes for compiled graphs)")
    parser.add_argument("--graphs", action="store_true",
                        help="each hipbench method again with --cuda-graphs (on a CPU: its path without capture); "
                             "its losses must equal the eager ones bit for bit")
    parser.add_argument("--data", default=None, metavar="SUITE",
                        help="train on a suite's first task's examples (its batch shapes) instead of random words")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", default=None)
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every contender this many times, interleaved, and report median tokens/s")
    parser.add_argument("--phases", action="store_true", help="time the host side of each part of a step (no sync added)")
    parser.add_argument("--profile", default=None, metavar="DIR", help="write a torch.profiler table per hipbench method")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # as hipbench's runner sets it
    model, tokenizer, build_s = build_model(args.model, device)
    data = examples(args.batch * (args.steps + args.warmup), args.words) if args.data is None else \
        suite_examples(args.data, args.batch * (args.steps + args.warmup))
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    pairs = [encode(tokenizer, e, cfg.max_length) for e in data]
    batches = [collate(pairs[i:i + args.batch], pad) for i in range(0, len(pairs), args.batch)]
    if args.pad_to is not None:
        batches = [pad_batch(batch, args.pad_to, pad) for batch in batches]
    report: dict = {"bench": "train_step", "environment": environment(device), "model": args.model,
                    "model_build_s": build_s, "batch": args.batch, "steps": args.steps, "warmup": args.warmup,
                    "sequence_tokens": int(batches[0]["attention_mask"].sum(1).float().mean()),
                    "precision": "bf16 autocast" if device.type == "cuda" else "fp32", "results": {}}
    print(f"{args.model} on {device} (built in {build_s:.1f} s), batch {args.batch} × ~{report['sequence_tokens']} "
          f"tokens, {args.warmup} warm-up + {args.steps} timed steps, {args.rounds} round(s)")
    rounds: list[dict] = []
    report["rounds"] = rounds
    with tempfile.TemporaryDirectory() as svd_dir:
        for _ in range(args.rounds):  # every contender once per round: slow drift of the machine hits all alike
            rounds.append({})
            one_round(rounds[-1], model, tokenizer, data, batches, args, cfg, device, svd_dir, report)
    results = report["results"] = median_rounds(rounds)

    plain = results["plain PEFT LoRA r8"]["tokens_per_s"]
    lora = results.get("hipbench lora", {}).get("tokens_per_s")
    for label, row in results.items():
        if "tokens_per_s" in row:
            row["vs_plain_peft"] = row["tokens_per_s"] / plain
            row["vs_hipbench_lora"] = row["tokens_per_s"] / lora if lora else None
            row["vs_plain_peft_rounds"] = [r[label]["tokens_per_s"] / r["plain PEFT LoRA r8"]["tokens_per_s"]
                                           for r in rounds if "tokens_per_s" in r.get(label, {})]
    write_json(args.json, report)
    for label, row in results.items():
        if "error" in row:
            print(f"{label:34s} {row['error']}")
            continue
        extra = f"  {row['vs_hipbench_lora']:.2f}x hipbench LoRA" if row["vs_hipbench_lora"] else ""
        memory = f"  peak {row['peak_gib']:.2f} GiB (own {row['own_gib']:.2f})" if row["peak_gib"] is not None else ""
        rank = f" r{row['rank']}" if "rank" in row else ""
        loss = (f"  losses {'equal' if row['losses_equal'] else 'DIFFER'} to plain (max |Δ| {row['loss_max_abs_diff']:.1e}"
                f" over {row['loss_steps_checked']} steps)") if "losses_equal" in row else ""
        if "losses_identical" in row:
            loss += (f"  losses {'identical' if row['losses_identical'] else 'DIFFER'} to eager's (max |Δ| "
                     f"{row['loss_max_abs_diff_to_eager']:.1e})" + (f", steps {row['graphs']}" if "graphs" in row else ""))
        if "loss_max_abs_diff_to_default" in row:
            loss += f"  losses within {row['loss_max_abs_diff_to_default']:.1e} of the default option's"
        warm = f"  warm-up {row['warmup_s']:.1f} s" if "warmup_s" in row else ""
        spread = (f"  per round {', '.join(f'{v:.2f}' for v in row['vs_plain_peft_rounds'])}x plain"
                  if len(rounds) > 1 else "")
        print(f"{label + rank:34s} {row['tokens_per_s']:10.0f} tokens/s  {row['vs_plain_peft']:.2f}x plain PEFT{extra}"
              f"{memory}{warm}{loss}{spread}")
    if any(not row.get("losses_equal", True) for row in results.values()):
        raise SystemExit("the --fast contender's losses differ from the plain loop's")
    if any(not row.get("losses_identical", True) for label, row in results.items() if label.endswith("(graphs)")):
        raise SystemExit("a --graphs contender's losses differ from the eager loop's")


if __name__ == "__main__":
    main()
