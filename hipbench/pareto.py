"""Which methods are on the Pareto front of two metrics, each with its own "better" direction.

A leaderboard ranks methods on one column at a time, but the question of a continual-learning or
editing table is a trade-off: AA against forgetting, reliability against general-capability loss,
quality against cost (PEFT's `method_comparison` shows its results as such a front). A point is
dominated when another point is at least as good on both axes and strictly better on one; the
front is the points no other point dominates. Equal points do not dominate each other, so
duplicates are on the front together or off it together. A point with a NaN coordinate was not
measured: it is neither on the front nor dominates any point, rather than being guessed.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

Point = tuple[float, float]


def oriented(point: Point, higher_better: tuple[bool, bool]) -> Point:
    """`point` with each coordinate negated where lower is better, so "better" is larger on both."""
    return (point[0] if higher_better[0] else -point[0], point[1] if higher_better[1] else -point[1])


def dominates(a: Point, b: Point, higher_better: tuple[bool, bool]) -> bool:
    """Whether `a` is at least as good as `b` on both axes and strictly better on one."""
    a, b = oriented(a, higher_better), oriented(b, higher_better)
    return a[0] >= b[0] and a[1] >= b[1] and (a[0] > b[0] or a[1] > b[1])


def pareto_front(points: Sequence[Point], higher_better: tuple[bool, bool]) -> list[int]:
    """Indices (ascending) of the points that no other point dominates; points with a NaN
    coordinate are left out and dominate nothing. O(n²): a table has a handful of methods."""
    measured = [i for i, p in enumerate(points) if not any(math.isnan(v) for v in p)]
    return [i for i in measured
            if not any(dominates(points[j], points[i], higher_better) for j in measured if j != i)]


def front_path(points: Sequence[Point], higher_better: tuple[bool, bool]) -> list[Point]:
    """The front as the vertices of a staircase, in the original coordinates: front points ordered
    from best on y to best on x, each joined to the next by a step along y then along x, so the
    line is the edge of the region the front dominates. Empty when nothing was measured."""
    front = sorted(pareto_front(points, higher_better),
                   key=lambda i: (oriented(points[i], higher_better)[0], -oriented(points[i], higher_better)[1]))
    path: list[Point] = []
    for index in front:
        x, y = points[index]
        if path:
            path.append((path[-1][0], y))
        path.append((x, y))
    return path


class Axis(NamedTuple):
    """One metric of a Pareto panel: its key in a leaderboard row, its axis label, its direction."""
    key: str
    label: str
    higher_better: bool
