"""MergeFail, retention, instance drawing and bootstrap CIs on hand-made numbers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hipbench.mergefail import (bootstrap_ci, draw_instances, instance_failed, mergefail, paired_difference,
                                retention, summarize_size)
from hipbench.plots import plot_mergefail
from hipbench.protocols.merge import pooled_mergefail, write_extras, write_plots


def test_all_distinct_subsets_are_used_once_when_fewer_exist_than_asked():
    rng = np.random.default_rng(0)
    assert draw_instances(4, 2, 20, rng) == ([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)], 6)
    assert draw_instances(4, 3, 20, rng) == ([(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)], 4)
    assert draw_instances(4, 4, 20, rng) == ([(0, 1, 2, 3)], 1)


def test_drawn_instances_are_distinct_sorted_and_fixed_by_the_seed():
    first, available = draw_instances(8, 3, 20, np.random.default_rng([42, 3]))
    again, _ = draw_instances(8, 3, 20, np.random.default_rng([42, 3]))
    other, _ = draw_instances(8, 3, 20, np.random.default_rng([100, 3]))
    assert available == 56 and len(first) == 20 and len(set(first)) == 20
    assert all(len(s) == 3 and list(s) == sorted(set(s)) and max(s) < 8 for s in first)
    assert first == again and first != other


@pytest.mark.parametrize("n", [0, -3])
def test_fewer_than_one_instance_is_refused_naming_the_option(n):
    with pytest.raises(ValueError, match="--merge-instances must be at least 1"):
        draw_instances(4, 2, n, np.random.default_rng(0))


def test_an_instance_fails_when_any_task_drops_below_tau_times_its_single_accuracy():
    assert instance_failed([0.95, 0.40], [1.0, 0.5])  # 0.40 < 0.9 * 0.5
    assert not instance_failed([0.90, 0.45], [1.0, 0.5])  # exactly at the threshold is retained
    assert not instance_failed([0.0, 0.9], [0.0, 0.9])  # nothing to lose on a task scored 0 alone
    assert instance_failed([0.79, 0.8], [1.0, 0.8], tau=0.8)
    with pytest.raises(ValueError, match="one merged and one single accuracy per task"):
        instance_failed([0.5], [0.5, 0.5])


def test_retention_is_merged_over_single_and_undefined_for_a_zero_single():
    assert retention(0.45, 0.5) == pytest.approx(0.9)
    assert retention(0.6, 0.5) == pytest.approx(1.2)
    assert math.isnan(retention(0.3, 0.0))


def test_summarize_size_on_hand_made_accuracies():
    single = {"a": 1.0, "b": 0.5, "c": 0.8}
    instances = [["a", "b"], ["a", "c"], ["b", "c"]]
    merged = [[0.95, 0.40], [0.80, 0.80], [0.50, 0.75]]
    out = summarize_size(instances, merged, single, seed=0)
    assert out["failed"] == [True, True, False]  # b 0.40 < 0.45; a 0.80 < 0.90; c 0.75 >= 0.72
    assert out["mergefail"] == pytest.approx(2 / 3)
    assert out["pair_failure"] == pytest.approx(2 / 6)  # b in the first instance, a in the second
    assert out["retention"] == [pytest.approx([0.95, 0.8]), pytest.approx([0.8, 1.0]), pytest.approx([1.0, 0.9375])]
    assert out["mean_retention"] == pytest.approx((0.95 + 0.8 + 0.8 + 1.0 + 1.0 + 0.9375) / 6)
    assert out["retention_by_task"] == {"a": pytest.approx(0.875), "b": pytest.approx(0.9), "c": pytest.approx(0.96875)}
    assert out["lo"] <= out["mergefail"] <= out["hi"]


def test_bootstrap_is_deterministic_contains_the_estimate_and_shrinks_with_more_instances():
    values = [1, 0, 0, 1, 0, 1, 1, 0]
    small = bootstrap_ci(values, seed=7)
    assert small == bootstrap_ci(values, seed=7)
    spread = [0.1, 0.7, 0.3, 0.9, 0.2]  # continuous values: another seed moves the percentiles
    assert bootstrap_ci(spread, seed=7, samples=500) != bootstrap_ci(spread, seed=8, samples=500)
    assert small[0] < mergefail(values) < small[1]
    large = bootstrap_ci(values * 10, seed=7)
    assert large[0] < 0.5 < large[1]
    assert large[1] - large[0] < 0.6 * (small[1] - small[0])  # width ~ 1/sqrt(n): 10x more -> ~0.32x


def test_bootstrap_of_identical_values_or_one_instance_has_no_spread():
    assert bootstrap_ci([1, 1, 1], seed=0) == (1.0, 1.0)
    assert bootstrap_ci([0], seed=0) == (0.0, 0.0)
    assert all(math.isnan(v) for v in bootstrap_ci([], seed=0))


def test_paired_difference_resamples_instances_jointly():
    a = [1, 1, 0, 0, 1, 0, 1, 1, 0, 1]
    same = paired_difference(a, a, seed=0)
    assert same == {"diff": 0.0, "lo": 0.0, "hi": 0.0, "n": 10}  # unpaired resampling would spread
    b = [0, 1, 0, 0, 0, 0, 1, 1, 0, 1]  # A fails two instances more than B
    diff = paired_difference(a, b, seed=0)
    assert diff["diff"] == pytest.approx(0.2)
    assert 0.0 <= diff["lo"] < 0.2 < diff["hi"] <= 0.5
    with pytest.raises(ValueError, match="same instances"):
        paired_difference(a, b[:-1], seed=0)


def _record(method: str, seed: int, failed_t2: list[bool], failed_t3: list[bool]) -> dict:
    sizes = {"2": {"instances": [["x", "y"], ["x", "z"], ["y", "z"]], "failed": failed_t2},
             "3": {"instances": [["x", "y", "z"]], "failed": failed_t3}}
    return {"config": {"config": {"method": method, "seed": seed, "method_options": {}}},
            "metrics": {"sizes": sizes, "merge_rule": "sum"}}


def test_pooled_mergefail_pools_seeds_and_pairs_each_method_with_lora():
    records = [_record("lora", 1, [True, True, False], [True]), _record("lora", 2, [True, False, False], [True]),
               _record("hiplora", 1, [False, True, False], [False]),
               _record("hiplora", 2, [False, False, False], [True])]
    rows = {(r["method"], r["t"]): r for r in pooled_mergefail(records)}
    assert rows[("lora", 2)]["mergefail"] == pytest.approx(3 / 6) and rows[("lora", 2)]["n"] == 6
    assert "diff" not in rows[("lora", 2)]
    hip = rows[("hiplora", 2)]
    assert hip["mergefail"] == pytest.approx(1 / 6) and hip["seeds"] == 2
    assert hip["diff"] == pytest.approx(1 / 6 - 3 / 6) and hip["diff_n"] == 6
    assert hip["diff_lo"] <= hip["diff"] <= hip["diff_hi"] <= 0.0  # hiplora never fails where lora holds
    assert rows[("hiplora", 3)]["diff"] == pytest.approx(-0.5)


def test_extras_land_beside_a_table_whose_model_file_name_has_dots(tmp_path):
    records = [_record("lora", 1, [True, False, False], [True]), _record("hiplora", 1, [False, False, True], [True])]
    for record in records:
        record["config"]["config"].update(suite="merge", model="/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    stem = tmp_path / "merge__SmolLM2-135M-Instruct.Q4_1.gguf__merge_rule-sum"
    table, data = tmp_path / f"{stem.name}.md", tmp_path / f"{stem.name}.json"
    table.write_text("# table\n")
    data.write_text('{"rows": []}\n')
    write_extras(records, stem)
    assert "MergeFail pooled over seeds" in table.read_text()
    assert "mergefail_pooled" in json.loads(data.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([table.name, data.name])  # no figure without --plots
    header = {"suite": "merge", "model": records[0]["config"]["config"]["model"]}
    rows = [{"method": method, "mean_retention": {"mean": retention, "std": 0.0, "n": 1},
             "mergefail_t2": {"mean": 1 - retention, "std": 0.0, "n": 1}} for method, retention in (("lora", 0.5),
                                                                                                   ("hiplora", 0.7))]
    figures = [tmp_path / f"{stem.name}.png", tmp_path / f"{stem.name}__pareto.png"]
    assert write_plots(records, header, rows, stem) == figures
    assert all(figure.read_bytes()[:4] == b"\x89PNG" for figure in figures)


def test_plot_mergefail_writes_a_png(tmp_path):
    rows = [{"method": "lora", "t": 2, "mergefail": 0.5, "lo": 0.2, "hi": 0.8},
            {"method": "lora", "t": 3, "mergefail": 1.0, "lo": 1.0, "hi": 1.0},
            {"method": "hiplora", "t": 2, "mergefail": 0.1, "lo": math.nan, "hi": math.nan}]
    path = plot_mergefail(rows, tmp_path / "mf.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_mergefail([], tmp_path / "empty.png")
