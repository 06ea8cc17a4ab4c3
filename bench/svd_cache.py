"""Build and load time of the top-k SVD cache for every target matrix of a Llama-8B-shaped model,
exact path against fast path, and the fast path's accuracy against a full fp64 SVD.

Targets (issue 8): build ≤ 60 s and load ≤ 5 s for the 224 matrices (32 layers × q, k, v, o, gate,
up, down; 4096 × 4096, 1024 × 4096, 14336 × 4096, 4096 × 14336), random bf16 weights on one GPU.

- fast: `SVDCache(solver="fast").top_k_many` over all 224 (fingerprint keys, fp64 subspace iteration
  batched by shape, one file per matrix), measured in full; then a fresh cache loads them back.
  Each shape's first matrix is also run alone, as `top_k` inside a run computes it.
- exact: the default path (full fp64 `gesvd` per matrix, sha256 keys). One fp64 SVD of a 4096 × 14336
  matrix takes seconds, so by default it is timed on `--exact-sample` matrices per shape and
  **extrapolated** to 224 (labelled so); `--all` times every matrix. Its load time (sha256 of each
  weight's fp32 bytes on the host, then the file) is timed on `--load-sample` matrices per shape and
  extrapolated the same way.
- accuracy, on the exact sample: singular values (largest relative error of the top k) and
  subspaces (largest principal-angle sine of the top-k left and right subspaces, = the 2-norm of
  the projector difference), each against the fp64 SVD, for the fast path's fp64 result, its fp32
  cache entry, and the exact path's fp32 cache entry (the storage floor). Random Gaussian matrices
  have a flat Marchenko–Pastur spectrum with relative gaps of ~1e-4 between neighbouring top
  singular values: the hardest case for subspace accuracy (real weights decay and converge in
  fewer iterations); the gaps are printed next to the errors.

    python bench/svd_cache.py --json svd.json                       # H100: about 2 minutes
    python bench/svd_cache.py --shape llama-mini-shape --device cpu # quick check
"""
from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from benchlib import SHAPES, environment, sync, timed, write_json
from safetensors.torch import load_file, save_file

from hipbench.fast_svd import block_width, top_k_svd
from hipbench.spectral import SVDCache, weight_fingerprint, weight_key

BUILD_TARGET_S = 60.0
LOAD_TARGET_S = 5.0


def random_weights(shape_name: str, device: torch.device) -> dict[str, torch.Tensor]:
    """Every target matrix with N(0, 0.02²) bf16 entries (the Llama initialisation), seeded."""
    gen = torch.Generator(device).manual_seed(0)
    return {name: (torch.randn(shape, generator=gen, device=device) * 0.02).to(torch.bfloat16)
            for name, shape in SHAPES[shape_name].targets()}


def by_shape(weights: dict[str, torch.Tensor]) -> dict[tuple[int, int], list[str]]:
    groups: dict[tuple[int, int], list[str]] = defaultdict(list)
    for name, weight in weights.items():
        groups[tuple(weight.shape)].append(name)
    return dict(groups)


def extrapolate(per_matrix: dict[tuple[int, int], list[float]], groups: dict) -> float:
    """Σ over shapes of (matrices of that shape) × (mean measured seconds per matrix of that shape)."""
    return sum(len(groups[shape]) * sum(times) / len(times) for shape, times in per_matrix.items())


