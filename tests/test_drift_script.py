"""scripts/drift_metrics_smollm2.py (the check file's generator) on the tiny model: its swap rows show
boundary drift 1/k and no rotation drift, its Givens rows the closed forms, so the published check
file cannot print numbers the metrics do not produce."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from conftest import load_module

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "drift_metrics_smollm2.py"


def run_script(monkeypatch, capsys, *args: str) -> list[list[str]]:
    module = load_module(SCRIPT)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *args])
    assert module.main() == 0
    lines = capsys.readouterr().out.splitlines()
    return [line.split() for line in lines if line.startswith("layers.")]


def test_the_check_script_prints_both_drifts_with_their_closed_forms(monkeypatch, capsys):
    k = 4
    rows = run_script(monkeypatch, capsys, "--model", "tiny-llama", "--k", str(k), "--layers", "0,1",
                      "--types", "q_proj,up_proj")
    assert {row[1] for row in rows} == {"swap", "lowrank-0.005", "lowrank-0.02", "swap+lowrank", "givens"}
    assert len(rows) == 4 * 5
    for layer, label, wide, gap_k, gap_wide, *values in rows:
        bnd_u, bnd_v, rot_u, rot_v = map(float, values)
        wide = int(wide)
        assert k // 2 <= wide <= 2 * k and float(gap_wide) >= float(gap_k)  # k' is the largest gap, k in the window
        if label == "swap":
            assert bnd_u == pytest.approx(1 / k, abs=1e-4) and bnd_v == pytest.approx(1 / k, abs=1e-4)
            if wide != k:
                assert rot_u < 1e-6 and rot_v < 1e-6, layer
        if label == "givens":
            assert bnd_u == pytest.approx(math.sin(0.1) ** 2 / k, rel=5e-3)  # printed to three digits
            assert rot_u == pytest.approx(math.sin(0.1) ** 2 / wide, rel=5e-3)  # printed to three digits
            assert rot_v < 1e-6
