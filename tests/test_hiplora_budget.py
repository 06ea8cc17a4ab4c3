"""HiP-LoRA's budget binds and is measured (issue 20): the relative principal channel, budget=inf,
the frozen principal channel, per-task budget statistics in the record and the leaderboard, the
hash rules of the changed defaults, and the ablation sweep file."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from hipbench.cli import main
from hipbench.config import RunConfig
from hipbench.method import DEFAULT_TARGETS, Context, adapted_layers, find_targets, identity_options, \
    identity_named, options_as_recorded, options_from_strings
from hipbench.methods.hiplora import HiPLoRA, HiPLoRALinear, HiPLoRAOptions
from hipbench.run_groups import read_sweep_file
from hipbench.spectral import SVDCache
from hipbench.suite import Example, GeneralSet
from hipbench.train import TrainConfig, train_task

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = tuple(Example(f"q{i}:", f" {'xyz'[i % 3]}") for i in range(6))
SMOKE = ["--suite", "continual", "--model", "tiny-llama", "--limit", "6", "--steps", "3", "--device", "cpu",
         "--seeds", "1"]


def train(tiny, tmp_path, steps=6, lr=5e-4, **options) -> tuple[torch.nn.Module, HiPLoRA, dict]:
    """One task of the shared loop on the tiny model, at the default lr unless told; the method's
    statistics of that task."""
    model, tokenizer = copy.deepcopy(tiny[0]), tiny[1]
    method = HiPLoRA(HiPLoRAOptions(k=4, **options))
    model.requires_grad_(False)
    ctx = Context(tokenizer, torch.device("cpu"), torch.Generator().manual_seed(0), GeneralSet((), ()),
                  svd=SVDCache(tmp_path))
    method.attach(model, find_targets(model, DEFAULT_TARGETS), 3, ctx)
    method.begin_task(model, None, ctx)
    train_task(model, method, EXAMPLES, tokenizer, TrainConfig(steps=steps, batch_size=6, lr=lr),
               torch.device("cpu"), torch.Generator().manual_seed(0))
    return model, method, method.task_statistics(model)


def test_a_relative_phi_reaches_a_small_budget_at_the_default_lr(tiny, tmp_path):
    """At lr 5e-4 a relative phi moves each sigma by ~0.05 % per step: a 0.1 % budget binds within
    the task, the projection holds it, and the statistics say so per layer type."""
    model, _, stats = train(tiny, tmp_path, budget=0.1)
    with torch.no_grad():
        usages = [layer.budget_usage().item() for layer in adapted_layers(model, HiPLoRALinear).values()]
    assert max(usages) <= 1 + 1e-6 and max(usages) > 0.99
    assert stats["steps"] == 6 and 0 < stats["projection_active"] <= 1 and stats["projection_active_any"] > 0
    assert stats["budget_usage"] == pytest.approx(sum(usages) / len(usages))
    assert set(stats["by_layer_type"]) == set(DEFAULT_TARGETS)
    for kind in stats["by_layer_type"].values():
        assert kind["budget_usage_mean"] <= kind["budget_usage_max"] <= 1 + 1e-6
    json.dumps(stats)  # plain JSON for the train log


def test_budget_inf_never_projects_and_reports_no_usage(tiny, tmp_path):
    model, method, stats = train(tiny, tmp_path, lr=5e-2, budget=math.inf)
    assert not method.projects() and method.options.budget == math.inf
    assert stats["projection_active"] == 0 and stats["projection_active_any"] == 0
    assert "budget_usage" not in stats and "budget_usage_mean" not in stats["by_layer_type"]["q_proj"]
    assert all(layer.phi.abs().max() > 0 for layer in adapted_layers(model, HiPLoRALinear).values())


def test_a_frozen_principal_channel_stays_at_zero_and_is_not_counted(tiny, tmp_path):
    model, method, stats = train(tiny, tmp_path, lr=5e-2, budget=0.1, principal="frozen")
    layers = adapted_layers(model, HiPLoRALinear).values()
    assert all(not layer.phi.requires_grad and torch.equal(layer.phi, torch.zeros_like(layer.phi)) for layer in layers)
    assert all(layer.lora_B.abs().max() > 0 for layer in layers)  # the residual channel trained
    assert stats["projection_active"] == 0 and stats["budget_usage"] == 0
    assert method.trainable_per_module(10, 6, 3) == 3 * 16  # no k
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == sum(
        layer.lora_A.numel() + layer.lora_B.numel() for layer in layers)


def test_old_records_hash_as_forward_and_absolute_and_new_defaults_as_step_and_relative():
    """A record made before the defaults changed names neither `complement` nor `principal` in
    its resolved options: it ran forward and absolute, and is found again by exactly those
    options; today's default run (step, relative) is a different run."""
    cfg = RunConfig(method="hiplora", suite="continual", model="smollm2-135m", seed=42)
    recorded = {"alpha": 16.0, "budget": 0.5, "budget_mode": "projection", "k": 32, "penalty_strength": 1.0}
    old = options_as_recorded(HiPLoRAOptions, recorded)
    assert (old.complement, old.principal) == ("forward", "absolute")
    assert identity_options(old) == recorded  # the identity such a record was hashed with
    typed = {"complement": "forward", "principal": "absolute"}  # --option complement=forward ...
    explicit = identity_options(options_from_strings(HiPLoRAOptions, typed))
    named = identity_named(HiPLoRAOptions, typed, "hiplora")  # as hipbench.runner.run_hash reads them
    assert named == {} and RunConfig(**{**vars(cfg), "method_options": typed}).hash(explicit, named) == cfg.hash(recorded)
    new = identity_options(HiPLoRAOptions())
    assert (new["complement"], new["principal"]) == ("step", "relative")
    assert cfg.hash(new) != cfg.hash(recorded)
    # a record made with complement=step named it: it keeps its hash, and ran an absolute phi
    stepped = options_as_recorded(HiPLoRAOptions, {**recorded, "complement": "step"})
    assert stepped.principal == "absolute" and identity_options(stepped) == {**recorded, "complement": "step"}


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Three tiny continual runs: HiP-LoRA with a small budget, with none, and LoRA."""
    out = tmp_path_factory.mktemp("runs")
    for method, options in (("hiplora", ["--option", "budget=0.05", "--option", "k=4"]),
                            ("hiplora", ["--option", "budget=inf", "--option", "k=4"]), ("lora", [])):
        result = invoke("run", "--method", method, *SMOKE, *options, "--out", str(out))
        assert result.exit_code == 0, result.output
    return out


def metrics_by_budget(runs: Path) -> dict[str, dict]:
    found = {}
    for path in runs.glob("continual/tiny-llama/*/*/metrics.json"):
        config = json.loads((path.parent / "config.json").read_text())["config"]
        found[config["method_options"].get("budget", config["method"])] = json.loads(path.read_text())
    return found


def test_the_record_keeps_budget_usage_and_projection_share_per_task(runs):
    found = metrics_by_budget(runs)
    bounded, unbounded, lora = found["0.05"], found["inf"], found["lora"]
    tasks = [entry["method_statistics"] for entry in bounded["train"]]
    assert len(tasks) == len(bounded["tasks"]) > 1
    assert all(task["budget_usage"] <= 1 + 1e-6 for task in tasks)
    assert bounded["projection_active"] > 0 and bounded["budget_usage"] <= 1 + 1e-6
    assert bounded["projection_active"] == pytest.approx(sum(t["projection_active"] for t in tasks) / len(tasks))
    assert unbounded["projection_active"] == 0 and "budget_usage" not in unbounded
    assert "projection_active" not in lora and all("method_statistics" not in e for e in lora["train"])


def test_the_leaderboard_shows_the_budget_columns_where_records_have_them(runs, tmp_path):
    result = invoke("leaderboard", str(runs), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    table = (tmp_path / "continual__tiny-llama.md").read_text()
    lines = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    header = [cell.strip() for cell in lines["Method"].split("|")]
    usage, active = header.index("Budget usage"), header.index("Projection active")
    bounded = lines["hiplora [budget=0.05,k=4]"].split("|")
    assert float(bounded[usage].strip()) <= 1 + 1e-6 and float(bounded[active].strip()) > 0
    assert lines["hiplora [budget=inf,k=4]"].split("|")[usage].strip() == "n/a"
    assert lines["lora"].split("|")[active].strip() == "n/a"
    assert "Budget usage = HiP-LoRA's" in table


@pytest.mark.parametrize("suite, extra, unit", [
    ("edit", ["--edit-mode", "sequential", "--num-edits", "2",  # a data file: no filter on what the model knows
              "--data", str(ROOT / "tests" / "fixtures" / "edit" / "zsre.json")], "train"),
    ("merge", ["--merge-instances", "1"], "adapters"),
])
def test_edit_and_merge_records_keep_the_budget_of_every_trained_unit(tmp_path, suite, extra, unit):
    """Each edit and each single-task adapter is a trained unit whose budget is recorded, and the
    metrics hold the mean over units, as the continual protocol's tasks."""
    smoke = [suite if arg == "continual" else arg for arg in SMOKE]
    result = invoke("run", "--method", "hiplora", *smoke, *extra, "--option", "budget=0.05", "--option", "k=4",
                    "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    metrics = json.loads(next(tmp_path.rglob("metrics.json")).read_text())
    units = [entry["method_statistics"] for entry in metrics[unit]]
    assert len(units) >= 2 and all(u["budget_usage"] <= 1 + 1e-6 for u in units)
    assert metrics["budget_usage"] == pytest.approx(sum(u["budget_usage"] for u in units) / len(units))
    assert metrics["projection_active"] == pytest.approx(sum(u["projection_active"] for u in units) / len(units))


def test_published_tables_show_budget_usage_exactly_where_records_measured_it():
    """A table gets the budget columns only where some record measured them; in the republished
    `continual` table HiP-LoRA's row holds within its budget (usage ≤ 1) and the projection is active,
    every other method's row is n/a."""
    for table in (ROOT / "leaderboards").rglob("*.json"):
        data = json.loads(table.read_text())
        if not isinstance(data, dict) or "rows" not in data or "header" not in data:
            continue
        measured = any(row.get("budget_usage", {}).get("n") for row in data["rows"])
        assert measured == ("Budget usage" in table.with_suffix(".md").read_text()), table
    rows = json.loads((ROOT / "leaderboards" / "continual__smollm2-135m.json").read_text())["rows"]
    for row in rows:
        usage, active = row.get("budget_usage", {}), row.get("projection_active", {})
        if row["method"].startswith("hiplora"):
            assert usage["n"] == 5 and 0.5 < usage["mean"] <= 1.0 and active["mean"] > 0.1, row["method"]
        else:
            assert not usage.get("n") and not active.get("n"), row["method"]


def test_the_ablation_sweep_names_every_budget_and_k_and_the_frozen_row():
    groups = read_sweep_file(ROOT / "leaderboards" / "sweeps" / "hiplora-ablation.yaml")
    configs = [cfg for group in groups for cfg in group.configs("cuda")]
    assert {cfg.suite for cfg in configs} == {"continual"}
    assert {(cfg.budget_rule, cfg.data_split) for cfg in configs} == {("fill", "holdout-test")}
    rows: dict[tuple, set[int]] = {}
    for cfg in configs:
        key = (cfg.method, tuple(sorted(cfg.method_options.items())))
        rows.setdefault(key, set()).add(cfg.seed)
    grid = {("hiplora", (("budget", b), ("k", k))) for b in ("0.2", "0.5", "1.0", "inf") for k in ("16", "32", "64")}
    frozen = ("hiplora", (("principal", "frozen"),))
    assert set(rows) == grid | {frozen, ("lora", ())}
    assert all(seeds == {42, 100, 2024, 7, 1234} for seeds in rows.values())
    hashes = {cfg.hash(identity_options(options_from_strings(HiPLoRAOptions, cfg.method_options)))
              for cfg in configs if cfg.method == "hiplora"}
    assert len(hashes) == 13 * 5  # every row a run of its own, each seed too
    tuned = json.loads((ROOT / "leaderboards" / "tuning" / "continual" / "tuned.json").read_text())
    assert all(cfg.train.lr == tuned[cfg.method]["run"]["lr"] and cfg.tuning["keys"] == ["lr"] for cfg in configs)


def test_rows_that_ran_different_defaults_under_one_label_are_told_apart():
    """`hiplora` typed with no options is the published forward/absolute run in an old record and
    the step/relative run in a new one: two rows, the old one named by the defaults it ran
    (`hipbench.method.untyped_differences`); one row where the records agree."""
    from hipbench.leaderboard import by_method

    def record(seed: int, resolved: dict, typed: dict | None = None) -> dict:
        return {"dir": Path(f"r{seed}"), "config": {"config": {"method": "hiplora", "method_options": typed or {},
                                                               "train": {}, "seed": seed},
                                                    "method_options_resolved": resolved}}

    old = {"alpha": 16.0, "budget": 0.5, "budget_mode": "projection", "k": 32, "penalty_strength": 1.0}
    new = {**old, "complement": "step", "principal": "relative"}
    rows = by_method([record(1, old), record(2, {**old, "complement": "forward"}), record(3, new)])
    assert {label: [r["config"]["config"]["seed"] for r in group] for label, group in rows.items()} == {
        "hiplora [complement=forward,principal=absolute]": [1, 2], "hiplora": [3]}
    assert list(by_method([record(1, old), record(2, {**old, "complement": "forward"})])) == [
        "hiplora [complement=forward,principal=absolute]"]