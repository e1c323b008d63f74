"""The report's Plotly figures: each function takes plain records and returns one figure.

Figures use SVG traces (never WebGL) so that the report renders anywhere, offline.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from tradeoff.measure import Estimate
from tradeoff.price import COST_AXES, ConstraintPrice, PriceStep
from tradeoff.records import Status, TrialRecord
from tradeoff.requirements import Requirements

GREY = "#b0b0b0"
LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}}


def axis_type(values) -> str:
    """``"log"`` when the positive ``values`` span more than one decade, else ``"linear"``: on
    a linear axis a front of 0.01 ms models is one vertical line beside a 0.5 ms reject."""
    positive = [v for v in values if v is not None and v > 0]
    if positive and max(positive) > 10 * min(positive):
        return "log"
    return "linear"


def latency_axis(
    trained: list[TrialRecord], measured: list[TrialRecord], limit_ms: float | None
) -> tuple[str, tuple[float, float]]:
    """The quality-against-cost plot's latency axis: its type and range (in ms).

    The range spans the trained candidates and the limit, so the front fills the plot:
    candidates rejected before training (no quality, often 100x slower) would otherwise
    squeeze it into one vertical line; those outside are drawn on the edge.
    """
    spanned = [r.p95_ms for r in trained] or [r.p95_ms for r in measured]
    values = [v for v in [*spanned, limit_ms] if v is not None and v > 0] or [1.0]
    x_type = axis_type(values)
    low, high = min(values), max(values)
    if x_type == "log":
        return x_type, (low / 1.4, high * 1.4)
    pad = 0.08 * (high - low) or 0.1 * high
    return x_type, (max(0.0, low - pad), high + pad)


def limit_line(fig: go.Figure, x: float, text: str, log: bool) -> None:
    """A dashed vertical requirement line with its label at the top; on a log axis the label's
    position is in log10 units (Plotly's annotations are, its shapes are not)."""
    fig.add_vline(x=x, line={"color": "crimson", "dash": "dash"})
    fig.add_annotation(
        x=math.log10(x) if log and x > 0 else x,
        y=1,
        yref="paper",
        text=text,
        showarrow=False,
        xanchor="left",
        yanchor="bottom",
    )


def family_colours(families: list[str]) -> dict[str, str]:
    palette = qualitative.Plotly
    return {name: palette[i % len(palette)] for i, name in enumerate(sorted(set(families)))}


def _marker_px(size_mb: float | None, largest_mb: float) -> float:
    if not size_mb or largest_mb <= 0:
        return 8.0
    return 8.0 + 22.0 * math.sqrt(size_mb / largest_mb)


def _hover(r: TrialRecord, metric: str, label: str, why: str = "") -> str:
    quality = "not trained" if r.val_metric is None else f"val {metric} {r.val_metric:.4f}"
    size = "-" if r.size_mb is None else f"{r.size_mb:.3f} MB"
    p95 = "-" if r.p95_ms is None else f"{r.p95_ms:.4f} ms"
    text = f"#{r.number} {label}<br>{quality}<br>p95 {p95}, {size}"
    return text + (f"<br><b>{why}</b>" if why else "")


def _rejections(
    trained: list[TrialRecord], measured: list[TrialRecord]
) -> dict[tuple[bool, str], list[TrialRecord]]:
    """The candidates shown grey, by (trained, the requirements they break)."""
    greyed = [r for r in trained if not r.feasible] + [
        r for r in measured if r.status is Status.INFEASIBLE
    ]
    groups: dict[tuple[bool, str], list[TrialRecord]] = {}
    for r in greyed:
        reasons = " + ".join(dict.fromkeys(v.requirement for v in r.violations))
        groups.setdefault((r.trained, reasons or str(r.status)), []).append(r)
    return groups


def pareto_figure(
    records: list[TrialRecord],
    front: list[TrialRecord],
    pick: TrialRecord | None,
    test: Estimate | None,
    requirements: Requirements,
    labels: dict[int, str],
    parents: dict[int, int],
    twin: TrialRecord | None = None,
) -> go.Figure:
    """Validation quality vs p95 latency: colour = family, marker size = model size.

    Infeasible candidates are grey, one legend entry per constraint that rejected them;
    those rejected before training have no quality and sit on a strip under the axis floor.
    The front is a solid line with its members ringed, the pick a gold star, its cheaper
    twin an open star; latency is on a log axis when it spans more than a decade.
    """
    metric = requirements.metric
    measured = [r for r in records if r.p95_ms is not None]
    trained = [r for r in measured if r.trained and r.val_metric is not None]
    largest = max((r.size_mb or 0.0 for r in measured), default=0.0)
    colours = family_colours([r.family or "?" for r in measured])
    qualities = [r.val_metric for r in trained] + ([test.value] if test else [])
    floor = (min(qualities) if qualities else 0.0) - 0.05
    fig = go.Figure()

    for family in sorted(colours):
        members = [r for r in trained if r.feasible and (r.family or "?") == family]
        if members:
            fig.add_trace(
                go.Scatter(
                    x=[r.p95_ms for r in members],
                    y=[r.val_metric for r in members],
                    mode="markers",
                    name=family,
                    marker={
                        "color": colours[family],
                        "size": [_marker_px(r.size_mb, largest) for r in members],
                        "line": {"width": 1, "color": "white"},
                    },
                    hovertext=[_hover(r, metric, labels[r.number]) for r in members],
                    hoverinfo="text",
                )
            )
    # Grey, one legend entry per rejecting constraint, so the reason shows without hovering.
    groups = _rejections(trained, measured)
    x_type, (low, high) = latency_axis(trained, measured, requirements.max_latency_ms)
    for i, ((was_trained, reasons), members) in enumerate(sorted(groups.items())):
        symbol = (
            ("circle-open", "square-open", "diamond-open")[i % 3]
            if was_trained
            else (
                "x",
                "triangle-down",
                "cross",
            )[i % 3]
        )
        fig.add_trace(
            go.Scatter(
                # Rejected before training, far off: on the axis's edge (the hover says where).
                x=[min(max(r.p95_ms, low), high) for r in members],
                y=[r.val_metric if was_trained else floor for r in members],
                mode="markers",
                name=(f"trained, misses {reasons}" if was_trained else f"not trained: {reasons}"),
                marker={
                    "color": GREY,
                    "symbol": symbol,
                    "size": [
                        _marker_px(r.size_mb, largest) if was_trained else 10 for r in members
                    ],
                    "line": {"width": 2, "color": GREY},
                },
                hovertext=[
                    _hover(
                        r,
                        metric,
                        labels[r.number],
                        ("" if was_trained else "not trained: ")
                        + "; ".join(map(str, r.violations)),
                    )
                    for r in members
                ],
                hoverinfo="text",
            )
        )
    if front:
        fig.add_trace(
            go.Scatter(
                x=[r.p95_ms for r in front],
                y=[r.val_metric for r in front],
                mode="lines+markers",
                line={"shape": "hv", "width": 2.5, "color": "#222"},
                marker={"symbol": "circle-open", "size": 14, "color": "#222", "line": {"width": 2}},
                name="Pareto front",
                hovertext=[_hover(r, metric, labels[r.number], "on the front") for r in front],
                hoverinfo="text",
            )
        )
    by_number = {r.number: r for r in trained}
    links_x, links_y = [], []
    for child, parent in parents.items():
        if child in by_number and parent in by_number:
            links_x += [by_number[parent].p95_ms, by_number[child].p95_ms, None]
            links_y += [by_number[parent].val_metric, by_number[child].val_metric, None]
    if links_x:
        fig.add_trace(
            go.Scatter(
                x=links_x,
                y=links_y,
                mode="lines",
                line={"color": "#888", "width": 1},
                name="compressed from",
                hoverinfo="skip",
            )
        )
    _highlight(fig, pick, twin, test, metric, labels)
    if requirements.max_latency_ms is not None:
        limit = requirements.max_latency_ms
        limit_line(fig, limit, f"max p95 {limit} ms", x_type == "log")
    if requirements.min_quality is not None:
        fig.add_hline(
            y=requirements.min_quality,
            line={"color": "crimson", "dash": "dash"},
            annotation_text=f"min {metric} {requirements.min_quality}",
        )
    size_note = (
        f"; size limit {requirements.max_size_mb} MB (larger models are grey)"
        if requirements.max_size_mb is not None
        else ""
    )
    fig.update_layout(
        **LAYOUT,
        title=f"Validation {metric} vs p95 latency (marker area ~ model size{size_note})",
        xaxis_title="p95 latency at batch 1 (ms" + (", log scale)" if x_type == "log" else ")"),
        xaxis_type=x_type,
        xaxis_range=[math.log10(low), math.log10(high)] if x_type == "log" else [low, high],
        yaxis_title=f"validation {metric}",
        height=560,
    )
    return fig


def _highlight(
    fig: go.Figure,
    pick: TrialRecord | None,
    twin: TrialRecord | None,
    test: Estimate | None,
    metric: str,
    labels: dict[int, str],
) -> None:
    """The pick (a gold star, its test figure beside it) and its cheaper twin (an open star)."""
    if twin is not None and pick is not None and twin.number != pick.number:
        fig.add_trace(
            go.Scatter(
                x=[twin.p95_ms],
                y=[twin.val_metric],
                mode="markers",
                name=f"cheaper twin #{twin.number} (same quality within noise)",
                marker={
                    "symbol": "star-open",
                    "size": 22,
                    "color": "darkorange",
                    "line": {"width": 2},
                },
                hovertext=[_hover(twin, metric, labels[twin.number], "cheaper twin")],
                hoverinfo="text",
            )
        )
    if pick is not None:
        fig.add_trace(
            go.Scatter(
                x=[pick.p95_ms],
                y=[pick.val_metric],
                mode="markers",
                name=f"pick #{pick.number} (validation)",
                marker={"symbol": "star", "size": 22, "color": "gold", "line": {"width": 1.5}},
                hovertext=[_hover(pick, metric, labels[pick.number], "selected")],
                hoverinfo="text",
            )
        )
        if test is not None:
            fig.add_trace(
                go.Scatter(
                    x=[pick.p95_ms],
                    y=[test.value],
                    mode="markers",
                    name=f"pick #{pick.number} (test)",
                    marker={"symbol": "diamond", "size": 12, "color": "black"},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [test.high - test.value],
                        "arrayminus": [test.value - test.low],
                    },
                    hovertext=[f"#{pick.number} test {metric}: {test}"],
                    hoverinfo="text",
                )
            )


