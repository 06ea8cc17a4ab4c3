"""Run records -> comparable tables (markdown, CSV, JSON).

Tables are computed from `metrics.json`/`config.json` of complete records only, never typed by
hand. Runs that differ in anything but method and seed (model, suite, steps, limit, schedule,
budget, targets) are refused in one table, because their numbers are not comparable. Runs with
different protocol options (edit mode and count, merge rule) go to separate files. Columns come
from the protocol that produced the records (`LEADERBOARD_COLUMNS` of its module); under each
table, every method's paired difference to lora (`hipbench.comparisons`); beside the tables, a
README.md that indexes them (`hipbench.readme`).

Knowledge editors (ROME, MEMIT, ...; `hipbench.editor`) sit in the same tables as adapter methods.
They have no budget: their row's "Trainable params" cell is the number of weight entries their
edits changed (plus GRACE's codebook entries), marked "changed", and "Rank" the largest rank of a
changed weight's ΔW, marked "(ΔW)"; the header's budget, steps and tasks are the adapter runs'
(an editors-only table says it has no budget), and a sentence under the note says so. Columns a
protocol added after records were published (`OPTIONAL_COLUMNS`) appear only in tables where a
record has them, so tables of older records are rebuilt byte for byte; the cost columns of every
protocol (`hipbench.costs`: time per step, tokens/s, set-up seconds, peak memory, adapter size,
frozen parameters) are optional in this sense, and a record without them shows n/a. The
lm-evaluation-harness columns (`--general-eval`, `hipbench.general_eval`) are named by the records
themselves (one value and one Δ column per task scored) and appear only in tables whose records
carry them; the general-eval settings must agree inside a table, as the other settings must.

"Budget used" is trainable / budget of each run (`hipbench.budget.budget_used`), computed from the
record's own `trainable_params` and `budget`, which every record has, so older records show their
real share too; the header names the budget rule the runs followed ("uniform" where the config
predates the field, as every such record ran it).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from hipbench import comparisons, general_eval, registry
from hipbench.budget import budget_used
from hipbench.costs import COST_COLUMNS, COST_OPTIONAL
from hipbench.method import untyped_differences
from hipbench.metrics import mean_std
from hipbench.protocols import protocol_module
from hipbench.records import COMPLETE, read_json

# Settings that must agree inside one table (everything of the config except method, seed, options).
COMPARED = ("model", "suite", "limit", "train", "budget", "target_modules", "data_dir", "budget_rule", "data_split",
            "general_eval")
# COMPARED fields added later, with the value a config without them ran
LATER_DEFAULTS = {"budget_rule": "uniform", "data_split": "all-train", "general_eval": {}}
# the one training setting a knowledge editor reads (the sequence cap); it trains no adapter, so the
# rest of `train` (lr, steps, batch size) is not its setting and does not keep it out of a table
EDITOR_TRAIN_KEYS = ("max_length",)


class LeaderboardError(ValueError):
    pass


def collect(runs_dir: Path) -> tuple[list[dict], list[Path]]:
    """Complete records under `runs_dir`, and the directories of incomplete ones."""
    complete, incomplete = [], []
    for config_path in sorted(Path(runs_dir).rglob("config.json")):
        directory = config_path.parent
        metrics_path = directory / "metrics.json"
        try:
            metrics = read_json(metrics_path) if metrics_path.is_file() else {}
            config = read_json(config_path)
        except json.JSONDecodeError as error:
            raise LeaderboardError(f"{directory}: unreadable record ({error})") from None
        if metrics.get("status") != COMPLETE:
            incomplete.append(directory)
            continue
        complete.append({"dir": directory, "config": config, "metrics": metrics})
    return complete, incomplete


def protocol_of(record: dict) -> str:
    return record["config"].get("protocol", "continual")


def options_slug(options: dict) -> str:
    """`edit_mode=sequential, num_edits=10` -> `edit_mode-sequential_num_edits-10` (file names)."""
    return "_".join(f"{k}-{v}" for k, v in sorted(options.items())).replace("/", "-")


def _group(records: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for record in records:
        cfg = record["config"]["config"]
        groups[(cfg["suite"], cfg["model"], options_slug(cfg.get("protocol_options", {})))].append(record)
    return groups


EDITORS_NOTE = ("Knowledge editors change weights directly and have no trainable-parameter budget: their "
                "Trainable params cell counts the weight entries their edits changed (plus added entries such as "
                "GRACE's codebook) and their Rank cell the largest rank of a changed weight's ΔW; they follow their "
                "own procedure (steps, lr), stated in their docstrings.")
EQUALS_NOTE = ("A row marked \"= {name} (no earlier adapter)\" is a method that had no earlier adapter in any "
               "of its runs (a merge's single-task adapters, a single or batch edit, a one-task stream), where it "
               "is exactly {name}: its runs are {name}'s, so its cells say so instead of repeating {name}'s "
               "values, and it enters no paired difference or figure.")
NO_BUDGET = "none: knowledge editors only, which have no trainable-parameter budget"


def optional_columns(protocol: str) -> dict[str, str]:
    """Optional column key -> its sentence of the note: the protocol's own, then the cost columns
    every protocol has (`hipbench.costs`), which records made before costs were measured lack."""
    return {**getattr(protocol_module(protocol), "OPTIONAL_COLUMNS", {}), **COST_OPTIONAL}


def columns(protocol: str, rows: list[dict] | None = None) -> list[tuple[str, str]]:
    """The protocol's columns, then the lm-eval columns the rows (or records' metrics) name, then
    the cost columns; with a table's `rows`, without the optional columns none of them has."""
    protocol_columns = protocol_module(protocol).LEADERBOARD_COLUMNS
    if rows is None:
        return [*protocol_columns, *COST_COLUMNS]
    every = [*protocol_columns, *general_eval.columns(rows), *COST_COLUMNS]
    optional = optional_columns(protocol)
    return [(key, title) for key, title in every if key not in optional or any(key in row for row in rows)]


