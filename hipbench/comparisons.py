"""Every method of a leaderboard table against the baseline: paired differences, a caption, a table.

The statistics are `hipbench.paired`'s; this module pairs run records by seed, collects the
per-example outcomes a protocol can recover from its records (`example_scores` of the protocol
module, where it has one) and writes down, in words generated from the numbers, which
differences have a 95% CI that excludes zero and which do not. The metrics compared are the
protocol's `PAIRED_COLUMNS` (every leaderboard column when it names none), and the columns a
table's records add (`extra`: the lm-eval Δ columns, `hipbench.general_eval`).
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from hipbench.mergefail import BOOTSTRAP_SAMPLES, CONFIDENCE
from hipbench.paired import (BASELINE, EXCLUDES, INCLUDES, UNDETERMINED, example_bootstrap, paired_t_interval,
                             t_quantile, verdict)
from hipbench.protocols import protocol_module
from hipbench.records import read_measurements

SeedScores = dict[int, dict[str, float]]  # seed -> example -> score


def paired_columns(protocol: str) -> list[tuple[str, str]]:
    """(metrics key, column title) of the metrics compared with the baseline, in table order."""
    module = protocol_module(protocol)
    keys = getattr(module, "PAIRED_COLUMNS", None)
    return [(key, title) for key, title in module.LEADERBOARD_COLUMNS if keys is None or key in keys]


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def seed_values(group: list[dict], key: str) -> dict[int, float]:
    """seed -> the metric of that seed's run (the mean, should a seed have been run twice)."""
    by_seed: dict[int, list[float]] = defaultdict(list)
    for record in group:
        value = record["metrics"].get(key)
        if _finite(value):
            by_seed[record["config"]["config"]["seed"]].append(float(value))
    return {seed: float(np.mean(values)) for seed, values in sorted(by_seed.items())}


def seed_examples(group: list[dict], protocol: str) -> dict[str, tuple[str, SeedScores]]:
    """metric -> (unit name, seed -> example -> score) from the protocol's `example_scores` of each
    run's metrics and measurement rows; empty when the protocol recovers none."""
    scorer = getattr(protocol_module(protocol), "example_scores", None)
    if scorer is None:
        return {}
    collected: dict[str, tuple[str, dict[int, dict[str, list[float]]]]] = {}
    for record in group:
        rows = read_measurements(Path(record["dir"]) / "measurements.jsonl", strict=True)
        if not rows:
            continue
        seed = record["config"]["config"]["seed"]
        for key, (unit, scores) in scorer(record["metrics"], rows).items():
            per_seed = collected.setdefault(key, (unit, defaultdict(lambda: defaultdict(list))))[1]
            for example, score in scores.items():
                per_seed[seed][example].append(score)
    return {key: (unit, {seed: {example: float(np.mean(values)) for example, values in examples.items()}
                         for seed, examples in per_seed.items()})
            for key, (unit, per_seed) in collected.items()}


def compare(groups: dict[str, list[dict]], protocol: str, baseline: str = BASELINE,
            extra: list[tuple[str, str]] = ()) -> list[dict]:
    """One row per (metric, method other than the baseline) that both have values for: the mean
    per-seed difference, its t-interval over seeds, where possible a bootstrap interval over
    examples, and the verdict. `extra`: (key, title) compared after the protocol's own. Empty when
    the table has no baseline runs."""
    if baseline not in groups:
        return []
    examples = {label: seed_examples(group, protocol) for label, group in sorted(groups.items())}
    rows = []
    for key, title in [*paired_columns(protocol), *extra]:
        reference = seed_values(groups[baseline], key)
        for label in sorted(groups):
            if label == baseline:
                continue
            values = seed_values(groups[label], key)
            paired = sorted(values.keys() & reference.keys())
            if not paired:
                continue
            seeds = paired_t_interval([values[s] - reference[s] for s in paired])
            seeds["seeds"] = paired
            ours, theirs = examples[label].get(key), examples[baseline].get(key)
            by_example = None
            if ours is not None and theirs is not None:
                by_example = {**example_bootstrap(ours[1], theirs[1]), "unit": ours[0]}
            outcome, reason = verdict(seeds, by_example)
            rows.append({"metric": key, "title": title, "method": label, "baseline": baseline,
                         "diff": seeds["diff"], "seeds": seeds, "examples": by_example, "verdict": outcome,
                         "reason": reason})
    return rows


ROUNDING = 1e-12


def signed(value: float) -> str:
    """A difference with its sign: three decimals, or three significant digits below 0.01 so a
    small difference is never printed as +0.000. Below 1e-12 a difference is the float rounding of
    shares that cancel exactly (2/3 − 1/2 − 1/6), not a measurement, and prints as +0.000."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if abs(value) <= ROUNDING:
        return "+0.000"
    return f"{value:+.2e}" if abs(value) < 0.01 else f"{value:+.3f}"


def interval(cell: dict | None) -> str:
    if cell is None:
        return "—"
    if math.isnan(cell["lo"]):
        return "n/a"
    return f"[{signed(cell['lo'])}, {signed(cell['hi'])}]"


def comparison_frame(rows: list[dict]) -> pd.DataFrame:
    """The rows as a table (markdown and HTML render the same cells)."""
    percent = f"{CONFIDENCE:.0%}"
    return pd.DataFrame([{
        "Metric": row["title"], "Method": row["method"], f"Δ vs {row['baseline']}": signed(row["diff"]),
        f"{percent} CI, seeds (t)": interval(row["seeds"]), "Seeds": row["seeds"]["n"],
        f"{percent} CI, examples (bootstrap)": interval(row["examples"]),
        "Examples": f"{row['examples']['n']} {row['examples']['unit']}" if row["examples"] else "not recorded",
        "CI excludes 0": {EXCLUDES: "yes", INCLUDES: "no"}.get(row["verdict"], f"undetermined: {row['reason']}"),
    } for row in rows])


def _listing(rows: list[dict], detail, everything: int = 0) -> str:
    """`method: A, B; other: C`, methods sorted, metrics in column order; a method with all
    `everything` compared metrics in the list is named once with "every metric"."""
    by_method: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_method[row["method"]].append(detail(row))
    return "; ".join(f"{method}: every metric" if everything and len(items) == everything else
                     f"{method}: {', '.join(items)}" for method, items in sorted(by_method.items()))


def _undetermined(rows: list[dict]) -> str:
    """`method: A, B (reason); other: C (reason)`: metrics grouped by method, then by reason."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        groups[(row["method"], row["reason"])].append(row["title"])
    return "; ".join(f"{method}: {', '.join(titles)} ({reason})" for (method, reason), titles in sorted(groups.items()))