def price_figure(
    steps: list[PriceStep], price: ConstraintPrice, metric: str, untrained: list[TrialRecord]
) -> go.Figure:
    """The best attainable quality as one cost threshold varies (a step curve).

    Candidates rejected before training are marked along the bottom: their cost is
    known, their quality is not.
    """
    field_name, _, words, unit = COST_AXES[price.axis]
    fig = go.Figure()
    costs = [r for r in untrained if getattr(r, field_name) is not None]
    if costs:
        fig.add_trace(
            go.Scatter(
                x=[getattr(r, field_name) for r in costs],
                y=[min((s.quality for s in steps), default=0.0)] * len(costs),
                mode="markers",
                marker={"color": GREY, "symbol": "x", "size": 9},
                name="rejected before training",
                hovertext=[
                    f"#{r.number} {r.family}: not trained ({'; '.join(map(str, r.violations))})"
                    for r in costs
                ],
                hoverinfo="text",
            )
        )
    if steps:
        right = max(
            [s.threshold for s in steps]
            + [getattr(r, field_name) for r in costs]
            + ([price.current] if price.current is not None else [])
        )
        fig.add_trace(
            go.Scatter(
                x=[s.threshold for s in steps] + [right * 1.15],
                y=[s.quality for s in steps] + [steps[-1].quality],
                mode="lines+markers",
                line={"shape": "hv", "color": "#4c78a8"},
                name="best attainable",
                hovertext=[
                    f"from {s.threshold:.4g} {unit}: {metric} {s.quality:.4f} (#{s.number}, {s.family})"
                    for s in steps
                ]
                + [""],
                hoverinfo="text",
            )
        )
    plotted = [s.threshold for s in steps] + [getattr(r, field_name) for r in costs]
    x_type = axis_type(plotted + [price.current])
    if price.current is not None:
        limit_line(fig, price.current, f"requirement {price.current:.4g} {unit}", x_type == "log")
    fig.update_layout(
        **LAYOUT,
        title=f"Best attainable validation {metric} as the {words} limit varies",
        xaxis_title=f"{words} threshold ({unit}" + (", log scale)" if x_type == "log" else ")"),
        xaxis_type=x_type,
        yaxis_title=f"best validation {metric}",
        height=380,
        showlegend=False,
    )
    return fig


