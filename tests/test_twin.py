"""The cheaper twin of validation-ranked candidates: paired through the run's shared
bootstrap resamples of the validation rows."""

import numpy as np

from tradeoff.measure import replicates
from tradeoff.requirements import Requirements
from tradeoff.searcher import TrialRecord
from tradeoff.selection import cheaper_twin, difference_error, select, tied


def _record(number, y_val, predicted, p95, metric="accuracy", p95_high=None):
    outputs = np.eye(2)[predicted]
    return TrialRecord(
        number=number,
        status="trained",
        family="mlp",
        val_metric=float(np.mean(predicted == y_val)),
        p95_ms=p95,
        p95_high_ms=p95_high,
        size_mb=0.1,
        val_replicates=tuple(replicates(metric, y_val, outputs)),
    )


def test_replicates_share_their_resamples_so_a_model_minus_itself_has_no_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    outputs = np.eye(2)[np.where(rng.random(200) < 0.8, y, 1 - y)]
    a, b = replicates("accuracy", y, outputs), replicates("accuracy", y, outputs)
    assert np.array_equal(a, b) and len(a) == 100 and a.std() > 0


def test_a_faster_candidate_one_row_apart_is_the_twin_and_one_far_worse_is_not():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    best_pred = np.where(rng.random(300) < 0.9, y, 1 - y)
    near_pred = best_pred.copy()
    # Four rows lost and two gained: two fewer right, within noise (worse on every row
    # where the two differ would be a real difference, as a loss on every fold is).
    flip = np.r_[np.flatnonzero(near_pred == y)[:4], np.flatnonzero(near_pred != y)[:2]]
    near_pred[flip] = 1 - near_pred[flip]
    far_pred = np.where(rng.random(300) < 0.7, y, 1 - y)
    best = _record(0, y, best_pred, p95=0.5)
    near = _record(1, y, near_pred, p95=0.1, p95_high=0.12)
    far = _record(2, y, far_pred, p95=0.01)
    assert 0 < difference_error(best, near) < difference_error(best, far)
    assert tied(best, near) and not tied(best, far)
    only_losses = best_pred.copy()
    lost = np.flatnonzero(only_losses == y)[:2]
    only_losses[lost] = 1 - only_losses[lost]
    assert not tied(best, _record(3, y, only_losses, p95=0.1))
    trials = [best, near, far]
    assert select(trials, Requirements()).number == 0
    assert cheaper_twin(trials, Requirements()).number == 1
    assert select(trials, Requirements(), prefer="cheaper").number == 1
    # Under a limit the best breaks, the near one is the pick and has no twin of its own.
    assert select(trials, Requirements(max_latency_ms=0.2)).number == 1
    assert cheaper_twin(trials, Requirements(max_latency_ms=0.2)) is None


def test_a_twin_must_be_cheaper_beyond_its_latency_noise():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    pred = np.where(rng.random(300) < 0.9, y, 1 - y)
    best = _record(0, y, pred, p95=0.5)
    # Same predictions, p95 lower but its upper bound above the best's p95: not cheaper.
    blurred = _record(1, y, pred, p95=0.45, p95_high=0.6)
    assert tied(best, blurred) and cheaper_twin([best, blurred], Requirements()) is None


def test_records_without_replicates_or_of_other_rankings_never_tie_unless_equal():
    best = TrialRecord(number=0, status="trained", family="mlp", val_metric=0.9, p95_ms=0.5)
    other = TrialRecord(number=1, status="trained", family="mlp", val_metric=0.89, p95_ms=0.1)
    assert np.isnan(difference_error(best, other)) and not tied(best, other)
    equal = TrialRecord(number=2, status="trained", family="mlp", val_metric=0.9, p95_ms=0.1)
    assert tied(best, equal)
