"""Plots drawn from leaderboard rows and run records (never from anything typed by hand).

Matplotlib runs on the Agg backend, so plots are written on machines without a display. Every
figure has a fixed size and dpi and is saved without the "Software" PNG text, so two builds from
the same records give the same bytes and a regenerated leaderboard shows no spurious diff.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hipbench.pareto import Axis, front_path, pareto_front  # noqa: E402

DPI = 120
# PNG text chunks that name the matplotlib version would make the bytes depend on the install.
PNG_METADATA = {"Software": None}


def save(fig, path: Path) -> Path:
    """Write `fig` as a reproducible PNG (fixed dpi, no version text) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA)
    plt.close(fig)
    return path


def method_colours(names: list[str]) -> dict[str, tuple]:
    """A distinct colour per method, in the order given: matplotlib's ten-colour cycle, or its
    twenty-colour map for longer tables (the HiP-LoRA ablation has 14 rows), so that no two rows of
    one figure share a colour."""
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _or_zero(value: float) -> float:
    """An error bar of 0 where a std is unknown (one seed, missing metric) instead of none at all."""
    return 0.0 if value is None or math.isnan(value) else value


def plot_mergefail(rows: list[dict], path: Path, title: str = "") -> Path:
    """MergeFail against merge size t, one line per method, 95% CI as error bars.

    `rows` hold `method`, `t`, `mergefail`, `lo`, `hi` (one per method and t, e.g. from
    `hipbench.protocols.merge.pooled_mergefail`). Methods are offset slightly along t so that
    overlapping intervals stay readable."""
    if not rows:
        raise ValueError("nothing to plot: no MergeFail rows")
    by_method: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_method[row["method"]].append(row)
    sizes = sorted({row["t"] for row in rows})
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    width = 0.25 / max(1, len(by_method) - 1) if len(by_method) > 1 else 0.0
    for index, (method, points) in enumerate(sorted(by_method.items())):
        points.sort(key=lambda r: r["t"])
        shift = (index - (len(by_method) - 1) / 2) * width
        x = [p["t"] + shift for p in points]
        y = [p["mergefail"] for p in points]
        below = [0.0 if math.isnan(p["lo"]) else p["mergefail"] - p["lo"] for p in points]
        above = [0.0 if math.isnan(p["hi"]) else p["hi"] - p["mergefail"] for p in points]
        ax.errorbar(x, y, yerr=[below, above], marker="o", capsize=3, label=method)
    ax.set_xticks(sizes)
    ax.set_xlabel("merge size t (tasks per merged model)")
    ax.set_ylabel("MergeFail (share of failed instances)")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    return save(fig, path)


def _stage_labels(tasks: list[str]) -> list[str]:
    """Row labels of R: the base model (row 0), then "after i: task" for each step of the stream."""
    return ["base"] + [f"after {i}: {task}" for i, task in enumerate(tasks, start=1)]


def plot_accuracy_matrices(matrices: dict[str, np.ndarray], tasks: list[str], path: Path,
                           title: str = "") -> Path:
    """R per method as a heat map with the value in every cell (rows: after task i, base row 0
    first; columns: task j). `matrices` maps a method to its (T+1) x T matrix, already averaged
    over seeds. One panel per method on a shared 0..1 scale, so colours compare across methods."""
    if not matrices:
        raise ValueError("nothing to plot: no accuracy matrices")
    columns = min(3, len(matrices))
    lines = math.ceil(len(matrices) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(4.0 * columns + 2.0, 3.8 * lines), squeeze=False,
                             layout="constrained")
    for index, (ax, (method, matrix)) in enumerate(zip(axes.flat, sorted(matrices.items()))):
        image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize="x-small",
                    color="black" if value > 0.6 else "white")
        ax.set_xticks(range(len(tasks)), tasks, rotation=30, ha="right", fontsize="x-small")
        # stage names on the first column only: they would run into the panel on their left
        ax.set_yticks(range(len(tasks) + 1), _stage_labels(tasks) if index % columns == 0 else [],
                      fontsize="x-small")
        ax.set_title(method, fontsize="small")
    for ax in list(axes.flat)[len(matrices):]:
        ax.axis("off")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="accuracy")
    if title:
        fig.suptitle(title, fontsize="medium")
    return save(fig, path)


