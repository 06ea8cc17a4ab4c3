"""`hipbench leaderboard --plots`: figures and the HTML report from run records only.

Built from copies of a few committed records (continual and merge suites), so the test needs no
training; checks that the PNGs are images, every link in the report and the markdown resolves,
and that two builds from the same records are byte-identical.
"""
from __future__ import annotations

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


def _build(runs: Path, out: Path) -> list[Path]:
    result = CliRunner().invoke(main, ["leaderboard", str(runs), "--out", str(out), "--plots"],
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
    for table in out.glob("*.json"):
        assert f'href="{table.name}"' in page
    assert page.count("<table>") == len(list(out.glob("*.json")))
    for fact in ("Model:", "Budget:", "Steps:", "Seeds:", "Hardware:", "Commits:"):
        assert page.count(fact) == page.count("<table>")


def test_markdown_run_links_resolve_to_run_records(built):
    runs, out, _ = built
    linked = set()
    for table in out.glob("*.md"):
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
    assert result["tables"] == len(list(out.glob("*.json")))
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert any("probe-done" in line for line in console), done.stderr[-2000:]
    assert [line for line in console if "probe-done" not in line] == []
