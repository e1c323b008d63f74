"""Memory and throughput as requirements in selection, margins and the price of constraints."""

from __future__ import annotations

from tradeoff.price import describe_price, price_of_constraint, priced_axes
from tradeoff.requirements import Requirements
from tradeoff.searcher import TrialRecord
from tradeoff.selection import describe_selection, explain_selection, meets


def trained(number, quality, memory_mb, rows_per_s, batch=8):
    return TrialRecord(
        number=number,
        status="trained",
        family="mlp",
        val_metric=quality,
        p95_ms=0.1,
        size_mb=0.1,
        inference_rss_mb=memory_mb,
        throughput_rows_per_s=rows_per_s,
        throughput_batch=batch,
    )


TRIALS = [
    trained(1, 0.70, 4.0, 90_000),
    trained(2, 0.80, 9.0, 40_000),
    trained(3, 0.85, 20.0, 9_000),
]


def test_selection_respects_memory_and_throughput_at_the_measured_batch():
    req = Requirements(max_memory_mb=10, min_throughput=30_000, throughput_batch=8)
    selection = explain_selection(TRIALS, req)
    assert selection.pick.number == 2
    margins = {m.requirement: m.slack for m in selection.margins}
    assert margins["--max-memory-mb"] == 1.0 and margins["--min-throughput"] == 10_000
    assert "--max-memory-mb 10: margin 1 MB" in "\n".join(describe_selection(selection))
    # Throughput measured at batch 8 says nothing about batch 1; memory unknown never meets.
    assert not meets(TRIALS[0], Requirements(min_throughput=1, throughput_batch=None))
    unknown = TrialRecord(
        number=9, status="trained", family="linear", val_metric=0.9, p95_ms=0.1, size_mb=0.1
    )
    assert not meets(unknown, Requirements(max_memory_mb=100))
    assert meets(unknown, Requirements(max_latency_ms=1))


def test_memory_and_throughput_are_priced():
    req = Requirements(max_memory_mb=10, min_throughput=30_000, throughput_batch=8)
    assert priced_axes(TRIALS, req) == ["latency", "size", "memory", "throughput"]
    assert priced_axes([], Requirements()) == ["latency", "size"]
    memory = price_of_constraint(TRIALS, req, "memory")
    assert memory.best_now.number == 2 and memory.next_step is None  # #3 fails throughput
    throughput = price_of_constraint(TRIALS, req, "throughput")
    assert throughput.best_now.number == 2 and throughput.next_step is None  # #3 fails memory
    loose = Requirements(min_throughput=30_000, throughput_batch=8)
    price = price_of_constraint(TRIALS, loose, "throughput")
    assert price.best_now.number == 2 and price.next_step.number == 3
    assert price.next_step.threshold == 9_000  # relaxing a floor lowers it
    sentence = describe_price(price, "accuracy")
    assert "relaxing throughput from 3e+04 rows/s to 9000 rows/s buys +5.0 points" in sentence


def test_the_least_relaxation_of_a_memory_cap_or_a_throughput_floor():
    from tradeoff.price import least_relaxations

    # Nothing fits: #1 is too slow for the floor, #2 and #3 too big for the cap.
    req = Requirements(max_memory_mb=5, min_throughput=95_000, throughput_batch=8)
    assert explain_selection(TRIALS, req).pick is None
    relaxations = {r.flag: r for r in least_relaxations(TRIALS, req)}
    # Lowering the floor to #1's 90,000 rows/s (rounded down) admits it; the cap alone cannot
    # admit anything (every model within 5 MB is under the floor).
    assert set(relaxations) == {"--min-throughput"}
    floor = relaxations["--min-throughput"]
    assert floor.needed == 90_000 and floor.pick.number == 1 and floor.trained
    # #1 is 4 MB: a 3 MB cap admits nothing; raising it to 4 MB (the least) admits #1.
    capped = Requirements(max_memory_mb=3, min_throughput=30_000, throughput_batch=8)
    relaxations = {r.flag: r for r in least_relaxations(TRIALS, capped)}
    assert set(relaxations) == {"--max-memory-mb"}
    cap = relaxations["--max-memory-mb"]
    assert cap.needed == 4.0 and cap.pick.number == 1
