"""The report's leaderboard: every trial, rounded figures, and of each configuration only what
differs from its family's defaults (the full configuration on demand)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from tradeoff.errors import TradeoffError
from tradeoff.families import get_family
from tradeoff.rules import Objective

if TYPE_CHECKING:
    from tradeoff.frontier import Run
    from tradeoff.records import TrialRecord


def leaderboard_html(run: Run, records: list[TrialRecord], labels: dict[int, str]) -> str:
    metric = run.requirements.metric
    columns = ["#", "model", "status", f"val {metric}", "p95 ms", "p50 ms", "MB"]
    columns += ["params", "train s", "train rows", "peak RSS MB", "feasible", "why not"]
    columns += ["config (differs from the family's defaults)"]
    objective = Objective.of(run.requirements)
    ordered = sorted(
        records,
        key=lambda r: (r.val_metric is None, -objective.key(r.val_metric or 0.0), r.p95_ms or 0),
    )
    strategy_defaults = _strategy_defaults(run)
    input_shape = tuple(run.info.get("prepare", {}).get("input_shape") or ())
    rows = []
    for r in ordered:
        cells = [
            (r.number, str(r.number)),
            (labels[r.number], labels[r.number]),
            (r.status, r.status),
            _quality(r),
            _num(r.p95_ms, ".4f"),
            _num(r.p50_ms, ".4f"),
            _num(r.size_mb, ".3f"),
            _num(r.n_params, "d"),
            _num(r.train_seconds, ".1f"),
            _rows_cell(r),
            _num(r.peak_rss_mb, ".0f"),
            ("yes" if r.feasible else "no", "yes" if r.feasible else "no"),
            (None, "; ".join(map(str, r.violations)) or (r.error or "")),
        ]
        row = "".join(
            f'<td data-value="{html.escape(str(v if v is not None else shown))}">'
            f"{html.escape(shown)}</td>"
            for v, shown in cells
        )
        rows.append(f"<tr>{row}{_config_cell(r, input_shape, strategy_defaults)}</tr>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    return (
        "<p>Click a column header to sort; click a configuration for all of it.</p>"
        f'<table class="sortable" id="leaderboard"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def rounded(value) -> str:
    """A parameter value as a reader compares it: floats to 3 significant digits."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def differing(
    record: TrialRecord, input_shape: tuple[int, ...], strategy_defaults: dict
) -> dict[str, object]:
    """The record's parameters that differ from its family's defaults (architecture: the
    family's ``defaults``; training: the default strategy), in the record's order."""
    try:
        family = get_family(record.family) if record.family else None
    except TradeoffError:  # a family from a plug-in that is not installed here
        family = None
    architecture = family.defaults(input_shape) if family is not None else {}
    defaults = {**architecture, **{f"{record.family}.{k}": v for k, v in architecture.items()}}
    defaults |= strategy_defaults
    config = {**record.params, **record.strategy}
    return {k: v for k, v in config.items() if k not in defaults or defaults[k] != v}


def _config_cell(record: TrialRecord, input_shape: tuple[int, ...], strategy_defaults) -> str:
    full = {**record.params, **record.strategy}
    changed = differing(record, input_shape, strategy_defaults)
    short = ", ".join(f"{k}={rounded(v)}" for k, v in changed.items()) or "defaults"
    whole = ", ".join(f"{k}={v}" for k, v in full.items())
    if not full:
        return '<td data-value="">-</td>'
    return (
        f'<td data-value="{html.escape(short)}"><details><summary>{html.escape(short)}</summary>'
        f'<code class="config">{html.escape(whole)}</code></details></td>'
    )


def _strategy_defaults(run: Run) -> dict:
    """The default training strategy of the run's data as a trial records it (``Strategy``'s
    fields: the study's ``loss.classification`` is ``loss``); none when the data is gone
    (every strategy parameter is then shown)."""
    from dataclasses import asdict

    # torch: imported only where a report is built
    from tradeoff.train import DEFAULT_MAX_EPOCHS, Strategy, default_strategy_params

    try:
        params = default_strategy_params(run.prepared)
    except TradeoffError:
        return {}
    named = {k.split(".")[0]: v for k, v in params.items()}  # loss.classification -> loss
    recorded = Strategy(max_epochs=run.info.get("max_epochs") or DEFAULT_MAX_EPOCHS)
    return asdict(recorded) | named


def _quality(r: TrialRecord) -> tuple:
    """The validation figure's cell; a fold mean shows its interval (cross-validated ranking)."""
    value, shown = _num(r.val_metric, ".4f")
    folds = r.cross_validation
    if folds is None:
        return value, shown
    low, high = folds.interval
    return value, f"{shown} (folds, [{low:.3f}, {high:.3f}])"


def _rows_cell(record: TrialRecord) -> tuple:
    """Training rows of the last epoch; for a trial halving stopped, the rung it reached."""
    rows = record.rows_trained
    if rows is None:
        return (None, "-")
    if record.status == "pruned" and record.rung_rows:
        epoch = max(record.rung_rows, key=int)
        return (rows, f"{record.rung_rows[epoch]} (stopped at rung {epoch})")
    return (rows, str(rows))


def _num(value, spec: str) -> tuple:
    return (value, "-") if value is None else (value, format(value, spec))
