"""One static HTML page (`index.html`) with every leaderboard table and figure.

The tables are rendered from the same rows as the markdown and CSV files (never by hand), the
figures are the PNGs written next to them, referenced by relative paths, so the page can be opened
from disk or served from any directory. Nothing in it depends on the time of the build: two builds
from the same records give the same bytes.
"""
from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

from hipbench import comparisons
from hipbench.leaderboard import budget_text, columns_note, options_slug, to_frame

REPORT_NAME = "index.html"
STYLE = """body{font-family:sans-serif;margin:2em;max-width:110em}
table{border-collapse:collapse;font-size:0.85em;margin:1em 0}
th,td{border:1px solid #ccc;padding:0.25em 0.5em;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
img{max-width:100%;display:block;margin:1em 0}
.facts{font-size:0.9em}
.caption{max-width:80em}"""


def href(path: Path, out_dir: Path) -> str:
    """A link target for `path` relative to the page in `out_dir` (the HTML report, the README)."""
    return quote(Path(path).relative_to(out_dir).as_posix())


def table_title(header: dict) -> str:
    options = header.get("protocol_options")
    return f"{header['suite']} on {header['model']}" + (f" ({options_slug(options)})" if options else "")


def table_facts(header: dict, rows: list[dict]) -> list[tuple[str, str]]:
    """(label, value) lines above a table: what a reader needs to judge whether numbers compare."""
    steps = (header["steps_rule"] if header.get("steps_rule") else
             f"{header['steps_per_task']} per task (batch {header['train']['batch_size']})")
    limit = header["limit"]
    return [
        ("Model", header["model"]),
        ("Tasks", " → ".join(header["tasks"])),
        ("Budget", f"{budget_text(header)} "
                   f"(targets: {', '.join(header['target_modules'])})"),
        ("Steps", f"{steps}, lr {header['train']['lr']}"),
        ("Data", "full splits" if limit is None else f"smoke run: --limit {limit} examples per split"),
        ("Seeds", ", ".join(map(str, sorted({s for row in rows for s in row["seeds"]})))),
        ("Hardware", "; ".join(sorted({h for row in rows for h in row["hardware"]}))),
        ("Commits", ", ".join(sorted({c for row in rows for c in row["git_commit"]}))),
    ]


def render_table(header: dict, rows: list[dict]) -> str:
    """The leaderboard rows as an HTML table: the markdown's cells, with run links as anchors."""
    frame = to_frame(rows, numeric=False, protocol=header["protocol"]).drop(columns="Runs")
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns) + "<th>Runs</th>"
    body = []
    for row, values in zip(rows, frame.itertuples(index=False)):
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in values)
        links = " ".join(f'<a href="{html.escape(quote(path))}">{seed}</a>'
                         for seed, path in zip(row["seeds"], row["runs"]))
        body.append(f"<tr>{cells}<td>{links}</td></tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


def render_paired(table: dict) -> str:
    """The caption under a table and the paired differences to the baseline, as in the markdown."""
    header, rows, paired = table["header"], table["rows"], table.get("paired", [])
    text = comparisons.caption(paired, [row["method"] for row in rows], header["protocol"],
                               measured=comparisons.measured_metrics(rows))
    text = html.escape(text).replace(f"**Differences to {comparisons.BASELINE}**",
                                     f"<b>Differences to {comparisons.BASELINE}</b>")
    if not paired:
        return f'<p class="caption">{text}</p>'
    frame = comparisons.comparison_frame(paired)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in values) + "</tr>"
                     for values in frame.itertuples(index=False))
    return (f'<p class="caption">{text}</p>\n<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n'
            "</tbody>\n</table>")


def render_section(table: dict, out_dir: Path) -> str:
    header, rows = table["header"], table["rows"]
    facts = "".join(f"<li><b>{html.escape(k)}:</b> {html.escape(str(v))}</li>"
                    for k, v in table_facts(header, rows))
    files = " · ".join(f'<a href="{href(path, out_dir)}">{ext}</a>' for ext, path in table["files"].items())
    figures = "\n".join(f'<img src="{href(path, out_dir)}" alt="{html.escape(Path(path).name)}">'
                        for path in table["figures"])
    return "\n".join([f"<h2>{html.escape(table_title(header))}</h2>", f'<ul class="facts">{facts}</ul>',
                      f"<p>{html.escape(columns_note(header['protocol'], rows))}</p>", f"<p>Files: {files}</p>",
                      render_table(header, rows), render_paired(table), figures])


def write_report(tables: list[dict], out_dir: Path) -> Path:
    """`<out_dir>/index.html` from `tables` (dicts with header, rows, files and figures)."""
    out_dir = Path(out_dir)
    sections = "\n".join(render_section(table, out_dir) for table in tables)
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<link rel="icon" href="data:,">\n<title>hipbench leaderboards'
            f"</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<h1>hipbench leaderboards</h1>\n"
            f"<p>Generated from complete run records by <code>hipbench leaderboard --plots</code>; cells are "
            f"mean ± sample std over seeds.</p>\n{sections}\n</body>\n</html>\n")
    path = out_dir / REPORT_NAME
    path.write_text(page)
    return path
