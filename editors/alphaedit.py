"""AlphaEdit: null-space constrained knowledge editing (Fang, Jiang, Wang, Ma, Shi, Wang, He & Chua,
ICLR 2025; arXiv 2410.02355).

MEMIT's batch edit (`editors/memit.py`: same targets z, keys K and spread residuals R), with the
update projected onto the null space of the preserved knowledge's keys K0, so that the outputs of
preserved keys do not change (section 3):
- projector (eq. 8-9 and the reference `get_project`): the eigen-decomposition of K0 K0ᵀ, here
  the keys' second moment C on general text (`hipbench.key_stats`, unregularised: the null space is
  what it leaves out), gives P = Û Ûᵀ over the eigenvectors whose eigenvalues are below
  `nullspace_threshold`; then P k0 ≈ 0 for the preserved keys;
- update (eq. 15, the closed form): ΔW = R Kᵀ P (K Kᵀ P + K_p K_pᵀ P + α I)⁻¹, K_p the keys of
  the earlier edits of the run (AlphaEdit accumulates K Kᵀ after every batch, on the edited model,
  as its `cache_c`), α = `l2` (the reference's `L2`, the I term of eq. 15). Since P K0 = 0 makes
  (K Kᵀ P + K_p K_pᵀ P + α I) K0 = α K0, ΔW K0 = R Kᵀ P K0 / α = 0: the preserved keys' outputs
  are unchanged (`null_space_update`; tested on keys that span a subspace exactly).
K_p K_pᵀ is the editor's state: a sequential run checkpoints it and a resumed run restores it.

Defaults (`Options`), from the reference hparams/AlphaEdit/Llama3-8B.json: layers 4-8 of 32, scaled
by depth; threshold 2e-2 on the eigenvalues (absolute, as the code; a model whose keys are much
smaller or larger than Llama-3's needs its own); α = 10; 25 Adam steps at lr 0.1, weight decay
0.5, KL factor 0.0625, clamp 0.75 · ‖init‖; prefixes: 5 of 10 tokens; C on the preservation set,
≤ 100,000 tokens (the reference: 100,000 Wikipedia samples).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hipbench.edit_vectors import average_keys
from hipbench.method import Context, option
from hipbench.suite import EditRequest

from hipbench.editors.memit import MEMIT, MEMITOptions


@dataclass
class AlphaEditOptions(MEMITOptions):
    """AlphaEdit's options (module docstring); `mom2_update_weight` is unused (MEMIT's λ)."""

    v_lr: float = 0.1
    v_weight_decay: float = 0.5
    clamp_norm_factor: float = 0.75
    nullspace_threshold: float = option(2e-2, "eigenvalues of C below this span the null space", gt=0)
    l2: float = option(10.0, "α of eq. 15: the ridge of the update", gt=0)


def null_space_projector(second_moment: torch.Tensor, threshold: float) -> torch.Tensor:
    """P = Û Ûᵀ over the eigenvectors of K0 K0ᵀ (here its mean) with eigenvalues below `threshold`."""
    values, vectors = torch.linalg.eigh(second_moment.double())
    kept = vectors[:, values < threshold]
    return kept @ kept.T


def null_space_update(keys: torch.Tensor, residuals: torch.Tensor, projector: torch.Tensor,
                      edited_keys_gram: torch.Tensor, alpha: float) -> torch.Tensor:
    """ΔW = R Kᵀ P (K Kᵀ P + K_p K_pᵀ P + α I)⁻¹ (AlphaEdit eq. 15) in fp64. `keys`: n × N,
    `residuals`: m × N, `edited_keys_gram`: K_p K_pᵀ (n × n)."""
    keys, residuals, projector = keys.double(), residuals.double(), projector.double()
    system = (keys @ keys.T + edited_keys_gram.double()) @ projector + alpha * torch.eye(
        keys.shape[0], dtype=torch.float64)
    # X system = R Kᵀ P  <=>  systemᵀ Xᵀ = P K Rᵀ
    return torch.linalg.solve(system.T, projector @ keys @ residuals.T).T


class AlphaEdit(MEMIT):
    name = "alphaedit"
    description = "AlphaEdit (Fang et al., 2025): MEMIT's update projected onto the preserved keys' null space"
    Options = AlphaEditOptions

    def prepare(self, model: nn.Module, ctx: Context) -> None:
        super().prepare(model, ctx)
        self.projectors = {name: null_space_projector(self.raw_moments[name], self.options.nullspace_threshold)
                           for name in self.modules}
        self.edited_grams = {name: torch.zeros_like(self.projectors[name]) for name in self.modules}
        self.stats["null_space_dims"] = [int(round(float(p.trace()))) for p in self.projectors.values()]

    def solve(self, index: int, name: str, keys: torch.Tensor, residuals: torch.Tensor) -> torch.Tensor:
        return null_space_update(keys, residuals, self.projectors[name], self.edited_grams[name], self.options.l2)

    def after_batch(self, model: nn.Module, requests: list[EditRequest], ctx: Context) -> None:
        for name in self.modules:
            keys = average_keys(self.name, model, ctx.tokenizer, requests, self.prefixes, name,
                                self.options.fact_token, ctx.device).T
            self.edited_grams[name] = self.edited_grams[name] + keys @ keys.T

    def state_dict(self, model: nn.Module) -> dict:
        return {"edited_keys_gram": {name: gram.clone() for name, gram in self.edited_grams.items()}}

    def load_state_dict(self, model: nn.Module, state: dict) -> None:
        if state:
            self.edited_grams = {name: gram.clone() for name, gram in state["edited_keys_gram"].items()}