def columns_note(protocol: str, rows: list[dict] | None = None) -> str:
    """The protocol's note, then the sentences of the optional columns shown and, where the table
    has editors, what their size cells mean."""
    note = protocol_module(protocol).LEADERBOARD_NOTE
    optional = optional_columns(protocol)
    shown = {key for key, _ in columns(protocol, rows)} if rows is not None else set()
    extra = [optional[key] for key in optional if key in shown and optional[key]]
    if any(key.startswith(general_eval.KEY_PREFIX) for key in shown):
        extra.insert(0, general_eval.NOTE)
    if rows is not None and any(row.get("kind") for row in rows):
        extra.append(EDITORS_NOTE)
    for name in sorted({row["equals"] for row in rows or [] if "equals" in row}):
        extra.append(EQUALS_NOTE.format(name=name))
    return " ".join([note, *extra])


def budget_text(header: dict) -> str:
    """The header's budget, as every table page states it."""
    if header["budget"] is None:
        return NO_BUDGET
    rule = {"uniform": "one rank on every module", "fill": "rank r or r + 1 per module"}[header["budget_rule"]]
    return f"{header['budget']} trainable parameters per task; {header['budget_rule']} rule: {rule}"


def is_editor_record(record: dict) -> bool:
    return record["metrics"].get("method_kind") == "editor"


def check_comparable(records: list[dict]) -> None:
    reference = records[0]["config"]["config"]
    for record in records[1:]:
        cfg = record["config"]["config"]
        for key in COMPARED:
            mine, theirs = config_value(cfg, key), config_value(reference, key)
            if key == "train" and (is_editor_record(record) or is_editor_record(records[0])):
                mine, theirs = ({k: v.get(k) for k in EDITOR_TRAIN_KEYS} for v in (mine, theirs))
            if mine != theirs:
                raise LeaderboardError(
                    f"refusing to mix runs in one table: '{key}' is {json.dumps(theirs)} in "
                    f"{records[0]['dir']} but {json.dumps(mine)} in {record['dir']}")


