"""Cost measurement: ratios and intervals only (never absolute times: the machine is shared)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from tradeoff.families import to_onnx
from tradeoff.measure import (
    QUICK_PROTOCOL,
    bootstrap_accuracy,
    compare_latency,
    count_flops,
    describe_method,
    measure_fresh,
    measure_latency,
    measure_throughput,
    paired_accuracy_drop,
    reference_model,
)


def _mlp(width: int, depth: int) -> bytes:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(40, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return to_onnx(nn.Sequential(*layers, nn.Linear(width, 10)), (40, 1))


@pytest.fixture(scope="module")
def small() -> bytes:
    return _mlp(16, 1)


@pytest.fixture(scope="module")
def large() -> bytes:
    return _mlp(512, 3)  # ~0.5 M multiply-adds: many times the small one's work


def test_latency_record_has_percentiles_intervals_and_method(small):
    latency = measure_latency(small, (40, 1), QUICK_PROTOCOL)
    assert latency.p50_ms <= latency.p95_ms <= latency.p99_ms
    for (low, high), point in (
        (latency.p50_interval_ms, latency.p50_ms),
        (latency.p95_interval_ms, latency.p95_ms),
        (latency.p99_interval_ms, latency.p99_ms),
    ):
        assert low <= point <= high
    assert latency.p95_high_ms >= latency.p95_ms
    assert latency.calls >= QUICK_PROTOCOL.min_calls
    method = latency.method
    assert method["runtime"].startswith("onnxruntime ") and method["threads"] == 1
    assert method["batch"] == 1 and method["calls"] == latency.calls and method["cpu"]
    assert isinstance(method["cpu_flags"], list) and method["reference"]
    assert method["warmup_calls"] >= QUICK_PROTOCOL.warmup_calls
    assert "thread(s)" in describe_method(method)


def test_ratio_to_reference_orders_models_by_work(small, large):
    quick = QUICK_PROTOCOL
    a = measure_latency(small, (40, 1), quick)
    b = measure_latency(large, (40, 1), quick)
    assert a.ratio_to_reference and b.ratio_to_reference
    assert a.ratio_interval[0] <= a.ratio_to_reference <= a.ratio_interval[1]
    assert b.ratio_to_reference > 2 * a.ratio_to_reference
    # The reference measured against itself is 1 within noise.
    ref_bytes, ref_shape = reference_model()
    ref = measure_latency(ref_bytes, ref_shape, quick)
    assert 0.7 < ref.ratio_to_reference < 1.4


def test_side_by_side_comparison_sees_a_real_speed_up(small, large):
    ratio, (low, high), how = compare_latency(small, large, (40, 1), QUICK_PROTOCOL)
    assert low <= ratio <= high < 1.0 and how == "full"
    ratio, (low, high), _ = compare_latency(small, small, (40, 1), QUICK_PROTOCOL)
    assert 0.7 < ratio < 1.4


def test_side_by_side_comparison_stops_once_decisive(small, large):
    """Screened, a clear speed-up, and a model no faster, are decided before the full count."""
    long = dataclasses.replace(QUICK_PROTOCOL, min_calls=1600, min_seconds=0.0)
    # Checked after 200 calls of each, then 400, 800 (a noisy machine may need another look).
    after = {f"decisive after {n} calls of each)" for n in (200, 400, 800)}
    ratio, (low, high), how = compare_latency(small, large, (40, 1), long, screen=0.95)
    assert how in {f"sequential (faster, {a}" for a in after}, how
    assert low <= ratio <= high < 1 / long.screen_margin
    # Against itself: no faster (ratio about 1), usually known long before the full count; on
    # a loaded machine the interval may straddle 0.95 until the full count (seen in CI while
    # another job ran), and the verdict must not hang on that noise.
    ratio, (low, high), how = compare_latency(small, small, (40, 1), long, screen=0.95)
    assert how in {f"sequential (not faster, {a}" for a in after} | {"full"}, how
    assert low <= ratio <= high and 0.7 < ratio < 1.4
    # A ratio neither decisively under 1 / screen_margin nor surely over ``screen`` (here
    # 2: a model against itself) is never decided early: only the full count ends it.
    assert compare_latency(small, small, (40, 1), long, screen=2.0)[2] == "full"
    assert compare_latency(small, large, (40, 1), long)[2] == "full"  # not screened: in full


def test_reference_can_be_turned_off(small):
    off = dataclasses.replace(QUICK_PROTOCOL, reference_every=0)
    latency = measure_latency(small, (40, 1), off)
    assert latency.ratio_to_reference is None and latency.method["reference"] is None


def test_throughput_grows_with_batch(large):
    one = measure_throughput(large, (40, 1), 1, QUICK_PROTOCOL)
    many = measure_throughput(large, (40, 1), 64, QUICK_PROTOCOL)
    assert many > 1.5 * one


def test_flops_count_matmuls():
    assert count_flops(nn.Linear(40, 10), (40,)) == 2 * 40 * 10
    model = nn.Sequential(nn.Flatten(), nn.Linear(40, 16), nn.ReLU(), nn.Linear(16, 10))
    assert count_flops(model, (40, 1)) == 2 * (40 * 16 + 16 * 10)
    assert count_flops(model, (40, 1), batch=4) == 4 * count_flops(model, (40, 1))


def test_peak_memory_in_a_fresh_process_grows_with_the_model(tmp_path, small):
    torch.manual_seed(0)
    big = to_onnx(nn.Sequential(nn.Flatten(), nn.Linear(40, 4000), nn.Linear(4000, 1000)), (40, 1))
    paths = {}
    for name, model in (("small", small), ("big", big)):  # big: ~16 MB of float weights
        paths[name] = tmp_path / f"{name}.onnx"
        paths[name].write_bytes(model)
    small_mb = measure_fresh(paths["small"], (40, 1), latency=False)
    big_mb = measure_fresh(paths["big"], (40, 1), latency=False)
    assert small_mb["latency"] is None
    assert small_mb["peak_rss_mb"] >= small_mb["baseline_rss_mb"] > 0
    assert big_mb["inference_rss_mb"] > small_mb["inference_rss_mb"] + 8


def test_paired_drop_is_signed_and_bounded():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    parent = y.copy()
    worse = y.copy()
    worse[:50] = (worse[:50] + 1) % 3  # 10 % of rows now wrong
    result = paired_accuracy_drop(y, parent, worse)
    assert result.drop == pytest.approx(0.1) and result.drop_high >= result.drop
    assert result.agreement == pytest.approx(0.9) and result.n == 500
    assert paired_accuracy_drop(y, worse, parent).drop == pytest.approx(-0.1)


def test_bootstrap_interval_brackets_the_value():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    pred = np.where(rng.random(500) < 0.8, y, (y + 1) % 3)
    estimate = bootstrap_accuracy(y, pred, split="test")
    assert estimate.low < estimate.value < estimate.high
    assert abs(estimate.value - 0.8) < 0.05 and estimate.high - estimate.low < 0.15


def test_onnx_export_matches_torch():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    import onnxruntime as ort

    sess = ort.InferenceSession(to_onnx(model, (8,)), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((32, 8)).astype(np.float32)
    expected = model(torch.from_numpy(x)).detach().numpy()
    assert np.abs(sess.run(None, {"input": x})[0] - expected).max() <= 1e-5


def test_sequential_screening_stops_early_only_when_decisive(small):
    protocol = dataclasses.replace(QUICK_PROTOCOL, min_calls=3000, min_seconds=0.3)
    full = measure_latency(small, (40, 1), protocol)
    assert full.method["protocol"] == "full" and full.calls >= 3000
    high = full.p95_high_ms
    # Limits a thousand times away on either side are decided within the first checks.
    under = measure_latency(small, (40, 1), protocol, limit_ms=1000 * high)
    over = measure_latency(small, (40, 1), protocol, limit_ms=high / 1000)
    assert under.method["protocol"].startswith("sequential (under")
    assert over.method["protocol"].startswith("sequential (over")
    assert under.calls < 3000 and over.calls < 3000
    assert under.p95_high_ms * protocol.screen_margin <= 1000 * high
    # Screening off: the full protocol whatever the limit.
    off = dataclasses.replace(protocol, screen_first_calls=0)
    assert measure_latency(small, (40, 1), off, limit_ms=1000 * high).calls >= 3000


def test_architecture_key_ignores_weights_not_structure():
    from tradeoff.measure import architecture_key

    def mlp(width: int, seed: int) -> bytes:
        torch.manual_seed(seed)
        return to_onnx(nn.Sequential(nn.Flatten(), nn.Linear(40, width), nn.ReLU()), (40, 1))

    assert architecture_key(mlp(16, 0)) == architecture_key(mlp(16, 1))
    assert architecture_key(mlp(16, 0)) != architecture_key(mlp(17, 0))
