"""Training steps replayed as CUDA graphs: the eager step's own kernels, launched all at once.

A step of the default model is bound by launching its ~2,000 small kernels one by one from Python,
not by the GPU (bench/RESULTS.md: 210 ms of host time for 8 × 14 tokens on an H200, plain PEFT as
slow). A CUDA graph records a step's forward and backward once and replays them with one launch.
Nothing about the numbers may change, so that a run with graphs is the run without them (the
option is recorded, not part of a run's identity; on an H200 every shipped method's losses were
equal bit for bit, bench/RESULTS.md):
- a graph replays the very kernels the eager step runs only for the same shapes, so there is one
  graph per batch shape (width, and whether any row is padded), captured at the shape's second
  occurrence (the first runs eagerly); batches are never padded to share a graph, which would
  change the rounding. The `continual` tasks have 2-6 shapes in 150 steps; long-prompt suites
  (`cl-benchmark`: about 55) gain less;
- the attention mask is built here, as the model would build it from the 2-D mask, because the
  model's own check "is anything padded?" reads the mask on the host, which a capture cannot do;
- a batch with no padded row always runs eagerly: the eager step gives SDPA no mask (its own causal
  kernel), but under capture transformers 5.17 builds an explicit causal mask instead (its
  `is_tracing` counts a CUDA capture), another kernel and other rounding. Such batches are rare in
  the `continual` tasks (0-9 of 150 steps) but every step of a sequential edit (one request per
  batch), which therefore gains nothing;
- gradients live in fixed tensors (the first step's), zeroed before each later step and accumulated
  into (0 + g is g).
The graph holds what the plain loop's step does between batch and gradients: the task loss, the
method's extra loss (O-LoRA's orthogonality, LaLoRA's penalty: hundreds of small ops themselves)
and their one backward. Optimizer, clipping and the methods' hooks stay eager (a few launches each).

Not `torch.compile(mode="reduce-overhead")`: its generated kernels round differently (losses 1.4e-2
apart after 20 steps) and it compiled for 106 s per process (bench/results/2026-11-30-h200-step-
compile/). Not `torch.cuda.make_graphed_callables`: it hands parameter gradients back through
autograd, which accumulates them with eager launches again.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# the plain loop's step between a batch and the gradients: (model, batch) -> (task loss, extra loss or
# None), the backward of their sum done (hipbench.train.losses_backward)
Step = Callable[[nn.Module, dict], tuple[torch.Tensor, "torch.Tensor | None"]]


def attention_mask(mask: torch.Tensor, padded: bool) -> torch.Tensor | None:
    """The 4-D mask a transformers decoder builds for SDPA from a right-padded 2-D `mask`: None when
    no row is padded (SDPA's own causal path), else causal AND not padding, (batch, 1, width,
    width) booleans. `padded` is known on the host, so no device value is read."""
    if not padded:
        return None
    width = mask.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=mask.device).tril()
    return causal[None, None] & mask.bool()[:, None, None, :]


class GraphedSteps:
    """The forward and backward of a training loop's loss, one CUDA graph per batch shape.

    `capture=False` (a CPU) runs every step eagerly through the same path (the 4-D mask, the kept
    gradients); the tests check that path against the plain loop.
    """

    def __init__(self, params: list[nn.Parameter], step: Step, capture: bool, owner: str) -> None:
        self.params, self.step, self.capture, self.owner = params, step, capture, owner
        self.grads: list[torch.Tensor] | None = None  # the first step's, kept from the second step on
        self.seen: set[tuple] = set()
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, dict, tuple]] = {}
        self.pool = None
        self.counts = {"eager": 0, "captured": 0, "replayed": 0}

    def losses_backward(self, model: nn.Module, batch: dict[str, torch.Tensor | None]
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(task loss, the method's extra loss or None) of `batch` (its `attention_mask` from
        `attention_mask()`), their sum's gradients written into every parameter's `.grad`."""
        if self.seen:  # not the first step: its gradients are kept, zeroed, and accumulated into
            self._keep_gradients()
        key = (tuple(batch["input_ids"].shape), batch["attention_mask"] is None)
        if key in self.graphs:
            graph, static, losses = self.graphs[key]
            for name, value in batch.items():
                if value is not None:
                    static[name].copy_(value)
            graph.replay()
            self.counts["replayed"] += 1
            return losses
        if self.capture and key in self.seen and batch["attention_mask"] is not None:
            return self._capture(model, batch, key)
        self.seen.add(key)
        self.counts["eager"] += 1
        return self.step(model, batch)

    def _keep_gradients(self) -> None:
        if self.grads is None:  # a parameter the first step left without a gradient would, with a zero
            # one, still be moved by AdamW's momentum, which the plain loop never does
            if any(param.grad is None for param in self.params):
                raise RuntimeError(f"{self.owner}: a trainable parameter got no gradient, which CUDA "
                                   "graphs cannot leave out: run it without --cuda-graphs")
            self.grads = [param.grad for param in self.params]
        for param, grad in zip(self.params, self.grads):
            if param.grad is not grad:  # a replay would write where nothing reads any more
                raise RuntimeError(f"{self.owner} replaced a parameter's .grad between steps, which "
                                   "CUDA graphs cannot follow: run it without --cuda-graphs")
        torch._foreach_zero_(self.grads)

    def close(self) -> None:
        """Leave the parameters as the plain loop does (no .grad) and free the graphs' memory."""
        for param in self.params:
            param.grad = None
        self.graphs.clear()
        self.grads, self.pool = None, None

    def _capture(self, model: nn.Module, batch: dict, key: tuple) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Record this shape's step (recording runs nothing), then replay it once for this step. All
        graphs share one memory pool: they are replayed one at a time, and a graph's outputs are read
        before the next replay."""
        static = {name: None if value is None else value.clone() for name, value in batch.items()}
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            losses = self.step(model, static)
        if self.pool is None:
            self.pool = graph.pool()
        self.graphs[key] = (graph, static, losses)
        graph.replay()
        self.counts["captured"] += 1
        return losses


def check_model(model: nn.Module) -> None:
    """`attention_mask` builds a plain causal mask, the one a Llama attending through SDPA builds
    itself; a model whose attention adds a window or chunks, or takes another kernel, would be run
    with a mask other than its own, so it is refused in one line rather than run differently."""
    config = getattr(model, "config", None)
    kind, attention = getattr(config, "model_type", None), getattr(config, "_attn_implementation", None)
    if kind != "llama" or attention != "sdpa":
        raise ValueError(f"--cuda-graphs: only Llama models attending through SDPA so far "
                         f"(this one: model_type {kind}, attention {attention}); run it without --cuda-graphs")


def graphed_steps(enabled: bool, method, params: list[nn.Parameter], step: Step, model: nn.Module,
                  device: torch.device) -> GraphedSteps | None:
    """GraphedSteps when asked for and the method declares itself graph-safe (its forward and extra
    loss read no tensor it replaces between steps of a task), else None: the plain loop."""
    if not enabled or not method.graph_safe:
        return None
    check_model(model)
    return GraphedSteps(params, step, capture=device.type == "cuda", owner=method.name)