def plot_forgetting_curves(matrices: dict[str, np.ndarray], tasks: list[str], path: Path,
                           title: str = "") -> Path:
    """Accuracy on each task j across the stream (x: after task i, 0 = base), one line per method
    and one panel per task; the first panel is the classic forgetting curve of task 1, the others
    show whether later tasks are forgotten the same way. `matrices` as in plot_accuracy_matrices."""
    if not matrices:
        raise ValueError("nothing to plot: no accuracy matrices")
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.4 * len(tasks) + 3.0, 3.4), squeeze=False, sharey=True,
                             layout="constrained")
    stages = list(range(len(tasks) + 1))
    colours = method_colours(sorted(matrices))
    for j, (ax, task) in enumerate(zip(axes.flat, tasks)):
        for method, matrix in sorted(matrices.items()):
            ax.plot(stages, matrix[:, j], marker="o", markersize=3, label=method, color=colours[method])
        ax.axvline(j + 1, color="grey", linestyle=":", linewidth=1)  # the step that trains task j
        ax.set_xticks(stages)
        ax.set_xlabel("after task i (0 = base)", fontsize="small")
        ax.set_title(f"task {j + 1}: {task}", fontsize="small")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel("accuracy (mean over seeds)")
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside right upper", fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return save(fig, path)


def _cell(row: dict, key: str) -> tuple[float, float]:
    """(mean, std) of one leaderboard cell, std 0 where unknown."""
    cell = row.get(key, {})
    return cell.get("mean", math.nan), _or_zero(cell.get("std", math.nan))


