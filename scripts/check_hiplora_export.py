"""Check exported HiP-LoRA adapters against the pretrained weights, independently of hipbench's
method code: it reads only the PEFT files (adapter_config.json, adapter_model.safetensors) and the
model, recomputes each weight's SVD itself, and tests the invariants of the paper's split:

    U_k^T ΔW V_k is diagonal,   U_k^T ΔW (I - V_k V_k^T) = 0,   (I - U_k U_k^T) ΔW V_k = 0

Usage: python scripts/check_hiplora_export.py ADAPTER_DIR [ADAPTER_DIR ...] --model smollm2-135m --k 32
Exit status 0 when every module of every adapter passes, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def check_adapter(directory: Path, model: torch.nn.Module, k: int, tolerance: float) -> list[str]:
    config = json.loads((directory / "adapter_config.json").read_text())
    tensors = load_file(str(directory / "adapter_model.safetensors"))
    failures = []
    for key in sorted(t for t in tensors if t.endswith(".lora_A.weight")):
        name = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
        a, b = tensors[key].double(), tensors[key.replace("lora_A", "lora_B")].double()
        rank = config["rank_pattern"].get(name, config["r"])
        alpha = config["alpha_pattern"].get(name, config["lora_alpha"])
        delta = (alpha / rank) * b @ a
        weight = model.get_submodule(name).weight.detach().double()
        u, _, vh = torch.linalg.svd(weight, full_matrices=False)
        u_k, v_k = u[:, :k], vh[:k].T
        core = u_k.T @ delta @ v_k
        scale = max(float(delta.abs().max()), 1e-12)
        checks = {
            "off-diagonal of U_k^T dW V_k": core - torch.diag(torch.diagonal(core)),
            "U_k^T dW (I - V_k V_k^T)": u_k.T @ delta - core @ v_k.T,
            "(I - U_k U_k^T) dW V_k": delta @ v_k - u_k @ core,
        }
        for what, residual in checks.items():
            error = float(residual.abs().max()) / scale
            if error > tolerance:
                failures.append(f"{directory.name}/{name}: {what} is {error:.2e} of max|dW|")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapters", nargs="+", type=Path)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--k", type=int, default=32, help="principal width used for the run")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="relative to max |dW| of the module")
    args = parser.parse_args()
    from hipbench.models import load_model

    model = load_model(args.model).model
    failures = []
    for directory in args.adapters:
        failures += check_adapter(directory, model, args.k, args.tolerance)
    for line in failures:
        print(line)
    print(f"{len(args.adapters)} adapter(s) checked: {'FAIL' if failures else 'all invariants hold'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