def config_value(cfg: dict, key: str):
    """A run config's field, or the value a config from before the field existed ran. `train`
    leaves out the settings `hipbench tune` chose for the run (its `tuning` keys): a tuned learning
    rate is the method's own, as its options are, while a tuned and an untuned run still differ."""
    if key == "train" and cfg.get("tuning", {}).get("keys"):
        return {k: v for k, v in cfg["train"].items() if k not in cfg["tuning"]["keys"]} | {"tuned": True}
    return cfg[key] if key in cfg or key not in LATER_DEFAULTS else LATER_DEFAULTS[key]


def rank_order(rank: int | str) -> tuple[int, str]:
    """Ranks of a row in order: a uniform 8 and a filled "7–8" sort by their lowest rank."""
    return int(str(rank).split("–")[0]), str(rank)


def _fmt(mean: float, std: float, n: int) -> str:
    """Three decimals, or three significant digits for values below 0.01 (drift, energy), so a
    small quantity is never printed as 0.000."""
    if n == 0 or math.isnan(mean):
        return "n/a"
    number = (lambda v: f"{v:.2e}") if 0 < abs(mean) < 0.01 else (lambda v: f"{v:.3f}")
    return f"{number(mean)} ± {number(std)}" if n > 1 else number(mean)


def method_label(cfg: dict, resolved: dict | None = None) -> str:
    """`method [k=v,...]`: the row a run belongs to (method options make a separate row); runs with
    settings from `hipbench tune` (`--tuned`) are marked `(tuned)`. With the record's `resolved`
    options, an option the run did not name but ran at other than today's default (a default changed
    since: LaLoRA's `refresh`) is shown too (`hipbench.method.untyped_differences`)."""
    named = dict(cfg["method_options"])
    if resolved is not None:
        try:
            options_cls = registry.method_class(cfg["method"]).Options
        except registry.UnknownNameError:  # a plugin not installed here: its record's named options only
            options_cls = None
        if options_cls is not None:
            named.update(untyped_differences(options_cls, named, resolved))
    options = ",".join(f"{k}={v}" for k, v in sorted(named.items()))
    tuned = [f"{k}={cfg['train'][k]:g}" for k in cfg.get("tuning", {}).get("keys", []) if k in cfg["train"]]
    return (cfg["method"] + (f" [{options}]" if options else "")
            + (f" (tuned{': ' + ', '.join(tuned) if tuned else ''})" if cfg.get("tuning") else ""))


def record_label(record: dict) -> str:
    """The row of a run record (`method_label` with the options it resolved)."""
    return method_label(record["config"]["config"], record["config"].get("method_options_resolved"))


def alone_equals(record: dict) -> str | None:
    """The method a record's run is exactly, where its method had no earlier adapter (`Method.
    alone_equals`, and the protocol's `trained_alone`, read from the record's metrics): O-LoRA in every
    merge run and single or batch edit is LoRA. None where the run is a result of its own."""
    resolved = record["config"].get("method_options_resolved")
    trained_alone = getattr(protocol_module(protocol_of(record)), "trained_alone", None)
    if resolved is None or trained_alone is None or not trained_alone(record["metrics"]):
        return None
    try:
        method = registry.method_class(record["config"]["config"]["method"])
    except registry.UnknownNameError:
        return None
    alone = getattr(method, "alone_equals", None)
    return alone(method.Options(**resolved)) if alone is not None else None


def equal_note(name: str) -> str:
    return f"= {name} (no earlier adapter)"


