"""`hipbench leaderboard [--plots]`: tables, captions, README, figures and the HTML report from
run records only.

Built from copies of a few committed records (continual and merge suites), so the test needs no
training; checks that the PNGs are images, every link in the report, the README and the markdown
resolves, that figures and the page come with --plots and only then (every protocol alike), and
that two builds from the same records are byte-identical. Headless Chromium, driven through the
DevTools protocol, clicks every column header of every table (twice: ascending, then reversed) and
checks the order against the documented rule, filters by each method, and checks every image
loaded and nothing was logged as an error or warning.
"""
from __future__ import annotations

import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from PIL import Image

from hipbench.cli import main

PUBLISHED = Path(__file__).resolve().parents[1] / "leaderboards" / "runs"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _copy_runs(target: Path) -> Path:
    """Two methods x two seeds of the continual suite and every merge record, test runs only (no
    tuning trials: they get tuning tables, which link no run), under `target/runs`."""
    from hipbench.tuning_table import is_trial

    def test_runs(directory: Path) -> list[Path]:
        return [run for run in sorted(directory.iterdir())
                if not is_trial({"config": json.loads((run / "config.json").read_text())})]

    runs = target / "runs"
    for method in ("lora", "olora"):
        for run in test_runs(PUBLISHED / "continual" / "smollm2-135m" / method)[:2]:
            shutil.copytree(run, runs / run.relative_to(PUBLISHED))
    for method in sorted((PUBLISHED / "merge" / "smollm2-135m").iterdir()):
        for run in test_runs(method):
            shutil.copytree(run, runs / run.relative_to(PUBLISHED))
    return runs


