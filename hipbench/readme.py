"""`README.md` beside the leaderboards: an index of every file a build wrote, and the setup and
provenance of the runs behind them (model, budget, steps and schedule, hardware, software, dates,
hipbench commits).

Every fact is read from the run records (config.json, metrics.json), never typed by hand, so the
README cannot drift from the tables. Everything is sorted and nothing depends on the time of
the build: a rebuild from the same records gives the same bytes.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from hipbench.mergefail import CONFIDENCE
from hipbench.models import SMOLLM2_FILE, SMOLLM2_SHA256, SMOLLM2_WHEEL
from hipbench.paired import BASELINE
from hipbench.report import href, table_title

TITLE = "# hipbench leaderboards"  # the first line of every README this module writes
README_NAME = "README.md"
NOT_RECORDED = "not recorded"
DEFAULT_ALIAS = "smollm2-135m"
VERSIONS = ("hipbench", "torch", "transformers", "peft", "python")  # environment keys worth a line


def _link(path: Path, out_dir: Path, text: str | None = None) -> str:
    return f"[{text or Path(path).relative_to(out_dir).as_posix()}]({href(path, out_dir)})"


def _cell(text: str) -> str:
    """A markdown table cell: a '|' in a recorded value must not split the cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _values(records: list[dict], get) -> list[str]:
    """Distinct recorded values, sorted; `NOT_RECORDED` stands for a missing one."""
    return sorted({str(value) if value not in (None, "") else NOT_RECORDED for value in map(get, records)})


def schedule(header: dict) -> str:
    """Steps (the protocol's own rule where it has one), then every other recorded `train` setting
    by name: the schedule is whatever the records say, not what the code does today."""
    from hipbench.leaderboard import train_text

    train = header["train"]
    steps = header.get("steps_rule") or f"{train['steps']} steps per task"
    rest = ", ".join(f"{key} {train_text(header, key)}" for key in sorted(train) if key != "steps")
    return f"{steps}; {rest}"


def budget(header: dict, rows: list[dict]) -> str:
    """The table's budget, and each method's exact trainable count grouped by count."""
    by_count: dict[str, list[str]] = {}
    for row in rows:
        by_count.setdefault("/".join(map(str, row["trainable_params"])), []).append(row["method"])
    counts = "; ".join(f"{count}: {', '.join(sorted(methods))}" for count, methods in sorted(by_count.items()))
    from hipbench.leaderboard import NO_BUDGET

    stated = header["budget"] if header["budget"] is not None else NO_BUDGET
    return f"{stated} (trainable or, for knowledge editors, changed: {counts})" if any(
        row.get("kind") for row in rows) else f"{stated} (trainable: {counts})"


def date_range(records: list[dict]) -> str:
    """Earliest start to latest finish (ISO UTC strings sort as times)."""
    started = _values(records, lambda r: r["config"].get("started"))
    finished = _values(records, lambda r: r["metrics"].get("finished"))
    first = next((s for s in started if s != NOT_RECORDED), NOT_RECORDED)
    last = next((f for f in reversed(finished) if f != NOT_RECORDED), NOT_RECORDED)
    return f"{first} to {last}"


def _environment(record: dict, key: str):
    return record["config"].get("environment", {}).get(key)


def _hardware(record: dict) -> str:
    """GPU (or CPU) name as recorded, with the device and the precision it ran in."""
    hardware, device, dtype = (_environment(record, key) or NOT_RECORDED for key in ("hardware", "device", "dtype"))
    return f"{hardware} ({device}, {dtype})"


def _model(record: dict) -> str:
    """The model by its configured name (an alias) and the sha256 of the file loaded, never by the
    path it had on the machine that ran it (`model_source` is "<path> sha256:<hex>" for a file).

    The embedded default is named with its wheel and file, pinned by that sha256. Records made
    before `model_source` existed still name the default's alias, and that alias loads only the
    one file whose sha256 `hipbench.models` pins (a mismatch is an error), so the pinned file is the
    loaded one; other models without a source say so."""
    name = record["config"]["config"]["model"]
    source = record["config"].get("model_source") or ""
    path, _, sha256 = source.rpartition(" sha256:")
    if name == DEFAULT_ALIAS and (not source or sha256 == SMOLLM2_SHA256):
        return (f"{name}: {SMOLLM2_FILE} from PyPI {SMOLLM2_WHEEL}, sha256 {SMOLLM2_SHA256} "
                "(pinned by the alias, checked on load)")
    if path and sha256:
        return f"{name}: {Path(path).name}, sha256 {sha256}"
    return f"{name}: {source or f'file and sha256 {NOT_RECORDED}'}"


