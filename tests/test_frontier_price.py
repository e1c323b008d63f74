"""The price of each constraint and explained re-selection: pure functions over trial records."""

from __future__ import annotations

import pytest

from tradeoff.price import describe_price, price_curve, price_of_constraint
from tradeoff.requirements import Requirements
from tradeoff.searcher import TrialRecord
from tradeoff.selection import describe_selection, explain_selection, hypervolume


def trained(number, family, quality, p95_ms, size_mb):
    return TrialRecord(
        number=number,
        status="trained",
        family=family,
        val_metric=quality,
        p95_ms=p95_ms,
        size_mb=size_mb,
    )


def rejected(number, family, p95_ms, size_mb, why):
    return TrialRecord(
        number=number,
        status="infeasible",
        family=family,
        p95_ms=p95_ms,
        size_mb=size_mb,
        violations=(why,),
    )


# Recorded as if searched without limits, then asked what-if questions.
TRIALS = [
    trained(3, "linear", 0.300, 0.05, 0.002),
    trained(7, "mlp", 0.620, 0.09, 0.20),
    trained(12, "mlp", 0.600, 0.12, 0.10),  # slower and worse than #7: never a step
    trained(41, "cnn", 0.633, 0.20, 0.05),
    trained(44, "cnn", 0.700, 0.40, 0.80),
    rejected(50, "cnn", 0.15, 2.0, "size 2.000 MB > 1.0 MB"),
]


def test_price_curve_is_a_rising_step_curve_over_cost():
    steps = price_curve(TRIALS, Requirements(), "latency")
    assert [(s.threshold, s.number) for s in steps] == [
        (0.05, 3),
        (0.09, 7),
        (0.20, 41),
        (0.40, 44),
    ]
    qualities = [s.quality for s in steps]
    assert qualities == sorted(qualities) and len(set(qualities)) == len(qualities)


def test_price_curve_holds_the_other_requirement():
    steps = price_curve(TRIALS, Requirements(max_size_mb=0.1), "latency")
    assert [s.number for s in steps] == [3, 12, 41]  # #7 and #44 are too large


def test_relaxing_latency_names_the_gain_and_the_model():
    req = Requirements(max_latency_ms=0.1)
    price = price_of_constraint(TRIALS, req, "latency")
    assert price.best_now.number == 7 and price.next_step.number == 41
    assert price.gain == pytest.approx(0.013)
    sentence = describe_price(price, "accuracy")
    assert sentence.startswith(
        "relaxing p95 latency from 0.1 ms to 0.2 ms buys +1.3 points of accuracy (model #41, cnn)"
    )
    # ...and tightening below #7's latency falls back to #3.
    assert price.previous_step.number == 3
    assert "would cost 32.0 points of accuracy (best then: model #3, linear)" in sentence


def test_relaxing_counts_candidates_rejected_before_training():
    price = price_of_constraint(TRIALS, Requirements(max_latency_ms=0.1), "latency")
    assert price.untrained_beyond == 1  # #50 at 0.15 ms, up to the next step at 0.2 ms
    assert "1 candidate(s) rejected before training" in describe_price(price, "accuracy")


def test_nothing_to_buy_beyond_the_slowest_trained_model():
    price = price_of_constraint(TRIALS, Requirements(max_latency_ms=1.0), "latency")
    assert price.next_step is None and price.best_now.number == 44
    assert "buys nothing known" in describe_price(price, "accuracy")


def test_when_nothing_fits_the_first_step_is_named():
    price = price_of_constraint(TRIALS, Requirements(max_size_mb=0.001), "size")
    assert price.best_now is None and price.next_step.number == 3
    assert "admits model #3" in describe_price(price, "accuracy")


def test_explained_selection_gives_margins_and_what_the_next_model_needs():
    req = Requirements(max_latency_ms=0.1, max_size_mb=0.5)
    selection = explain_selection(TRIALS, req)
    assert selection.pick.number == 7
    slack = {m.requirement: m.slack for m in selection.margins}
    assert slack == pytest.approx({"--max-latency-ms": 0.01, "--max-size-mb": 0.3})
    assert selection.next_better.number == 41  # the next step up in quality, not the best
    assert [(m.requirement, m.value) for m in selection.needs] == [("--max-latency-ms", 0.20)]
    text = "\n".join(describe_selection(selection))
    assert "Picked #7 (mlp)" in text and "#41 (cnn)" in text and "--max-latency-ms 0.2" in text


def test_explained_selection_when_nothing_fits_names_the_best_recorded_model():
    selection = explain_selection(TRIALS, Requirements(max_latency_ms=0.01))
    assert selection.pick is None and selection.margins == ()
    assert selection.next_better.number == 44
    text = "\n".join(describe_selection(selection))
    assert text.startswith("No trained candidate meets these requirements.")


def test_hypervolume_of_a_two_point_front():
    # Points (quality, cost); reference (quality 0, cost 3): 1 x 0.5 + 1 x 0.8.
    assert hypervolume([(0.5, 1.0), (0.8, 2.0)], (0.0, 3.0)) == pytest.approx(1.3)
    assert hypervolume([(0.5, 1.0), (0.4, 2.0)], (0.0, 3.0)) == pytest.approx(1.0)  # dominated
    assert hypervolume([(0.5, 4.0)], (0.0, 3.0)) == 0.0  # beyond the reference
    assert hypervolume([], (0.0, 3.0)) == 0.0
