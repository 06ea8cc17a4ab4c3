"""The Pareto figure of `hipbench leaderboard --plots` (`hipbench.plots.plot_pareto`): written for
continual, edit and merge tables with --plots only, a valid PNG listed in the page and the README; one
line of cost panels per cost the records measured and none for older records; in each panel
lower-is-better axes reversed and the dashed line on the non-dominated methods.

Built from copies of committed records (two continual and two edit methods, two seeds each); the
cost fields are written into copies of their metrics.json, as newer records carry them."""
from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from click.testing import CliRunner
from PIL import Image

from hipbench import plots
from hipbench.cli import main
from hipbench.leaderboard import build_table, collect
from hipbench.pareto import Axis, front_path
from hipbench.protocols import continual, edit_measure

PUBLISHED = Path(__file__).resolve().parents[1] / "leaderboards" / "runs"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CONTINUAL = "continual__smollm2-135m__pareto.png"
EDIT = "edit__smollm2-135m__edit_mode-sequential_num_edits-10__pareto.png"
LINE_PX = round(3.6 * plots.DPI)  # height of one line of panels


def _copy_runs(target: Path) -> Path:
    """Two published test runs (no tuning trials) of LoRA and O-LoRA per suite, their cost fields
    taken out: records as they were before costs were measured (`_add_costs` puts some back)."""
    from hipbench.costs import COST_COLUMNS
    from hipbench.tuning_table import is_trial

    runs = target / "runs"
    for method in ("lora", "olora"):
        for suite in ("continual", "edit"):
            found = [run for run in sorted((PUBLISHED / suite / "smollm2-135m" / method).iterdir())
                     if not is_trial({"config": json.loads((run / "config.json").read_text())})
                     and json.loads((run / "config.json").read_text())["config"].get("protocol_options", {})
                     .get("num_edits", 10) == 10]
            for run in found[:2]:
                shutil.copytree(run, runs / run.relative_to(PUBLISHED))
    for path in runs.rglob("metrics.json"):
        metrics = json.loads(path.read_text())
        path.write_text(json.dumps({k: v for k, v in metrics.items() if k not in dict(COST_COLUMNS)}))
    return runs


def _build(runs: Path, out: Path, plots_flag: bool) -> list[str]:
    args = ["leaderboard", str(runs), "--out", str(out)] + (["--plots"] if plots_flag else [])
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [Path(line).name for line in result.output.splitlines() if line.strip()]


def _add_costs(runs: Path, costs: dict[str, float]) -> None:
    for path in runs.rglob("metrics.json"):
        metrics = json.loads(path.read_text())
        metrics.update(costs)
        path.write_text(json.dumps(metrics))


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return _copy_runs(tmp_path_factory.mktemp("pareto"))


def test_pareto_figures_are_written_for_continual_and_edit_tables_with_plots_only(runs, tmp_path):
    written = _build(runs, tmp_path / "out", plots_flag=True)
    out = tmp_path / "out"
    for name in (CONTINUAL, EDIT):
        assert name in written
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC)
        with Image.open(out / name) as image:
            image.verify()
        with Image.open(out / name) as image:
            assert image.size[1] == LINE_PX  # these records predate costs: the quality panels only
            assert "Software" not in image.info
    page = _Images()
    page.feed((out / "index.html").read_text())
    assert {CONTINUAL, EDIT} <= set(page.sources)
    readme = (out / "README.md").read_text()
    assert f"[{CONTINUAL}]({CONTINUAL})" in readme and f"[{EDIT}]({EDIT})" in readme
    bare = _build(runs, tmp_path / "bare", plots_flag=False)
    assert not any(name.endswith("__pareto.png") for name in bare)
    assert not list((tmp_path / "bare").glob("*.png"))


def test_each_measured_cost_adds_one_line_of_panels_and_an_unmeasured_one_none(runs, tmp_path):
    costed = tmp_path / "runs"
    shutil.copytree(runs, costed)
    _add_costs(costed, {"seconds_per_step": 0.5, "adapter_mb": 1.25, "peak_memory_gb": float("nan")})
    out = tmp_path / "out"
    _build(costed, out, plots_flag=True)
    for name in (CONTINUAL, EDIT):
        with Image.open(out / name) as image:
            assert image.size[1] == 3 * LINE_PX  # quality, s/step, adapter MB; no peak memory (NaN)


def _panel(rows: list[dict], x: Axis, y: Axis):
    fig, ax = plt.subplots()
    plots._pareto_panel(ax, rows, x, y, {row["method"]: "C0" for row in rows})
    return fig, ax


def _row(method: str, **cells: float) -> dict:
    return {"method": method, **{key: {"mean": value, "std": 0.01, "n": 2} for key, value in cells.items()}}


