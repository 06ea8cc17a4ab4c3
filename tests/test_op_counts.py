"""bench/op_counts.py: the counts separate per-module from per-step work, and rank the HiP-LoRA forms."""
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import op_counts  # noqa: E402
from benchlib import SHAPES, random_llama  # noqa: E402

from hipbench.method import DEFAULT_TARGETS, find_targets  # noqa: E402


def test_step_complement_moves_work_from_every_module_to_the_step_hooks():
    torch.manual_seed(0)
    model, tokenizer = random_llama(dataclasses.replace(SHAPES["llama-mini-shape"], layers=1), torch.device("cpu"))
    model.requires_grad_(False)
    targets = find_targets(model, DEFAULT_TARGETS)
    x = torch.randn(2, 4, model.get_submodule(targets[0]).in_features, dtype=torch.bfloat16, requires_grad=True)
    rows = {label: op_counts.counts(label, model, tokenizer, targets, x)["compute_ops"]
            for label in ("lora", "hiplora", "hiplora-step")}
    lora, default, step = rows["lora"], rows["hiplora"], rows["hiplora-step"]
    assert lora["per_module"] > 0 and lora["before_step"] == lora["after_step"] == 0
    assert lora["per_module"] < step["per_module"] < default["per_module"]  # the per-forward projections go
    assert default["before_step"] == 0 < step["before_step"]  # ... to the gradient projection
    assert step["after_step"] > default["after_step"] > 0  # budget projection in both, factors in "step"
