"""Cached SVD of pretrained weights, and the spectral diagnostics of PROTOCOLS.md section 4.

PiSSA, HiP-LoRA and the diagnostics all need the top singular triplets of the same frozen
weights, for every seed and method. They are computed once (full `torch.linalg.svd`, exact rather
than randomized, on the run's device) and stored on disk under a key made from a hash of the
weight's bytes, so a different checkpoint can never be served a stale SVD.

The SVD runs in fp64 (with the QR-based `gesvd` driver on CUDA) and is stored in fp32. Real
weights have neighbouring singular values 1e-3 apart relative to the largest, so a subspace
computed in fp32, and on CUDA with the default Jacobi driver, is rotated by up to ~1e-2 inside
such pairs: HiP-LoRA's invariants then hold only for hipbench's own basis, and an independent
check against the pretrained weights fails. In fp64 the basis is exact to its fp32 storage.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from hipbench.models import cache_dir


def weight_key(weight: torch.Tensor) -> str:
    data = weight.detach().to("cpu", torch.float32).contiguous()
    digest = hashlib.sha256(data.numpy().tobytes())
    digest.update(str(tuple(data.shape)).encode())
    return digest.hexdigest()[:32]


def exact_svd(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD in fp64, returned in fp32 (see the module docstring for why not fp32)."""
    driver = "gesvd" if weight.is_cuda else None
    u, s, vh = torch.linalg.svd(weight.double(), full_matrices=False, driver=driver)
    return u.float(), s.float(), vh.float()


class SVDCache:
    """Top-k SVD factors `(U_k, S_k, V_k)` (V_k is n × k) per weight, on disk and in memory."""

    def __init__(self, directory: Path | None = None, device: torch.device | str | None = None) -> None:
        self.dir = Path(directory) if directory is not None else cache_dir() / "svd"
        self.device = device  # where SVDs are computed (the GPU when there is one); None: the weight's
        self._memory: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.computed = 0
        self.loaded = 0

    def top_k(self, weight: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Factors in fp32 on the weight's device; `k` is capped at min(m, n)."""
        k = min(k, *weight.shape)
        key = (weight_key(weight), k)
        if key not in self._memory:
            path = self.dir / f"{key[0]}-k{k}-f64.safetensors"
            if path.is_file():
                stored = load_file(str(path))
                factors = (stored["U"], stored["S"], stored["V"])
                self.loaded += 1
            else:
                u, s, vh = exact_svd(weight.detach().to(self.device or weight.device))
                factors = (u[:, :k].contiguous().cpu(), s[:k].contiguous().cpu(), vh[:k].T.contiguous().cpu())
                self.dir.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")  # concurrent sweeps share the cache
                os.close(fd)
                save_file({"U": factors[0], "S": factors[1], "V": factors[2]}, tmp)
                os.replace(tmp, path)
                self.computed += 1
            self._memory[key] = factors
        return tuple(t.to(weight.device) for t in self._memory[key])


def principal_energy_ratio(delta: torch.Tensor, u_k: torch.Tensor, v_k: torch.Tensor) -> float:
    """||U_k^T ΔW V_k||_F² / ||ΔW||_F²: the share of the update inside the pretrained top-k
    singular subspaces (both sides). nan for a zero update."""
    total = float(delta.pow(2).sum())
    if total == 0.0:
        return float("nan")
    return float((u_k.T @ delta @ v_k).pow(2).sum()) / total


def subspace_drift(basis_a: torch.Tensor, basis_b: torch.Tensor) -> float:
    """Mean sin² of the principal angles between two k-dim subspaces with orthonormal bases:
    1 - ||A^T B||_F² / k."""
    k = basis_a.shape[1]
    return float(1.0 - (basis_a.T @ basis_b).pow(2).sum() / k)


def layer_diagnostics(weight: torch.Tensor, delta: torch.Tensor, k: int, cache: SVDCache) -> dict[str, float]:
    device = cache.device or weight.device
    u0, _, v0 = (t.to(device) for t in cache.top_k(weight, k))
    delta = delta.detach().float().to(device)
    u1, _, vh1 = exact_svd(weight.detach().float().to(device) + delta)
    k = u0.shape[1]
    return {
        "principal_energy": principal_energy_ratio(delta, u0, v0),
        "drift_left": subspace_drift(u0, u1[:, :k]),
        "drift_right": subspace_drift(v0, vh1[:k].T),
    }


def spectral_diagnostics(pretrained: torch.nn.Module, deltas: dict[str, torch.Tensor], k: int,
                         cache: SVDCache) -> dict:
    """Diagnostics per layer type (the last name component: q_proj, ..., down_proj) and averaged
    over all adapted layers."""
    by_type: dict[str, list[dict[str, float]]] = defaultdict(list)
    for name, delta in deltas.items():
        weight = pretrained.get_submodule(name).weight
        by_type[name.rsplit(".", 1)[-1]].append(layer_diagnostics(weight, delta, k, cache))

    def average(rows: list[dict[str, float]]) -> dict[str, float]:
        out = {}
        for key in rows[0]:
            values = [r[key] for r in rows if r[key] == r[key]]
            out[key] = sum(values) / len(values) if values else float("nan")
        return out

    every = [row for rows in by_type.values() for row in rows]
    return {"k": k, "by_type": {t: average(rows) for t, rows in sorted(by_type.items())}, "mean": average(every)}
