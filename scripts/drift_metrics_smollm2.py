"""Boundary drift and rotation drift side by side on real layers (issue 20): each chosen weight of the
model is perturbed five ways and both metrics of `hipbench.spectral.layer_diagnostics` are printed,
as every run record computes them:

- `swap`:     σ_k and σ_{k+1} exchanged, nothing else changed (what HiP-LoRA's residual channel does
              when it lifts a complement direction above a shifted σ_k; in the SmolLM2 layers below
              σ_32 / σ_33 is 1.0008 to 1.022, column gap@k). Boundary drift 1/k; rotation drift ~0
              unless k' = k.
- `lowrank-ρ`: a random rank-8 update B A (the default LoRA's rank, standing in for a short
              training) scaled to ‖ΔW‖_F = ρ ‖W‖_F, from a seeded generator; ρ is chosen, not
              measured from a run.
- `swap+lowrank`: both together.
- `givens`:   the top left singular vector turned by θ = 0.1 towards the (2k + 10)-th: a genuine
              rotation; both metrics see it (sin²θ / k and sin²θ / k'), the right side stays 0.

Usage: python scripts/drift_metrics_smollm2.py [--model smollm2-135m] [--k 32] [--layers 0,14,29]
       [--types q_proj,v_proj,down_proj] > leaderboards/checks/drift-metrics-smollm2.txt
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile

import torch

from hipbench.drift import svd_width
from hipbench.spectral import SVDCache, exact_svd, layer_diagnostics

RANK = 8
SCALES = (0.005, 0.02)
THETA = 0.1
COLUMNS = ("drift_left", "drift_right", "rotation_drift_left", "rotation_drift_right")


def low_rank(weight: torch.Tensor, scale: float, generator: torch.Generator) -> torch.Tensor:
    b = torch.randn(weight.shape[0], RANK, generator=generator, dtype=torch.float64)
    a = torch.randn(RANK, weight.shape[1], generator=generator, dtype=torch.float64)
    update = b @ a
    return (update * (scale * weight.double().norm() / update.norm())).float()


def swap(u: torch.Tensor, s: torch.Tensor, v: torch.Tensor, k: int) -> torch.Tensor:
    """ΔW exchanging σ_k and σ_{k+1} (1-based): the singular vectors stay, their order changes."""
    d = s[k] - s[k - 1]
    return (d * torch.outer(u[:, k - 1], v[:, k - 1]) - d * torch.outer(u[:, k], v[:, k])).float()


def givens(u: torch.Tensor, s: torch.Tensor, v: torch.Tensor, other: int) -> torch.Tensor:
    """ΔW turning u_1 by THETA in the plane of u_1 and u_other (a rotation of the left factor)."""
    c, t = math.cos(THETA), math.sin(THETA)
    u1, uo = u[:, 0], u[:, other]
    new1, newo = c * u1 + t * uo, -t * u1 + c * uo
    return (s[0] * torch.outer(new1 - u1, v[:, 0]) + s[other] * torch.outer(newo - uo, v[:, other])).float()


def block(kind: str) -> str:
    """The Llama block that holds a projection: `self_attn` or `mlp`."""
    return "self_attn" if kind in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--k", type=int, default=32, help="the diagnostics' k (DIAGNOSTIC_K of the protocols)")
    parser.add_argument("--layers", default="0,14,29", help="decoder layer indices")
    parser.add_argument("--types", default="q_proj,v_proj,down_proj", help="weights of each layer")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.k < 1:
        raise SystemExit(f"--k {args.k}: expected an integer >= 1")
    from hipbench.models import DEFAULT_MODEL, SMOLLM2_SHA256, load_model

    model = load_model(args.model).model
    k, generator = args.k, torch.Generator().manual_seed(args.seed)
    named = {name: module for name, module in model.named_modules() if hasattr(module, "weight")}
    names = [name for layer in args.layers.split(",") for kind in args.types.split(",")
             for name in named if name.endswith(f"layers.{layer}.{block(kind)}.{kind}")]
    if not names:
        raise SystemExit(f"--layers {args.layers} --types {args.types}: no such weight in {args.model}")
    print(f"# made by: python scripts/drift_metrics_smollm2.py --model {args.model} --k {k} --layers {args.layers} "
          f"--types {args.types} --seed {args.seed}")
    for line in __doc__.split("\n\nUsage:")[0].splitlines():
        print(f"# {line}".rstrip())
    pinned = f" (GGUF sha256:{SMOLLM2_SHA256}, dequantised to fp32)" if args.model == DEFAULT_MODEL else ""
    print(f"# model: {args.model}{pinned}")
    print(f"# torch {torch.__version__}, exact fp64 SVD (the default --svd exact); k = {k}, k' = the largest "
          f"sigma_i/sigma_(i+1) of W0 for i in [{math.ceil(k / 2)}, {2 * k}]")
    print("# columns: boundary drift U/V (fixed k), rotation drift U/V (at k'), mean sin^2 of principal angles")
    header = f"{'layer':<34} {'perturbation':<15} {'k_':>3} {'gap@k':>8} {'gap@k_':>8}   " \
             f"{'bnd U':>9} {'bnd V':>9} {'rot U':>9} {'rot V':>9}"
    print("# k_ = k' of the layer; gap@k, gap@k_ = sigma_i/sigma_(i+1) of W0 at i = k and at i = k'")
    print(header)
    totals: dict[str, list[list[float]]] = {}
    with tempfile.TemporaryDirectory() as directory:
        cache = SVDCache(directory)
        for name in names:
            weight = named[name].weight.detach().float()
            u, s, vh = (t.double() for t in exact_svd(weight))
            v = vh.T
            perturbations = {"swap": swap(u, s, v, k)}
            for scale in SCALES:
                perturbations[f"lowrank-{scale:g}"] = low_rank(weight, scale, generator)
            perturbations["swap+lowrank"] = perturbations["swap"] + perturbations[f"lowrank-{SCALES[0]:g}"]
            perturbations["givens"] = givens(u, s, v, min(svd_width(k) + 9, s.numel() - 1))
            for label, delta in perturbations.items():
                out = layer_diagnostics(weight, delta, k, cache)
                wide = out["rotation_k"]
                values = [out[key] for key in COLUMNS]
                totals.setdefault(label, []).append(values)
                print(f"{name.removeprefix('model.'):<34} {label:<15} {wide:>3} {float(s[k - 1] / s[k]):>8.5f} "
                      f"{float(s[wide - 1] / s[wide]):>8.5f}   " + " ".join(f"{x:>9.2e}" for x in values))
    print()
    print(f"# mean over the {len(names)} layers")
    for label, rows in totals.items():
        means = [sum(column) / len(column) for column in zip(*rows)]
        print(f"{'mean':<34} {label:<15} {'':>3} {'':>8} {'':>8}   " + " ".join(f"{x:>9.2e}" for x in means))
    print(f"# expected: swap -> boundary 1/k = {1 / k:.2e}, rotation < 1e-6; givens -> boundary U sin^2(0.1)/k = "
          f"{math.sin(THETA) ** 2 / k:.2e}, rotation U sin^2(0.1)/k', V sides 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