def _build(runs: Path, out: Path, plots: bool = True) -> list[Path]:
    result = CliRunner().invoke(main, ["leaderboard", str(runs), "--out", str(out)] + (["--plots"] if plots else []),
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [Path(line) for line in result.output.splitlines() if line.strip()]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.anchors = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.anchors.append(attrs["href"])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("boards")
    runs = _copy_runs(base)
    return runs, base / "out", _build(runs, base / "out")


def test_continual_and_merge_figures_are_valid_pngs(built):
    _, out, written = built
    pngs = sorted(p.name for p in out.glob("*.png"))
    for name in ("accuracy_matrix", "forgetting", "aa_vs_general", "spectral"):
        assert f"continual__smollm2-135m__{name}.png" in pngs
    assert "merge__smollm2-135m__merge_rule-sum.png" in pngs
    for path in out.glob("*.png"):
        assert path.read_bytes().startswith(PNG_MAGIC)
        with Image.open(path) as image:
            image.verify()
            assert image.size[0] > 200 and image.size[1] > 200
            assert "Software" not in image.info  # no matplotlib version in the bytes
    assert set(out.glob("*.png")) <= set(written)


def test_report_references_only_existing_files_and_embeds_every_table_and_figure(built):
    _, out, _ = built
    page = (out / "index.html").read_text()
    links = _Links()
    links.feed(page)
    assert sorted(links.images) == sorted(p.name for p in out.glob("*.png"))
    for target in links.images + links.anchors:
        assert (out / unquote(target)).exists(), target
    tables = list(out.glob("*.json"))
    for table in tables:
        assert f'href="{table.name}"' in page
    paired = sum(1 for table in tables if json.loads(table.read_text())["paired"]["rows"])
    assert paired == len(tables)  # every table here has lora and another method
    assert page.count("<table>") == len(tables) + paired  # each leaderboard, then its differences to lora
    for fact in ("Model:", "Budget:", "Steps:", "Seeds:", "Hardware:", "Commits:"):
        assert page.count(fact) == len(tables)
    baselines = [json.loads(table.read_text())["paired"]["baseline"] for table in tables]
    assert {"lora (tuned: lr=0.0002)", "lora (tuned: lr=0.005)"} <= set(baselines)  # continual's and merge's tuning
    assert sum(page.count(f"<b>Differences to {html.escape(name)}</b>") for name in set(baselines)) == len(tables)


def test_page_fetches_nothing_from_the_network_and_its_tables_need_no_script(built):
    _, out, _ = built
    page = (out / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no CDN: readable offline
    assert "<script src" not in page and page.count("<script>") == 1  # our own inline script only
    assert "<select" not in page  # the filter is added by the script; without it, plain tables
    rows = re.findall(r"<tr data-method=\"([^\"]+)\"><td>", page)
    assert {"lora", "olora"} <= {row.split()[0] for row in rows}  # a row's method, before its settings


def test_markdown_run_links_resolve_to_run_records(built):
    runs, out, _ = built
    linked = set()
    for table in out.glob("*__*.md"):  # the tables (README.md links to files, not runs)
        for target in re.findall(r"\]\(([^)]+)\)", table.read_text()):
            run = (out / unquote(target)).resolve()
            assert (run / "metrics.json").is_file() and (run / "config.json").is_file(), target
            linked.add(run)
    assert linked == {p.parent.resolve() for p in runs.rglob("metrics.json")}


def test_two_builds_from_the_same_records_are_byte_identical(built, tmp_path):
    runs, out, _ = built
    again = tmp_path / "again"
    shutil.copytree(runs, tmp_path / "runs")  # same relative layout, so run links are the same
    _build(tmp_path / "runs", again)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert {Path(n).suffix for n in names} == {".md", ".csv", ".json", ".png", ".html"}
    for name in names:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_figures_and_the_page_come_with_plots_only_and_change_no_table(built, tmp_path):
    _, out, _ = built
    runs = tmp_path / "runs"
    shutil.copytree(built[0], runs)
    bare = tmp_path / "bare"
    written = _build(runs, bare, plots=False)
    assert not list(bare.glob("*.png")) and not (bare / "index.html").exists()  # MergeFail plot included
    assert sorted(p.name for p in bare.iterdir()) == sorted(p.name for p in written)
    for path in bare.iterdir():
        if path.name != "README.md":
            assert path.read_bytes() == (out / path.name).read_bytes(), path.name
    assert "No figures or HTML page in this build" in (bare / "README.md").read_text()


def test_readme_indexes_every_file_and_states_the_records_setup(built):
    runs, out, written = built
    readme = (out / "README.md").read_text()
    links = {unquote(target) for target in re.findall(r"\]\(([^)]+)\)", readme)}
    assert links == {p.name for p in written} - {"README.md"}
    configs = [json.loads(p.read_text()) for p in runs.rglob("config.json")]
    metrics = [json.loads(p.read_text()) for p in runs.rglob("metrics.json")]
    assert f"from {len(configs)} complete run records" in readme
    for config in configs:
        environment = config["environment"]
        assert f"`{environment['git_commit']}`" in readme
        assert f"- Hardware: {environment['hardware']} ({environment['device']}, {environment['dtype']})" in readme
        assert f"- torch: {environment['torch']}" in readme
    first, last = min(c["started"] for c in configs), max(m["finished"] for m in metrics)
    assert f"- Runs started to finished: {first} to {last}" in readme
    # these records predate model_source: the alias's pinned file stands in, since a load checks it
    from hipbench.models import SMOLLM2_SHA256
    assert f"sha256 {SMOLLM2_SHA256} (pinned by the alias, checked on load)" in readme
    assert "not recorded" not in readme
    budgets = {m["budget"] for m in metrics}
    assert all(f"| {budget} (trainable: " in readme for budget in budgets)


def test_every_table_ends_with_its_caption_naming_each_ci_that_excludes_zero(built):
    _, out, _ = built
    for table in out.glob("*__*.json"):
        data = json.loads(table.read_text())
        caption = data["paired"]["caption"]
        markdown = (out / f"{table.stem}.md").read_text()
        assert caption in markdown and caption.startswith(f"**Differences to {data['paired']['baseline']}**")
        excluded = caption.split("CI excludes zero: ")[1].split(". ")[0] if "CI excludes zero: " in caption else ""
        methods = {row["method"] for row in data["paired"]["rows"]}  # labels may hold ": " ("(tuned: lr=...)")
        by_method = {m: group[len(m) + 2:] for group in excluded.split("; ") for m in methods
                     if group.startswith(f"{m}: ")}
        for row in data["paired"]["rows"]:
            named = re.search(rf"(^|, ){re.escape(row['title'])} [+-]", by_method.get(row["method"], ""))
            assert bool(named) == (row["verdict"] == "excludes 0"), (table.name, row["method"], row["title"])


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
                 if p and Path(p).is_file()), None)