def plot_aa_vs_general(rows: list[dict], path: Path, title: str = "") -> Path:
    """AA against general-capability loss, one point per method with seed-std error bars on both
    axes: left fact retention (higher is better), right NLL Δ (lower is better). A method that
    learns the stream by breaking the base model shows up far from the others here, not in AA."""
    if not rows:
        raise ValueError("nothing to plot: no leaderboard rows")
    panels = (("fact_retention", "fact retention (share of probe facts kept)"),
              ("nll_delta", "NLL Δ on general text (nats)"))
    fig, axes = plt.subplots(1, 2, figsize=(12.6, 4.2), sharey=True, layout="constrained")
    ordered = sorted(rows, key=lambda r: r["method"])
    colours = method_colours([row["method"] for row in ordered])
    for ax, (key, label) in zip(axes, panels):
        for row in ordered:
            x, xerr = _cell(row, key)
            y, yerr = _cell(row, "aa")
            ax.errorbar([x], [y], xerr=[xerr], yerr=[yerr], marker="o", capsize=3, label=row["method"],
                        color=colours[row["method"]])
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("AA (average final accuracy)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return save(fig, path)


def plot_spectral(rows: list[dict], path: Path, title: str = "") -> Path:
    """Principal energy, boundary drift and, where the records measured it, rotation drift (left U,
    right V) per method as bars with seed std: how much of the update lands in, and how far it
    rotates, the pretrained top-k subspaces (`hipbench.drift` says how the two drifts differ)."""
    if not rows:
        raise ValueError("nothing to plot: no leaderboard rows")
    panels = (("principal_energy", "principal energy"), ("drift_left", "boundary drift U (sin²)"),
              ("drift_right", "boundary drift V (sin²)"))
    if _measured(rows, "rotation_drift_left"):  # older records: the figure they always had
        panels += (("rotation_drift_left", "rotation drift U (sin², k')"),
                   ("rotation_drift_right", "rotation drift V (sin², k')"))
    ordered = sorted(rows, key=lambda r: r["method"])
    names = [row["method"] for row in ordered]
    colours = list(method_colours(names).values())
    numbers = [str(i + 1) for i in range(len(names))]  # bars are numbered, the legend names them
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels) + 3.0, 3.4), layout="constrained")
    for ax, (key, label) in zip(axes, panels):
        cells = [_cell(row, key) for row in ordered]
        ax.bar(range(len(names)), [np.nan_to_num(m) for m, _ in cells], yerr=[s for _, s in cells],
               capsize=3, color=colours)
        ax.set_xticks(range(len(names)), numbers, fontsize="x-small")
        ax.set_title(label, fontsize="small")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour) for colour in colours]
    fig.legend(handles, [f"{n}  {name}" for n, name in zip(numbers, names)], loc="outside right upper",
               fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return save(fig, path)


# Costs a Pareto figure plots quality against (`hipbench.costs`; lower is better for all three).
COST_AXES = (Axis("seconds_per_step", "s/step", False), Axis("peak_memory_gb", "peak memory GB", False),
             Axis("adapter_mb", "adapter MB", False))


def _measured(rows: list[dict], key: str) -> bool:
    """Whether any row has a number for `key`: records made before costs were measured have none."""
    return any(not math.isnan(row.get(key, {}).get("mean", math.nan)) for row in rows)


def _pareto_panel(ax, rows: list[dict], x: Axis, y: Axis, colours: dict[str, str],
                  keys: dict[str, str] | None = None) -> None:
    """One panel: each method at its mean with seed-std error bars, labelled by its key (its
    number in the figure's legend; the method's name without `keys`), and the front of the
    measured points as a dashed staircase. Axes where lower is better are reversed, so better is
    always up and to the right; methods without a value on either axis are named in the corner.
    Labels stay out of the layout: a table's long row names (options, tuned settings) would
    otherwise squeeze every panel to a sliver."""
    keys = keys or {row["method"]: row["method"] for row in rows}
    cells = [(row["method"], _cell(row, x.key), _cell(row, y.key)) for row in rows]
    points = [(mx, my) for _, (mx, _), (my, _) in cells]
    front = set(pareto_front(points, (x.higher_better, y.higher_better)))
    for index, (method, (mx, sx), (my, sy)) in enumerate(cells):
        if math.isnan(mx) or math.isnan(my):
            continue
        ax.errorbar([mx], [my], xerr=[sx], yerr=[sy], marker="o" if index in front else "s", capsize=3,
                    color=colours[method], markersize=6 if index in front else 4)
    labels: dict[tuple[float, float], list[int]] = defaultdict(list)  # methods at the same point share a label
    for index, point in enumerate(points):
        if not any(math.isnan(v) for v in point):
            labels[point].append(index)
    for point, indices in labels.items():
        label = ax.annotate(", ".join(keys[cells[i][0]] for i in indices), point, textcoords="offset points",
                            xytext=(4, 4), fontsize="x-small", fontweight="bold" if indices[0] in front else "normal")
        label.set_in_layout(False)
    path = front_path(points, (x.higher_better, y.higher_better))
    if path:
        ax.plot(*zip(*path), color="black", linestyle="--", linewidth=1, alpha=0.6, zorder=0)
    missing = [method for method, (mx, _), (my, _) in cells if math.isnan(mx) or math.isnan(my)]
    if missing:
        ax.text(0.01, 0.01, "n/a: " + ", ".join(keys[method] for method in missing), transform=ax.transAxes,
                fontsize="xx-small", color="grey", va="bottom").set_in_layout(False)
    for axis, spec, invert in ((ax.xaxis, x, ax.invert_xaxis), (ax.yaxis, y, ax.invert_yaxis)):
        if not spec.higher_better:
            invert()
        axis.set_label_text(f"{spec.label} ({'higher' if spec.higher_better else 'lower, reversed'})",
                            fontsize="small")
    ax.grid(alpha=0.3)


def plot_pareto(rows: list[dict], primary: Axis, tradeoffs: tuple[Axis, ...], path: Path, title: str = "") -> Path:
    """Trade-offs as Pareto fronts. First line: each of `tradeoffs` (forgetting, general-capability
    loss) against `primary` (AA, reliability). Then one line per cost of `COST_AXES` that a row
    has: `primary` and each trade-off against that cost. A cost no row measured gets no panel,
    so tables of older records show the quality panels only. Better is up and to the right on
    every panel (lower-is-better axes are reversed and say so); the dashed staircase is the front
    of the non-dominated methods (`hipbench.pareto`), drawn bold and round. Points are numbered;
    the legend names each number's method."""
    if not rows:
        raise ValueError("nothing to plot: no leaderboard rows")
    rows = sorted(rows, key=lambda r: r["method"])
    colours = method_colours([row["method"] for row in rows])
    keys = {row["method"]: str(i + 1) for i, row in enumerate(rows)}
    costs = [cost for cost in COST_AXES if _measured(rows, cost.key)]
    panels = [[(primary, y) for y in tradeoffs]] + [[(cost, y) for y in (primary, *tradeoffs)] for cost in costs]
    columns = max(len(line) for line in panels)
    fig, axes = plt.subplots(len(panels), columns, figsize=(3.9 * columns, 3.6 * len(panels)), squeeze=False,
                             layout="constrained")
    for line, line_axes in zip(panels, axes):
        for (x, y), ax in zip(line, line_axes):
            _pareto_panel(ax, rows, x, y, colours, keys)
        for ax in line_axes[len(line):]:
            ax.axis("off")
    handles = [plt.Line2D([], [], color=colours[row["method"]], marker="o", linestyle="") for row in rows]
    fig.legend(handles, [f"{keys[method]}  {method}" for method in colours], loc="outside right upper",
               fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return save(fig, path)
