"""benchmarks/peers.py's parts that need no peer installed: the fresh-process probe, the tables."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest

from tradeoff.measure import LatencyProtocol, reference_model

peers = pytest.importorskip("benchmarks.peers")

SHORT = LatencyProtocol(
    warmup_calls=10, warmup_max_seconds=0.1, min_calls=100, min_seconds=0.1, max_seconds=2.0
)


def test_probe_measures_a_shipped_onnx_model_in_a_fresh_process(tmp_path):
    model, shape = reference_model()
    path = tmp_path / "tiny.onnx"
    path.write_bytes(model)
    row = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    result = peers.probe(sys.executable, "onnx", str(path), row, SHORT)
    latency = result["latency"]
    assert latency["calls"] >= SHORT.min_calls
    assert 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"]
    # Timed next to the reference model: the reference itself is about 1x of itself.
    assert 0.3 < latency["ratio_to_reference"] < 3.0
    assert latency["method"]["runtime"].startswith("onnxruntime ")
    assert latency["method"]["threads"] == 1 and latency["method"]["batch"] == 1
    assert result["peak_rss_mb"] >= result["loaded_rss_mb"] > 0
    assert result["inference_rss_mb"] == pytest.approx(
        result["peak_rss_mb"] - result["baseline_rss_mb"]
    )


def test_probe_failure_names_the_cause(tmp_path):
    with pytest.raises(RuntimeError, match="NO_SUCHFILE|No such file|not exist|Load model"):
        peers.probe(sys.executable, "onnx", str(tmp_path / "absent.onnx"), np.zeros((1, 4)), SHORT)


def _row(contender, p95, size, shipped="own predict", test=(0.9, 0.85, 0.95), error=None):
    return peers.Measured(
        contender=contender,
        shipped=shipped,
        pick="x|y",
        fit_s=12.0,
        test=test,
        p50_ms=p95 / 2 if p95 else None,
        p95_ms=p95,
        ratio_to_reference=2.0 if p95 else None,
        own_ms_per_row=0.001 if contender != "tradeoff" else None,
        own_batch=114 if contender != "tradeoff" else None,
        size_mb=size,
        memory_mb=40.0,
        error=error,
    )


def test_meets_is_checked_on_p95_at_batch_1_and_size():
    case = peers.Case("breast_cancer", 0.02, 0.05)
    assert _row("tradeoff", 0.01, 0.01).meets(case) is True
    assert _row("flaml", 7.0, 0.01).meets(case) is False  # its own notion may be 0.001 ms/row
    assert _row("lightgbm", 0.01, 0.3).meets(case) is False
    assert _row("autogluon", None, None, error="boom").meets(case) is None


def test_tables_give_ratios_to_tradeoff_and_count_the_picks_that_meet_the_limits():
    case = peers.Case("breast_cancer", 0.02, 0.05)
    rows = [
        _row("tradeoff", 0.01, 0.01, shipped="bundle in ORT"),
        _row("flaml", 5.0, 0.2),
        _row("autogluon", None, None, test=None, error="no model meets infer_limit"),
    ]
    lines = peers.case_table(case, "accuracy", rows)
    assert lines[0].startswith("### breast_cancer: p95 latency <= 0.02 ms")
    body = [line for line in lines if line.startswith("| flaml")]
    cells = [c.strip() for c in body[0].strip("|").split("|")]
    assert cells[7] == "0.002"  # tradeoff's p95 over FLAML's: 0.01 / 5.0
    assert cells[8] == "1"  # both 2x the reference: the same speed, drift aside
    assert cells[9] == "0.0010 (114)"  # FLAML's own notion beside ours
    assert cells[-1] == "no"
    assert "x/y" in body[0]  # a pipe in a name does not break the table
    failed = next(line for line in lines if line.startswith("| autogluon"))
    assert "failed: no model meets infer_limit" in failed and failed.endswith("| - |")

    other = peers.Case("digits", 0.015, 0.15)
    summary = peers.summary_table([(case, rows), (other, [replace(rows[0], p95_ms=0.1), rows[1]])])
    text = "\n".join(summary)
    assert "| tradeoff | bundle in ORT | 1 / 2 | breast_cancer |" in text
    assert "| flaml | own predict | 0 / 2 | - |" in text
    assert "| autogluon | own predict | 0 / 0 | - |" in text


def test_section_is_replaced_between_its_markers_and_the_rest_kept(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## Another benchmark\nkept\n")
    peers.write_section(path, ["## first"])
    peers.write_section(path, ["## second"])
    text = path.read_text()
    assert "kept" in text and "## second" in text and "## first" not in text
    assert text.count(peers.START) == 1 and text.count(peers.END) == 1


def test_measure_call_times_any_callable_next_to_the_reference():
    from tradeoff.measure import measure_call

    calls = []
    latency = measure_call(lambda: calls.append(1), SHORT, runtime="a Python function")
    assert latency.calls >= SHORT.min_calls and len(calls) >= latency.calls
    assert latency.method["runtime"] == "a Python function"
    assert latency.ratio_to_reference is not None and latency.reference_p50_ms > 0
    assert 0 < latency.p50_ms <= latency.p95_ms