def baseline_label(records: list[dict]) -> str:
    """The row every other row is compared with: plain LoRA (`comparisons.BASELINE`, no method
    options), labelled as its records are, `lora (tuned: lr=...)` in a table of tuned runs. A table
    cannot hold a tuned and an untuned LoRA (`check_comparable`), so there is at most one."""
    labels = {record_label(r) for r in records
              if r["config"]["config"]["method"] == comparisons.BASELINE and not r["config"]["config"]["method_options"]}
    return labels.pop() if len(labels) == 1 else comparisons.BASELINE


def by_method(records: list[dict]) -> dict[str, list[dict]]:
    """Records by row label (`record_label`): a record that ran an option at other than today's
    default without naming it (HiP-LoRA's and LaLoRA's published records, made before issue 20
    changed their defaults) is labelled with it, so it never shares a row with a new default run."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        groups[record_label(record)].append(record)
    return groups


def method_rows(records: list[dict], protocol: str = "continual") -> list[dict]:
    """One row per (method, method options): mean, std and n over seeds for every metric."""
    rows = []
    shown = columns(protocol, [r["metrics"] for r in records])  # no optional column no record has (module docstring)
    for label, group in sorted(by_method(records).items()):
        group.sort(key=lambda r: r["config"]["config"]["seed"])
        same = {alone_equals(r) for r in group}
        metrics = [r["metrics"] for r in group]
        row = {"method": label, "seeds": [r["config"]["config"]["seed"] for r in group],
               "trainable_params": sorted({m["trainable_params"] for m in metrics}),
               "rank": sorted({m["rank"] for m in metrics}, key=rank_order),
               "budget_used": sorted({used for m in metrics if (used := budget_used(m)) is not None}),
               "hardware": sorted({r["config"]["environment"]["hardware"] for r in group}),
               "git_commit": sorted({r["config"]["environment"]["git_commit"] for r in group}),
               "runs": [str(r["dir"]) for r in group]}
        if any(is_editor_record(r) for r in group):
            row["kind"] = "editor"
        if len(same) == 1 and None not in same:  # not a result: another method's, shown as such
            row["equals"] = same.pop()
        for key, _ in shown:
            mean, std, n = mean_std([m.get(key, math.nan) for m in metrics] if "equals" not in row else [])
            row[key] = {"mean": mean, "std": std, "n": n}
        rows.append(row)
    return rows


def build_table(records: list[dict]) -> tuple[dict, list[dict]]:
    """Header facts shared by the table's runs, and its rows."""
    check_comparable(records)
    adapters = [r for r in records if not is_editor_record(r)]
    reference = (adapters or records)[0]  # the training settings and budget the header states are the adapters'
    cfg, first = reference["config"]["config"], reference["metrics"]
    protocol = protocol_of(records[0])
    header = {"suite": cfg["suite"], "model": cfg["model"], "tasks": first["tasks"],
              "budget": first["budget"] if adapters else None, "steps_per_task": cfg["train"]["steps"], "limit": cfg["limit"],
              "train": cfg["train"], "target_modules": cfg["target_modules"], "protocol": protocol,
              "budget_rule": config_value(cfg, "budget_rule")}
    tuned = sorted({key for r in records for key in r["config"]["config"].get("tuning", {}).get("keys", [])
                    if key in cfg["train"]})
    if tuned:
        header["tuned"] = tuned
    if cfg.get("protocol_options"):
        header["protocol_options"] = cfg["protocol_options"]
    if cfg.get("general_eval"):
        scored = [task for r in records for task in r["metrics"].get("general_eval", {}).values()]
        header["general_eval"] = {**cfg["general_eval"],
                                  "versions": sorted({task["version"] for task in scored if task.get("version")})}
    if first.get("steps_rule"):  # a protocol with its own step rule (editing: a cap and an early stop)
        header["steps_rule"] = first["steps_rule"]
    return header, method_rows(records, protocol)


