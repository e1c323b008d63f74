"""One measurement, one record, wherever it runs.

:func:`measure_model` measures an ONNX model in this process or in a fresh one;
:func:`tradeoff.measure.remote.measure_on_target` sends the same request to a target's
agent, which runs the fresh-process measurement there. All three return a
:class:`Measurement`: latency percentiles with intervals and the ratio to the reference
model measured on the same machine, peak inference memory of a fresh process holding the
model, throughput at a batch, the outputs on check rows, and the machine it ran on.

NumPy, ONNX Runtime and the standard library only: the agent imports this on a target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tradeoff.errors import TradeoffError
from tradeoff.measure.latency import (
    Latency,
    LatencyProtocol,
    measure_latency,
    measure_throughput,
    session,
)
from tradeoff.measure.machine import machine_info

_PROBE = Path(__file__).with_name("_probe.py")
#: The most characters of texts (``MeasureSpec.samples``) sent to an agent, all together.
MAX_SAMPLE_CHARS = 4_000_000
_INTERVALS = ("p50_interval_ms", "p95_interval_ms", "p99_interval_ms", "ratio_interval")


@dataclass(frozen=True)
class MeasureSpec:
    """What to measure: the input shape (without the batch axis) and the latency protocol,
    and optionally memory, throughput at ``throughput_batch`` and outputs on ``check_rows``
    (rows of the first input, or every input's rows by name: a table's raw columns, texts)."""

    input_shape: tuple[int, ...]
    protocol: LatencyProtocol = field(default_factory=LatencyProtocol)
    latency: bool = True
    memory: bool = False
    throughput_batch: int | None = None
    check_rows: np.ndarray | dict[str, np.ndarray] | None = None
    #: Inputs to time, cycled through (texts ``[n, 1]``: a text model's cost depends on their
    #: length; or every input's rows by name, a mixed table's raw columns); here, in a fresh
    #: process and on an agent, which receives them.
    samples: np.ndarray | dict[str, np.ndarray] | None = None
    #: A p95 limit: in this process, timing stops once "within it?" is decisive (sequential
    #: screening, LatencyProtocol.screen_first_calls); elsewhere the full protocol runs.
    limit_ms: float | None = None

    def to_dict(self) -> dict:
        """The request an agent takes (``limit_ms`` stays here: an agent runs the full protocol)."""
        out = {
            "input_shape": list(self.input_shape),
            "protocol": asdict(self.protocol),
            "latency": self.latency,
            "memory": self.memory,
            "throughput_batch": self.throughput_batch,
            "check_rows": jsonable_rows(self.check_rows),
        }
        if isinstance(self.samples, dict):
            out["samples"] = jsonable_rows(fitting_rows(self.samples, MAX_SAMPLE_CHARS))
        elif self.samples is not None:
            out["samples"] = fitting_texts(self.samples, MAX_SAMPLE_CHARS)
        return out


def jsonable_rows(rows: np.ndarray | dict[str, np.ndarray] | None) -> list | dict | None:
    """Check rows as JSON takes them: nested lists of numbers or strings, by input if named."""
    if isinstance(rows, dict):
        return {name: np.asarray(values).tolist() for name, values in rows.items()}
    return None if rows is None else np.asarray(rows).tolist()


def check_feeds(inputs: list[tuple[str, bool]], rows) -> dict[str, np.ndarray]:
    """Check rows as ONNX Runtime feeds. ``inputs``: the model's ``(name, takes text)``;
    ``rows``: the first input's rows, or every input's by name; texts become object
    arrays, numbers float32."""
    given = rows if isinstance(rows, dict) else {inputs[0][0]: rows}
    return {
        name: np.asarray(given[name], dtype=object if text else np.float32)
        for name, text in inputs
        if name in given
    }


def model_inputs(sess) -> list[tuple[str, bool]]:
    """An ONNX Runtime session's inputs: ``(name, takes text)`` each."""
    return [(i.name, i.type == "tensor(string)") for i in sess.get_inputs()]