def test_a_panel_reverses_lower_is_better_axes_and_dashes_the_front_through_non_dominated_methods():
    rows = [_row("a", aa=0.9, nll_delta=3.0), _row("b", aa=0.5, nll_delta=1.0),
            _row("c", aa=0.4, nll_delta=2.0), _row("d", aa=float("nan"), nll_delta=0.1)]
    fig, ax = _panel(rows, continual.PARETO_PRIMARY, continual.PARETO_TRADEOFFS[2])
    assert not ax.xaxis_inverted() and ax.yaxis_inverted()  # NLL Δ: lower is better, so reversed
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1
    path = list(zip(dashed[0].get_xdata(), dashed[0].get_ydata()))
    assert path == front_path([(0.9, 3.0), (0.5, 1.0), (0.4, 2.0), (float("nan"), 0.1)], (True, False))
    assert path == [(0.5, 1.0), (0.5, 3.0), (0.9, 3.0)]  # c is dominated by b; d has no AA
    assert any(text.get_text() == "n/a: d" for text in ax.texts)
    plt.close(fig)


def test_edit_panels_put_reliability_drop_reversed_against_reliability_from_real_rows(runs):
    records, _ = collect(runs)
    edits = [r for r in records if r["config"]["config"]["suite"] == "edit"]
    _, rows = build_table(edits)
    fig, ax = _panel(rows, edit_measure.PARETO_PRIMARY, edit_measure.PARETO_TRADEOFFS[0])
    assert ax.get_ylabel().startswith("Rel. drop") and ax.yaxis_inverted() and not ax.xaxis_inverted()
    labels = {text.get_text() for text in ax.texts}
    names = {name.split(" ")[0] for label in labels for name in label.split(", ")}  # "lora (tuned: lr=...)"
    assert {"lora", "olora"} <= names
    plt.close(fig)


def test_merge_tables_get_retention_against_merge_failure_and_each_cost(tmp_path):
    """The published merge records measured all three costs: each table's figure has the quality
    line and three cost lines, and its first panel puts MergeFail t=2 reversed against retention."""
    from hipbench.protocols import merge_tables
    from hipbench.tuning_table import is_trial

    runs = tmp_path / "runs"
    for method in ("lora", "sclora"):
        for run in sorted((PUBLISHED / "merge" / "smollm2-135m" / method).iterdir()):
            if not is_trial({"config": json.loads((run / "config.json").read_text())}):
                shutil.copytree(run, runs / run.relative_to(PUBLISHED))
    written = _build(runs, tmp_path / "out", plots_flag=True)
    figures = sorted(name for name in written if name.startswith("merge__") and name.endswith("__pareto.png"))
    assert len(figures) == 2  # one per merge rule
    for name in figures:
        with Image.open(tmp_path / "out" / name) as image:
            assert image.size[1] == 4 * LINE_PX
    _, rows = build_table([r for r in collect(runs)[0] if r["metrics"].get("merge_rule") == "sum"])
    fig, ax = _panel(rows, merge_tables.PARETO_PRIMARY, merge_tables.PARETO_TRADEOFFS[0])
    assert ax.get_xlabel().startswith("retention") and ax.get_ylabel().startswith("MergeFail t=2")
    assert ax.yaxis_inverted() and not ax.xaxis_inverted()
    plt.close(fig)


def test_long_method_names_leave_every_panel_its_width_and_number_the_points(monkeypatch, tmp_path):
    """Published rows carry options and tuned settings in their names; as point labels inside the
    layout they once squeezed every panel to a sliver. Points are numbered, the legend names them."""
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, path: figures.append(fig) or path)
    names = [f"method{i} [layers=1-5,option=value{i}] (tuned: lr=0.0005)" for i in range(12)]
    rows = [_row(name, aa=0.1 * i, bwt=-0.01 * i, fact_retention=0.5, nll_delta=0.1 * i, seconds_per_step=0.2 + i)
            for i, name in enumerate(names)]
    plots.plot_pareto(rows, continual.PARETO_PRIMARY, continual.PARETO_TRADEOFFS, tmp_path / "p.png", "title")
    fig = figures[0]
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.axison]
    width = fig.get_figwidth()
    assert all(ax.get_position().width * width > 2.0 for ax in panels)  # inches: 3.9 per column
    assert {text.get_text() for text in panels[0].texts} >= {"1", "12"}
    assert [t.get_text() for t in fig.legends[0].get_texts()][:2] == [f"1  {names[0]}", f"2  {names[1]}"]
    plt.close(fig)


def test_spectral_bars_are_numbered_and_the_legend_names_them(monkeypatch, tmp_path):
    """The spectral figure's x labels were the long row names, rotated and overlapping."""
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, path: figures.append(fig) or path)
    names = [f"hiplora [budget={b},k={k}] (tuned: lr=0.0005)" for b in (0.2, 0.5) for k in (16, 32)]
    rows = [_row(name, principal_energy=0.1, drift_left=0.01, drift_right=0.01) for name in names]
    plots.plot_spectral(rows, tmp_path / "s.png")
    fig = figures[0]
    fig.canvas.draw()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "2", "3", "4"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [f"{i + 1}  {n}" for i, n in enumerate(sorted(names))]
    plt.close(fig)


def test_every_row_of_a_long_table_gets_its_own_colour():
    """The ablation's 14 rows once cycled through ten colours: LoRA drawn like a HiP-LoRA row."""
    for count in (6, 14, 20):
        assert len(set(plots.method_colours([f"m{i}" for i in range(count)]).values())) == count