def to_frame(rows: list[dict], numeric: bool, protocol: str = "continual") -> pd.DataFrame:
    table = []
    for row in rows:
        editor = row.get("kind") == "editor"
        line = {"Method": row["method"], "Seeds": len(row["seeds"]),
                "Trainable params": "/".join(map(str, row["trainable_params"])) + (" changed" if editor else ""),
                "Rank": "/".join(map(str, row["rank"])) + (" (ΔW)" if editor else ""),
                "Budget used": budget_cell(row["budget_used"], numeric)}
        for key, title in columns(protocol, rows):
            cell = row[key]
            if numeric:
                line[f"{title} mean"] = cell["mean"]
                line[f"{title} std"] = cell["std"]
            else:
                line[title] = (equal_note(row["equals"]) if "equals" in row
                               else _fmt(cell["mean"], cell["std"], cell["n"]))
        line["Hardware"] = "; ".join(row["hardware"])
        if not numeric:
            line["Runs"] = run_links(row)
        table.append(line)
    return pd.DataFrame(table)


def budget_cell(used: list[float], numeric: bool) -> float | str:
    """A row's trainable / budget: "99.93%" (several values across seeds joined by "/"), "n/a" for
    an editor; in the CSV the fraction itself (NaN for an editor)."""
    if not used:
        return math.nan if numeric else "n/a"
    if numeric:
        return used[0] if len(used) == 1 else "/".join(map(str, used))
    return "/".join(f"{u:.2%}" for u in used)


def run_links(row: dict) -> str:
    """`[42](runs/.../seed-42-...) [100](...)`: each seed's record, relative to the table file, so
    a reader can check every number against the run that produced it (the CSV keeps numbers only)."""
    return " ".join(f"[{seed}]({quote(path)})" for seed, path in zip(row["seeds"], row["runs"]))


def train_text(header: dict, key: str) -> str:
    """A training setting as the header states it; one the rows' runs took from their tuning
    differs by row and is named there (`method_label`), not taken from the first record."""
    return "tuned per method (Method column)" if key in header.get("tuned", ()) else str(header["train"][key])


def render_markdown(header: dict, rows: list[dict], paired_section: str = "") -> str:
    """The table file: header facts, the column note, the table, then `paired_section` (the caption
    and paired differences to the baseline, `hipbench.comparisons.render_markdown`)."""
    limit = header["limit"]
    scope = ("full splits" if limit is None
             else f"**smoke run: --limit {limit} examples per split — not a full result**")
    seeds = sorted({s for row in rows for s in row["seeds"]})
    options = header.get("protocol_options")
    lines = [
        f"# {header['suite']} on {header['model']}" + (f" ({options_slug(options)})" if options else ""),
        "",
        f"- Tasks, in order: {' → '.join(header['tasks'])}",
        (f"- Steps: {header['steps_rule']} (lr {train_text(header, 'lr')}); data: {scope}"
         if header.get("steps_rule") else
         f"- Steps per task: {header['steps_per_task']} (batch {train_text(header, 'batch_size')}, "
         f"lr {train_text(header, 'lr')}); data: {scope}"),
        f"- Budget: {budget_text(header)} "
        f"(targets: {', '.join(header['target_modules'])})",
        *([f"- General capability: {general_eval.header_text(header['general_eval'])}"]
          if header.get("general_eval") else []),
        f"- Seeds: {', '.join(map(str, seeds))}; cells are mean ± sample std over seeds",
        f"- Commits: {', '.join(sorted({c for row in rows for c in row['git_commit']}))}",
        "",
        columns_note(header["protocol"], rows),
        "",
        to_frame(rows, numeric=False, protocol=header["protocol"]).to_markdown(index=False),
        "",
    ]
    if paired_section:
        lines.append(paired_section)
    return "\n".join(lines)


def table_file(stem: Path, suffix: str) -> Path:
    """`<stem><suffix>`, a file beside a table. Not `with_suffix`: a stem holds the model's file
    name and a --data path, whose dots `with_suffix` would take for the table's extension."""
    return stem.with_name(stem.name + suffix)


