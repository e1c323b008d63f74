"""Latency of an ONNX model in ONNX Runtime: the runtime the user will ship on.

The protocol: a fixed thread count and batch; warm-up until the median of a
rolling window of calls settles; then timed single calls, interleaved with
blocks of a fixed *reference model* so that each candidate also gets a ratio
to the reference, measured seconds apart rather than minutes apart. Machines
drift (a shared CPU here drifted 1.5x over minutes); the ratio does not.
p50/p95/p99 carry bootstrap intervals, and a hard latency requirement is
checked against the upper bound of p95 (``Latency.p95_high_ms``).
"""

from __future__ import annotations

import functools
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import onnxruntime as ort

from tradeoff.measure.reference import REFERENCE_NAME, reference_model

#: CPU flags that change what an int8 or fp32 kernel can do; recorded with every figure.
_FLAGS_OF_INTEREST = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "amx_int8",
    "neon",
    "asimd",
    "asimddp",
)


@dataclass(frozen=True)
class LatencyProtocol:
    """How latency is measured.

    Warm-up runs windows of ``warmup_calls`` calls until the last three window
    medians agree within ``settle_tolerance`` (or ``warmup_max_seconds`` pass).
    Timing stops once both ``min_calls`` and ``min_seconds`` are reached (or
    ``max_seconds`` passes, for very slow models). Every ``reference_every``
    blocks of ``block_calls`` candidate calls, one block of the reference model
    runs (``reference_every=0`` turns the reference off).

    The default is the screening protocol of a search (>= 2,000 calls and 3 s);
    tests pass a short one explicitly.
    """

    threads: int = 1
    batch: int = 1
    warmup_calls: int = 50
    settle_tolerance: float = 0.05
    warmup_max_seconds: float = 2.0
    min_calls: int = 2000
    min_seconds: float = 3.0
    max_seconds: float = 20.0
    block_calls: int = 25
    reference_every: int = 4
    n_boot: int = 300
    #: Sequential screening against a limit (``measure_latency(..., limit_ms=...)``): after
    #: ``screen_first_calls`` timed calls, and each time the count doubles, stop if p95's
    #: interval is decisively on one side of the limit (its upper end times
    #: ``screen_margin`` under it, or its lower end over the limit times ``screen_margin``);
    #: near the limit the full protocol runs. 0 turns screening off.
    screen_first_calls: int = 200
    screen_margin: float = 1.5


#: A short protocol for tests and quick checks; figures from it are noisy.
QUICK_PROTOCOL = LatencyProtocol(
    warmup_calls=20, warmup_max_seconds=0.2, min_calls=200, min_seconds=0.1, max_seconds=2.0
)


@dataclass(frozen=True)
class Latency:
    """Latency percentiles of single calls (ms) with 95 % bootstrap intervals.

    ``ratio_to_reference`` is the candidate's median over the reference model's
    median, from blocks measured next to each other in time (``None`` when the
    reference was off); it is the drift-free figure for comparing candidates.
    """

    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    calls: int
    method: dict
    p50_interval_ms: tuple[float, float] = (float("nan"), float("nan"))
    p95_interval_ms: tuple[float, float] = (float("nan"), float("nan"))
    p99_interval_ms: tuple[float, float] = (float("nan"), float("nan"))
    ratio_to_reference: float | None = None
    ratio_interval: tuple[float, float] | None = None
    reference_p50_ms: float | None = None

    @property
    def p95_high_ms(self) -> float:
        """The upper end of p95's interval: what a hard latency requirement is checked against."""
        high = self.p95_interval_ms[1]
        return self.p95_ms if np.isnan(high) else max(high, self.p95_ms)

    def to_dict(self) -> dict:
        return asdict(self)


@functools.cache
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def cpu_flags() -> tuple[str, ...]:
    """The SIMD flags of this CPU that matter to inference kernels."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("flags", "Features")):
                    present = set(line.split(":", 1)[1].split())
                    return tuple(f for f in _FLAGS_OF_INTEREST if f in present)
    except OSError:
        pass
    return ()


def session(onnx_model: bytes | str, threads: int = 1) -> ort.InferenceSession:
    """An ORT CPU session with a fixed thread count and full graph optimisation."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])


