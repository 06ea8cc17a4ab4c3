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

`SVDCache(solver="fast")` (`hipbench run --svd fast`, part of the run's hash only when not "exact")
computes the same top-k by fp64 subspace iteration (hipbench/fast_svd.py says why that algorithm),
batched over weights of one shape by `top_k_many`. Its files are keyed by `weight_fingerprint`,
computed on the compute device: the sha256 key needs every weight copied to the host in fp32 and
hashed at ~2 GB/s, 0.4 s per 4096 × 14336 weight on a CPU with SHA extensions, ~45 s over the 224
target weights of a Llama-8B-sized model, nine times the 5 s a load may take (bench/svd_cache.py
measures both keys). The default ("exact") keeps its algorithm, keys and file names, so existing
caches and records are unchanged.
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import torch
from safetensors.torch import load_file, save_file

from hipbench.drift import gap_width, rotation_drift, svd_width
from hipbench.fast_svd import top_k_svd
from hipbench.models import cache_dir

SOLVERS = ("exact", "fast")
FAST_TAG = "gram-si1"  # in the fast path's file names: a changed algorithm gets new files
FINGERPRINT_ROW = 1 << 16  # bytes per row of the fingerprint's integer projection
FINGERPRINT_COLUMNS = 16
FINGERPRINT_CHUNK = 512  # rows per product (512 × 64 KiB of bytes = 256 MiB as fp64)
GRAM_BATCH_BYTES = 1 << 32  # fast path: at most this much of fp64 Gram matrices per batch


def weight_key(weight: torch.Tensor) -> str:
    data = weight.detach().to("cpu", torch.float32).contiguous()
    digest = hashlib.sha256(data.numpy().tobytes())
    digest.update(str(tuple(data.shape)).encode())
    return digest.hexdigest()[:32]


@functools.lru_cache(maxsize=4)
def _projection(device: torch.device) -> torch.Tensor:
    """The fingerprint's fixed integer matrix: entries ±1..±127 from SHAKE-256 of a constant, so it
    never depends on a random generator's implementation."""
    raw = hashlib.shake_256(b"hipbench weight fingerprint").digest(FINGERPRINT_ROW * FINGERPRINT_COLUMNS)
    values = torch.frombuffer(bytearray(raw), dtype=torch.int8).to(torch.int64)
    values = torch.where(values == 0, 1, values).clamp(-127, 127)
    return values.view(FINGERPRINT_ROW, FINGERPRINT_COLUMNS).to(device=device, dtype=torch.float64)


@torch.no_grad()
def weight_fingerprint(weight: torch.Tensor) -> str:
    """A key for the weight's fp32 values, computed on the weight's device.

    The fp32 bytes, as signed bytes in rows of 64 KiB, are multiplied by a fixed 64 Ki × 16 matrix
    of non-zero integers; the 16 integer sums per row are hashed with sha256 on the host (1/512 of
    the data). Every sum is an integer below 2^31, so fp64 GEMM computes it exactly in any order:
    the key is the same on every device. A change of any single byte changes every sum of its row;
    the fixed projection is not collision resistant against a chosen weight, only against accidental
    changes, which is what a cache key needs."""
    data = weight.detach().float().contiguous().view(-1).view(torch.int8)
    rows = -(-data.numel() // FINGERPRINT_ROW)
    padded = torch.nn.functional.pad(data, (0, rows * FINGERPRINT_ROW - data.numel())).view(rows, FINGERPRINT_ROW)
    projection = _projection(data.device)
    sums = torch.cat([padded[start:start + FINGERPRINT_CHUNK].double() @ projection
                      for start in range(0, rows, FINGERPRINT_CHUNK)])
    digest = hashlib.sha256(sums.to(torch.int64).cpu().numpy().tobytes())
    digest.update(str(tuple(weight.shape)).encode())
    return digest.hexdigest()[:32]


def exact_svd(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD in fp64, returned in fp32 (see the module docstring for why not fp32)."""
    driver = "gesvd" if weight.is_cuda else None
    u, s, vh = torch.linalg.svd(weight.double(), full_matrices=False, driver=driver)
    return u.float(), s.float(), vh.float()


class SVDCache:
    """Top-k SVD factors `(U_k, S_k, V_k)` (V_k is n × k) per weight, on disk and in memory.

    `solver` is "exact" (full fp64 SVD per weight; the default every published record used) or
    "fast" (fp64 subspace iteration, batched by shape in `top_k_many`; files of its own)."""

    def __init__(self, directory: Path | None = None, device: torch.device | str | None = None,
                 solver: str = "exact") -> None:
        if solver not in SOLVERS:
            raise ValueError(f"--svd {solver}: expected one of {', '.join(SOLVERS)}")
        self.dir = Path(directory) if directory is not None else cache_dir() / "svd"
        self.device = device  # where SVDs are computed (the GPU when there is one); None: the weight's
        self.solver = solver
        self._memory: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.computed = 0
        self.loaded = 0
        self.fallbacks = 0  # fast path: weights that needed the exact SVD after all

    def key(self, weight: torch.Tensor) -> str:
        if self.solver == "exact":
            return weight_key(weight)
        return weight_fingerprint(weight.detach().to(self.device or weight.device))

    def path(self, key: str, k: int) -> Path:
        return self.dir / f"{key}-k{k}-{'f64' if self.solver == 'exact' else FAST_TAG}.safetensors"

    def top_k(self, weight: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Factors in fp32 on the weight's device; `k` is capped at min(m, n)."""
        return self.top_k_many([weight], k)[0]

    def top_k_many(self, weights: list[torch.Tensor], k: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """`top_k` of each weight; the fast solver computes the missing ones batched by shape."""
        keys = [(self.key(w), min(k, *w.shape)) for w in weights]
        missing: dict[tuple[str, int], torch.Tensor] = {}
        for key, weight in zip(keys, weights):
            if key in self._memory or key in missing:
                continue
            path = self.path(*key)
            if path.is_file():
                stored = load_file(str(path))
                self._memory[key] = (stored["U"], stored["S"], stored["V"])
                self.loaded += 1
            else:
                missing[key] = weight
        for key, factors in self._compute(missing):  # saved as soon as each is computed
            self._save(self.path(*key), factors)
            self._memory[key] = factors
            self.computed += 1
        return [tuple(t.to(w.device) for t in self._memory[key]) for key, w in zip(keys, weights)]

    def decompose(self, weight: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Uncached top-k (U_k, S_k, V_k) with this cache's solver, on the compute device in fp32
        (the diagnostics' SVD of W0 + ΔW, which is never seen twice)."""
        k = min(k, *weight.shape)
        work = weight.detach().to(self.device or weight.device)
        if self.solver == "exact":
            u, s, vh = exact_svd(work)
            return u[:, :k], s[:k], vh[:k].T
        result = top_k_svd([work], k)
        self.fallbacks += len(result.fallbacks)
        return result.u[0].float(), result.s[0].float(), result.v[0].float()

    def _compute(self, missing: dict[tuple[str, int], torch.Tensor]) -> Iterator[tuple[tuple[str, int], tuple]]:
        if self.solver == "exact":
            for (key, k), weight in missing.items():
                yield (key, k), tuple(t.contiguous().cpu() for t in self.decompose(weight, k))
            return
        groups: dict[tuple, list[tuple[str, int]]] = defaultdict(list)
        for key, weight in missing.items():
            groups[(tuple(weight.shape), key[1])].append(key)
        for ((m, n), k), members in groups.items():
            per_batch = max(1, GRAM_BATCH_BYTES // (min(m, n) ** 2 * 8))
            for start in range(0, len(members), per_batch):
                batch = members[start:start + per_batch]
                weights = [missing[key] for key in batch]
                result = top_k_svd(weights, k, self.device or weights[0].device)
                self.fallbacks += len(result.fallbacks)
                for index, key in enumerate(batch):
                    yield key, tuple(t[index].float().contiguous().cpu() for t in (result.u, result.s, result.v))

    def _save(self, path: Path, factors: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")  # concurrent sweeps share the cache
        os.close(fd)
        save_file({"U": factors[0], "S": factors[1], "V": factors[2]}, tmp)
        os.replace(tmp, path)


def principal_energy_ratio(delta: torch.Tensor, u_k: torch.Tensor, v_k: torch.Tensor) -> float:
    """||U_k^T ΔW V_k||_F² / ||ΔW||_F²: the share of the update inside the pretrained top-k
    singular subspaces (both sides). nan for a zero update."""
    total = float(delta.pow(2).sum())
    if total == 0.0:
        return float("nan")
    return float((u_k.T @ delta @ v_k).pow(2).sum()) / total


def subspace_drift(basis_a: torch.Tensor, basis_b: torch.Tensor) -> float:
    """Mean sin² of the principal angles between two k-dim subspaces with orthonormal bases:
    1 - ||A^T B||_F² / k. At the fixed k = 32 this is the tables' "boundary drift": it counts
    near-equal singular values swapping order across k as drift (`hipbench.drift` says why and
    gives the rotation drift that does not)."""
    k = basis_a.shape[1]
    return float(1.0 - (basis_a.T @ basis_b).pow(2).sum() / k)


# The record-level diagnostics every protocol copies from `spectral_diagnostics(...)["mean"]`.
RECORD_KEYS = ("principal_energy", "drift_left", "drift_right", "rotation_drift_left", "rotation_drift_right")
# What `spectral_diagnostics(...)["by_layer"]` keeps of each layer (the rotation drift and its k').
PER_LAYER_KEYS = ("rotation_k", "rotation_drift_left", "rotation_drift_right")


def layer_diagnostics(weight: torch.Tensor, delta: torch.Tensor, k: int, cache: SVDCache) -> dict[str, float]:
    """One layer's diagnostics: principal energy and boundary drift at `k`, rotation drift at the
    gap-aware k' of the pretrained spectrum (`hipbench.drift.gap_width`, recorded as `rotation_k`).

    The pretrained top-(2k + 1) triplets come from the cache (their first k columns are the top-k
    of the exact solver bit for bit); W0 + ΔW is decomposed once, to max(k, k') columns."""
    device = cache.device or weight.device
    u0, s0, v0 = (t.to(device) for t in cache.top_k(weight, svd_width(k)))
    delta = delta.detach().float().to(device)
    k = min(k, u0.shape[1])
    wide = gap_width(s0, k)
    u1, _, v1 = cache.decompose(weight.detach().float().to(device) + delta, max(k, wide))
    return {
        "principal_energy": principal_energy_ratio(delta, u0[:, :k], v0[:, :k]),
        "drift_left": subspace_drift(u0[:, :k], u1[:, :k]),
        "drift_right": subspace_drift(v0[:, :k], v1[:, :k]),
        "rotation_k": wide,
        "rotation_drift_left": rotation_drift(u0[:, :wide], u1[:, :wide]),
        "rotation_drift_right": rotation_drift(v0[:, :wide], v1[:, :wide]),
    }


def spectral_diagnostics(pretrained: torch.nn.Module, deltas: dict[str, torch.Tensor], k: int,
                         cache: SVDCache) -> dict:
    """Diagnostics per layer type (the last name component: q_proj, ..., down_proj) and averaged
    over all adapted layers (`rotation_k` there is the mean k'); `by_layer` keeps each layer's
    rotation drift with the k' it was measured at (`PER_LAYER_KEYS`)."""
    by_type: dict[str, list[dict[str, float]]] = defaultdict(list)
    by_layer: dict[str, dict[str, float]] = {}
    for name, delta in deltas.items():
        weight = pretrained.get_submodule(name).weight
        layer = layer_diagnostics(weight, delta, k, cache)
        by_type[name.rsplit(".", 1)[-1]].append(layer)
        by_layer[name] = {key: layer[key] for key in PER_LAYER_KEYS}

    def average(rows: list[dict[str, float]]) -> dict[str, float]:
        out = {}
        for key in rows[0]:
            values = [r[key] for r in rows if r[key] == r[key]]
            out[key] = sum(values) / len(values) if values else float("nan")
        return out

    every = [row for rows in by_type.values() for row in rows]
    return {"k": k, "by_type": {t: average(rows) for t, rows in sorted(by_type.items())}, "mean": average(every),
            "by_layer": dict(sorted(by_layer.items()))}