def write_leaderboards(runs_dir: Path, out_dir: Path, suite: str | None = None,
                       plots: bool = False) -> tuple[list[Path], int]:
    """Write `<suite>__<model>.{md,csv,json}` per (suite, model), each with its paired differences
    to the baseline, and `README.md` indexing them; returns the files and #incomplete. With
    `plots`, also every protocol's figures and one HTML report (`index.html`) of all tables:
    figures and the page come with --plots or not at all, for every protocol alike."""
    records, incomplete = collect(runs_dir)
    if suite is not None:
        records = [r for r in records if r["config"]["config"]["suite"] == suite]
    from hipbench.tuning_table import is_trial, write_tuning_tables

    trials = [r for r in records if is_trial(r)]  # tuning trials get tuning tables, never result rows
    records = [r for r in records if not is_trial(r)]
    if not records and not trials:
        raise LeaderboardError(f"no complete run records under {runs_dir}"
                               + (f" for suite {suite}" if suite else ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    tuning = write_tuning_tables(trials, out_dir)
    written, tables = list(tuning), []
    if not records:
        return written, len(incomplete)
    for (suite_name, model, options), group in sorted(_group(records).items()):
        header, rows = build_table(group)
        module = protocol_module(header["protocol"])
        # rows that are another method's (`alone_equals`) are named as such and enter no comparison or figure
        results = [row for row in rows if "equals" not in row]
        shown = {row["method"] for row in results}
        result_records = [r for r in group if record_label(r) in shown]
        methods, measured = [row["method"] for row in results], comparisons.measured_metrics(results)
        baseline = baseline_label(result_records)
        paired = comparisons.compare(by_method(result_records), header["protocol"], baseline,
                                     extra=general_eval.paired_columns([r["metrics"] for r in result_records]))
        for row in rows:
            row["runs"] = [_relative(Path(p), out_dir) for p in row["runs"]]
        stem = out_dir / (f"{suite_name}__{Path(model).name}" + (f"__{options}" if options else ""))
        paths = {ext: table_file(stem, f".{ext}") for ext in ("md", "csv", "json")}
        paths["md"].write_text(render_markdown(header, rows, comparisons.render_markdown(
            paired, methods, header["protocol"], baseline, measured=measured)))
        to_frame(rows, numeric=True, protocol=header["protocol"]).to_csv(paths["csv"], index=False)
        paired_json = {"baseline": baseline, "rows": paired,
                       "caption": comparisons.caption(paired, methods, header["protocol"], baseline, measured=measured)}
        paths["json"].write_text(json.dumps({"header": header, "rows": rows, "paired": paired_json}, indent=2,
                                            sort_keys=True) + "\n")
        written.extend(paths.values())
        if hasattr(module, "write_extras"):  # merging: MergeFail pooled over seeds, below the table
            module.write_extras(result_records, stem)
        figures = (module.write_plots(result_records, header, results, stem)
                   if plots and hasattr(module, "write_plots") else [])
        written.extend(figures)
        tables.append({"header": header, "rows": rows, "files": paths, "figures": figures, "paired": paired,
                       "baseline": baseline, "records": group})
    others = other_leaderboards(out_dir)
    report = None
    if plots:
        from hipbench.report import write_report

        report = write_report(tables, out_dir, tuning, others)
        written.append(report)
    from hipbench.readme import write_readme

    written.append(write_readme(tables, out_dir, incomplete=len(incomplete), report=report, tuning=tuning,
                                others=others))
    return written, len(incomplete)


def other_leaderboards(out_dir: Path) -> list[Path]:
    """Leaderboards built into folders of `out_dir` (a table of its own, such as an ablation whose
    runs live apart): their README.md files, so the main index links them."""
    from hipbench.readme import README_NAME, TITLE

    return sorted(path for path in Path(out_dir).glob(f"*/{README_NAME}")
                  if path.read_text(encoding="utf-8").startswith(TITLE))


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())