def subspace_sine(basis: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest principal-angle sine between two orthonormal k-column bases (fp64)."""
    basis, reference = basis.double(), reference.double()
    return float(torch.linalg.matrix_norm(basis - reference @ (reference.T @ basis), ord=2))


def accuracy(u: torch.Tensor, s: torch.Tensor, v: torch.Tensor, ref: tuple[torch.Tensor, ...]) -> dict:
    ref_u, ref_s, ref_v = ref
    k = s.numel()
    overlap = (u.double().T @ ref_u).abs()
    return {"sv_rel_err": float(((s.double() - ref_s) / ref_s).abs().max()),
            "sin_left": subspace_sine(u, ref_u), "sin_right": subspace_sine(v, ref_v),
            "basis_err": float((overlap - torch.eye(k, dtype=torch.float64, device=u.device)).abs().max())}


def spectrum_gaps(singular: torch.Tensor, k: int) -> dict:
    """How hard the top k is: smallest gap between neighbours inside it, the gap after it, and the
    subspace iteration's convergence factor (σ_{l+1}/σ_k)² with its default block width l."""
    top = singular[:k + 1]
    l = block_width(k, singular.numel())
    factor = float((singular[l] / singular[k - 1]) ** 2) if l < singular.numel() else 0.0
    return {"min_rel_gap_top_k": float(((top[:-1] - top[1:]) / top[0])[:k - 1].min()) if k > 1 else None,
            "rel_gap_at_k": float((top[k - 1] - top[k]) / top[k - 1]) if top.numel() > k else None,
            "convergence_factor": factor}


def warm_up(device: torch.device) -> None:
    """First calls create solver handles and load kernels (a second or more on a GPU); neither path
    should pay for that inside its timing."""
    small = torch.randn(300, 200, device=device)
    weight_fingerprint(small)
    weight_key(small)
    top_k_svd([small], 8, device)
    torch.linalg.svd(small.double(), full_matrices=False, driver="gesvd" if device.type == "cuda" else None)
    sync(device)


def fast_phase(weights: dict, groups: dict, k: int, device: torch.device, root: Path) -> dict:
    names = list(weights)
    tensors = [weights[n] for n in names]
    _, keys_s = timed(lambda: [weight_fingerprint(w) for w in tensors], device)
    cache = SVDCache(root / "fast", device=device, solver="fast")
    factors, build_s = timed(lambda: cache.top_k_many(tensors, k), device)
    reader = SVDCache(root / "fast", device=device, solver="fast")
    _, load_s = timed(lambda: reader.top_k_many(tensors, k), device)
    files = sorted((root / "fast").glob("*.safetensors"))
    _, read_s = timed(lambda: [load_file(str(p)) for p in files], device)
    alone = {}
    for shape, members in groups.items():  # one matrix per shape the way `top_k` computes it inside a run
        result, seconds = timed(lambda: top_k_svd([weights[members[0]]], k, device), device)
        alone[shape] = {"seconds": seconds, "iterations": result.iterations, "residual": result.residual,
                        "fallbacks": len(result.fallbacks), "full_svd": result.full_svd,
                        "fp64": (result.u[0], result.s[0], result.v[0])}
    return {"build_s": build_s, "keys_s": keys_s, "load_s": load_s, "file_read_s": read_s,
            "computed": cache.computed, "fallbacks": cache.fallbacks, "loaded": reader.loaded,
            "cache_bytes": sum(p.stat().st_size for p in files),
            "stored": dict(zip(names, factors)), "alone": alone,
            "unbatched_build_s_extrapolated": sum(len(groups[s]) * a["seconds"] for s, a in alone.items())}


def exact_phase(weights: dict, groups: dict, k: int, device: torch.device, root: Path, sample: int | None) -> dict:
    """Time the exact path's build on `sample` matrices per shape (all with None): its fp64 SVD, its
    sha256 key and its file. The first SVD per shape is kept as the accuracy reference."""
    svd_times, key_times, save_times = (defaultdict(list) for _ in range(3))
    references = {}
    for shape, members in sorted(groups.items(), key=lambda item: item[0][0] * item[0][1]):  # cheapest first
        for name in members[:sample]:
            (u, s, vh), seconds = timed(lambda: torch.linalg.svd(  # exactly exact_svd's computation
                weights[name].double(), full_matrices=False, driver="gesvd" if device.type == "cuda" else None), device)
            svd_times[shape].append(seconds)
            key, seconds = timed(lambda: weight_key(weights[name]), device)
            key_times[shape].append(seconds)
            stored = {"U": u[:, :k].float().contiguous().cpu(), "S": s[:k].float().contiguous().cpu(),
                      "V": vh[:k].T.float().contiguous().cpu()}
            _, seconds = timed(lambda: save_exact_file(root, key, k, stored), device)
            save_times[shape].append(seconds)
            if shape not in references:
                references[shape] = {"name": name, "u": u[:, :k].clone(), "s_all": s.clone(), "v": vh[:k].T.clone()}
            del u, s, vh
    measured = [sum(t) for times in (svd_times, key_times, save_times) for t in times.values()]
    return {"svd_s_per_shape": {str(s): t for s, t in svd_times.items()},
            "build_s_measured": sum(measured), "build_matrices_measured": sum(map(len, svd_times.values())),
            "build_s": sum(extrapolate(times, groups) for times in (svd_times, key_times, save_times)),
            "keys_s_build": extrapolate(key_times, groups), "references": references}


def save_exact_file(root: Path, key: str, k: int, factors: dict[str, torch.Tensor]) -> None:
    path = root / "exact" / f"{key}-k{k}-f64.safetensors"  # the exact cache's own file name
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(factors, str(path))


def exact_load_phase(weights: dict, groups: dict, k: int, device: torch.device, root: Path, sample: int | None,
                     fast_stored: dict) -> dict:
    """Time the exact cache's load (sha256 key of the weight's fp32 bytes on the host, then the file)
    on `sample` matrices per shape. Matrices whose exact SVD was not computed get a file of the
    same format and size holding the fast path's factors: the load does not read the values."""
    times = defaultdict(list)
    for shape, members in groups.items():
        for name in members[:sample]:
            key = weight_key(weights[name])
            if not (root / "exact" / f"{key}-k{k}-f64.safetensors").is_file():
                u, s, v = (t.cpu() for t in fast_stored[name])
                save_exact_file(root, key, k, {"U": u, "S": s, "V": v})
            reader = SVDCache(root / "exact", device=device)
            _, seconds = timed(lambda: reader.top_k(weights[name], k), device)
            assert reader.loaded == 1 and reader.computed == 0, "the exact cache did not find its file"
            times[shape].append(seconds)
    return {"load_s": extrapolate(times, groups), "load_matrices_measured": sum(map(len, times.values()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="llama8b-shape", choices=sorted(SHAPES))
    parser.add_argument("--k", type=int, default=32, help="top-k (HiP-LoRA's default)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--exact-sample", type=int, default=1, help="exact builds timed per shape (then extrapolated)")
    parser.add_argument("--load-sample", type=int, default=2, help="exact loads timed per shape (then extrapolated)")
    parser.add_argument("--all", action="store_true", help="time the exact path on every matrix: no extrapolation")
    parser.add_argument("--cache-dir", default=None, help="where the caches are written (default: a temporary folder)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # as hipbench runs; the SVD paths are fp64 anyway
    report: dict = {"bench": "svd_cache", "environment": environment(device), "shape": args.shape, "k": args.k,
                    "targets_s": {"build": BUILD_TARGET_S, "load": LOAD_TARGET_S}}
    weights, seconds = timed(lambda: random_weights(args.shape, device), device)
    groups = by_shape(weights)
    warm_up(device)
    report["matrices"] = {str(shape): len(names) for shape, names in groups.items()}
    print(f"{len(weights)} random bf16 matrices of {args.shape} on {device} in {seconds:.1f} s: "
          + ", ".join(f"{len(v)} × {s[0]}x{s[1]}" for s, v in groups.items()))
    with tempfile.TemporaryDirectory(dir=args.cache_dir) as tmp:
        root = Path(tmp)
        fast = fast_phase(weights, groups, args.k, device, root)
        report["fast"] = {key: value for key, value in fast.items() if key not in ("stored", "alone")}
        report["fast"]["alone_per_shape"] = {str(s): {k: v for k, v in a.items() if k != "fp64"}
                                             for s, a in fast["alone"].items()}
        write_json(args.json, report)
        print(f"fast  build {fast['build_s']:7.2f} s (all {len(weights)} measured, {fast['computed']} computed, "
              f"{fast['fallbacks']} fell back to exact)   load {fast['load_s']:.2f} s (all measured; the fingerprint "
              f"keys alone {fast['keys_s']:.2f} s, reading the {fast['cache_bytes'] / 2**20:.0f} MiB of files alone "
              f"{fast['file_read_s']:.2f} s, page cache warm)")
        print(f"      one matrix at a time, as `top_k` in a run: {fast['unbatched_build_s_extrapolated']:.1f} s "
              f"(extrapolated from 1 per shape)")
        for shape, alone in fast["alone"].items():
            print(f"      {shape[0]:>5}x{shape[1]:<5} alone {alone['seconds']:6.3f} s  {alone['iterations']:4d} iterations  "
                  f"residual {alone['residual']:.1e}{'  (full SVD: l >= d)' if alone['full_svd'] else ''}")

        sample = None if args.all else args.exact_sample
        exact = exact_phase(weights, groups, args.k, device, root, sample)
        report["exact"] = {key: value for key, value in exact.items() if key != "references"}
        write_json(args.json, report)
        exact.update(exact_load_phase(weights, groups, args.k, device, root,
                                      None if args.all else args.load_sample, fast["stored"]))
        label = "measured" if args.all else (f"EXTRAPOLATED from {exact['build_matrices_measured']} of {len(weights)} "
                                             f"({exact['build_s_measured']:.1f} s measured)")
        load_label = "measured" if args.all else f"EXTRAPOLATED from {exact['load_matrices_measured']} loads"
        report["exact"] = {key: value for key, value in exact.items() if key != "references"}
        report["exact"]["extrapolated"] = not args.all
        print(f"exact build {exact['build_s']:7.1f} s ({label})   load {exact['load_s']:.1f} s ({load_label})")

        rows = {}
        for shape, ref in exact["references"].items():
            reference = (ref["u"], ref["s_all"][:args.k], ref["v"])
            stored = fast["stored"][ref["name"]]
            stored = tuple(t.to(device) for t in stored)
            u64, s64, v64 = fast["alone"][shape]["fp64"]
            exact_stored = tuple(t.float() for t in reference)
            rows[str(shape)] = {"matrix": ref["name"], **spectrum_gaps(ref["s_all"], args.k),
                                "fast_fp64": accuracy(u64, s64, v64, reference),
                                "fast_cached_fp32": accuracy(*stored, reference),
                                "exact_cached_fp32": accuracy(*exact_stored, reference)}
        report["accuracy"] = rows
        sync(device)

    fast_build, exact_build = report["fast"]["build_s"], report["exact"]["build_s"]
    report["ratios"] = {"build_exact_over_fast": exact_build / fast_build,
                        "load_exact_over_fast": report["exact"]["load_s"] / report["fast"]["load_s"]}
    report["targets_met"] = {"fast_build": fast_build <= BUILD_TARGET_S, "fast_load": report["fast"]["load_s"] <= LOAD_TARGET_S,
                             "exact_build": exact_build <= BUILD_TARGET_S, "exact_load": report["exact"]["load_s"] <= LOAD_TARGET_S}
    write_json(args.json, report)

    print(f"\naccuracy against the fp64 SVD (k={args.k}; random Gaussian weights: flat spectrum, the hardest case "
          "for subspaces):")
    print(f"{'shape':>12} {'min gap':>8} {'gap@k':>8} {'factor':>6} | {'path':<18} {'sv rel err':>10} "
          f"{'sin left':>9} {'sin right':>9} {'basis':>9}")
    for shape, row in rows.items():
        for path in ("fast_fp64", "fast_cached_fp32", "exact_cached_fp32"):
            a = row[path]
            print(f"{shape:>12} {row['min_rel_gap_top_k']:8.1e} {row['rel_gap_at_k']:8.1e} "
                  f"{row['convergence_factor'] or float('nan'):6.3f} | {path:<18} {a['sv_rel_err']:10.1e} {a['sin_left']:9.1e} "
                  f"{a['sin_right']:9.1e} {a['basis_err']:9.1e}")
    print(f"\nbuild: fast {fast_build:.1f} s vs exact {exact_build:.1f} s ({report['ratios']['build_exact_over_fast']:.1f}x)"
          f"   load: fast {report['fast']['load_s']:.2f} s vs exact {report['exact']['load_s']:.1f} s "
          f"({report['ratios']['load_exact_over_fast']:.1f}x)   targets build ≤ {BUILD_TARGET_S:.0f} s, "
          f"load ≤ {LOAD_TARGET_S:.0f} s: " + ", ".join(f"{k} {'met' if v else 'MISSED'}"
                                                       for k, v in report["targets_met"].items()))
    print(f"(finished {time.strftime('%H:%M:%S')})")


if __name__ == "__main__":
    main()