def curves_figure(front: list[TrialRecord], curves: dict[int, list[dict]], metric: str):
    """Training curves of the front members: losses on the left, validation metric on the right."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", f"validation {metric}"))
    palette = qualitative.Plotly
    for i, r in enumerate(front):
        curve = curves.get(r.number) or []
        if not curve:
            continue
        colour = palette[i % len(palette)]
        epochs = [p.get("epoch") for p in curve]
        name = f"#{r.number} {r.family}"
        for key, dash in (("train_loss", "solid"), ("val_loss", "dot")):
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[p.get(key) for p in curve],
                    name=f"{name} {key.replace('_', ' ')}",
                    line={"color": colour, "dash": dash},
                    legendgroup=name,
                ),
                row=1,
                col=1,
            )
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=[p.get("val_metric") for p in curve],
                name=f"{name} val {metric}",
                line={"color": colour},
                legendgroup=name,
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(**LAYOUT, height=420, title="Learning curves of the Pareto front")
    return fig


def confusion_figure(matrix: np.ndarray, classes: list[str], title: str) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=classes,
            y=classes,
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        **LAYOUT,
        title=title,
        xaxis_title="predicted class",
        yaxis_title="true class",
        yaxis_autorange="reversed",
        height=460,
    )
    return fig


def latency_figure(samples_ms: np.ndarray, recorded_p95_ms: float | None, title: str) -> go.Figure:
    """Histogram of single-call latencies, with the re-measured and recorded p95."""
    p50, p95, p99 = np.percentile(samples_ms, [50, 95, 99])
    # Rare scheduler hiccups stretch the axis a hundredfold; show the body, count the tail.
    shown_max = float(max(p99 * 1.2, (recorded_p95_ms or 0.0) * 1.1))
    tail = int(np.sum(samples_ms > shown_max))
    if tail:
        title += (
            f" ({tail} call(s) above {shown_max:.4f} ms not shown; max {samples_ms.max():.3f} ms)"
        )
    body = samples_ms[samples_ms <= shown_max]
    fig = go.Figure(go.Histogram(x=body, nbinsx=60, name="calls", marker_color="#4c78a8"))
    # Values go in the title, not on the lines: the lines sit too close for labels.
    title += f"<br><sub>p50 {p50:.4f} ms (dotted), p95 {p95:.4f} ms (red), re-measured"
    fig.add_vline(x=float(p50), line={"dash": "dot"})
    fig.add_vline(x=float(p95), line={"color": "crimson"})
    if recorded_p95_ms is not None:
        fig.add_vline(x=recorded_p95_ms, line={"color": "grey", "dash": "dash"})
        title += f"; p95 {recorded_p95_ms:.4f} ms in the search (grey dashed)"
    title += "</sub>"
    fig.update_layout(
        **LAYOUT, title=title, xaxis_title="latency per call (ms)", yaxis_title="calls", height=400
    )
    fig.update_layout(margin_t=90)
    return fig


def progress_figure(
    times: list[datetime], hypervolumes: list[float], best: list[float | None], metric: str
) -> go.Figure:
    """Hypervolume of the feasible front and best feasible quality, per finished trial."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(x=times, y=hypervolumes, mode="lines+markers", name="hypervolume"),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=times,
            y=best,
            mode="lines+markers",
            line={"shape": "hv"},
            name=f"best feasible val {metric}",
        ),
        secondary_y=True,
    )
    fig.update_yaxes(title_text="hypervolume", secondary_y=False)
    fig.update_yaxes(title_text=f"best feasible val {metric}", secondary_y=True)
    fig.update_layout(
        **LAYOUT, title="Search progress", xaxis_title="trial finished at", height=380
    )
    return fig


def spending_figure(rejections: dict[str, dict[str, int]], seconds: dict[str, dict[str, float]]):
    """Candidates rejected per constraint (before / after training) and training seconds."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("candidates rejected, per constraint", "training seconds, per family"),
    )
    for stage, colour in (("before training", GREY), ("after training", "#e45756")):
        fig.add_trace(
            go.Bar(
                x=list(rejections),
                y=[rejections[c].get(stage, 0) for c in rejections],
                name=f"rejected {stage}",
                marker_color=colour,
            ),
            row=1,
            col=1,
        )
    for outcome, colour in (("feasible", "#54a24b"), ("infeasible", "#f58518")):
        fig.add_trace(
            go.Bar(
                x=list(seconds),
                y=[seconds[f].get(outcome, 0.0) for f in seconds],
                name=f"seconds on {outcome}",
                marker_color=colour,
            ),
            row=1,
            col=2,
        )
    fig.update_layout(**LAYOUT, barmode="stack", height=380, title="Where the budget went")
    return fig
