"""Host-side op counts of each method's training step: what sets the step time when it is launch-bound.

On a GPU, a small adapter's step time follows the number of operations the host dispatches (every
aten op is at least one kernel launch or a Python-visible dispatch), not its FLOPs (the profiles in
bench/RESULTS.md). Eager-mode op counts do not depend on the device, so they are counted here on
the CPU, under bf16 autocast as on the GPU, and split into the two parts that scale differently:

- per adapted module: one forward and backward of the adapted layer, minus the frozen base
  Linear's own ops (so 0 would mean an adapter that costs nothing);
- per step: the method's `before_step` (after a backward, with gradients present) and `after_step`.

A step of a model with M adapted modules then dispatches about M × per-module + per-step ops more
than the frozen model does. The model is llama-mini-shape's widths with `--layers` layers (32, the
8B's count: 224 adapted modules), so the per-step hooks, whose cost grows with the number of
layers, are counted at the 8B's layer count. Loss terms a method adds (`extra_loss`: O-LoRA's
orthogonality, LaLoRA's Laplace penalty) are not counted.

    python bench/op_counts.py --methods lora,hiplora,hiplora-step --json OUT.json
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import tempfile

import torch
from benchlib import SHAPES, environment, random_llama, write_json
from train_step import VARIANTS

from hipbench.config import RunConfig
from hipbench.method import DEFAULT_TARGETS, Context, find_targets
from hipbench.protocols.continual import plan_budget
from hipbench.runner import make_method
from hipbench.spectral import SVDCache
from hipbench.suite import GeneralSet


# ops that only make a view or read metadata: dispatched by the host (microseconds each) but they
# launch no kernel, so they are counted apart from the ops that compute or copy
METADATA_OPS = {"aten::" + name for name in (
    "as_strided", "view", "_unsafe_view", "reshape", "select", "slice", "unsqueeze", "squeeze", "t",
    "transpose", "permute", "expand", "alias", "detach", "resolve_conj", "resolve_neg", "to", "unbind",
    "split", "chunk", "narrow", "numpy_T", "lift_fresh", "empty", "empty_strided", "empty_like")}


def aten_ops(fn) -> tuple[int, int]:
    """(every aten op, the ops that are not METADATA_OPS) dispatched by fn."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    return sum(e.count for e in events), sum(e.count for e in events if e.key not in METADATA_OPS)


def forward_backward(layer: torch.nn.Module, x: torch.Tensor):
    def run() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = layer(x)
        out.float().sum().backward()
    return run


def counts(label: str, model: torch.nn.Module, tokenizer, targets: list[str], x: torch.Tensor) -> dict:
    name, options = VARIANTS.get(label, (label, {}))
    method = make_method(name, options)
    work = copy.deepcopy(model)
    ctx = Context(tokenizer, torch.device("cpu"), torch.Generator().manual_seed(0), GeneralSet((), ()),
                  svd=SVDCache(tempfile.mkdtemp()))
    plan = plan_budget(work, method, RunConfig(method=name, suite="bench", model="op-counts", seed=0))
    # the ranks the runner solves for the budget, under RunConfig's default (uniform) rule as bench/RESULTS.md measured
    method.attach(work, targets, plan["ranks"], ctx)
    layer = work.get_submodule(targets[0])  # the first target: a q_proj, square, like most of the 8B's
    step = forward_backward(layer, x)
    step()  # first call pays one-time costs (autocast caches, lazy init)
    adapted, base = aten_ops(step), aten_ops(forward_backward(layer.base, x))
    module_ops = [adapted[0] - base[0], adapted[1] - base[1]]
    for target in targets:  # every layer gets gradients, as after a real backward
        adapted = work.get_submodule(target)
        forward_backward(adapted, torch.randn(2, 16, adapted.base.in_features, dtype=torch.bfloat16))()
    method.before_step(work)
    method.after_step(work)  # the first step pays one-time costs (HiP-LoRA stacks its budget constants)
    before, after = aten_ops(lambda: method.before_step(work)), aten_ops(lambda: method.after_step(work))
    return {kind: {"per_module": module_ops[i], "before_step": before[i], "after_step": after[i]}
            for i, kind in enumerate(("all_ops", "compute_ops"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama-mini-shape", choices=sorted(SHAPES))
    parser.add_argument("--methods", default="lora,pissa,hiplora,hiplora-step,olora,lalora,sclora")
    parser.add_argument("--layers", type=int, default=32, help="decoder layers (7 adapted modules each)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    model, tokenizer = random_llama(dataclasses.replace(SHAPES[args.model], layers=args.layers), torch.device("cpu"))
    model.requires_grad_(False)
    targets = find_targets(model, DEFAULT_TARGETS)
    # activations that need a gradient, as inside a model with adapters below this layer
    x = torch.randn(2, 16, model.get_submodule(targets[0]).in_features, dtype=torch.bfloat16, requires_grad=True)
    report = {"bench": "op_counts", "environment": environment(torch.device("cpu")), "model": args.model,
              "layers": args.layers, "adapted_modules": len(targets), "results": {}}
    for label in [m for m in args.methods.split(",") if m]:
        report["results"][label] = counts(label, model, tokenizer, targets, x)
        for row in report["results"][label].values():
            row["step_ops"] = len(targets) * row["per_module"] + row["before_step"] + row["after_step"]
        write_json(args.json, report)
    for kind in ("all_ops", "compute_ops"):
        print(f"{kind} (adapters' share of one training step, {len(targets)} adapted modules):")
        lora = report["results"].get("lora", {}).get(kind, {}).get("step_ops")
        for label, rows in report["results"].items():
            row = rows[kind]
            ratio = f"  {row['step_ops'] / lora:.2f}x LoRA's" if lora else ""
            print(f"  {label:14s} per module {row['per_module']:4d}  before_step {row['before_step']:5d}  "
                  f"after_step {row['after_step']:5d}  per step {row['step_ops']:6d}{ratio}")


if __name__ == "__main__":
    main()
