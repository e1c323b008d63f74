"""Build RUN/report.html: one self-contained file (Plotly inlined) that works offline."""

from __future__ import annotations

import html
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np
import onnxruntime as ort
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from tradeoff import evaluate
from tradeoff.errors import TradeoffError
from tradeoff.frontier import Run
from tradeoff.inputs.table import as_shipped, cost_samples
from tradeoff.measure import (
    LatencyProtocol,
    cpu_model,
    describe_method,
    describe_samples,
    model_call,
    predict_classes,
)
from tradeoff.price import describe_price, price_curve, price_of_constraint, priced_axes
from tradeoff.records import TrialRecord, write_atomic
from tradeoff.report import figures
from tradeoff.report.leaderboard import leaderboard_html
from tradeoff.rules import Objective
from tradeoff.selection import (
    Selection,
    describe_selection,
    describe_twin,
    explain_selection,
    hypervolume,
)

REPORT_FILE = "report.html"
#: Trial user attributes written by compression (lineage); read defensively.
PARENT, COMPRESSION = "parent", "compression"


@dataclass(frozen=True)
class LatencySamples:
    """Single-call latencies of one artifact, re-measured for the report."""

    samples_ms: np.ndarray
    method: dict


def build_report(run: Run, path: str | os.PathLike | None = None) -> Path:
    """Write the run's HTML report (default ``RUN/report.html``) and return its path.

    Nothing is trained. The pick's test figure is computed once (and kept in the
    study); its artifact is re-measured to show a latency distribution.

    >>> build_report(Run.open("runs/m1d"))  # doctest: +SKIP
    PosixPath('runs/m1d/report.html')
    """
    path = Path(path) if path is not None else run.out / REPORT_FILE
    records = run.trials()
    frozen = {t.number: t for t in run.study.get_trials(deepcopy=False)}
    req, metric = run.requirements, run.requirements.metric
    labels = {r.number: _label(r, frozen[r.number].user_attrs) for r in records}
    parents = {
        n: p for n, t in frozen.items() if (p := _parent(t.user_attrs.get(PARENT))) is not None
    }
    front = run.front()
    selection = explain_selection(records, req, run.prefer)
    pick = selection.pick
    test = confusion = latency = None
    unmeasured = "No trained candidate meets the requirements."
    if pick is not None:
        try:
            test = evaluate.test_estimate(run, pick)
            confusion, latency = _measure_pick(run, pick)
        except TradeoffError as error:
            # The data or the artifact is gone: the rest of the report still stands.
            unmeasured = f"The pick #{pick.number} could not be re-evaluated: {error}"

    prices = [price_of_constraint(records, req, axis) for axis in priced_axes(records, req)]
    sections = [
        _section_raw("What you get", _what_you_get(selection, test, prices)),
        _section(
            "Quality against cost",
            _explain(run, selection, pick, test),
            figures.pareto_figure(records, front, pick, test, req, labels, parents, selection.twin),
            "pareto",
        ),
    ]
    price_parts = []
    for price in prices:
        axis = price.axis
        sentence = describe_price(price, metric)
        untrained = [r for r in records if r.status == "infeasible"]
        figure = figures.price_figure(price_curve(records, req, axis), price, metric, untrained)
        sentence = html.escape(sentence[0].upper() + sentence[1:])
        price_parts.append(
            f'<p class="price">{sentence}</p>' + _figure_html(figure, f"price-{axis}")
        )
    sections.append(
        _section_raw(
            "The price of each constraint",
            "<p>Best attainable validation quality among the trained candidates as one "
            "threshold varies, the other requirements held. Candidates rejected before "
            "training have no quality and are left out.</p>" + "".join(price_parts),
        )
    )
    sections.append(_section_raw("Leaderboard", leaderboard_html(run, records, labels)))
    sections.append(_section_raw("Best per family", _best_per_family(records, metric)))
    curves = {r.number: frozen[r.number].user_attrs.get("curve") or [] for r in front}
    sections.append(
        _section("Learning curves", "", figures.curves_figure(front, curves, metric), "curves")
    )
    if confusion is not None:
        classes = list(run.prepared.data.classes) or [str(i) for i in range(len(confusion))]
        sections.append(
            _section(
                "Confusion matrix of the pick",
                f"<p>Trial #{pick.number} on the held-out test split: {html.escape(str(test))}.</p>",
                figures.confusion_figure(confusion, classes, f"#{pick.number} on the test split"),
                "confusion",
            )
        )
        method = html.escape(describe_method(latency.method))
        sections.append(
            _section(
                "Latency of the pick",
                f"<p>Re-measured for this report on the pick's trained ONNX artifact "
                f"({len(latency.samples_ms)} calls): {method}. The search measured the untrained "
                f"model of the same architecture with the run's protocol; its p95 is the dashed "
                f"grey line.</p>",
                figures.latency_figure(latency.samples_ms, pick.p95_ms, "Single-call latency"),
                "latency",
            )
        )
    else:
        sections.append(_section_raw("The pick", f"<p>{html.escape(unmeasured)}</p>"))
    times, hv, best = _progress(records, frozen, req)
    sections.append(
        _section(
            "Search progress",
            "<p>Hypervolume of the feasible trained candidates in (validation quality, p95 "
            "latency), reference point: quality 0 (a loss or an error: 1.1 x the worst trained "
            "value) and the latency limit (or 1.1 x the slowest trained candidate).</p>",
            figures.progress_figure(times, hv, best, metric),
            "progress",
        )
    )
    rejections, seconds, text = _spending(run, records)
    sections.append(
        _section(
            "Rejections and training time",
            text,
            figures.spending_figure(rejections, seconds),
            "spending",
        )
    )

    page = Template(resources.files("tradeoff.report").joinpath("template.html").read_text())
    document = page.substitute(
        title=html.escape(f"tradeoff report: {run.out.name}"),
        heading=html.escape(f"{run.info.get('dataset', '?')}: {run.out}"),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        plotly_js=get_plotlyjs(),
        body="\n".join(sections),
    )
    _write_atomic(path, document)
    return path


