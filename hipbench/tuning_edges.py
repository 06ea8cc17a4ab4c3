"""Grid tuning past an edge: when a method's best trial sits at the lowest or highest value tried of
a numeric setting, try the next value beyond it, the same rule for every method.

Why: a grid is only as fair as its range. Nine trials each is the same effort on paper, but a method
whose best learning rate is the top of its grid (the key-option methods search three lrs, LoRA and
PiSSA nine) was never allowed the lr that might suit it, and a comparison with it is partly a
comparison of search ranges. Extending a grid whose optimum lies on its boundary is the usual remedy;
applied by one rule, methods with interior optima get no extra trial and the others get at most
`steps` per setting and direction.

The rule, for each float-valued setting of the space (lr and numeric options; ints, bools and
strings are left alone) with at least two declared values: if the best trial's value is the highest
value tried, the next is best × (best / the next lower value tried), the grid's own ratio continued
(5e-4 after 1e-4 gives 2.5e-3); the lowest, symmetrically. The candidate is the best trial with only
that setting changed, rounded to three significant digits, and must be a value the option accepts
(`hipbench.method.option`'s declared range) and not a trial already run. Each round's candidates run
together; the next round starts from the new best, until no candidate is left or `steps` values lie
beyond the declared grid on that side. Extension trials are not in the Optuna study (its
categorical distributions cannot grow): they are ordinary trial records, found again (and skipped
as complete) when a tuning resumes.
"""
from __future__ import annotations

from typing import Callable

EDGE_STEPS = 2  # at most this many values past each end of a setting's declared grid


def edge_candidates(space: dict[str, tuple], trials: list[tuple[dict, float | None]], steps: int,
                    accepts: Callable[[str, float], bool]) -> list[dict]:
    """The next trials past the edges of the best one (module docstring). `trials` are every trial
    run so far in trial order, with their objective (None: failed); ties go to the earliest."""
    done = [(params, value) for params, value in trials if value is not None]
    if steps < 1 or not done:
        return []
    best = _best(done)
    tried = [params for params, _ in trials]
    candidates = []
    for key, declared in space.items():
        if len(set(declared)) < 2 or not all(isinstance(v, float) for v in declared):
            continue
        values = sorted({params[key] for params in tried})
        value = best[key]
        if value == values[-1] and sum(v > max(declared) for v in values) < steps:
            candidate = value * value / values[-2]
        elif value == values[0] and sum(v < min(declared) for v in values) < steps:
            candidate = value * value / values[1]
        else:
            continue
        candidate = float(f"{candidate:.3g}")
        params = {**best, key: candidate}
        if params not in tried and params not in candidates and accepts(key, candidate):
            candidates.append(params)
    return candidates


def _best(done: list[tuple[dict, float]]) -> dict:
    """The best trial's parameters; ties: the earliest, as `hipbench.tuning.tuned_entry` chooses."""
    index = max(range(len(done)), key=lambda i: (done[i][1], -i))
    return done[index][0]
