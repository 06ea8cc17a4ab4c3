"""Plots drawn from leaderboard rows (never from anything typed by hand).

Matplotlib runs on the Agg backend, so plots are written on machines without a display.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