class _DevTools:
    """Headless Chromium driven through the DevTools protocol over `--remote-debugging-pipe`: NUL-ended
    JSON on fds 3 (to the browser) and 4 (from it). No port is opened and no websocket library is needed;
    every read has a deadline, so a hung browser fails the test instead of hanging it."""

    def __init__(self, chromium: str, profile: Path, log: Path, deadline_s: float = 90.0):
        import fcntl
        import os
        import time

        self._time, self._os = time, os
        self.deadline = time.monotonic() + deadline_s
        def high(fd: int) -> int:  # >= 10 and close-on-exec: the dup2 onto 3 and 4 is a real copy, nothing leaks
            moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            return moved

        to_read, to_write = map(high, os.pipe())
        from_read, from_write = map(high, os.pipe())
        self.pid = os.posix_spawn(chromium, [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
            f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank"], os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, to_read, 3), (os.POSIX_SPAWN_DUP2, from_write, 4),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)], setpgroup=0)
        for fd in (to_read, from_write):
            os.close(fd)
        self._out, self._in, self._buffer, self._next_id = to_write, from_read, b"", 0
        self.events: list[dict] = []

    def _message(self) -> dict:
        import select

        while b"\0" not in self._buffer:
            left = self.deadline - self._time.monotonic()
            assert left > 0, "headless Chromium did not answer in time"
            if select.select([self._in], [], [], left)[0]:
                chunk = self._os.read(self._in, 1 << 16)
                assert chunk, "headless Chromium closed the DevTools pipe"
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(line)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._message()
            if answer.get("id") == self._next_id:
                assert "error" not in answer, (method, answer["error"])
                return answer["result"]
            self.events.append(answer)

    def wait_for(self, event: str) -> dict:
        while True:
            found = next((e for e in self.events if e.get("method") == event), None)
            if found:
                self.events.remove(found)
                return found
            self.events.append(self._message())

    def close(self) -> None:
        import signal

        try:
            self.send("Browser.close")
        except (AssertionError, OSError):
            pass
        for _ in range(100):
            if self._os.waitpid(self.pid, self._os.WNOHANG)[0]:
                break
            self._time.sleep(0.1)
        else:
            self._os.killpg(self.pid, signal.SIGKILL)  # the process group of the browser we started
            self._os.waitpid(self.pid, 0)
        self._os.close(self._out)
        self._os.close(self._in)


class _Page:
    """One tab of `_DevTools` with console capture; `click` is a real mouse press and release at the
    centre of an element (scrolled into view), so it runs the same handlers a reader's click does."""

    def __init__(self, tools: _DevTools, url: str):
        self.tools = tools
        target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            tools.send(f"{domain}.enable", session=self.session)
        tools.send("Page.navigate", {"url": url}, session=self.session)
        tools.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.tools.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                      "awaitPromise": True}, session=self.session)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def click(self, element: str) -> None:
        x, y = self.evaluate(f"(() => {{const e = {element}; e.scrollIntoView({{block: 'center', inline: 'center'}});"
                             " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.tools.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                         "clickCount": 1}, session=self.session)

    def console_problems(self) -> tuple[list, bool]:
        """(errors and warnings logged or thrown, whether the marker `probe-done` was seen)."""
        events = [e for e in self.tools.events if e.get("sessionId") == self.session]
        problems = [e for e in events if e["method"] == "Runtime.exceptionThrown"
                    or e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "warning", "assert")
                    or e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error", "warning")]
        marker = any(e["method"] == "Runtime.consoleAPICalled"
                     and [a.get("value") for a in e["params"]["args"]] == ["probe-done"] for e in events)
        return problems, marker


MISSING = {"", "n/a", "—", "not recorded"}
LEADING_NUMBER = re.compile(r"^\[?\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)", re.I)


def _sorted_like_a_reader_expects(rows: list[list[str]], column: int, descending: bool) -> list[list[str]]:
    """The documented order, computed independently of the page: by the leading number where every
    present cell has one, else as text; missing cells last either way; ties keep their order."""
    cells = [row[column] for row in rows]
    numeric = any(c not in MISSING for c in cells) and all(c in MISSING or LEADING_NUMBER.match(c) for c in cells)
    key = (lambda c: float(LEADING_NUMBER.match(c).group(1))) if numeric else (lambda c: c)
    present = sorted((r for r in rows if r[column] not in MISSING), key=lambda r: key(r[column]), reverse=descending)
    return present + [r for r in rows if r[column] in MISSING]


ROWS = "[...document.querySelectorAll('table')[%d].tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent.trim()))"
HEADERS = "[...document.querySelectorAll('table')].map(t => [...t.tHead.rows[0].cells].map(c => c.textContent.trim()))"
VISIBLE = ("[...document.querySelectorAll('table')].map(t => [...t.tBodies[0].rows].filter(r => r.getClientRects()"
           ".length > 0).map(r => [...r.cells].map(c => c.textContent.trim())))")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium)")
