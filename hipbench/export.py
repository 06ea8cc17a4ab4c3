"""Write any method's update as a standard PEFT LoRA adapter.

Every method's ΔW is low rank, so `delta_factors` (B, A with ΔW = B A) can be written as a PEFT
LoRA with `lora_alpha == r` (scaling 1) and loaded by PEFT, vLLM and friends. Modules whose
rank differs from the most common one are listed in `rank_pattern`/`alpha_pattern`.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch
from safetensors.torch import save_file

from hipbench.records import write_json_atomic


def export_peft_adapter(factors: dict[str, tuple[torch.Tensor, torch.Tensor]], directory: Path,
                        base_model: str) -> None:
    if not factors:
        raise ValueError("nothing to export: the method reported no adapted modules")
    ranks = {name: a.shape[0] for name, (_, a) in factors.items()}
    rank = Counter(ranks.values()).most_common(1)[0][0]
    pattern = {name: r for name, r in ranks.items() if r != rank}
    tensors = {}
    for name, (b, a) in factors.items():
        tensors[f"base_model.model.{name}.lora_A.weight"] = a.detach().float().cpu().contiguous()
        tensors[f"base_model.model.{name}.lora_B.weight"] = b.detach().float().cpu().contiguous()
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": rank,
        "lora_alpha": rank,
        "rank_pattern": pattern,
        "alpha_pattern": dict(pattern),
        "target_modules": sorted({name.rsplit(".", 1)[-1] for name in factors}),
        "lora_dropout": 0.0,
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": False,
        "init_lora_weights": True,
        "inference_mode": True,
    }
    directory.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(directory / "adapter_model.safetensors"))
    write_json_atomic(directory / "adapter_config.json", config)
