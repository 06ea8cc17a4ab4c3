"""O-LoRA's step with many frozen adapters: their concatenation made once per task (today) against
made in every forward and backward (before: `methods/olora.py`'s docstring says why it matters).

Sequential editing gives O-LoRA a task per edit, so after t edits each of the 210 adapted modules of
SmolLM2 holds t adapters. This bench builds those modules alone (SmolLM2-135M's shapes, random
values), gives each t adapters, and times one forward and backward of a batch through every module
plus the orthogonality sum, for both ways, in one process, after a warm-up. Both ways compute the
same numbers (checked here on the outputs, and in tests/test_olora.py bit for bit).

    python bench/olora_frozen_adapters.py --adapters 1,40,160 --device cuda
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from benchlib import LlamaShape, sync

from hipbench.methods.olora import OLoRALinear

SMOLLM2 = LlamaShape("smollm2-135m", hidden=576, intermediate=1536, layers=30, heads=9, kv_heads=3, vocab=49152)


class ConcatenatedEachForward(OLoRALinear):
    """The code before the cache: every adapter concatenated in every forward and orthogonality sum."""

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat(list(self.lora_B), dim=1), torch.cat(list(self.lora_A), dim=0)

    def orthogonality(self) -> torch.Tensor:
        if len(self.lora_A) < 2:
            return self.lora_A[-1].new_zeros(())
        old = torch.cat(list(self.lora_A)[:-1], dim=0)
        return (old @ self.lora_A[-1].T).abs().sum()


def modules(kind: type, adapters: int, device: torch.device) -> list[OLoRALinear]:
    """SmolLM2's 210 adapted modules with `adapters` adapters each; the same values for either kind."""
    generator = torch.Generator().manual_seed(0)
    built = []
    for _, (out_features, in_features) in SMOLLM2.targets():
        base = torch.nn.Linear(in_features, out_features)
        with torch.no_grad():
            base.weight.normal_(std=0.02, generator=generator)
            base.bias.zero_()
        layer = kind(base, scaling=2.0, dropout=0.0)
        for _ in range(adapters):
            layer.add_adapter(8, generator)
            with torch.no_grad():
                layer.lora_B[-1].normal_(std=0.01, generator=generator)  # trained adapters are not zero
        built.append(layer.to(device))
    return built


def step(layers: list[OLoRALinear], inputs: dict[int, torch.Tensor], device: torch.device) -> torch.Tensor:
    """One forward and backward through every module, with bf16 autocast on CUDA as training has."""
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        outputs = [layer(inputs[layer.base.in_features]).float().square().mean() for layer in layers]
    loss = sum(outputs) + sum(layer.orthogonality() for layer in layers)
    loss.backward()
    return loss.detach()


def timed(layers: list[OLoRALinear], inputs: dict[int, torch.Tensor], device: torch.device, steps: int,
          warmup: int) -> tuple[float, torch.Tensor]:
    for _ in range(warmup):
        loss = step(layers, inputs, device)
    seconds = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        loss = step(layers, inputs, device)
        sync(device)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapters", default="1,40,160", help="adapters per module (tasks, or edits, so far)")
    parser.add_argument("--tokens", type=int, default=128, help="rows of the batch (8 examples × 16 tokens)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(1)
    inputs = {n: torch.randn(args.tokens, n, generator=generator).to(device) for n in (SMOLLM2.hidden, SMOLLM2.intermediate)}
    print(f"O-LoRA on SmolLM2-135M's 210 adapted shapes, {args.tokens} rows, {device}, median of {args.steps} steps")
    for count in (int(a) for a in args.adapters.split(",")):
        before, loss_before = timed(modules(ConcatenatedEachForward, count, device), inputs, device, args.steps, args.warmup)
        cached, loss_cached = timed(modules(OLoRALinear, count, device), inputs, device, args.steps, args.warmup)
        assert torch.equal(loss_before, loss_cached), (loss_before, loss_cached)
        print(f"{count:4d} adapters per module: concatenated each forward {before * 1e3:8.1f} ms, "
              f"once per task {cached * 1e3:8.1f} ms, {before / cached:5.2f}x faster, same loss")


if __name__ == "__main__":
    main()
