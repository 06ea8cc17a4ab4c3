"""The Pareto front of two metrics (`hipbench.pareto`): dominance with each axis's direction, ties,
duplicates, unmeasured points, and the staircase drawn through the front."""
from __future__ import annotations

import math

from hipbench.pareto import dominates, front_path, pareto_front

UP = (True, True)


def test_a_point_worse_on_both_axes_is_dominated_and_left_off_the_front():
    points = [(0.8, 0.9), (0.5, 0.4), (0.9, 0.2)]
    assert pareto_front(points, UP) == [0, 2]


def test_a_trade_off_keeps_both_points_on_the_front():
    assert pareto_front([(0.9, 0.1), (0.1, 0.9)], UP) == [0, 1]


def test_equal_on_one_axis_and_worse_on_the_other_is_dominated():
    # a tie on x is not enough to survive: (0.5, 0.3) is beaten on y at the same x
    assert pareto_front([(0.5, 0.7), (0.5, 0.3)], UP) == [0]
    assert pareto_front([(0.2, 0.6), (0.7, 0.6)], UP) == [1]


def test_duplicates_do_not_dominate_each_other():
    assert pareto_front([(0.5, 0.5), (0.5, 0.5), (0.1, 0.1)], UP) == [0, 1]
    assert not dominates((0.5, 0.5), (0.5, 0.5), UP)


def test_lower_is_better_flips_which_point_wins():
    points = [(0.8, 1.0), (0.8, 3.0)]  # y as NLL Δ or seconds: lower is better
    assert pareto_front(points, UP) == [1]
    assert pareto_front(points, (True, False)) == [0]
    assert pareto_front([(1.0, 0.5), (2.0, 0.5)], (False, True)) == [0]
    assert pareto_front([(1.0, 1.0), (2.0, 2.0)], (False, False)) == [0]
    assert pareto_front([(1.0, 1.0), (2.0, 2.0)], (True, True)) == [1]
    assert pareto_front([(1.0, 1.0), (2.0, 2.0)], (True, False)) == [0, 1]


def test_unmeasured_points_are_neither_on_the_front_nor_dominate():
    points = [(math.nan, 9.0), (0.4, 0.4), (0.6, math.nan)]
    assert pareto_front(points, UP) == [1]
    assert pareto_front([(math.nan, math.nan)], UP) == []


def test_front_path_is_a_staircase_from_best_y_to_best_x_in_original_coordinates():
    points = [(0.9, 0.1), (0.2, 0.8), (0.5, 0.5), (0.3, 0.3)]
    assert front_path(points, UP) == [(0.2, 0.8), (0.2, 0.5), (0.5, 0.5), (0.5, 0.1), (0.9, 0.1)]
    # y lower-is-better: the best y is now the smallest, and the staircase starts there
    assert front_path([(0.9, 3.0), (0.4, 1.0), (0.3, 2.0)], (True, False)) == [(0.4, 1.0), (0.4, 3.0), (0.9, 3.0)]
    assert front_path([], UP) == []
