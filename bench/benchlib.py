"""What the benches share: model shapes, the environment record, timing and JSON output.

The benches run as scripts (`python bench/NAME.py`), so this module is imported by its file name.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

PROJECTIONS = (("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
               ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj"))


@dataclass(frozen=True)
class LlamaShape:
    """The dimensions that set a Llama's target matrices and its cost."""

    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    dtype: torch.dtype = torch.bfloat16  # what the weights are built in

    def projection_shape(self, projection: str) -> tuple[int, int]:
        """(out_features, in_features) of one projection."""
        kv = self.hidden // self.heads * self.kv_heads
        return {"q_proj": (self.hidden, self.hidden), "k_proj": (kv, self.hidden), "v_proj": (kv, self.hidden),
                "o_proj": (self.hidden, self.hidden), "gate_proj": (self.intermediate, self.hidden),
                "up_proj": (self.intermediate, self.hidden), "down_proj": (self.hidden, self.intermediate)}[projection]

    def targets(self) -> list[tuple[str, tuple[int, int]]]:
        """(module name, (out, in)) of every adapted matrix, in model order."""
        return [(f"model.layers.{layer}.{block}.{proj}", self.projection_shape(proj))
                for layer in range(self.layers) for block, proj in PROJECTIONS]


LLAMA8B = LlamaShape("llama8b-shape", hidden=4096, intermediate=14336, layers=32, heads=32, kv_heads=8, vocab=128256)
# Llama-3.1-8B's proportions (4:1 query to key/value heads, intermediate 3.5 × hidden) at a size a
# 2-core CPU trains in seconds: for checking the benches end to end, not for numbers.
LLAMA_MINI = LlamaShape("llama-mini-shape", hidden=256, intermediate=896, layers=2, heads=8, kv_heads=2, vocab=4096)
# SmolLM2-135M's dimensions with fp32 weights, as hipbench loads the real one: for timing a step on a
# machine the GGUF has not reached (the byte tokenizer makes a word about six tokens, not 1.3)
SMOLLM2 = LlamaShape("smollm2-shape", hidden=576, intermediate=1536, layers=30, heads=9, kv_heads=3, vocab=49152,
                     dtype=torch.float32)
SHAPES = {shape.name: shape for shape in (LLAMA8B, LLAMA_MINI, SMOLLM2)}


def random_llama(shape: LlamaShape, device: torch.device, dtype: torch.dtype | None = None):
    """A Llama with `shape`'s dimensions and random weights built directly in `dtype` on `device`
    (8B parameters in fp32 first would need 32 GB and a cast), and the byte tokenizer. Throughput
    does not depend on the weights' values; the vocabulary only sizes the embedding and head."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from hipbench.models import byte_tokenizer

    tokenizer = byte_tokenizer()
    config = LlamaConfig(vocab_size=max(shape.vocab, len(tokenizer)), hidden_size=shape.hidden,
                         intermediate_size=shape.intermediate, num_hidden_layers=shape.layers,
                         num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads,
                         max_position_embeddings=8192, rope_theta=500000.0, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype or shape.dtype)
    try:
        with torch.device(device), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(0)
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model, tokenizer


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    """(fn(), wall seconds), with the device's queued work finished before and after."""
    sync(device)
    start = time.perf_counter()
    result = fn()
    sync(device)
    return result, time.perf_counter() - start


def environment(device: torch.device) -> dict:
    """hipbench's run environment (versions, hardware, commit) plus the date and the bench's device."""
    from hipbench.config import environment as run_environment

    env = run_environment("cuda" if device.type == "cuda" else "cpu")
    env.update(date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), cuda=torch.version.cuda,
               threads=torch.get_num_threads())
    env.pop("dtype", None)  # a run's precision; each bench states its own
    return env


def write_json(path: str | Path | None, payload: dict) -> None:
    """Write `payload` (dataclasses allowed) to `path`, if given; called after every phase so a bench
    stopped by a time limit still leaves what it measured."""
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__")
                              else str(o)))
    tmp.replace(path)
