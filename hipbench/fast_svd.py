"""Top-k SVD of many weights by fp64 subspace iteration on the Gram matrix (`SVDCache(solver="fast")`).

Why this algorithm rather than the cache's full fp64 SVD, fp32 randomized SVD or a full eigh:

- A full SVD computes min(m, n) triplets to keep 32; fp64 `gesvd` on a GPU is expected to take
  seconds per 4096 × 14336 weight, many minutes for a Llama-8B-sized model (bench/svd_cache.py
  measures it).
- Precision cannot be traded for speed: fp32 rotated near-degenerate top-32 bases of real weights by
  ~1e-2 (bench/svd_accuracy.py). An H100's fp64 (tensor core) GEMM peak equals its fp32 peak, so
  the iteration is fp64 from start to finish and costs no accuracy.
- The Gram matrix G = WᵀW (or W Wᵀ, the smaller side d = min(m, n)) is formed once in fp64; after
  that each iteration is a d × d by d × l product instead of two passes over W. Squaring the
  spectrum only hurts the *small* singular values: the top-k subspace is perturbed by about
  ε₆₄‖W‖² / (σ_k² − σ_{k+1}²): 1e-12 to 1e-10 for gaps of 1e-3 relative.
- Subspace iteration with l = k + max(k, 32) columns and a Rayleigh–Ritz step converges for the
  top k at the rate (σ_{l+1}/σ_k)² per iteration whatever the gaps *inside* the top k; the Ritz step resolves
  those (near-degenerate pairs included) exactly within the subspace. Iterating on G − μI with
  μ = half the smallest Ritz value roughly halves the iteration count and is always safe because G
  is positive semi-definite (every unwanted eigenvalue stays closer to μ than the k-th wanted one).
- Orthonormalisation is shifted Cholesky-QR followed by two plain passes (Fukaya et al., 2020): all
  of it batched matrix products and an l × l Cholesky, so weights of equal shape run as one batch;
  Householder QR would loop over the batch. The l × l eigen- and singular value problems go to the
  host, where LAPACK solves them in microseconds instead of one GPU launch sequence per matrix.
- Iteration stops when every top-k Ritz residual ‖G z − θ z‖ is below `tol` · θ₁ (default 1e-12: fp64
  rounding level, so the result matches the exact path to far below its fp32 storage). The final
  Rayleigh–Ritz is on W itself: B = W Q = Q_B R, and the SVD of the l × l R gives the singular values
  without the Gram matrix's squaring. A batch member whose iteration produced non-finite numbers or
  did not converge within `max_iter` is recomputed by the exact full SVD, so the fast path is never
  less accurate, only occasionally not faster.

Measured on CPU (fp64): random Gaussian 1024 × 3584 (a flat Marchenko–Pastur spectrum, the hardest
case) needs ~170 iterations, 2048 × 7168 ~260; SmolLM2's real weights 16–100. Singular values agree
with the full fp64 SVD to ~1e-15 relative, subspaces to ~1e-11 (largest principal-angle sine).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

DEFAULT_TOL = 1e-12
DEFAULT_MAX_ITER = 2000
CHECK_EVERY = 8  # Rayleigh–Ritz and convergence test every few iterations (each needs an l × l eigh and a host read)
START_SEED = 0  # the random start block comes from a seeded CPU generator: same start on every device


class TopK(NamedTuple):
    """fp64 factors, batched: u (b, m, k), s (b, k), v (b, n, k); and how the iteration went."""

    u: torch.Tensor
    s: torch.Tensor
    v: torch.Tensor
    iterations: int
    residual: float  # largest relative Ritz residual of the converged top k (0 when the full SVD was used)
    full_svd: bool  # the block would have spanned every direction (l >= d): the full SVD was cheaper
    fallbacks: list[int]  # batch members that did not converge (or broke down) and got the full SVD


def block_width(k: int, d: int, oversample: int | None = None) -> int:
    """l = k + oversample, capped at d. Default oversample max(k, 32): on a GPU an iteration costs about
    the same for any l this small (reading the Gram matrix dominates) while the iteration count falls
    with σ_{l+1}; for k = 8, l = 16 needed 2.7× the iterations of l = 40 on a random matrix."""
    return min(d, k + (max(k, 32) if oversample is None else oversample))


def orthonormalize(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, R) with Y = Q R, Q's columns orthonormal, R upper triangular, per batch member, by shifted
    CholeskyQR3: stable up to cond(Y) ~ 1/eps, and nothing but batched products and l × l factorisations."""
    d, l = y.shape[-2:]
    eye = torch.eye(l, dtype=y.dtype, device=y.device)
    shift_factor = 11 * (d * l + l * (l + 1)) * torch.finfo(y.dtype).eps
    total = None
    for shifted in (True, False, False):
        gram = y.mT @ y
        if shifted:  # keeps the Cholesky factorisable when cond(y) is near 1/sqrt(eps)
            gram = gram + (shift_factor * gram.diagonal(dim1=-2, dim2=-1).sum(-1))[..., None, None] * eye
        r, _ = torch.linalg.cholesky_ex(gram, upper=True)  # no host sync; a failure shows up as non-finite
        y = torch.linalg.solve_triangular(r, y, upper=True, left=False)
        total = r if total is None else r @ total
    return y, total


