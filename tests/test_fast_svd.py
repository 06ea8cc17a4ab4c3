"""The fast top-k SVD (fp64 subspace iteration) against the full fp64 SVD, and the cache's default
left as it was (solver, key, file names, run hashes)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from hipbench.config import RunConfig
from hipbench.method import identity_options
from hipbench.methods.hiplora import HiPLoRAOptions
from hipbench.train import TrainConfig
from hipbench.fast_svd import top_k_svd
from hipbench.spectral import FAST_TAG, SVDCache, exact_svd, spectral_diagnostics, weight_fingerprint, weight_key

F64 = torch.float64


def planted(m: int, n: int, spectrum: torch.Tensor, seed: int) -> torch.Tensor:
    """U diag(spectrum) V^T with random orthonormal U, V (fp64)."""
    gen = torch.Generator().manual_seed(seed)
    r = spectrum.numel()
    left, _ = torch.linalg.qr(torch.randn(m, r, generator=gen, dtype=F64))
    right, _ = torch.linalg.qr(torch.randn(n, r, generator=gen, dtype=F64))
    return (left * spectrum) @ right.T


def gapped_spectrum(r: int) -> torch.Tensor:
    """Decaying like real weights, with a pair 1e-6 apart (relative) inside the top 6."""
    spectrum = 10.0 * 0.93 ** torch.arange(r, dtype=F64)
    spectrum[3] = spectrum[2] * (1 - 1e-6)
    return spectrum


def max_sine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest principal-angle sine between the column spans of two orthonormal bases."""
    return float(torch.linalg.svdvals(a - b @ (b.T @ a)).max())


@pytest.mark.parametrize("shape", [(120, 80), (70, 150)])  # right (WᵀW) and left (W Wᵀ) Gram side
def test_fast_top_k_matches_the_full_fp64_svd_on_a_planted_spectrum(shape):
    weight = planted(*shape, gapped_spectrum(min(shape)), seed=1)
    k = 6
    result = top_k_svd([weight], k)
    assert not result.full_svd and result.iterations > 0 and result.fallbacks == []
    u, s, vh = torch.linalg.svd(weight, full_matrices=False)
    assert torch.allclose(result.s[0], s[:k], rtol=1e-12, atol=0)
    assert max_sine(result.u[0], u[:, :k]) < 1e-9 and max_sine(result.v[0], vh[:k].T) < 1e-9
    # each vector, up to sign, even inside the near-degenerate pair
    assert torch.allclose((result.u[0].T @ u[:, :k]).abs(), torch.eye(k, dtype=F64), atol=1e-6)
    assert torch.allclose(result.u[0].T @ weight @ result.v[0], torch.diag(s[:k]), atol=1e-10)


def test_a_batch_gives_each_member_its_own_top_k():
    weights = [planted(90, 60, gapped_spectrum(60) * (1 + i), seed=10 + i) for i in range(3)]
    result = top_k_svd(weights, 5)
    for index, weight in enumerate(weights):
        s = torch.linalg.svdvals(weight)[:5]
        assert torch.allclose(result.s[index], s, rtol=1e-12, atol=0)


def test_unconverged_or_broken_members_fall_back_to_the_exact_svd():
    good = planted(60, 40, gapped_spectrum(40), seed=2)
    zero = torch.zeros(60, 40, dtype=F64)  # Cholesky of a zero block fails: non-finite, not an error
    result = top_k_svd([good, zero], 4)
    assert result.fallbacks == [1]
    assert torch.equal(result.s[1], torch.zeros(4, dtype=F64))
    rushed = top_k_svd([good], 4, max_iter=1)
    assert rushed.fallbacks == [0]
    assert torch.allclose(rushed.s[0], torch.linalg.svdvals(good)[:4], rtol=1e-12)


def test_small_matrices_take_the_full_svd():
    weight = torch.randn(10, 12, generator=torch.Generator().manual_seed(0), dtype=F64)
    result = top_k_svd([weight], 6)  # k + 32 >= min(m, n): the block would span everything
    assert result.full_svd
    assert torch.allclose(result.s[0], torch.linalg.svdvals(weight)[:6], rtol=1e-12)


def test_fast_cache_agrees_with_the_exact_cache_to_fp32_storage(tmp_path):
    weights = [planted(96, 64, gapped_spectrum(64), seed=s).float() for s in (3, 4)] + \
              [planted(40, 72, gapped_spectrum(40), seed=5).float()]
    fast = SVDCache(tmp_path / "fast", solver="fast")
    exact = SVDCache(tmp_path / "exact")
    got = fast.top_k_many(weights, 8)
    assert fast.computed == 3 and fast.fallbacks == 0
    assert all(p.name.endswith(f"-k8-{FAST_TAG}.safetensors") for p in (tmp_path / "fast").iterdir())
    for weight, (u, s, v) in zip(weights, got):
        ue, se, ve = exact.top_k(weight, 8)
        assert u.dtype == s.dtype == v.dtype == torch.float32 and v.shape == ve.shape
        assert torch.allclose(s, se, rtol=1e-6)
        assert torch.allclose((u.T @ ue).abs(), torch.eye(8), atol=1e-5)
        assert torch.allclose((v.T @ ve).abs(), torch.eye(8), atol=1e-5)
    again = SVDCache(tmp_path / "fast", solver="fast")
    assert all(torch.equal(a, b) for pair in zip(got, again.top_k_many(weights, 8)) for a, b in zip(*pair))
    assert again.loaded == 3 and again.computed == 0


