"""Rotation drift: how far an update turns a weight's dominant singular subspaces, measured at a
width the pretrained spectrum separates well, so that reordering near-equal singular values does
not count.

**Why not the fixed-k metric alone.** The spectral diagnostics' subspace drift (tables: "boundary
drift", `hipbench.spectral.subspace_drift`) compares the top-k subspaces of W0 and W0 + ΔW at k = 32.
In SmolLM2 σ_32 and σ_33 differ by 0.1 to 2 % (`leaderboards/checks/drift-metrics-smollm2.txt`),
so an update that lifts σ_33 above σ_32 swaps a whole direction across the boundary and adds exactly 1/k
to the layer's drift, though no singular vector turned (issue 20: HiP-LoRA's recorded drift is made
entirely of such swaps). Boundary drift measures how close σ_k and σ_{k+1} are as much as what the
update did.

**Definition.** For a pretrained weight with singular values σ_1 ≥ σ_2 ≥ ... choose

    k' = argmax_{⌈k/2⌉ ≤ i ≤ 2k} σ_i / σ_{i+1}          (`gap_width`, the first on a tie)

the largest relative gap of the *pretrained* spectrum within [k/2, 2k], and report

    rotation drift = (1/k') Σ_{j=1..k'} sin² θ_j  ∈ [0, 1]

where θ_j are the principal angles between the top-k' left (right) singular subspaces of W0 and of
W0 + ΔW (`rotation_drift`): cos θ_j are the singular values of U_a^T U_b (Björck and Golub, 1973),
computed with `torch.linalg.svdvals` in fp64. A Givens rotation by θ of one top-k' direction into
the complement gives sin²θ / k'; the identity gives 0; disjoint subspaces give 1.

**Why swaps do not move it.** (1) An exchange of the order of σ_i and σ_{i+1} that stays on one side
of k' leaves the top-k' subspace as a set unchanged, so every θ_j is 0. (2) A pair 1e-3 apart has
the relative gap 1.001; it could be the largest gap of the window only if the spectrum were flat to
1e-3 over the 1.5k indices of [k/2, 2k], which no real weight is (in SmolLM2 the largest gap there is
1-6 %, `leaderboards/checks/drift-metrics-smollm2.txt`), so the pair sits on one side of k'. Where
σ_k/σ_{k+1} is itself the window's largest gap, k' = k, and an update that reorders that pair is as
large as the largest gap: it is reported.
(3) What remains is genuine rotation: by Wedin's sin θ theorem (1972) the angles between the top-k'
subspaces are at most about ‖ΔW‖₂ / (σ_{k'} − σ_{k'+1} − ‖ΔW‖₂); within the window σ changes by a
small factor, so the largest relative gap is close to the largest absolute one and that bound is
nearly as small as a top-k' subspace near k allows, while a real turn of the dominant directions (a
rotation by θ) still shows in full as sin²θ / k'. k' is chosen from W0 alone, so every method of a
run is measured at the same k' for the same layer; it is recorded per layer.

An energy-weighted variant at the fixed k (each direction's sin² weighted by its σ²) was not
taken: a swapped pair carries almost the same energy as its neighbours, so a swap across k still adds
about σ_k² / Σ_{j≤k} σ_j², smaller than 1/k but the same artefact.
"""
from __future__ import annotations

import math

import torch

ROTATION_COLUMNS = [
    ("rotation_drift_left", "Rotation drift U"),
    ("rotation_drift_right", "Rotation drift V"),
]
ROTATION_NOTE = ("Rotation drift U/V = mean sin² of the principal angles between the top-k' left/right singular "
                 "subspaces of W0 and W0 + ΔW, at k' = the largest relative gap σ_i/σ_{i+1} of W0 within "
                 "[k/2, 2k] (per layer, recorded), so that near-equal singular values swapping order at the k "
                 "boundary do not count; n/a for records made before it was measured.")
# Optional columns (hipbench.leaderboard): shown only in tables where a record has them, with the
# note once, so tables of older records are rebuilt byte for byte.
ROTATION_OPTIONAL = {key: (ROTATION_NOTE if index == 0 else "") for index, (key, _) in enumerate(ROTATION_COLUMNS)}


def svd_width(k: int) -> int:
    """How many pretrained singular triplets `gap_width` and `rotation_drift` need: σ_1..σ_{2k+1}."""
    return 2 * k + 1


def gap_width(singular_values: torch.Tensor, k: int) -> int:
    """k': the 1-based i in [⌈k/2⌉, 2k] with the largest σ_i / σ_{i+1} (module docstring).

    `singular_values` are the pretrained weight's, in descending order, as many as it has up to
    `svd_width(k)`. The window is cut to the ratios that exist (i + 1 ≤ the number given); when none
    does (a weight with at most ⌈k/2⌉ singular values) k' is min(k, that number). A zero σ_{i+1}
    after a non-zero σ_i is an infinite gap (a rank drop); two zeros are no gap."""
    s = singular_values.detach().double().flatten()
    low, high = max(1, math.ceil(k / 2)), min(2 * k, s.numel() - 1)
    if low > high:
        return min(k, s.numel())
    upper, lower = s[low - 1:high], s[low:high + 1]
    ratio = torch.where(lower > 0, upper / lower.clamp_min(torch.finfo(s.dtype).tiny),
                        torch.where(upper > 0, torch.full_like(upper, math.inf), torch.ones_like(upper)))
    return low + int(torch.argmax(ratio))


def principal_cosines(basis_a: torch.Tensor, basis_b: torch.Tensor) -> torch.Tensor:
    """cos θ_j of the principal angles between the spans of two orthonormal bases (columns), in
    fp64, descending: the singular values of A^T B, clipped to [0, 1] (rounding can exceed 1)."""
    if basis_a.shape != basis_b.shape:
        raise ValueError(f"principal angles: bases of shapes {tuple(basis_a.shape)} and {tuple(basis_b.shape)} differ")
    return torch.linalg.svdvals(basis_a.double().T @ basis_b.double()).clamp(0.0, 1.0)


def rotation_drift(basis_a: torch.Tensor, basis_b: torch.Tensor) -> float:
    """Mean sin² of the principal angles between two k'-dimensional subspaces given by orthonormal
    bases: 0 for the same subspace, 1 for orthogonal ones, sin²θ / k' for one direction turned by θ.
    The caller passes the top-k' columns at k' = `gap_width` (module docstring)."""
    return float((1.0 - principal_cosines(basis_a, basis_b).pow(2)).mean())
