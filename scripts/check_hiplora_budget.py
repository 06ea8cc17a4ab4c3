"""Does HiP-LoRA's budget bind in the default suite? Two checks on the real model (SmolLM2-135M
by default), printed as JSON.

`spectra` (the default; seconds on a CPU): the arithmetic of methods/hiplora.py's docstring
against the model's own top-k singular values. AdamW moves a parameter by at most about lr per
step (its update m / sqrt(v) has magnitude <= 1 when the gradient keeps its sign), so after t steps
of the default schedule (150 steps, lr 5e-4, 10 % warm-up then linear decay: `train.lr_factor`)
a coordinate has moved at most reach(t) = Σ_{s<t} lr · factor(s). For every adapted layer it
computes the radius R = (budget / 100) sqrt(Σ w σ²) and the budget usage Σ w d² / R² of the
largest move, every phi_i at reach(150), in both parametrisations: "absolute" (d = phi, every
record before issue 20) and "relative" (d = σ ⊙ phi, the default); and, for the relative one, the
first step at which that move reaches the budget. Per layer type: min, mean and max over layers.

`--train` trains the first task of `continual` exactly as a run does (the shared loop, the
default steps, batch and lr, the fill budget rule, the default data split) and prints what the
budget did (`HiPLoRA.task_statistics`: usage per layer type, share of steps the projection was
active). About a minute per step on a busy two-core CPU; `--stop-after N` trains the first N steps
of the 150-step schedule; on a GPU (`--device cuda`) the whole task takes seconds.

Usage: python scripts/check_hiplora_budget.py [--budgets 0.2,0.5,1.0] [--k 32]
       python scripts/check_hiplora_budget.py --train [--option principal=absolute ...] [--stop-after N]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict

import torch

from hipbench.budget import allocate_ranks, default_budget, target_shapes
from hipbench.method import DEFAULT_TARGETS, Context, find_targets, options_from_strings
from hipbench.methods.hiplora import HiPLoRA, HiPLoRAOptions
from hipbench.models import frozen_copy, load_model
from hipbench.run_groups import RunGroup, parse_option_pairs
from hipbench.runner import load_suite
from hipbench.spectral import SVDCache
from hipbench.suite import with_data_split
from hipbench.train import TrainConfig, lr_factor, train_task


def reach(cfg: TrainConfig) -> list[float]:
    """reach[t]: the largest move of one parameter after t + 1 steps of the schedule."""
    moved, total = [], 0.0
    for step in range(cfg.steps):
        total += cfg.lr * lr_factor(step, cfg.steps, cfg.warmup_ratio)
        moved.append(total)
    return moved


def spectra_check(model: torch.nn.Module, budgets: list[float], k: int, cfg: TrainConfig) -> dict:
    moved = reach(cfg)
    per_type: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name in find_targets(model, DEFAULT_TARGETS):
        sigma = torch.linalg.svdvals(model.get_submodule(name).weight.detach().double())[:k]
        w = (sigma / sigma[0]) ** 2
        norm = float(torch.sqrt((w * sigma ** 2).sum()))
        kind = per_type[name.rsplit(".", 1)[-1]]
        for budget in budgets:
            radius = budget / 100 * norm
            kind[f"R at {budget:g}"].append(radius)
            kind[f"absolute usage at {budget:g}"].append(float((w * moved[-1] ** 2).sum()) / radius ** 2)
            relative = [float((w * (sigma * m) ** 2).sum()) / radius ** 2 for m in moved]
            kind[f"relative usage at {budget:g}"].append(relative[-1])
            kind[f"relative binds at step ({budget:g})"].append(next((t + 1 for t, u in enumerate(relative) if u >= 1),
                                                                    float("nan")))
    summary = {kind: {key: {"min": min(v), "mean": statistics.mean(v), "max": max(v)} for key, v in values.items()}
               for kind, values in per_type.items()}
    return {"check": "spectra", "k": k, "steps": cfg.steps, "lr": cfg.lr, "reach": moved[-1], "by_layer_type": summary}


def train_check(loaded, options: dict[str, str], steps: int, stop_after: int | None, seed: int, device: str) -> dict:
    group = RunGroup(methods=("hiplora",), suite="continual")  # a new run's defaults: fill rule, holdout-test
    method = HiPLoRA(options_from_strings(HiPLoRAOptions, options, "hiplora"))
    suite = with_data_split(load_suite(group.suite, None, None), group.data_split)
    task = suite.tasks[0]
    model = frozen_copy(loaded.model)
    targets = find_targets(model, DEFAULT_TARGETS)
    shapes = target_shapes(model, targets)
    ranks = allocate_ranks(method, shapes, default_budget(shapes), group.budget_rule, group.budget_tolerance)
    ctx = Context(loaded.tokenizer, torch.device(device), torch.Generator().manual_seed(seed), suite.preservation,
                  svd=SVDCache(device=device))
    method.attach(model, targets, dict(zip(targets, ranks)), ctx)
    model.to(device)
    method.begin_task(model, task, ctx)
    train = TrainConfig(steps=steps)
    start = time.perf_counter()
    stats = train_task(model, method, task.train, loaded.tokenizer, train, torch.device(device),
                       torch.Generator().manual_seed(seed), desc=f"train {task.name}",
                       stop=None if stop_after is None else lambda done: done >= stop_after)
    return {"check": "train", "task": task.name, "options": vars(method.options), "steps": stats.steps,
            "schedule_steps": steps, "lr": train.lr, "batch_size": train.batch_size, "device": device,
            "seconds": round(time.perf_counter() - start), "final_task_loss": stats.losses[-1],
            "budget": method.task_statistics(model)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--budgets", default="0.2,0.5,1.0", help="spectra: budgets to check")
    parser.add_argument("--k", type=int, default=HiPLoRAOptions.k, help="spectra: width of the principal channel")
    parser.add_argument("--train", action="store_true", help="train the first task instead")
    parser.add_argument("--option", action="append", default=[], help="--train: a HiP-LoRA option, KEY=VALUE")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps, help="the task's schedule (steps per task)")
    parser.add_argument("--stop-after", type=int, default=None, help="--train: the first N steps of that schedule")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_model(args.model)
    if args.train:
        result = train_check(loaded, parse_option_pairs(args.option), args.steps, args.stop_after, args.seed,
                             args.device)
    else:
        result = spectra_check(loaded.model, [float(b) for b in args.budgets.split(",")], args.k,
                               TrainConfig(steps=args.steps))
    print(json.dumps({"model": loaded.name, **result}, indent=1))


if __name__ == "__main__":
    main()