def test_the_default_cache_is_the_exact_one_with_its_old_files(tmp_path):
    weight = torch.randn(30, 20, generator=torch.Generator().manual_seed(7))
    cache = SVDCache(tmp_path)
    assert cache.solver == "exact"
    u, s, v = cache.top_k(weight, 4)
    (path,) = tmp_path.iterdir()
    assert path.name == f"{weight_key(weight)}-k4-f64.safetensors"
    ue, se, vhe = exact_svd(weight)
    assert torch.equal(u, ue[:, :4]) and torch.equal(s, se[:4]) and torch.equal(v, vhe[:4].T)
    with pytest.raises(ValueError, match="--svd"):
        SVDCache(tmp_path, solver="randomized")


def test_the_svd_option_is_invisible_to_the_hash_at_its_default():
    cfg = RunConfig(method="hiplora", suite="continual", model="tiny-llama", seed=1)
    assert cfg.svd == "exact"
    assert dataclasses.replace(cfg, svd="exact").hash() == cfg.hash()
    assert RunConfig(method="lora", suite="continual", model="tiny-llama", seed=1).hash() == "c4fb2feb2867"
    assert dataclasses.replace(cfg, svd="fast").hash() != cfg.hash()
    with pytest.raises(ValueError, match="--svd"):
        dataclasses.replace(cfg, svd="nope").validate()


def test_fingerprint_follows_the_values_not_the_storage():
    weight = torch.randn(33, 17, generator=torch.Generator().manual_seed(8)).bfloat16()
    key = weight_fingerprint(weight)
    assert weight_fingerprint(weight.float()) == key  # same values, other dtype
    assert weight_fingerprint(weight.float().T.contiguous().T) == key  # other memory layout
    changed = weight.clone()
    changed[32, 16] = changed[32, 16] * 1.01
    assert weight_fingerprint(changed) != key
    assert weight_fingerprint(weight.reshape(17, 33)) != key  # same bytes, other shape


def test_diagnostics_with_the_fast_solver_match_the_exact_ones(tiny, tmp_path):
    model, _ = tiny
    names = ["model.layers.0.mlp.up_proj", "model.layers.1.self_attn.o_proj"]
    gen = torch.Generator().manual_seed(9)
    deltas = {n: 0.02 * torch.randn(model.get_submodule(n).weight.shape, generator=gen) for n in names}
    fast = spectral_diagnostics(model, deltas, 4, SVDCache(tmp_path / "fast", solver="fast"))
    exact = spectral_diagnostics(model, deltas, 4, SVDCache(tmp_path / "exact"))
    for key, value in exact["mean"].items():
        assert fast["mean"][key] == pytest.approx(value, abs=1e-5)


def test_the_svd_option_reaches_the_cache_and_is_recorded(monkeypatch, tmp_path):
    import json

    from click.testing import CliRunner

    import hipbench.protocols.continual as continual
    from hipbench.cli import main

    solvers = []

    class Spy(SVDCache):
        def __init__(self, *args, **kwargs):
            super().__init__(tmp_path / "svd", *args[1:], **kwargs)
            solvers.append(self.solver)

    monkeypatch.setattr(continual, "SVDCache", Spy)
    smoke = ["run", "--method", "hiplora", "--suite", "continual", "--model", "tiny-llama", "--limit", "4",
             "--steps", "1", "--device", "cpu", "--seeds", "1", "--out", str(tmp_path / "runs")]
    for flag in ([], ["--svd", "fast"]):
        result = CliRunner().invoke(main, smoke + flag, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert solvers == ["exact", "fast"]
    configs = sorted((json.loads(p.read_text()) for p in (tmp_path / "runs").glob("**/config.json")),
                     key=lambda c: c["config"]["svd"])
    assert [c["config"]["svd"] for c in configs] == ["exact", "fast"]  # two runs, two identities
    default = RunConfig(**{**configs[0]["config"], "train": TrainConfig(**configs[0]["config"]["train"]),
                           "target_modules": tuple(configs[0]["config"]["target_modules"])})
    options = identity_options(HiPLoRAOptions(**configs[0]["method_options_resolved"]))
    assert configs[0]["config_hash"] == default.hash(options)
    assert configs[0]["config_hash"] == dataclasses.replace(default, svd="exact").hash(options)
