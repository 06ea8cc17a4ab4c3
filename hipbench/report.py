"""One static HTML page (`index.html`) with every leaderboard table and figure.

The tables are rendered from the same rows as the markdown and CSV files (never by hand), the
figures are the PNGs written next to them, referenced by relative paths, so the page can be opened
from disk or served from any directory. Nothing in it depends on the time of the build: two builds
from the same records give the same bytes.

A small inline script of our own (`SCRIPT`, no CDN, nothing fetched, so the page works offline)
makes every table sortable by a click on any column header and adds one method filter for all
tables. Without JavaScript the page is the same plain tables, in the order the markdown has.
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
.caption{max-width:80em}
th[data-sortable]{cursor:pointer}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
#method-filter{display:block;margin:1em 0}"""
# Sorting: a column whose cells all start with a number (or are missing: "n/a", "—", ...) sorts by
# that leading number ("0.653 ± 0.150" by 0.653, "[-0.027, +0.025]" by -0.027), missing cells last in
# either direction; any other column sorts as text (by code point, so no locale changes the order).
# Ties keep the current order. The filter hides rows (each <tr> carries data-method) of other methods.
SCRIPT = """(() => {
  "use strict";
  const NUMBER = /^\\[?\\s*([+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:e[+-]?\\d+)?)/i;
  const MISSING = new Set(["", "n/a", "\u2014", "not recorded"]);
  const text = cell => cell.textContent.trim();

  function sortBy(table, th) {
    const column = th.cellIndex;
    const body = table.tBodies[0];
    const rows = [...body.rows];
    const cells = rows.map(row => text(row.cells[column]));
    const numeric = cells.some(t => !MISSING.has(t)) && cells.every(t => MISSING.has(t) || NUMBER.test(t));
    const keys = cells.map(t => MISSING.has(t) ? null : numeric ? parseFloat(t.match(NUMBER)[1]) : t);
    const sign = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    const order = rows.map((row, i) => i).sort((a, b) => {
      const x = keys[a], y = keys[b];
      if (x === null || y === null) return (x === null) - (y === null) || a - b;
      return sign * (x < y ? -1 : x > y ? 1 : 0) || a - b;
    });
    for (const other of th.parentNode.cells) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", sign > 0 ? "ascending" : "descending");
    body.append(...order.map(i => rows[i]));
  }

  function filterBy(method) {
    for (const row of document.querySelectorAll("tbody tr[data-method]")) {
      row.hidden = method !== "" && row.dataset.method !== method;
    }
  }

  for (const table of document.querySelectorAll("table")) {
    for (const th of table.tHead.rows[0].cells) {
      th.dataset.sortable = "";
      th.tabIndex = 0;
      th.title = "Sort by this column (click again to reverse)";
      th.addEventListener("click", () => sortBy(table, th));
      th.addEventListener("keydown", event => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, th); }
      });
    }
  }
  const methods = [...new Set([...document.querySelectorAll("tr[data-method]")].map(r => r.dataset.method))].sort();
  const label = document.createElement("label");
  label.id = "method-filter";
  label.textContent = "Method: ";
  const select = document.createElement("select");
  for (const method of ["", ...methods]) {
    select.append(new Option(method === "" ? "all methods" : method, method));
  }
  select.addEventListener("change", () => filterBy(select.value));
  label.append(select);
  document.querySelector("h1").after(label);
})();"""


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
        body.append(f'<tr data-method="{html.escape(row["method"])}">{cells}<td>{links}</td></tr>')
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


def render_paired(table: dict) -> str:
    """The caption under a table and the paired differences to the baseline, as in the markdown."""
    header, rows, paired = table["header"], table["rows"], table.get("paired", [])
    baseline = table.get("baseline", comparisons.BASELINE)
    text = comparisons.caption(paired, [row["method"] for row in rows], header["protocol"], baseline,
                               measured=comparisons.measured_metrics(rows))
    text = html.escape(text).replace(f"**Differences to {html.escape(baseline)}**",
                                     f"<b>Differences to {html.escape(baseline)}</b>")
    if not paired:
        return f'<p class="caption">{text}</p>'
    frame = comparisons.comparison_frame(paired)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "\n".join(f'<tr data-method="{html.escape(row["method"])}">'
                     + "".join(f"<td>{html.escape(str(v))}</td>" for v in values) + "</tr>"
                     for row, values in zip(paired, frame.itertuples(index=False)))
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


def write_report(tables: list[dict], out_dir: Path, tuning: list[Path] = (), others: list[Path] = ()) -> Path:
    """`<out_dir>/index.html` from `tables` (dicts with header, rows, files and figures), linking the
    tuning tables (`tuning`) that chose their settings and the leaderboards built into folders of
    their own (`others`, their README.md; the page links their index.html where it exists)."""
    out_dir = Path(out_dir)
    sections = "\n".join(render_section(table, out_dir) for table in tables)
    if tuning:
        links = "".join(f'<li><a href="{href(path, out_dir)}">{html.escape(Path(path).name)}</a></li>' for path in tuning)
        sections += f"\n<h2>Tuning trials</h2>\n<ul>{links}</ul>"
    if others:
        pages = [path.parent / REPORT_NAME if (path.parent / REPORT_NAME).exists() else path for path in others]
        links = "".join(f'<li><a href="{href(page, out_dir)}">{html.escape(page.parent.name)}</a></li>' for page in pages)
        sections += f"\n<h2>Other leaderboards</h2>\n<ul>{links}</ul>"
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<link rel="icon" href="data:,">\n<title>hipbench leaderboards'
            f"</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<h1>hipbench leaderboards</h1>\n"
            f"<p>Generated from complete run records by <code>hipbench leaderboard --plots</code>; cells are "
            f"mean ± sample std over seeds. Click a column header to sort by it; the method filter shows one "
            f"method's rows.</p>\n{sections}\n<script>\n{SCRIPT}\n</script>\n</body>\n</html>\n")
    path = out_dir / REPORT_NAME
    path.write_text(page, encoding="utf-8")  # the page declares utf-8 (±, →, —)
    return path
