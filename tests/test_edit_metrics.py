"""Editing metrics on hand-made measurement rows, with expected values computed by hand."""
from __future__ import annotations

import math

import pytest

from hipbench import edit_metrics as em


def row(stage, edit, kind, target, predicted, logprobs=None, item=0):
    return {"stage": stage, "edit": edit, "kind": kind, "item": item, "target": target, "predicted": predicted,
            "logprobs": logprobs if logprobs is not None else [-1.0] * len(target)}


def test_token_accuracy_counts_matching_positions():
    assert em.token_accuracy([5, 6, 9], [5, 6, 7]) == pytest.approx(2 / 3)
    assert em.token_accuracy([1], [1]) == 1.0
    with pytest.raises(ValueError, match="predicted has 2 tokens, target has 3"):
        em.token_accuracy([1, 2], [1, 2, 3])


def test_efficacy_compares_mean_not_summed_log_probabilities():
    # summed: new -3.0 < old -2.5, but per token: new -1.0 > old -2.5
    assert em.prefers_new([-1.0, -1.0, -1.0], [-2.5])
    assert not em.prefers_new([-2.0], [-2.0])  # a tie is not a success


def test_locality_is_agreement_with_pre_edit_predictions_not_with_the_answer():
    assert em.agreement([7, 8, 9, 10], [7, 8, 0, 10]) == pytest.approx(0.75)


def test_edit_scores_average_within_request_then_over_requests():
    rows = [
        # edit 0: rewrite 2/2, old answer less likely; two rephrases 1/2 and 0/2; one locality 1/2 kept
        row("final", 0, em.REWRITE, [1, 2], [1, 2], [-0.5, -0.5]),
        row("final", 0, em.REWRITE_OLD, [3], [1], [-4.0]),
        row("final", 0, em.REPHRASE, [1, 2], [1, 9], [-1.0, -3.0], item=0),
        row("final", 0, em.REPHRASE_OLD, [3], [3], [-1.0], item=0),
        row("final", 0, em.REPHRASE, [1, 2], [8, 9], [-3.0, -3.0], item=1),
        row("final", 0, em.REPHRASE_OLD, [3], [3], [-1.0], item=1),
        row("base", 0, em.LOCALITY, [4, 5], [4, 6]),
        row("final", 0, em.LOCALITY, [4, 5], [4, 7]),
        # edit 1: rewrite 1/3, no ground truth, one rephrase 3/3, locality 2/2, portability 0/1
        row("final", 1, em.REWRITE, [1, 2, 3], [1, 0, 0]),
        row("final", 1, em.REPHRASE, [1, 2, 3], [1, 2, 3]),
        row("base", 1, em.LOCALITY, [4, 5], [4, 6]),
        row("final", 1, em.LOCALITY, [4, 5], [4, 6]),
        row("final", 1, em.PORTABILITY, [9], [8]),
        row("base", 1, em.PORTABILITY, [9], [9]),
        {"stage": "final", "task": "general", "metric": "text_nll", "value": 2.0},  # ignored here
    ]
    scores = em.edit_scores(rows, "final")
    assert scores["reliability"] == pytest.approx((1.0 + 1 / 3) / 2)
    assert scores["efficacy"] == 1.0  # only edit 0 has an old answer
    assert scores["generalization"] == pytest.approx(((0.5 + 0.0) / 2 + 1.0) / 2)
    assert scores["generalization_efficacy"] == 0.0  # edit 0: mean -2.0 and -3.0 vs -1.0; edit 1 has no old answer
    assert scores["locality"] == pytest.approx((0.5 + 1.0) / 2)
    assert scores["portability"] == 0.0
    assert em.edit_scores(rows, "base")["portability"] == 1.0


def test_generalization_efficacy_by_hand():
    rows = [row("final", 0, em.REPHRASE, [1], [1], [-0.5], item=0), row("final", 0, em.REPHRASE_OLD, [2], [1], [-1.0], item=0),
            row("final", 0, em.REPHRASE, [1], [1], [-2.0], item=1), row("final", 0, em.REPHRASE_OLD, [2], [1], [-1.0], item=1),
            row("final", 1, em.REPHRASE, [1], [1], [-0.1]), row("final", 1, em.REPHRASE_OLD, [2], [1], [-0.2])]
    # edit 0: one of two rephrases prefers the new answer (0.5); edit 1: 1.0 -> mean 0.75
    assert em.edit_scores(rows)["generalization_efficacy"] == pytest.approx(0.75)


def test_missing_kinds_give_nan_and_locality_needs_a_base_row():
    scores = em.edit_scores([row("final", 0, em.REWRITE, [1], [1])])
    assert scores["reliability"] == 1.0
    for key in ("efficacy", "generalization", "locality", "portability"):
        assert math.isnan(scores[key])
    with pytest.raises(ValueError, match="locality item 0 of edit 3 has no pre-edit"):
        em.edit_scores([row("final", 3, em.LOCALITY, [1], [1])])


def test_reliability_drop_is_immediate_minus_final_rewrite_accuracy():
    rows = [row("immediate", 0, em.REWRITE, [1, 2], [1, 2]), row("final", 0, em.REWRITE, [1, 2], [1, 0]),
            row("immediate", 1, em.REWRITE, [3], [3]), row("final", 1, em.REWRITE, [3], [3])]
    assert em.reliability_drop(rows) == pytest.approx((0.5 + 0.0) / 2)
    assert math.isnan(em.reliability_drop(rows[1::2]))  # no immediate rows: single and batch modes


def general(stage, facts, nll, edit=None):
    return [{"stage": stage, "edit": edit, "task": "general", "metric": "fact_correct", "values": facts},
            {"stage": stage, "edit": edit, "task": "general", "metric": "text_nll", "value": nll}]


def test_general_degradation_counts_only_facts_the_base_knew():
    rows = general("base", [1, 1, 0, 1], 2.0) + general("final", [1, 0, 1, 1], 2.5)
    result = em.general_degradation(rows)
    assert result["fact_retention"] == pytest.approx(2 / 3)
    assert result["nll_delta"] == pytest.approx(0.5)
    assert result["ppl_ratio"] == pytest.approx(math.exp(0.5))


def test_general_degradation_averages_over_single_edit_models():
    rows = (general("base", [1, 1], 2.0) + general("final", [1, 1], 2.2, edit=0)
            + general("final", [1, 0], 2.6, edit=1))
    result = em.general_degradation(rows)
    assert result["fact_retention"] == pytest.approx(0.75)
    assert result["nll_delta"] == pytest.approx(0.4)
    assert result["ppl_ratio"] == pytest.approx(math.exp(0.4))
    with pytest.raises(ValueError, match="no final"):
        em.general_degradation(general("base", [1], 1.0))
