"""`adapter_input` drops the fp32 round-trip of activations under autocast; the LoRA-family
layers' outputs and gradients must stay bit-identical to the explicit cast they replaced.
(HiP-LoRA keeps its cast: its input feeds two matmuls whose input gradients the fp32 copy summed
in fp32, so dropping it changes the rounding of x's gradient; see bench/RESULTS.md.)"""
import torch
from torch import nn

from hipbench.method import adapter_input
from hipbench.methods.lora import LoRALinear


def _lora() -> nn.Module:
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(48, 40), rank=4, scaling=2.0, dropout=0.0, generator=torch.Generator().manual_seed(0))
    nn.init.normal_(layer.lora_B)
    return layer


def _explicit_cast_forward(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The forward as written before `adapter_input`: activations always cast to the adapter dtype."""
    update = layer.dropout(x).to(layer.lora_A.dtype) @ layer.lora_A.T @ layer.lora_B.T
    return layer.base(x) + (layer.scaling * update).to(x.dtype)


def _outputs_and_grads(layer: nn.Module, forward, x: torch.Tensor) -> list[torch.Tensor]:
    layer.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = forward(x)
    out.float().pow(2).sum().backward()
    return [out.detach(), x.grad] + [p.grad for p in layer.parameters() if p.requires_grad]


def test_under_autocast_the_activations_pass_uncast_and_bits_match_the_explicit_cast():
    x = torch.randn(2, 5, 48).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert adapter_input(x, torch.float32) is x
    assert adapter_input(x, torch.float32).dtype == torch.float32  # no autocast: dtypes must match
    layer = _lora()
    layer.base.requires_grad_(False)
    new = _outputs_and_grads(layer, layer, x)
    old = _outputs_and_grads(layer, lambda inp: _explicit_cast_forward(layer, inp), x)
    assert len(new) == len(old) == 4  # output, x's gradient, A's and B's gradients
    for a, b in zip(new, old):
        assert a.dtype == b.dtype and torch.equal(a, b)
