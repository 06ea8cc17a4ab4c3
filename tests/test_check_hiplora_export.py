"""The independent export checker accepts HiP-LoRA's exported adapters and rejects plain LoRA's."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import load_module

from hipbench.cli import main
from hipbench.models import load_model

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_hiplora_export.py"


def exported(tmp_path: Path, method: str) -> list[Path]:
    args = ["run", "--method", method, "--suite", "continual", "--model", "tiny-llama", "--limit", "6",
            "--steps", "4", "--lr", "0.01", "--seeds", "1", "--device", "cpu", "--out", str(tmp_path),
            "--save-adapters", "--option", "k=8" if method == "hiplora" else "alpha=16"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return sorted(tmp_path.glob(f"continual/tiny-llama/{method}/seed-1-*/adapters/*"))


def test_hiplora_exports_satisfy_the_invariants_and_lora_exports_do_not(tmp_path):
    checker = load_module(SCRIPT)
    model = load_model("tiny-llama").model
    adapters = exported(tmp_path / "h", "hiplora")
    assert len(adapters) == 4
    for directory in adapters:
        assert checker.check_adapter(directory, model, 8, 1e-4) == []
        # the "fill" budget rule gives residual ranks 7 and 8: PEFT reads them from rank_pattern
        assert json.loads((directory / "adapter_config.json").read_text())["rank_pattern"]
    lora_failures = checker.check_adapter(exported(tmp_path / "l", "lora")[-1], model, 8, 1e-4)
    assert len(lora_failures) > 10
