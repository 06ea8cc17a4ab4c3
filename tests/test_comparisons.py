"""Paired differences to lora under every table: pairing by seed, per-example outcomes recovered
from the records, and the caption that says which CIs exclude zero."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from hipbench import comparisons
from hipbench.leaderboard import by_method, collect
from hipbench.mergefail import bootstrap_ci
from hipbench.paired import BOOTSTRAP_SEED, EXCLUDES, INCLUDES, UNDETERMINED
from hipbench.protocols import protocol_module

PUBLISHED = Path(__file__).resolve().parents[1] / "leaderboards" / "runs"
T_975_2 = 4.302652729749464  # t(0.975, 2), from tables


def _record(tmp_path: Path, method: str, seed: int, aa: float, facts_after: list[int] | None = None) -> dict:
    """A continual record with AA and, when `facts_after` is given, the probe rows behind fact retention."""
    directory = tmp_path / method / f"seed-{seed}"
    directory.mkdir(parents=True)
    metrics = {"aa": aa, "tasks": ["t1"], "bwt": math.nan}
    if facts_after is not None:
        base = [1] * len(facts_after)
        rows = [{"after_task": 0, "task": "general", "metric": "fact_correct", "values": base},
                {"after_task": 1, "task": "general", "metric": "fact_correct", "values": facts_after}]
        (directory / "measurements.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        metrics["fact_retention"] = sum(facts_after) / len(facts_after)
    return {"dir": directory, "config": {"config": {"method": method, "seed": seed, "method_options": {}}},
            "metrics": metrics}


def _by_key(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(row["method"], row["metric"]): row for row in rows}


def test_methods_are_paired_with_lora_by_seed(tmp_path):
    records = [_record(tmp_path, "lora", seed, aa) for seed, aa in ((2, 0.50), (1, 0.40), (3, 0.60), (9, 0.1))]
    records += [_record(tmp_path, "olora", seed, aa) for seed, aa in ((1, 0.50), (2, 0.70), (3, 0.80), (7, 0.9))]
    rows = _by_key(comparisons.compare(by_method(records), "continual"))
    olora = rows[("olora", "aa")]
    # per-seed differences 0.1, 0.2, 0.2 (seeds 1, 2, 3; 7 and 9 are unpaired): mean 1/6, sd 1/sqrt(300)
    half = T_975_2 * math.sqrt(1 / 300) / math.sqrt(3)
    assert olora["seeds"]["seeds"] == [1, 2, 3] and olora["seeds"]["n"] == 3
    assert olora["diff"] == pytest.approx(1 / 6)
    assert (olora["seeds"]["lo"], olora["seeds"]["hi"]) == (pytest.approx(1 / 6 - half), pytest.approx(1 / 6 + half))
    assert olora["examples"] is None and olora["verdict"] == EXCLUDES  # AA has no per-example outcomes
    assert ("olora", "bwt") not in rows  # no values: not compared
    assert ("lora", "aa") not in rows


def test_a_bootstrap_over_probe_facts_joins_the_t_interval_where_the_records_have_facts(tmp_path):
    lora = [[1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0], [1, 0, 1, 1, 0, 0]]
    ours = [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]  # +1/6, +1/3, +1/2 per seed
    records = [_record(tmp_path, "lora", seed, 0.5, facts) for seed, facts in enumerate(lora)]
    records += [_record(tmp_path, "hiplora", seed, 0.5, facts) for seed, facts in enumerate(ours)]
    row = _by_key(comparisons.compare(by_method(records), "continual"))[("hiplora", "fact_retention")]
    assert row["diff"] == pytest.approx(1 / 3) and row["examples"]["diff"] == pytest.approx(1 / 3)
    assert row["examples"]["n"] == 6 and row["examples"]["unit"] == "probe facts"
    per_fact = [0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1 / 3]  # each fact's difference averaged over the three seeds
    assert (row["examples"]["lo"], row["examples"]["hi"]) == bootstrap_ci(per_fact, BOOTSTRAP_SEED)
    assert row["verdict"] == (EXCLUDES if row["seeds"]["lo"] > 0 and row["examples"]["lo"] > 0 else INCLUDES)


def test_caption_names_every_comparison_once_with_its_interval(tmp_path):
    records = [_record(tmp_path, "lora", seed, 0.5 + seed / 100) for seed in (1, 2, 3)]
    records += [_record(tmp_path, "olora", seed, 0.7 + seed / 100 + (seed == 2) / 50) for seed in (1, 2, 3)]
    records += [_record(tmp_path, "pissa", seed, 0.5 + seed / 100 + (seed - 2) / 10) for seed in (1, 2, 3)]
    records += [_record(tmp_path, "sclora", 1, 0.9)]
    groups = by_method(records)
    rows = comparisons.compare(groups, "continual")
    assert [(r["method"], r["verdict"]) for r in rows] == [("olora", EXCLUDES), ("pissa", INCLUDES),
                                                            ("sclora", UNDETERMINED)]
    text = comparisons.caption(rows, sorted(groups), "continual")
    olora = rows[0]
    expected = (f"CI excludes zero: olora: AA {comparisons.signed(olora['diff'])} (t-CI "
                f"[{comparisons.signed(olora['seeds']['lo'])}, {comparisons.signed(olora['seeds']['hi'])}]).")
    assert expected in text
    assert "CI includes zero (not distinguishable from lora): pissa: every metric." in text
    assert "Undetermined: sclora: AA (1 paired seed; a t-interval needs 2)." in text
    assert "Not compared (no values in these records): BWT, FWT, Forgetting, Fact retention, NLL Δ." in text
    assert "t(0.975, 2) = 4.30" in text and "The 3 intervals are not adjusted" in text
    table = comparisons.render_markdown(rows, sorted(groups), "continual")
    assert re.search(r"\| AA +\| olora +\| \+0\.207 +\|", table)  # signs kept: cells are not parsed as numbers


def test_a_metric_no_run_has_is_not_applicable_rather_than_not_compared(tmp_path):
    """MergeFail t=5 on a 4-task suite is n/a in the table; the caption must not call it uncompared,
    while a metric some run has but no pair shares still is."""
    records = [_record(tmp_path, "lora", seed, 0.5 + seed / 100) for seed in (1, 2, 3)]
    records += [_record(tmp_path, "olora", seed, 0.6 + seed / 100) for seed in (1, 2, 3)]
    records[3]["metrics"]["bwt"] = -0.1  # one olora run has BWT, no lora run does
    groups = by_method(records)
    rows = comparisons.compare(groups, "continual")
    table_rows = [{"method": "lora", "aa": {"mean": 0.52, "n": 3}, "bwt": {"mean": math.nan, "n": 0}},
                  {"method": "olora", "aa": {"mean": 0.62, "n": 3}, "bwt": {"mean": -0.1, "n": 1},
                   "fwt": {"mean": math.nan, "n": 0}}]  # cells as leaderboard.method_rows writes them
    measured = comparisons.measured_metrics(table_rows)
    assert {"aa", "bwt"} <= measured and "fwt" not in measured
    text = comparisons.caption(rows, sorted(groups), "continual", measured=measured)
    assert "Not compared (no values in these records): BWT." in text
    everything = comparisons.caption(rows, sorted(groups), "continual")
    assert "Not compared (no values in these records): BWT, FWT, Forgetting, Fact retention, NLL Δ." in everything


def test_without_lora_or_with_lora_alone_there_is_nothing_to_compare(tmp_path):
    records = [_record(tmp_path, "olora", 1, 0.5)]
    assert comparisons.compare(by_method(records), "continual") == []
    assert comparisons.caption([], ["olora"], "continual").startswith("No lora runs in this table")
    assert comparisons.caption([], ["lora"], "continual") == "Only lora in this table: no paired differences."


@pytest.mark.skipif(not PUBLISHED.is_dir(), reason="no published run records")
@pytest.mark.parametrize("protocol", ["continual", "edit", "merge"])
def test_per_example_scores_average_to_the_recorded_metrics(protocol):
    """The examples resampled by the bootstrap are the ones the metric averages: their mean is the
    metric in metrics.json, for every published record and every metric with examples."""
    from hipbench.records import read_measurements

    records, _ = collect(PUBLISHED / protocol)
    assert records
    checked = set()
    for record in records:
        rows = read_measurements(record["dir"] / "measurements.jsonl", strict=True)
        scores = protocol_module(protocol).example_scores(record["metrics"], rows)
        for key, (_, per_example) in scores.items():
            assert sum(per_example.values()) / len(per_example) == pytest.approx(record["metrics"][key], abs=1e-12), key
            checked.add(key)
    assert checked == {"continual": {"fact_retention"},
                       "edit": {"reliability", "efficacy", "generalization", "generalization_efficacy", "locality",
                                "portability", "reliability_drop", "fact_retention",
                                # generation-based scores: the tuning trials' records (newer) carry them
                                "reliability_gen", "generalization_gen", "portability_gen"},
                       "merge": {"mergefail_t2", "mergefail_t3", "mergefail_t4"}}[protocol]


def test_signed_prints_small_differences_in_scientific_and_float_rounding_as_zero() -> None:
    assert comparisons.signed(0.004) == "+4.00e-03"
    assert comparisons.signed(-0.25) == "-0.250"
    cancelled = (2 / 3 - 1 / 2 - 1 / 6) / 3  # shares that cancel exactly, up to float rounding
    assert cancelled != 0
    assert comparisons.signed(cancelled) == "+0.000"
    assert comparisons.signed(float("nan")) == "n/a"