def _measure_pick(run: Run, pick: TrialRecord) -> tuple[np.ndarray | None, LatencySamples]:
    """The pick's confusion matrix on the test split (``None`` for regression: no classes)
    and its latency samples."""
    prepared = run.prepared
    with tempfile.TemporaryDirectory() as tmp:
        # The model the test figure is of, and that export ships: a pick ranked by
        # cross-validation is its refit on train+validation.
        if evaluate.refits(pick):
            artifact = evaluate.refit(run, pick).candidate.onnx_model
        else:
            artifact = Path(run.artifact_path(pick, tmp)).read_bytes()
        predicted = None
        if prepared.task != "regression":
            predicted = predict_classes(artifact, prepared.X_test)
        protocol = LatencyProtocol(**run.info.get("latency_protocol", {}))
        # Timed as the search timed it: the graph a bundle ships (a table's encoding in
        # front), on real rows where the cost depends on them (texts).
        shipped, shape = as_shipped(artifact, prepared)
        latency = latency_samples(shipped, shape, protocol, cost_samples(prepared))
    if predicted is None:
        return None, latency
    k = max(prepared.data.n_classes, int(predicted.max()) + 1, int(prepared.y_test.max()) + 1)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (prepared.y_test, predicted), 1)
    return matrix, latency


def latency_samples(
    onnx_model: bytes | str,
    input_shape: tuple[int, ...],
    protocol: LatencyProtocol,
    samples: np.ndarray | dict[str, np.ndarray] | None = None,
) -> LatencySamples:
    """Every single-call latency of ``onnx_model`` under ``protocol`` (the summary keeps only
    percentiles), on random inputs or cycling through ``samples`` as :func:`model_call` does."""
    call = model_call(onnx_model, input_shape, protocol, samples)
    for _ in range(protocol.warmup_calls):
        call()
    times, start = [], time.perf_counter_ns()
    while True:
        t0 = time.perf_counter_ns()
        call()
        t1 = time.perf_counter_ns()
        times.append(t1 - t0)
        elapsed_s = (t1 - start) / 1e9
        enough = len(times) >= protocol.min_calls and elapsed_s >= protocol.min_seconds
        if enough or elapsed_s >= protocol.max_seconds:
            break
    method = {
        "runtime": f"onnxruntime {ort.__version__}",
        "provider": "CPUExecutionProvider",
        "threads": protocol.threads,
        "batch": protocol.batch,
        "warmup_calls": protocol.warmup_calls,
        "calls": len(times),
        "cpu": cpu_model(),
    }
    if samples is not None:
        method["inputs"] = describe_samples(samples)
    return LatencySamples(np.asarray(times, dtype=np.float64) / 1e6, method)


def _label(record: TrialRecord, attrs: dict) -> str:
    compression = attrs.get(COMPRESSION)
    name = record.family or "?"
    return f"{name} {compression}" if isinstance(compression, str) and compression else name


def _parent(value) -> int | None:
    """A parent trial number from whatever shape the lineage attribute takes."""
    if isinstance(value, dict):
        value = value.get("trial", value.get("number"))
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("#").isdigit():
        return int(value.strip().lstrip("#"))
    return None


def _what_you_get(selection: Selection, test, prices) -> str:
    """The card at the top: the pick, its cheaper twin, and the price of each requirement,
    one line each."""
    pick, metric = selection.pick, selection.requirements.metric
    if pick is None:
        lines = ["No trained candidate meets the requirements (see below what would admit one)."]
    else:
        on_test = f", test {test}" if test is not None else ""
        lines = [
            f"Pick: #{pick.number} ({pick.family}), validation {metric} {pick.val_metric:.4f}"
            f"{on_test}, p95 {pick.p95_ms:.4f} ms, {pick.size_mb:.3f} MB."
        ]
        if selection.most_accurate is not None:
            best = selection.most_accurate
            lines.append(describe_twin(best, selection.twin, metric, pick))
    for price in prices:
        sentence = describe_price(price, metric)
        lines.append(sentence[0].upper() + sentence[1:])
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<div class="card" id="what-you-get"><ul>{items}</ul></div>'