def sample_feeds(
    sess: ort.InferenceSession, input_shape: tuple[int, ...], batch: int
) -> dict[str, np.ndarray]:
    """Inputs for timing a model: random floats of ``input_shape`` for its first input.

    A bundle that takes table rows has a second input, or a string one (see
    ``tradeoff.inputs.table``): those get their graph's fixed shape, and empty strings,
    which the encoding looks up like any other category.
    """
    rng, feeds = np.random.default_rng(0), {}
    for i, spec in enumerate(sess.get_inputs()):
        shape = (batch, *(input_shape if i == 0 else spec.shape[1:]))
        if spec.type == "tensor(string)":
            feeds[spec.name] = np.full(shape, "", dtype=object)
        else:
            feeds[spec.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def model_call(
    onnx_model: bytes | str,
    input_shape: tuple[int, ...],
    protocol: LatencyProtocol,
    samples: np.ndarray | dict[str, np.ndarray] | None = None,
) -> Callable[[], None]:
    """One inference call of ``onnx_model`` at ``protocol.batch``, ready to time: on random
    inputs of ``input_shape`` (see :func:`sample_feeds`), or on the next batch of ``samples``
    each call (the first input's rows, or every input's by name)."""
    sess = session(onnx_model, protocol.threads)
    run = sess.run
    if samples is None:
        feed = sample_feeds(sess, input_shape, protocol.batch)

        def call() -> None:
            run(None, feed)

        return call
    # Real inputs (texts, raw table rows): each call takes the next batch, so percentiles span
    # their lengths. ``samples``: the first input's rows, or every input's rows by name.
    given = samples if isinstance(samples, dict) else {sess.get_inputs()[0].name: samples}
    n, batch = len(next(iter(given.values()))), protocol.batch
    tiled = {
        name: np.concatenate([rows] * -(-batch // n)) if batch > n else rows
        for name, rows in given.items()
    }
    feeds = [
        {name: np.roll(rows, -i, axis=0)[:batch] for name, rows in tiled.items()} for i in range(n)
    ]
    position = [0]

    def call_next() -> None:
        position[0] = (position[0] + 1) % len(feeds)
        run(None, feeds[position[0]])

    return call_next


def _timed_block(call, n: int) -> np.ndarray:
    clock = time.perf_counter_ns
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        t0 = clock()
        call()
        out[i] = clock() - t0
    return out


def warm_up(call, protocol: LatencyProtocol) -> int:
    """Run windows of calls until the rolling median settles; returns the calls spent."""
    medians: list[float] = []
    deadline = time.perf_counter() + protocol.warmup_max_seconds
    calls = 0
    while True:
        medians.append(float(np.median(_timed_block(call, protocol.warmup_calls))))
        calls += protocol.warmup_calls
        last = medians[-3:]
        if len(last) == 3 and (max(last) - min(last)) <= protocol.settle_tolerance * min(last):
            return calls
        if time.perf_counter() >= deadline:
            return calls


def _bootstrap_percentiles(ms: np.ndarray, n_boot: int, seed: int = 0) -> np.ndarray:
    """95 % intervals of p50/p95/p99, shape [3, 2], by resampling calls.

    Calls are resampled in blocks of 25 consecutive calls, so that slow
    stretches (another process on the core) stay together as they happened.
    """
    rng = np.random.default_rng(seed)
    block = 25
    n_blocks = max(1, len(ms) // block)
    blocks = ms[: n_blocks * block].reshape(n_blocks, -1) if len(ms) >= block else ms[None, :]
    picks = rng.integers(0, len(blocks), size=(n_boot, len(blocks)))
    stats = np.empty((n_boot, 3))
    for i, pick in enumerate(picks):
        stats[i] = np.percentile(blocks[pick].ravel(), [50, 95, 99])
    return np.percentile(stats, [2.5, 97.5], axis=0).T


def method_record(
    protocol: LatencyProtocol, calls: int, warmup_calls: int, stopped: str = "full"
) -> dict:
    """How a figure was measured: runtime and version, threads, batch, calls, CPU model and flags,
    and which protocol: ``full`` or ``sequential`` (stopped early, decisively under or over a limit)."""
    return {
        "protocol": stopped,
        "runtime": f"onnxruntime {ort.__version__}",
        "provider": "CPUExecutionProvider",
        "threads": protocol.threads,
        "batch": protocol.batch,
        "warmup_calls": warmup_calls,
        "calls": calls,
        "min_seconds": protocol.min_seconds,
        "reference": REFERENCE_NAME if protocol.reference_every else None,
        "cpu": cpu_model(),
        "cpu_flags": list(cpu_flags()),
    }


#: Blocks of 25 calls a bootstrap interval of p95 needs before a sequential verdict rests on
#: it: with fewer, a resample of a handful of blocks says little about their tail.
MIN_BOOTSTRAP_BLOCKS = 40


def p95_bounds(ms: np.ndarray, n_boot: int) -> tuple[float, float]:
    """A 95 % interval of the p95 of the calls ``ms``, for a sequential verdict: the block
    bootstrap's from :data:`MIN_BOOTSTRAP_BLOCKS` blocks of 25 calls on, and below that the
    distribution-free order-statistic bounds (the ``k``-th smallest call is over p95 with
    probability ``P(Binomial(n, 0.95) < k)``); ``nan`` where there are too few calls for
    one (an upper bound needs 72 calls)."""
    if len(ms) // 25 >= MIN_BOOTSTRAP_BLOCKS:
        low, high = _bootstrap_percentiles(ms, n_boot)[1]
        return float(low), float(high)
    from scipy.stats import binom

    ordered, n = np.sort(ms), len(ms)
    below = binom.cdf(np.arange(n + 1), n, 0.95)  # below[j] = P(at most j calls under p95)
    # Upper: the smallest k with P(Binomial(n, .95) <= k - 1) >= 0.975.
    upper = np.flatnonzero(below >= 0.975)
    high = float(ordered[upper[0]]) if len(upper) and upper[0] < n else float("nan")
    # Lower: the largest j with P(Binomial(n, .95) >= j) >= 0.975, i.e. below[j - 1] <= 0.025.
    lower = np.flatnonzero(below[:n] <= 0.025)
    low = float(ordered[lower[-1]]) if len(lower) else float("nan")
    return low, high


def _decisive(ms: np.ndarray, limit_ms: float, protocol: LatencyProtocol) -> str | None:
    """``"under"``/``"over"`` when p95's interval (:func:`p95_bounds`) is decisively on one
    side of the limit; None while it is not, or there are too few calls to bound it."""
    low, high = p95_bounds(ms, min(protocol.n_boot, 200))
    if high * protocol.screen_margin <= limit_ms:
        return "under"
    if low >= limit_ms * protocol.screen_margin:
        return "over"
    return None


def measure_latency(
    onnx_model: bytes | str,
    input_shape: tuple[int, ...],
    protocol: LatencyProtocol = LatencyProtocol(),
    samples: np.ndarray | dict[str, np.ndarray] | None = None,
    limit_ms: float | None = None,
) -> Latency:
    """Time single inference calls of ``onnx_model`` on random inputs, next to the reference model.

    ``samples`` are real inputs to cycle through instead (texts, whose cost depends on
    their length: the first input's rows, or every input's by name, e.g. a mixed table's
    raw columns); the method record then says which lengths were used.

    With ``limit_ms`` (a p95 limit) and ``protocol.screen_first_calls``, measuring stops as
    soon as the answer to "within the limit?" is decisive (see :class:`LatencyProtocol`);
    ``method["protocol"]`` then says ``sequential`` and the calls it took.

    >>> latency = measure_latency(model_bytes, (40, 1), QUICK_PROTOCOL)  # doctest: +SKIP
    >>> latency.p95_high_ms, latency.ratio_to_reference, latency.method["runtime"]  # doctest: +SKIP
    (0.031, 1.8, 'onnxruntime 1.32.0')
    """
    latency = measure_call(
        model_call(onnx_model, tuple(input_shape), protocol, samples), protocol, limit_ms=limit_ms
    )
    if samples is None:
        return latency
    return replace(latency, method=latency.method | {"inputs": describe_samples(samples)})


def measure_call(
    call: Callable[[], object],
    protocol: LatencyProtocol = LatencyProtocol(),
    runtime: str | None = None,
    limit_ms: float | None = None,
) -> Latency:
    """Time single calls of ``call()`` by the protocol of :func:`measure_latency` (screened
    against ``limit_ms`` as there).

    Any callable: an ORT session on one row, or another library's own ``predict`` on one
    row (``benchmarks/peers.py`` times AutoGluon's and FLAML's predictors so), timed in
    blocks next to the same reference model, so that their figures and ratios compare with
    tradeoff's. ``runtime`` names what ran in the method record (ONNX Runtime by default).
    """
    use_reference = protocol.reference_every > 0
    if use_reference:
        ref_bytes, ref_shape = reference_model()
        ref_call = model_call(ref_bytes, ref_shape, protocol)
        warm_up(ref_call, protocol)
    warmup_calls = warm_up(call, protocol)

    blocks: list[np.ndarray] = []
    pairs: list[tuple[float, float]] = []  # (candidate median, reference median), side by side
    since_reference: list[float] = []
    start = time.perf_counter_ns()
    min_ns, max_ns = protocol.min_seconds * 1e9, protocol.max_seconds * 1e9
    calls = 0
    screening = limit_ms is not None and protocol.screen_first_calls > 0
    next_check, stopped = protocol.screen_first_calls, "full"
    while True:
        block = _timed_block(call, protocol.block_calls)
        blocks.append(block)
        calls += len(block)
        since_reference.append(float(np.median(block)))
        if use_reference and len(since_reference) >= protocol.reference_every:
            ref_median = float(np.median(_timed_block(ref_call, protocol.block_calls)))
            pairs.append((float(np.mean(since_reference)), ref_median))
            since_reference = []
        elapsed = time.perf_counter_ns() - start
        enough = calls >= protocol.min_calls and elapsed >= min_ns
        if (enough and (pairs or not use_reference)) or elapsed >= max_ns:
            break
        if screening and calls >= next_check and (pairs or not use_reference):
            next_check *= 2
            verdict = _decisive(np.concatenate(blocks).astype(np.float64) / 1e6, limit_ms, protocol)
            if verdict is not None:
                stopped = f"sequential ({verdict} {limit_ms:g} ms after {calls} calls)"
                break
    if use_reference and not pairs:  # a very slow model ran out of time before one pair
        pairs.append((float(np.mean(since_reference)), float(np.median(_timed_block(ref_call, 5)))))

    ms = np.concatenate(blocks).astype(np.float64) / 1e6
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    intervals = _bootstrap_percentiles(ms, protocol.n_boot)
    ratio, ratio_interval, ref_p50 = (
        _reference_ratio(pairs, protocol.n_boot) if use_reference else (None, None, None)
    )
    method = method_record(protocol, len(ms), warmup_calls, stopped)
    if runtime is not None:
        method["runtime"] = runtime
    return Latency(
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        mean_ms=float(ms.mean()),
        calls=len(ms),
        method=method,
        p50_interval_ms=(float(intervals[0, 0]), float(intervals[0, 1])),
        p95_interval_ms=(float(intervals[1, 0]), float(intervals[1, 1])),
        p99_interval_ms=(float(intervals[2, 0]), float(intervals[2, 1])),
        ratio_to_reference=ratio,
        ratio_interval=ratio_interval,
        reference_p50_ms=ref_p50,
    )


def describe_samples(samples: np.ndarray | dict[str, np.ndarray]) -> dict:
    """What a latency figure timed on ``samples`` was timed on, for its method record."""
    from tradeoff.inputs.text import describe_lengths

    if isinstance(samples, dict):  # raw rows by input: the lengths of each string input
        lengths = {n: describe_lengths(r) for n, r in samples.items() if r.dtype == object}
        return {
            "kind": "rows given, every input, cycled through",
            "n": len(next(iter(samples.values()))),
            "chars": {
                name: {k: v for k, v in described.items() if k.startswith("chars_")}
                for name, described in lengths.items()
            },
        }
    if samples.dtype != object:
        return {"kind": "rows given", "n": len(samples)}
    return describe_lengths(samples)


def _reference_ratio(
    pairs: list[tuple[float, float]], n_boot: int
) -> tuple[float, tuple[float, float], float]:
    """The candidate's median over the reference's from side-by-side blocks: the ratio, its
    95 % bootstrap interval, and the reference's p50 in ms."""
    cand, ref = np.asarray(pairs).T
    ratios = cand / ref
    rng = np.random.default_rng(1)
    boot = np.median(ratios[rng.integers(0, len(ratios), (n_boot, len(ratios)))], 1)
    interval = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)))
    return float(np.median(ratios)), interval, float(np.median(ref)) / 1e6


def compare_latency(
    a: bytes | str,
    b: bytes | str,
    input_shape: tuple[int, ...],
    protocol: LatencyProtocol = LatencyProtocol(),
    samples: np.ndarray | dict[str, np.ndarray] | None = None,
    *,
    screen: float | None = None,
) -> tuple[float, tuple[float, float], str]:
    """Median latency of ``a`` over ``b``, from alternating blocks, with a 95 % bootstrap interval
    and how it was measured (both on ``samples`` when given, as :func:`measure_latency`;
    ``screen``: see :func:`interleaved_ratio`).

    Used to tell whether a compressed variant is faster than its parent beyond
    the measurement noise: it is when the interval's upper end is below 0.95
    (``tradeoff.compress.SPEED_GAIN``).
    """
    call_a = model_call(a, tuple(input_shape), protocol, samples)
    call_b = model_call(b, tuple(input_shape), protocol, samples)
    return interleaved_ratio(call_a, call_b, protocol, screen=screen)


def interleaved_ratio(
    call_a,
    call_b,
    protocol: LatencyProtocol = LatencyProtocol(),
    *,
    screen: float | None = None,
) -> tuple[float, tuple[float, float], str]:
    """Median time of ``call_a()`` over ``call_b()``, timed in alternating blocks.

    Any two callables (an ORT session, a torch model): each pair of adjacent
    blocks gives one ratio, so drift over the measurement cancels out. Returns
    the median ratio, its 95 % bootstrap interval, and how it was measured: ``full``, or, with
    ``screen`` (the ratio below which ``a`` counts as faster, e.g. 0.95) and
    ``protocol.screen_first_calls``, ``sequential (...)`` when it stopped as soon as the
    answer to "is ``a`` faster?" was decisive: yes when the interval's upper end times
    ``screen_margin`` is at most 1, no when its lower end is at least ``screen`` (stopping
    there can only miss a speed-up, never claim one). Checked after ``screen_first_calls``
    calls of each and each time they double.
    """
    warm_up(call_a, protocol)
    warm_up(call_b, protocol)
    ratios: list[float] = []
    start = time.perf_counter_ns()
    calls, how = 0, "full"
    next_check = protocol.screen_first_calls if screen is not None else 0
    while True:
        med_a = np.median(_timed_block(call_a, protocol.block_calls))
        med_b = np.median(_timed_block(call_b, protocol.block_calls))
        ratios.append(float(med_a / med_b))
        calls += protocol.block_calls
        elapsed = time.perf_counter_ns() - start
        enough = calls >= protocol.min_calls and elapsed >= protocol.min_seconds * 1e9
        if (enough and len(ratios) >= 5) or (
            elapsed >= protocol.max_seconds * 1e9 and len(ratios) >= 3
        ):
            break
        if 0 < next_check <= calls and len(ratios) >= 5:
            next_check *= 2
            low, high = _ratio_interval(np.asarray(ratios), min(protocol.n_boot, 200))
            if high * protocol.screen_margin <= 1.0 or low >= screen:
                answer = "faster" if high < screen else "not faster"
                how = f"sequential ({answer}, decisive after {calls} calls of each)"
                break
    values = np.asarray(ratios)
    return float(np.median(values)), _ratio_interval(values, protocol.n_boot), how


def _ratio_interval(values: np.ndarray, n_boot: int) -> tuple[float, float]:
    """95 % bootstrap interval of the median of ``values``."""
    rng = np.random.default_rng(2)
    boot = np.median(values[rng.integers(0, len(values), (n_boot, len(values)))], 1)
    return float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def measure_throughput(
    onnx_model: bytes | str,
    input_shape: tuple[int, ...],
    batch: int,
    protocol: LatencyProtocol = LatencyProtocol(),
    samples: np.ndarray | dict[str, np.ndarray] | None = None,
) -> float:
    """Rows per second at batch ``batch``: ``batch`` over the median call time (batches of
    ``samples`` when given, as :func:`measure_latency`)."""
    bigger = LatencyProtocol(**{**asdict(protocol), "batch": batch})
    call = model_call(onnx_model, tuple(input_shape), bigger, samples)
    warm_up(call, bigger)
    blocks, start = [], time.perf_counter()
    while True:
        blocks.append(_timed_block(call, bigger.block_calls))
        spent = time.perf_counter() - start
        if spent >= bigger.min_seconds / 2 or spent >= bigger.max_seconds:
            break
    median_s = float(np.median(np.concatenate(blocks))) / 1e9
    return batch / median_s


def describe_method(method: dict) -> str:
    """One line saying how a latency figure was measured."""
    flags = method.get("cpu_flags")
    return (
        f"{method['runtime']} ({method['provider']}), {method['threads']} thread(s), "
        f"batch {method['batch']}, {method['calls']} timed calls after {method['warmup_calls']} "
        f"warm-up, CPU: {method['cpu']}"
        + (f" [{' '.join(flags)}]" if flags else "")
        + (f", on {method['where']}" if method.get("where") else "")
        + (f", inputs: {_inputs_line(method['inputs'])}" if method.get("inputs") else "")
    )


def _inputs_line(inputs: dict) -> str:
    """The inputs a figure was timed on (:func:`describe_samples`), in a few words."""
    n = inputs.get("n")
    if isinstance(inputs.get("chars"), dict):  # rows by input
        texts = ", ".join(
            f"{name} p95 {lengths['chars_p95']:.0f} characters"
            for name, lengths in inputs["chars"].items()
        )
        return f"{n} rows cycled through" + (f" ({texts})" if texts else "")
    if "chars_p95" in inputs:
        return (
            f"{n} texts cycled through (p50 {inputs['chars_p50']:.0f}, "
            f"p95 {inputs['chars_p95']:.0f} characters)"
        )
    return f"{n} rows given"


def run_onnx(sess: ort.InferenceSession, X: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Raw model outputs (logits, or values for regression) for ``X``, in chunks of ``batch``
    rows: the one batched-inference loop (the search, export, the estimators, bundles)."""
    name = sess.get_inputs()[0].name
    parts = [sess.run(None, {name: X[i : i + batch]})[0] for i in range(0, len(X), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, sess.get_outputs()[0].shape[1]))


def predict_outputs(onnx_model: bytes | str, X: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Raw outputs (logits, or regression predictions) of an ONNX model on ``X``, run in ORT."""
    return run_onnx(session(onnx_model, threads=os.cpu_count() or 1), X, batch)


def predict_classes(onnx_model: bytes | str, X: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Class predictions of an ONNX classifier on ``X`` (run in ORT, in chunks)."""
    return predict_outputs(onnx_model, X, batch).argmax(axis=1)