def fitting_texts(samples: np.ndarray, max_chars: int) -> list[str]:
    """The first texts of ``samples`` (at least one) whose lengths add up to ``max_chars``."""
    return [str(text) for text in fitting_rows({"texts": samples}, max_chars)["texts"].ravel()]


def fitting_rows(samples: dict[str, np.ndarray], max_chars: int) -> dict[str, np.ndarray]:
    """The first rows (at least one) of every input whose strings add up to ``max_chars``."""
    chars = np.zeros(len(next(iter(samples.values()))), np.int64)
    for rows in samples.values():
        if rows.dtype == object:
            chars += np.array(
                [sum(len(str(v)) for v in row) for row in rows.reshape(len(rows), -1)]
            )
    n = max(1, int(np.searchsorted(np.cumsum(chars), max_chars, side="right")))
    return {name: rows[:n] for name, rows in samples.items()}


@dataclass(frozen=True)
class Limits:
    """Caps on one fresh measuring process: wall time and resident memory."""

    wall_s: float = 600.0
    memory_mb: float | None = None


class LimitExceeded(TradeoffError):
    """The measuring process went over a :class:`Limits` cap and was stopped."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit  # "time" or "memory"


@dataclass(frozen=True)
class Measurement:
    """The cost of one ONNX model on one machine, and how it was measured.

    ``where`` is ``this process``, ``a fresh process`` or ``agent <url>``; ``machine`` is
    that machine's :func:`~tradeoff.measure.machine.machine_info`. ``inference_rss_mb`` is
    the resident memory a fresh process adds by loading and running the model (``None``
    when not asked for); ``wall_s`` the time the whole measurement took there.
    """

    latency: Latency | None
    machine: dict
    where: str
    size_mb: float
    inference_rss_mb: float | None = None
    peak_rss_mb: float | None = None
    throughput_rows_per_s: float | None = None
    throughput_batch: int | None = None
    check_outputs: list | None = None
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["latency"] = None if self.latency is None else self.latency.to_dict()
        return out

    @classmethod
    def from_dict(cls, fields: dict) -> Measurement:
        fields = dict(fields)
        fields["latency"] = latency_from_dict(fields.get("latency"))
        return cls(**fields)


def latency_from_dict(fields: dict | None) -> Latency | None:
    if fields is None:
        return None
    fields = dict(fields)
    for key in _INTERVALS:
        if fields.get(key) is not None:
            fields[key] = tuple(fields[key])
    return Latency(**fields)


def measure_model(
    onnx_model: bytes,
    spec: MeasureSpec,
    *,
    fresh: bool = False,
    limits: Limits = Limits(),
) -> Measurement:
    """Measure ``onnx_model`` here (``fresh=False``) or in a new Python process (``fresh=True``).

    Memory (``spec.memory``) is always measured in a fresh process, the only honest
    setting for it; with ``fresh=True`` everything is, under ``limits``.

    >>> m = measure_model(model_bytes, MeasureSpec((40, 1), QUICK_PROTOCOL))  # doctest: +SKIP
    >>> m.latency.p95_high_ms, m.machine["cpu"]  # doctest: +SKIP
    (0.031, 'AMD EPYC 7B13')
    """
    start = time.perf_counter()
    size_mb = len(onnx_model) / 1e6
    if fresh:
        child = run_probe(onnx_model, spec, limits, machine=True)
        return Measurement(
            latency=latency_from_dict(child["latency"]),
            machine=child["machine"],
            where="a fresh process",
            size_mb=size_mb,
            inference_rss_mb=child["inference_rss_mb"] if spec.memory else None,
            peak_rss_mb=child["peak_rss_mb"] if spec.memory else None,
            throughput_rows_per_s=child.get("throughput_rows_per_s"),
            throughput_batch=spec.throughput_batch,
            check_outputs=child["check_outputs"],
            wall_s=time.perf_counter() - start,
        )
    memory = None
    if spec.memory:
        memory = run_probe(
            onnx_model,
            MeasureSpec(spec.input_shape, spec.protocol, False, samples=spec.samples),
            limits,
        )
    latency = (
        measure_latency(
            onnx_model,
            spec.input_shape,
            spec.protocol,
            samples=spec.samples,
            limit_ms=spec.limit_ms,
        )
        if spec.latency
        else None
    )
    throughput = None
    if spec.throughput_batch:
        throughput = measure_throughput(
            onnx_model, spec.input_shape, spec.throughput_batch, spec.protocol, spec.samples
        )
    outputs = None
    if spec.check_rows is not None:
        sess = session(onnx_model, spec.protocol.threads)
        outputs = sess.run(None, check_feeds(model_inputs(sess), spec.check_rows))[0].tolist()
    return Measurement(
        latency=latency,
        machine=machine_info(),
        where="this process",
        size_mb=size_mb,
        inference_rss_mb=None if memory is None else memory["inference_rss_mb"],
        peak_rss_mb=None if memory is None else memory["peak_rss_mb"],
        throughput_rows_per_s=throughput,
        throughput_batch=spec.throughput_batch,
        check_outputs=outputs,
        wall_s=time.perf_counter() - start,
    )


def run_probe(onnx_model: bytes, spec: MeasureSpec, limits: Limits, *, machine: bool = False):
    """Run the measuring script in a new process under ``limits``; its JSON answer as a dict.

    The child's resident memory is watched while it runs and the child is killed once it
    passes ``limits.memory_mb`` or ``limits.wall_s``: a :class:`LimitExceeded` then says so.
    """
    with tempfile.TemporaryDirectory(prefix="tradeoff-measure-") as tmp:
        model_path = os.path.join(tmp, "model.onnx")
        with open(model_path, "wb") as file:
            file.write(onnx_model)
        rows_path = None
        if spec.check_rows is not None:
            rows_path = os.path.join(tmp, "rows.json")
            with open(rows_path, "w", encoding="utf-8") as file:
                json.dump(jsonable_rows(spec.check_rows), file)
        request = {
            "model": model_path,
            "input_shape": list(spec.input_shape),
            "protocol": asdict(spec.protocol),
            "latency": spec.latency,
            "throughput_batch": spec.throughput_batch,
            "check_rows": rows_path,
            "machine": machine,
        }
        if spec.samples is not None:  # too large for a command line: a file beside the request
            request["samples_file"] = os.path.join(tmp, "samples.json")
            with open(request["samples_file"], "w", encoding="utf-8") as file:
                json.dump(jsonable_rows(spec.samples), file)
        src = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
        out_path, err_path = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            child = subprocess.Popen(
                [sys.executable, str(_PROBE), json.dumps(request)],
                stdout=out,
                stderr=err,
                env=env,
                cwd=tmp,
            )
            _watch(child, limits)
        if child.returncode != 0:
            with open(err_path) as err:
                last = (err.read().strip().splitlines() or ["no output"])[-1]
            raise TradeoffError(f"the measuring process failed: {last[:300]}")
        with open(out_path) as out:
            return json.loads(out.read().strip().splitlines()[-1])


def _watch(child: subprocess.Popen, limits: Limits) -> None:
    deadline = time.monotonic() + limits.wall_s
    peak = 0.0
    while child.poll() is None:
        if limits.memory_mb is not None:
            peak = max(peak, _rss_mb(child.pid))
            if peak > limits.memory_mb:
                child.kill()
                child.wait()
                raise LimitExceeded(
                    f"the model went over the memory limit of {limits.memory_mb:g} MB "
                    f"(resident {peak:.0f} MB) and was stopped",
                    "memory",
                )
        if time.monotonic() > deadline:
            child.kill()
            child.wait()
            raise LimitExceeded(
                f"measuring the model went over the time limit of {limits.wall_s:g} s "
                "and was stopped",
                "time",
            )
        time.sleep(0.02)


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # gone already, or no /proc (the memory cap is then not enforced)
        pass
    return 0.0