def render_readme(tables: list[dict], out_dir: Path, incomplete: int = 0, report: Path | None = None,
                  tuning: list[Path] = (), others: list[Path] = ()) -> str:
    """The README's text. `tables` as written by `write_leaderboards` (header, rows, files,
    figures, records per table); `tuning`: the tuning tables written beside them; `others`: the
    README.md of leaderboards built into folders of their own (`leaderboard.other_leaderboards`)."""
    out_dir = Path(out_dir)
    records = [record for table in tables for record in table["records"]]
    lines = [TITLE, "",
             f"Generated by `hipbench leaderboard` from {len(records)} complete run records"
             + (f" ({incomplete} incomplete skipped)" if incomplete else "")
             + ". Every fact below is read from those records (config.json, metrics.json), none is typed by hand; "
             "a rebuild from the same records gives the same bytes. Under each table, every method's paired "
             f"difference to {BASELINE} and a caption that says which have a {CONFIDENCE:.0%} CI excluding zero.",
             "",
             "## Tables", "",
             "| Table | Methods | Seeds | Runs | Files | Figures |", "|---|---|---|---|---|---|"]
    for table in tables:
        header, rows = table["header"], table["rows"]
        seeds = sorted({seed for row in rows for seed in row["seeds"]})
        files = " · ".join(_link(path, out_dir, ext) for ext, path in table["files"].items())
        figures = " · ".join(_link(path, out_dir, Path(path).name) for path in table["figures"]) or "—"
        lines.append(f"| {_cell(table_title(header))} | {_cell(', '.join(row['method'] for row in rows))} | "
                     f"{', '.join(map(str, seeds))} | {len(table['records'])} | {files} | {_cell(figures)} |")
    lines.append("")
    lines.append(f"All tables and figures on one page: {_link(report, out_dir)}." if report is not None
                 else "No figures or HTML page in this build (`hipbench leaderboard --plots` writes them).")
    if tuning:
        lines += ["", "## Tuning trials", "",
                  "Every `hipbench tune` trial, scored on validation data, and the setting chosen per method "
                  "(trial records are never rows of the tables above):", ""]
        lines += [f"- {_link(path, out_dir, Path(path).name)}" for path in tuning]
    if others:
        lines += ["", "## Other leaderboards", "",
                  "Built into folders of their own from runs kept apart (a table of its own, such as an ablation):", ""]
        lines += [f"- {_link(path, out_dir, Path(path).parent.name)}" for path in others]
    lines += ["", "## Setup per table", "",
              "| Table | Model | Budget (trainable parameters) | Steps and schedule | Hardware | Runs started to "
              "finished |", "|---|---|---|---|---|---|"]
    for table in tables:
        header, group = table["header"], table["records"]
        lines.append(" | ".join(["", _cell(table_title(header)), _cell("; ".join(_values(group, _model))),
                                 _cell(budget(header, table["rows"])), _cell(schedule(header)),
                                 _cell("; ".join(_values(group, _hardware))), _cell(date_range(group)), ""]).strip())
    lines += ["", "## Provenance of all runs", ""]
    lines += [f"- Model: {value}" for value in _values(records, _model)]
    lines += [f"- Hardware: {value}" for value in _values(records, _hardware)]
    for key in VERSIONS:
        lines.append(f"- {key}: {', '.join(_values(records, lambda r, key=key: _environment(r, key)))}")
    lines.append(f"- Runs started to finished: {date_range(records)}")
    commits = Counter(str(_environment(record, "git_commit") or NOT_RECORDED) for record in records)
    lines.append("- hipbench commits (runs):")
    lines += [f"  - `{commit}` ({count})" for commit, count in sorted(commits.items())]
    return "\n".join(lines) + "\n"


def write_readme(tables: list[dict], out_dir: Path, incomplete: int = 0, report: Path | None = None,
                 tuning: list[Path] = (), others: list[Path] = ()) -> Path:
    """`<out_dir>/README.md` from `render_readme`."""
    path = Path(out_dir) / README_NAME
    path.write_text(render_readme(tables, out_dir, incomplete, report, tuning, others))
    return path