def _with_interval(row: dict) -> str:
    text = f"{row['title']} {signed(row['diff'])} (t-CI {interval(row['seeds'])}"
    if row["examples"] is not None:
        text += f", bootstrap CI {interval(row['examples'])}"
    return text + ")"


def _method_note(rows: list[dict]) -> str:
    """How the intervals were computed, with the t quantiles and example units actually used."""
    percent = f"{CONFIDENCE:.0%}"
    quantiles = ", ".join(f"t({(1 + CONFIDENCE) / 2:g}, {n - 1}) = {t_quantile((1 + CONFIDENCE) / 2, n - 1):.2f}"
                          for n in sorted({row["seeds"]["n"] for row in rows if row["seeds"]["n"] > 1}))
    text = (f"{percent} CIs: a paired t-interval over the per-seed differences (Student t, n − 1 degrees of freedom"
            + (f"; {quantiles}" if quantiles else "") + "). It measures seed-to-seed variation only: every seed "
            "scores the same test examples.")
    bootstrapped = [row for row in rows if row["examples"] is not None]
    if bootstrapped:
        units: dict[str, list[str]] = defaultdict(list)
        for row in bootstrapped:
            if row["title"] not in units[row["examples"]["unit"]]:
                units[row["examples"]["unit"]].append(row["title"])
        where = "; ".join(f"{', '.join(titles)}: over {unit}" for unit, titles in sorted(units.items()))
        text += (f" Where per-example outcomes are recorded ({where}), also a paired percentile bootstrap over "
                 f"examples ({BOOTSTRAP_SAMPLES} resamples; each example's difference averaged over seeds), and a "
                 "difference counts as excluding zero only when both intervals do.")
    return text


def measured_metrics(table_rows: list[dict]) -> set[str]:
    """Metric keys that at least one row of a leaderboard table has a value for."""
    return {key for row in table_rows for key, cell in row.items() if isinstance(cell, dict) and cell.get("n")}


def caption(rows: list[dict], methods: list[str], protocol: str, baseline: str = BASELINE,
            measured: set[str] | None = None) -> str:
    """The sentences under a table: which differences to the baseline have a CI that excludes
    zero (with the difference and CI), which do not, which cannot be judged, and how to read
    that many intervals. A metric no run of the table has (`measured`: MergeFail at t = 5 on a
    4-task suite, portability without portability prompts) is n/a in the table and not listed
    as "not compared"."""
    if baseline not in methods:
        return f"No {baseline} runs in this table, so no paired differences to {baseline} are computed."
    if len(methods) < 2:
        return f"Only {baseline} in this table: no paired differences."
    lead = (f"**Differences to {baseline}** (method − {baseline}, runs paired by seed: same data order and test "
            "examples). ")
    excluded = [row for row in rows if row["verdict"] == EXCLUDES]
    included = [row for row in rows if row["verdict"] == INCLUDES]
    undetermined = [row for row in rows if row["verdict"] == UNDETERMINED]
    parts = [f"CI excludes zero: {_listing(excluded, _with_interval)}." if excluded
             else f"No difference to {baseline} has a CI that excludes zero."]
    compared = {row["metric"] for row in rows}
    if included:
        parts.append(f"CI includes zero (not distinguishable from {baseline}): "
                     f"{_listing(included, lambda row: row['title'], everything=len(compared))}.")
    if undetermined:
        parts.append(f"Undetermined: {_undetermined(undetermined)}.")
    missing = [title for key, title in paired_columns(protocol)
               if key not in compared and (measured is None or key in measured)]
    if missing:
        parts.append(f"Not compared (no values in these records): {', '.join(missing)}.")
    if rows:
        parts.append(_method_note(rows))
        parts.append(f"The {len(rows)} intervals are not adjusted for multiple comparisons: with no real "
                     f"differences, about {len(rows) * (1 - CONFIDENCE):.1f} of them would exclude zero by chance.")
    return lead + " ".join(parts)


def render_markdown(rows: list[dict], methods: list[str], protocol: str, baseline: str = BASELINE,
                    measured: set[str] | None = None) -> str:
    """The caption, then the differences as a table (nothing but the caption when there are none)."""
    text = caption(rows, methods, protocol, baseline, measured)
    if not rows:
        return text + "\n"
    return (f"{text}\n\n### Paired differences to {baseline}\n\n"
            f"{comparison_frame(rows).to_markdown(index=False, disable_numparse=True)}\n")