def _explain(run: Run, selection: Selection, pick, test) -> str:
    req, counts = run.requirements, run.counts()
    limits = ", ".join(
        f"{k} {v}" for k, v in req.to_dict().items() if v is not None and k != "metric"
    )
    lines = [
        f"<p><b>Requirements:</b> {html.escape(limits or 'none')} (metric: {req.metric}). "
        f"<b>Trials:</b> {counts['trials']} ({counts['trained']} trained, "
        f"{counts['infeasible_untrained']} rejected on cost before training, "
        f"{counts['failed']} failed).</p>"
    ]
    explained = describe_selection(selection)
    lines.append("<pre>" + html.escape("\n".join(explained)) + "</pre>")
    if pick is not None and test is not None:
        lines.append(
            f"<p><b>Pick #{pick.number}</b> on the test split (computed once, after selection): "
            f"{html.escape(str(test))}. Latency measured with "
            f"{html.escape(describe_method(pick.latency_method))}.</p>"
        )
    return "".join(lines)


def _best_per_family(records: list[TrialRecord], metric: str) -> str:
    rows = []
    for family in sorted({r.family for r in records if r.family}):
        members = [r for r in records if r.family == family]
        trained = [r for r in members if r.trained and r.val_metric is not None]
        feasible = [r for r in trained if r.feasible]
        best = max(trained, key=lambda r: r.val_metric, default=None)
        best_ok = max(feasible, key=lambda r: r.val_metric, default=None)
        rows.append(
            f"<tr><td>{html.escape(family)}</td><td>{len(members)}</td><td>{len(trained)}</td>"
            f"<td>{_brief(best)}</td><td>{_brief(best_ok)}</td></tr>"
        )
    return (
        f"<table><thead><tr><th>family</th><th>trials</th><th>trained</th>"
        f"<th>best val {metric} (any)</th><th>best val {metric} (feasible)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _brief(r: TrialRecord | None) -> str:
    if r is None:
        return "-"
    return f"#{r.number}: {r.val_metric:.4f} at p95 {r.p95_ms:.4f} ms, {r.size_mb:.3f} MB"


def _progress(records, frozen, req):
    objective = Objective.of(req)
    trained = [r for r in records if r.trained and r.p95_ms is not None]
    latency_ref = req.max_latency_ms or 1.1 * max((r.p95_ms for r in trained), default=1.0)
    quality_ref = _quality_reference(objective, [r.val_metric for r in trained])
    done = sorted(
        (frozen[r.number].datetime_complete, r)
        for r in records
        if frozen[r.number].datetime_complete is not None
    )
    times, hv, best, feasible = [], [], [], []
    for when, r in done:
        if r.feasible:
            feasible.append(r)
        times.append(when)
        hv.append(
            hypervolume(
                [(objective.key(f.val_metric), f.p95_ms) for f in feasible],
                (quality_ref, latency_ref),
            )
        )
        best.append(objective.best(f.val_metric for f in feasible))
    return times, hv, best


def _quality_reference(objective: Objective, values: list[float | None]) -> float:
    """The hypervolume's worst quality, signed (:meth:`Objective.key`): 0 for a metric where
    higher is better (accuracy, R²); for a loss or an error (>= 0, lower is better), 1.1 x the
    worst trained value, as latency's reference is 1.1 x the slowest, so every trained point
    adds area."""
    if objective.higher_is_better:
        return 0.0
    worst = max((v for v in values if v is not None), default=1.0)
    return objective.key(1.1 * worst)


def _spending(run: Run, records: list[TrialRecord]):
    rejections: dict[str, dict[str, int]] = {}
    for r in records:
        stage = "before training" if r.status == "infeasible" else "after training"
        for violation in r.violations:
            constraint = violation.requirement
            rejections.setdefault(constraint, {}).setdefault(stage, 0)
            rejections[constraint][stage] += 1
    seconds: dict[str, dict[str, float]] = {}
    for r in records:
        if r.train_seconds:
            bucket = seconds.setdefault(r.family or "?", {})
            outcome = "feasible" if r.feasible else "infeasible"
            bucket[outcome] = bucket.get(outcome, 0.0) + r.train_seconds
    counts = run.counts()
    text = (
        f"<p>{counts['infeasible_untrained']} candidate(s) were rejected on cost before any "
        f"training (0 s each); {counts['failed']} failed. Training took "
        f"{counts['train_seconds']:.1f} s in all, of which "
        f"{sum(b.get('infeasible', 0.0) for b in seconds.values()):.1f} s went to candidates "
        f"that ended infeasible.</p>"
    )
    return rejections, seconds, text


def _figure_html(figure: go.Figure, div_id: str) -> str:
    return figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def _section(title: str, intro: str, figure: go.Figure, div_id: str) -> str:
    return _section_raw(title, intro + _figure_html(figure, div_id))


def _section_raw(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="s-{html.escape(anchor)}"><h2>{html.escape(title)}</h2>{body}</section>'


def _write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as error:  # a read-only run folder, a full disk
        raise TradeoffError(
            f"cannot write {path}: {error.strerror}; --out writes the report elsewhere"
        ) from None
