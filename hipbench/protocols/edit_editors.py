"""Knowledge editors in the edit protocol: one model, edits applied in place, undone or checkpointed.

An editor (`hipbench.editor.Editor`) is prepared once on a frozen copy of the pretrained model
(its layers resolved, its statistics loaded or computed on the pretrained weights, GRACE's
codebook layer installed) and then edits that model in place. The protocol's modes map onto it as
onto an adapter method:
- **single**: each request is edited on the pretrained model: the previous request's edit is
  undone first (`Editor.undo` puts back the weights and the editor's state bit for bit), and each
  edit gets a fresh generator seeded with the run's seed, as a fresh adapter would;
- **batch**: one `edit` call with all N requests (ROME, FT-L, FT-M and GRACE take them one after
  another inside it, as their reference code does; MEMIT and AlphaEdit solve for all at once);
- **sequential**: N `edit` calls of one request each on the same model.
A checkpoint holds the current values of every weight the editor changed (never an unchanged
pretrained weight), the editor's `state_dict` and the generators; a resumed run prepares a fresh
copy of the pretrained model exactly as the first run did (same seed, same statistics), then
loads them.

What the run record holds for an editor (no trainable-parameter budget exists for it):
`budget` None; `trainable_params` = the weight entries the edits changed plus the entries an
editor added outside the weights (GRACE's codebook), both also recorded apart (`changed_params`,
`added_params`); `planned_trainable` None (nothing is planned before the edit); `rank` = the
largest numerical rank of a changed weight's ΔW, 0 when no weight changed. ΔW is the difference of
two fp32 weights, so it carries their rounding (about eps_fp32 · |W| per entry) in every direction:
singular values of ΔW at or below eps(dtype) · ‖W'‖_F, the rounding floor of the edited weight,
are not counted (`numerical_rank`); a rank-one edit then has rank 1, not min(m, n).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from hipbench.editor import EditOutcome, Editor
from hipbench.costs import CostMeter
from hipbench.export import export_peft_adapter
from hipbench.method import Context, plugin_cpu_threads
from hipbench.models import LoadedModel, frozen_copy
from hipbench.spectral import RECORD_KEYS
from hipbench.suite import EditRequest

WEIGHT = ".weight"


class EditorSession:
    """A frozen copy of the pretrained model prepared for `editor`, and what was done to it."""

    def __init__(self, loaded: LoadedModel, editor: Editor, ctx: Context, device: torch.device,
                 meter: CostMeter) -> None:
        self.editor, self.device = editor, device
        self.pretrained = loaded.model
        self.model = frozen_copy(loaded.model).to(device)
        with meter.setup(), plugin_cpu_threads(device):  # the editor's statistics (ROME's covariance, ...)
            editor.prepare(self.model, ctx)
        self.last: EditOutcome | None = None

    def edit(self, name: str, requests: list[EditRequest], ctx: Context) -> dict:
        """Apply the requests; the training-log entry (the protocol adds whether it was learned)."""
        with plugin_cpu_threads(self.device):
            self.last = self.editor.edit(self.model, requests, ctx)
        return {"task": name, "steps": self.last.steps, "seconds": self.last.seconds,
                "changed_weights": sorted(self.last.deltas), **self.last.info}

    def undo_last(self) -> None:
        if self.last is not None:
            self.editor.undo(self.model, self.last)
            self.last = None

    def changes(self) -> dict[str, torch.Tensor]:
        """Parameter name -> current weight minus pretrained weight, for every changed weight."""
        reference = dict(self.pretrained.named_parameters())
        current = dict(self.model.named_parameters())
        changes = {}
        for name in self.editor.weight_names(self.model):
            now, before = current[name].detach().cpu(), reference[name].detach().cpu()
            if not torch.equal(now, before):
                changes[name] = now - before
        return changes

    def weights(self) -> dict[str, torch.Tensor]:
        """Module name -> current weight (CPU) of every module whose weight the editor may change."""
        current = dict(self.model.named_parameters())
        return {name[:-len(WEIGHT)]: current[name].detach().cpu() for name in self.editor.weight_names(self.model)
                if name.endswith(WEIGHT)}

    def checkpoint_state(self) -> dict:
        """The changed weights' current values and the editor's state (for `restore`)."""
        current = dict(self.model.named_parameters())
        return {"editor_weights": {name: current[name].detach().cpu().clone() for name in self.changes()},
                "editor_state": self.editor.state_dict(self.model)}

    def restore(self, state: dict) -> None:
        """Put the prepared model back at a checkpoint's weights and editor state."""
        current = dict(self.model.named_parameters())
        unknown = sorted(set(state["editor_weights"]) - set(self.editor.weight_names(self.model)))
        if unknown:
            raise RuntimeError(f"checkpoint holds weights the editor does not edit: {', '.join(unknown[:5])}")
        with torch.no_grad():
            for name, value in state["editor_weights"].items():
                current[name].copy_(value.to(current[name].device))
        self.editor.load_state_dict(self.model, state["editor_state"])