def test_report_in_headless_chromium_sorts_on_header_clicks_filters_by_method_and_loads_every_image(
        built, tmp_path):
    _, out, _ = built
    tools = _DevTools(CHROMIUM, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        page = _Page(tools, (out / "index.html").as_uri())
        images = page.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
        assert sorted(src for src, _ in images) == sorted(p.name for p in out.glob("*.png"))
        assert [src for src, loaded in images if not loaded] == []
        headers = page.evaluate(HEADERS)
        assert len(headers) == 2 * len(list(out.glob("*.json")))  # each table and its differences to lora
        changed = 0
        for t, columns in enumerate(headers):
            for c, name in enumerate(columns):
                for descending in (False, True):  # first click ascending, second click reverses
                    before = page.evaluate(ROWS % t)
                    page.click(f"document.querySelectorAll('table')[{t}].tHead.rows[0].cells[{c}]")
                    after = page.evaluate(ROWS % t)
                    assert after == _sorted_like_a_reader_expects(before, c, descending), (t, name, descending)
                    assert page.evaluate(f"document.querySelectorAll('table')[{t}].tHead.rows[0].cells[{c}]"
                                         ".getAttribute('aria-sort')") == ("descending" if descending else "ascending")
                    changed += after != before
        assert changed >= len(headers)  # the clicks did reorder rows, not only confirm an order

        everything = page.evaluate(VISIBLE)
        options = page.evaluate("[...document.querySelector('#method-filter select').options].map(o => o.value)")
        method_at = [columns.index("Method") for columns in headers]
        methods = sorted({row[m] for rows, m in zip(everything, method_at) for row in rows})
        assert options == [""] + methods and {method.split()[0] for method in methods} >= {"lora", "olora"}
        for method in methods + [""]:  # set the select as a reader's choice does: its value, then "change"
            page.evaluate(f"(() => {{const s = document.querySelector('#method-filter select'); s.value = "
                          f"{json.dumps(method)}; s.dispatchEvent(new Event('change', {{bubbles: true}}));}})()")
            shown = page.evaluate(VISIBLE)
            expected = [[row for row in rows if method in ("", row[m])] for rows, m in zip(everything, method_at)]
            assert shown == expected, method
            assert method == "" or sum(map(len, shown)) < sum(map(len, everything))
        page.evaluate("console.info('probe-done')")
        page.evaluate("new Promise(done => setTimeout(done, 200))")  # let late console events arrive
        problems, marker = page.console_problems()
        assert marker, "console capture saw nothing"
        assert problems == []
    finally:
        tools.close()


def test_readme_names_a_model_by_its_alias_and_sha256_never_by_the_path_it_had_on_the_machine():
    from hipbench.models import SMOLLM2_SHA256
    from hipbench.readme import _model

    def record(model: str, source: str | None) -> dict:
        config = {"config": {"model": model}}
        return {"config": {**config, "model_source": source} if source is not None else config}

    pinned = _model(record("smollm2-135m", f"/root/hb/SmolLM2-135M-Instruct.Q4_1.gguf sha256:{SMOLLM2_SHA256}"))
    assert "/root" not in pinned and pinned == _model(record("smollm2-135m", None))
    assert pinned.startswith("smollm2-135m: SmolLM2-135M-Instruct.Q4_1.gguf") and f"sha256 {SMOLLM2_SHA256}" in pinned
    other = _model(record("/data/m.gguf", "/data/m.gguf sha256:" + "ab" * 32))
    assert other == "/data/m.gguf: m.gguf, sha256 " + "ab" * 32


def test_the_index_links_leaderboards_built_into_folders_of_their_own(tmp_path):
    """An ablation's runs live apart and get a leaderboard of their own: the main README and
    index.html link it; a folder whose README hipbench did not write is not linked."""
    from hipbench.leaderboard import other_leaderboards
    from hipbench.readme import TITLE, render_readme
    from hipbench.report import write_report

    (tmp_path / "ablation").mkdir()
    (tmp_path / "ablation" / "README.md").write_text(TITLE + "\n\nGenerated by `hipbench leaderboard` ...\n")
    (tmp_path / "ablation" / "index.html").write_text("<!DOCTYPE html>")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("# my notes\n")
    others = other_leaderboards(tmp_path)
    assert others == [tmp_path / "ablation" / "README.md"]
    assert "- [ablation](ablation/README.md)" in render_readme([], tmp_path, others=others)
    page = write_report([], tmp_path, others=others).read_text()
    assert '<a href="ablation/index.html">ablation</a>' in page and "notes" not in page
