"""The cached SVD and the spectral diagnostics against hand-made matrices."""
from __future__ import annotations

import pytest
import torch

from hipbench.drift import gap_width
from hipbench.spectral import (PER_LAYER_KEYS, RECORD_KEYS, SVDCache, principal_energy_ratio, spectral_diagnostics,
                               subspace_drift)


def test_cache_is_exact_and_served_from_disk_for_the_same_weight(tmp_path):
    weight = torch.randn(40, 24, generator=torch.Generator().manual_seed(0))
    first = SVDCache(tmp_path)
    u, s, v = first.top_k(weight, 5)
    assert first.computed == 1 and len(list(tmp_path.glob("*.safetensors"))) == 1
    reference = torch.linalg.svdvals(weight)[:5]
    assert torch.allclose(s, reference, rtol=1e-5)
    assert torch.allclose(u.T @ weight @ v, torch.diag(s), atol=1e-4)
    second = SVDCache(tmp_path)
    again = second.top_k(weight.clone(), 5)
    assert second.loaded == 1 and second.computed == 0
    assert all(torch.equal(a, b) for a, b in zip((u, s, v), again))


def test_cached_basis_matches_an_fp64_svd_when_singular_values_nearly_coincide(tmp_path):
    """Neighbouring singular values 1e-5 apart (relative) make an fp32 SVD rotate inside the pair by
    ~1e-2; an independent fp64 check of HiP-LoRA's invariants would then fail."""
    gen = torch.Generator().manual_seed(3)
    left, _ = torch.linalg.qr(torch.randn(64, 64, generator=gen, dtype=torch.float64))
    right, _ = torch.linalg.qr(torch.randn(48, 48, generator=gen, dtype=torch.float64))
    spectrum = torch.linspace(10.0, 1.0, 48, dtype=torch.float64)
    spectrum[3] = spectrum[2] * (1 - 1e-5)
    weight = (left[:, :48] * spectrum) @ right.T
    weight = weight.float()
    u, _, v = SVDCache(tmp_path).top_k(weight, 6)
    u64, _, vh64 = torch.linalg.svd(weight.double(), full_matrices=False)
    assert torch.allclose((u.double().T @ u64[:, :6]).abs(), torch.eye(6, dtype=torch.float64), atol=1e-5)
    assert torch.allclose((v.double().T @ vh64[:6].T).abs(), torch.eye(6, dtype=torch.float64), atol=1e-5)


def test_a_changed_weight_gets_a_new_svd(tmp_path):
    cache = SVDCache(tmp_path)
    weight = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))
    cache.top_k(weight, 3)
    weight[0, 0] += 1e-3
    cache.top_k(weight, 3)
    assert cache.computed == 2


def test_principal_energy_is_one_inside_and_zero_outside_the_subspace():
    q, _ = torch.linalg.qr(torch.randn(10, 10, generator=torch.Generator().manual_seed(2)))
    u_k, v_k = q[:, :3], q[:, :3]
    inside = u_k @ torch.randn(3, 3) @ v_k.T
    outside = q[:, 3:5] @ torch.randn(2, 2) @ q[:, 5:7].T
    assert principal_energy_ratio(inside, u_k, v_k) == pytest.approx(1.0, abs=1e-5)
    assert principal_energy_ratio(outside, u_k, v_k) == pytest.approx(0.0, abs=1e-6)
    half = inside / inside.norm() + outside / outside.norm()
    assert principal_energy_ratio(half, u_k, v_k) == pytest.approx(0.5, abs=1e-5)


def test_drift_is_sin_squared_of_the_principal_angles():
    e = torch.eye(4)
    assert subspace_drift(e[:, :2], e[:, :2]) == pytest.approx(0.0)
    assert subspace_drift(e[:, :2], e[:, 2:]) == pytest.approx(1.0)
    angle = torch.tensor(0.3)
    rotated = torch.stack([torch.cos(angle) * e[:, 0] + torch.sin(angle) * e[:, 2], e[:, 1]], dim=1)
    assert subspace_drift(e[:, :2], rotated) == pytest.approx(float(torch.sin(angle) ** 2) / 2, abs=1e-6)


def test_diagnostics_group_by_layer_type(tiny, tmp_path):
    model, _ = tiny
    names = ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj", "model.layers.0.mlp.up_proj"]
    deltas = {n: torch.zeros_like(model.get_submodule(n).weight) for n in names}
    deltas[names[2]] = 0.01 * torch.randn_like(deltas[names[2]])
    out = spectral_diagnostics(model, deltas, 4, SVDCache(tmp_path))
    assert set(out["by_type"]) == {"q_proj", "up_proj"}
    assert out["by_type"]["q_proj"]["drift_left"] == pytest.approx(0.0, abs=1e-5)
    assert out["by_type"]["q_proj"]["rotation_drift_left"] == pytest.approx(0.0, abs=1e-6)
    assert 0.0 < out["by_type"]["up_proj"]["principal_energy"] < 1.0
    assert set(out["mean"]) >= set(RECORD_KEYS)


def test_every_layer_records_its_rotation_drift_with_the_k_it_used(tiny, tmp_path):
    model, _ = tiny
    names = ["model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj"]
    gen = torch.Generator().manual_seed(4)
    deltas = {n: 0.05 * torch.randn(model.get_submodule(n).weight.shape, generator=gen) for n in names}
    cache = SVDCache(tmp_path)
    out = spectral_diagnostics(model, deltas, 4, cache)
    assert sorted(out["by_layer"]) == sorted(names)
    for name in names:
        layer = out["by_layer"][name]
        assert set(layer) == set(PER_LAYER_KEYS)
        singular_values = torch.linalg.svdvals(model.get_submodule(name).weight.double())
        assert layer["rotation_k"] == gap_width(singular_values, 4)
        assert 2 <= layer["rotation_k"] <= 8
        assert 0.0 < layer["rotation_drift_left"] < 1.0 and 0.0 < layer["rotation_drift_right"] < 1.0
    assert out["mean"]["rotation_k"] == pytest.approx(sum(out["by_layer"][n]["rotation_k"] for n in names) / 2)
