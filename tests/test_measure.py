from __future__ import annotations

import numpy as np
import torch
from torch import nn

from conftest import QUICK_PROTOCOL
from tradeoff.families import to_onnx
from tradeoff.measure import bootstrap_accuracy, measure_latency


def test_latency_ranks_a_big_model_above_a_tiny_one():
    tiny = to_onnx(nn.Linear(40, 10), (40,))
    big = to_onnx(
        nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(512, 512), nn.ReLU())]), (512,)
    )
    # Interleave to cancel drift; compare medians by ratio, never absolute times.
    tiny_p50 = [measure_latency(tiny, (40,), QUICK_PROTOCOL).p50_ms for _ in range(2)]
    big_p50 = [measure_latency(big, (512,), QUICK_PROTOCOL).p50_ms for _ in range(2)]
    assert min(big_p50) / max(tiny_p50) > 5


def test_latency_record_says_how_it_was_measured():
    latency = measure_latency(to_onnx(nn.Linear(4, 2), (4,)), (4,), QUICK_PROTOCOL)
    assert latency.p50_ms <= latency.p95_ms <= latency.p99_ms
    assert latency.calls >= QUICK_PROTOCOL.min_calls
    assert latency.method["threads"] == 1 and latency.method["batch"] == 1


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
