"""Rotation drift (`hipbench.drift`) against hand-made spectra: a swap of near-equal singular values
across k moves boundary drift by 1/k and rotation drift not at all; a Givens rotation of one top
direction gives its closed form; the gap-aware width is the largest relative gap in [k/2, 2k]."""
from __future__ import annotations

import math

import pytest
import torch

from hipbench.drift import gap_width, principal_cosines, rotation_drift, svd_width
from hipbench.spectral import SVDCache, layer_diagnostics

K = 32
GAP_AT = 40  # the hand-made spectrum's largest relative gap inside [k/2, 2k]: sigma_40 / sigma_41 = 1.25


def spectrum(n: int = 96) -> torch.Tensor:
    """Smoothly decaying singular values (neighbours 2 % apart), a 25 % drop after index 40, a
    larger drop after index 8 and after 70 (outside [k/2, 2k], so never chosen), and sigma_33
    1e-3 below sigma_32, as SmolLM2's neighbours are."""
    s = 10.0 * 0.98 ** torch.arange(n, dtype=torch.float64)
    s[8:] *= 0.5
    s[GAP_AT:] *= 0.8
    s[70:] *= 0.5
    s[K] = s[K - 1] * (1 - 1e-3)
    return s


def factors(m: int = 128, n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(m, n, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return u, spectrum(n), v


def compose(u: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return ((u * s) @ v.T).float()


def test_gap_width_is_the_largest_relative_gap_inside_half_k_to_twice_k():
    s = spectrum()
    assert gap_width(s, K) == GAP_AT
    assert svd_width(K) == 2 * K + 1
    assert gap_width(s[:svd_width(K)], K) == GAP_AT  # the 2k + 1 values the cache holds are enough
    short = s[:30].clone()
    short[25:] *= 0.9
    assert gap_width(short, K) == 25  # the window cut to the ratios that exist: sigma_16/17 .. sigma_29/30
    flat = torch.ones(80, dtype=torch.float64)
    assert gap_width(flat, K) == K // 2  # no gap anywhere: the first of the window
    rank_drop = torch.cat([torch.ones(50), torch.zeros(30)])
    assert gap_width(rank_drop, K) == 50  # sigma_50 > 0 = sigma_51: an infinite gap
    assert gap_width(torch.ones(10), K) == 10  # fewer values than k / 2: all of them


def test_principal_cosines_refuse_bases_of_different_shapes():
    with pytest.raises(ValueError, match="differ"):
        principal_cosines(torch.eye(4)[:, :2], torch.eye(4)[:, :3])


def test_rotation_drift_is_the_mean_sin_squared_of_the_principal_angles():
    e = torch.eye(6, dtype=torch.float64)
    assert rotation_drift(e[:, :3], e[:, :3]) == pytest.approx(0.0, abs=1e-12)
    assert rotation_drift(e[:, :3], e[:, 3:]) == pytest.approx(1.0, abs=1e-12)
    a, b = 0.3, 0.7
    turned = e[:, :3].clone()
    turned[:, 0] = math.cos(a) * e[:, 0] + math.sin(a) * e[:, 3]
    turned[:, 1] = math.cos(b) * e[:, 1] + math.sin(b) * e[:, 4]
    expected = (math.sin(a) ** 2 + math.sin(b) ** 2) / 3
    assert rotation_drift(e[:, :3], turned) == pytest.approx(expected, abs=1e-12)
    gen = torch.Generator().manual_seed(1)
    mixed = turned @ torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=gen))[0]  # same span
    assert rotation_drift(e[:, :3], mixed) == pytest.approx(expected, abs=1e-12)


def test_a_swap_of_near_equal_singular_values_across_k_moves_boundary_drift_only(tmp_path):
    u, s, v = factors()
    swapped = s.clone()
    swapped[K - 1], swapped[K] = s[K], s[K - 1]  # sigma_32 and sigma_33, 1e-3 apart, change places
    weight, changed = compose(u, s, v), compose(u, swapped, v)
    out = layer_diagnostics(weight, changed - weight, K, SVDCache(tmp_path))
    assert out["drift_left"] == pytest.approx(1 / K, abs=1e-4)  # one whole direction across the boundary
    assert out["drift_right"] == pytest.approx(1 / K, abs=1e-4)
    assert out["rotation_k"] == GAP_AT
    assert out["rotation_drift_left"] < 1e-6 and out["rotation_drift_right"] < 1e-6


@pytest.mark.parametrize("outside", [GAP_AT + 5, 90])  # inside the 2k + 1 cached triplets, and beyond
def test_a_givens_rotation_of_a_top_direction_gives_sin_squared_over_k_prime(tmp_path, outside):
    u, s, v = factors()
    theta = 0.3
    turned = u.clone()
    turned[:, 0] = math.cos(theta) * u[:, 0] + math.sin(theta) * u[:, outside]
    turned[:, outside] = -math.sin(theta) * u[:, 0] + math.cos(theta) * u[:, outside]
    weight, changed = compose(u, s, v), compose(turned, s, v)
    out = layer_diagnostics(weight, changed - weight, K, SVDCache(tmp_path))
    assert out["rotation_k"] == GAP_AT
    assert out["rotation_drift_left"] == pytest.approx(math.sin(theta) ** 2 / GAP_AT, abs=1e-6)
    assert out["rotation_drift_right"] < 1e-6
    assert out["drift_left"] == pytest.approx(math.sin(theta) ** 2 / K, abs=1e-6)  # a real turn: both see it


def test_no_update_gives_no_drift_of_either_kind(tmp_path):
    weight = compose(*factors())
    out = layer_diagnostics(weight, torch.zeros_like(weight), K, SVDCache(tmp_path))
    assert out["rotation_k"] == GAP_AT
    for key in ("drift_left", "drift_right", "rotation_drift_left", "rotation_drift_right"):
        assert abs(out[key]) < 1e-6, key
