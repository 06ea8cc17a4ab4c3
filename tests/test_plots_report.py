"""`hipbench leaderboard [--plots]`: tables, captions, README, figures and the HTML report from
run records only.

Built from copies of a few committed records (continual and merge suites), so the test needs no
training; checks that the PNGs are images, every link in the report, the README and the markdown
resolves, that figures and the page come with --plots and only then (every protocol alike), and
that two builds from the same records are byte-identical.
"""
from __future__ import annotations

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
    """Two methods x two seeds of the continual suite and the merge records, under `target/runs`."""
    runs = target / "runs"
    for method in ("lora", "olora"):
        for run in sorted((PUBLISHED / "continual" / "smollm2-135m" / method).iterdir())[:2]:
            shutil.copytree(run, runs / run.relative_to(PUBLISHED))
    shutil.copytree(PUBLISHED / "merge", runs / "merge")
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
    assert page.count("<b>Differences to lora</b>") == len(tables)


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
        assert caption in markdown and caption.startswith("**Differences to lora**")
        excluded = caption.split("CI excludes zero: ")[1].split(". ")[0] if "CI excludes zero: " in caption else ""
        by_method = dict(group.split(": ", 1) for group in excluded.split("; ") if group)
        for row in data["paired"]["rows"]:
            named = re.search(rf"(^|, ){re.escape(row['title'])} [+-]", by_method.get(row["method"], ""))
            assert bool(named) == (row["verdict"] == "excludes 0"), (table.name, row["method"], row["title"])


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
                 if p and Path(p).is_file()), None)
# After load, record which images failed to decode and log a marker (proves console capture works).
PROBE = ('<script>window.addEventListener("load", () => {const bad = [...document.images].filter(i => '
         '!(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src")); document.body.setAttribute('
         '"data-probe", JSON.stringify({images: document.images.length, tables: '
         'document.querySelectorAll("table").length, broken: bad})); console.info("probe-done");});</script>')


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium_with_every_image_loaded(built):
    import html
    import json
    import subprocess

    _, out, _ = built
    probe = out / "probe.html"  # a copy beside the report, so relative image paths are the same
    probe.write_text((out / "index.html").read_text().replace("</body>", PROBE + "</body>"))
    try:
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                               "--v=0", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                              capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    found = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert found, done.stderr[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    assert result["broken"] == [] and result["images"] == len(list(out.glob("*.png")))
    assert result["tables"] == 2 * len(list(out.glob("*.json")))  # each table and its differences to lora
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert any("probe-done" in line for line in console), done.stderr[-2000:]
    assert [line for line in console if "probe-done" not in line] == []