def _on_host(fn, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Run a small dense factorisation (l × l) on the CPU: LAPACK takes microseconds where a GPU
    solver loops over the batch with a launch latency each. Results go back to the inputs' device."""
    device = tensors[0].device
    return tuple(t.to(device) for t in fn(*(t.cpu() for t in tensors)))


def _exact(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    driver = "gesvd" if x.is_cuda else None
    u, s, vh = torch.linalg.svd(x.double(), full_matrices=False, driver=driver)
    return u[..., :k], s[..., :k], vh[..., :k, :].mT


@torch.no_grad()
def top_k_svd(weights: Sequence[torch.Tensor], k: int, device: torch.device | str | None = None,
              oversample: int | None = None, tol: float = DEFAULT_TOL,
              max_iter: int = DEFAULT_MAX_ITER) -> TopK:
    """Top-k singular triplets of each weight (all of one shape), in fp64 on `device`.

    `k` must not exceed min(m, n). Weights are converted to fp64 one at a time, so the transient
    memory is the b Gram matrices (b · d² · 8 bytes) plus one fp64 weight."""
    device = torch.device(device) if device is not None else weights[0].device
    m, n = weights[0].shape
    if any(tuple(w.shape) != (m, n) for w in weights):
        raise ValueError("top_k_svd: every weight of a batch must have the same shape")
    if not 1 <= k <= min(m, n):
        raise ValueError(f"top_k_svd: k={k} outside 1..{min(m, n)}")
    right = n <= m  # iterate on the smaller Gram matrix: WᵀW (right vectors) or W Wᵀ (left vectors)
    d = n if right else m
    l = block_width(k, d, oversample)
    fp64 = lambda w: w.detach().to(device=device, dtype=torch.float64)  # noqa: E731
    if l >= d:  # the block would span everything: the full SVD is as cheap and exact
        parts = [_exact(fp64(w), k) for w in weights]
        u, s, v = (torch.stack(t) for t in zip(*parts))
        return TopK(u, s, v, 0, 0.0, True, [])

    gram = torch.stack([(x.mT @ x) if right else (x @ x.mT) for x in map(fp64, weights)])
    start = torch.randn(d, l, generator=torch.Generator().manual_seed(START_SEED), dtype=torch.float64)
    q, _ = orthonormalize(start.to(device).expand(len(weights), d, l).contiguous())
    eye = torch.eye(l, dtype=torch.float64, device=device)
    shift = torch.zeros(len(weights), 1, 1, dtype=torch.float64, device=device)
    iterations, worst = 0, torch.full((len(weights),), float("inf"), dtype=torch.float64)
    while True:
        gq = gram @ q
        iterations += 1
        if iterations % CHECK_EVERY == 0 or iterations >= max_iter:
            h = q.mT @ gq
            broken = ~torch.isfinite(h).flatten(1).all(1)  # a failed factorisation: the exact SVD takes over
            h = torch.where(broken[:, None, None], eye, (h + h.mT) / 2)
            theta, rotation = _on_host(torch.linalg.eigh, h)  # Rayleigh–Ritz in the current block
            theta, rotation = theta.flip(-1), rotation.flip(-1)  # descending
            q, gq = q @ rotation, gq @ rotation
            top = theta[..., :1].clamp_min(torch.finfo(torch.float64).tiny)
            residuals = (gq[..., :k] - q[..., :k] * theta[..., None, :k]).norm(dim=-2) / top
            worst = torch.where(broken, float("inf"), residuals.amax(-1).nan_to_num(float("inf"))).cpu()
            shift = (theta[..., -1:] / 2).clamp_min(0)[..., None]
            if bool(((worst <= tol) | broken.cpu()).all()) or iterations >= max_iter:
                break
        q, _ = orthonormalize(gq - shift * q)
    del gram, gq
    converged = worst <= tol
    residual = float(worst[converged].max()) if bool(converged.any()) else float("inf")

    # Rayleigh–Ritz on W itself, B = W Q (or Wᵀ Q) = Q_B R: the SVD of the l × l R gives the singular
    # values without the squaring of the Gram matrix
    blocks = torch.stack([fp64(w) @ q[i] if right else fp64(w).mT @ q[i] for i, w in enumerate(weights)])
    basis, r = orthonormalize(blocks)
    del blocks
    r = torch.where(torch.isfinite(r).flatten(1).all(1)[:, None, None], r, eye)
    small_u, s, small_vh = _on_host(torch.linalg.svd, r)
    outer, inner, s = basis @ small_u[..., :k], q @ small_vh.mT[..., :k], s[..., :k]
    u, v = (outer, inner) if right else (inner, outer)
    fallbacks = [i for i in range(len(weights))
                 if not bool(converged[i]) or not bool(torch.isfinite(u[i]).all() and torch.isfinite(v[i]).all())]
    for index in fallbacks:
        u[index], s[index], v[index] = _exact(fp64(weights[index]), k)
    return TopK(u, s, v, iterations, residual, False, fallbacks)