def module_deltas(changes: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Parameter-keyed weight deltas -> module-keyed ΔW (what diagnostics and export read)."""
    return {name[:-len(WEIGHT)]: delta for name, delta in changes.items() if name.endswith(WEIGHT)}


def numerical_rank(delta: torch.Tensor, weight: torch.Tensor) -> int:
    """Singular values of ΔW above the rounding floor of the edited weight (module docstring)."""
    floor = torch.finfo(weight.dtype).eps * float(weight.double().norm())
    return int((torch.linalg.svdvals(delta.double()) > floor).sum())


def low_rank_factors(deltas: dict[str, torch.Tensor],
                     weights: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(B, A) with B @ A = ΔW per module, from the fp64 SVD at ΔW's numerical rank: ROME's change
    has rank one, MEMIT's at most the number of requests per edit, FT's is full. B A differs from
    ΔW by the dropped singular values only, which are below the edited weight's rounding floor."""
    factors = {}
    for name, delta in deltas.items():
        u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
        rank = max(1, numerical_rank(delta, weights[name]))
        factors[name] = ((u[:, :rank] * s[:rank]).float(), vh[:rank].float())
    return factors


def change_rank(deltas: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]) -> int:
    """The largest numerical rank of a changed weight's ΔW (0 when none changed)."""
    return max((numerical_rank(delta, weights[name]) for name, delta in deltas.items()), default=0)


def added_params(state: dict) -> int:
    """Entries of the tensors an editor keeps outside the weights (GRACE's codebook)."""
    def count(value) -> int:
        if isinstance(value, torch.Tensor):
            return value.numel()
        if isinstance(value, dict):
            return sum(count(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(count(v) for v in value)
        return 0
    return count(state.get("added", {})) if isinstance(state, dict) else 0


def export_edit(session: EditorSession, directory: Path, base_model: str) -> None:
    """The edited weights' ΔW as a PEFT LoRA adapter (where a weight changed) and the editor's
    state beside it (`editor_state.pt`, where it has one: GRACE's codebook cannot be a LoRA)."""
    deltas = module_deltas(session.changes())
    if deltas:
        export_peft_adapter(low_rank_factors(deltas, session.weights()), directory, base_model)
    state = session.editor.state_dict(session.model)
    if state:
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(state, directory / "editor_state.pt")


def editor_metrics(session: EditorSession) -> dict:
    """The record's size fields for an editor (module docstring)."""
    changes = session.changes()
    changed = int(sum(int((delta != 0).sum()) for delta in changes.values()))
    added = added_params(session.editor.state_dict(session.model))
    rank = change_rank(module_deltas(changes), session.weights())
    return {"method_kind": session.editor.kind, "budget": None, "rank": rank,
            "trainable_params": changed + added, "planned_trainable": None, "changed_params": changed,
            "added_params": added, "edited_weights": sorted(changes), "adapted_modules": len(changes),
            "editor_statistics": session.editor.statistics()}


def empty_spectral(k: int) -> dict:
    """Spectral diagnostics of an edit that changed no weight (GRACE): nothing to measure."""
    nan = {key: math.nan for key in (*RECORD_KEYS, "rotation_k")}
    return {"k": k, "by_type": {}, "mean": nan, "by_layer": {}}

