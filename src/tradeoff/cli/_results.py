"""How a finished search is shown: the data it saw, the leaderboard, the front and the pick."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.markup import escape
from rich.table import Table

from tradeoff.cli._app import out_console
from tradeoff.measure import describe_method
from tradeoff.rules import Objective

if TYPE_CHECKING:
    from tradeoff.frontier import Run
    from tradeoff.prepare import Prepared
    from tradeoff.records import TrialRecord


def data_summary(prepared: Prepared) -> dict:
    described = prepared.describe()
    keys = ("dataset", "task", "modality", "input_shape", "n_train", "n_val", "n_test")
    return {k: described[k] for k in keys} | {
        "cleaning": described["cleaning"],
        "augmentation": described["augmentation"],
        "cv_folds": described["cv_folds"],
    }


def print_data(prepared: Prepared) -> None:
    d, c = prepared.describe(), prepared.cleaning
    dropped = ", ".join(c.constant_columns_dropped) or "none"
    out_console.print(
        f"Data: {d['dataset']} ({d['task']}, {d['modality']}, one example {d['input_shape']}): "
        f"{d['n_train']} train / {d['n_val']} validation / {d['n_test']} test. Cleaning: "
        f"{c.n_duplicates_dropped} duplicate rows and {c.n_missing_target_dropped} rows without "
        f"a target dropped, {c.n_values_imputed} missing values imputed (fitted on train), "
        f"constant columns dropped: {dropped}.",
        highlight=False,
    )


def summary_dict(run: Run, pick: TrialRecord | None, test) -> dict:
    return {
        "run": str(run.out),
        "requirements": run.requirements.to_dict(),
        "pick": None
        if pick is None
        else {
            "trial": pick.number,
            "family": pick.family,
            "params": pick.params,
            "strategy": pick.strategy,
            "val_metric": pick.val_metric,
            "test_metric": test.value,
            "test_interval_95": [test.low, test.high],
            "p95_ms": pick.p95_ms,
            "p95_high_ms": pick.p95_high_ms,
            "ratio_to_reference": pick.ratio_to_reference,
            "size_mb": pick.size_mb,
            "flops": pick.flops,
            "parent_trial": pick.parent_trial,
            "compression": pick.compression,
            "latency_method": pick.latency_method,
            "rows_trained": pick.rows_trained,
            "rung_rows": pick.rung_rows,
        },
        "metric": run.requirements.metric,
        "counts": run.counts(),
        "peak_rss_mb": peak_rss_of(run),
    }


def peak_rss_of(run: Run) -> float | None:
    """The search process's peak resident memory (MB): the highest recorded by any trial."""
    peaks = [r.peak_rss_mb for r in run.trials() if r.peak_rss_mb is not None]
    return max(peaks) if peaks else None


def _rows(record: TrialRecord) -> str:
    """Training rows of the last epoch, and the halving rung it stopped at when pruned."""
    if record.rows_trained is None:
        return "-"
    if record.status == "pruned" and record.rung_rows:
        epoch = max(record.rung_rows, key=int)
        return f"{record.rung_rows[epoch]} (rung {epoch})"
    return str(record.rows_trained)


def _key_params(record: TrialRecord) -> str:
    if record.parent_trial is not None:  # a compressed variant: say what it is made from
        return f"{record.compression.get('pass')} of #{record.parent_trial}"
    shown = {k: v for k, v in record.params.items()}
    shown.update({k: record.strategy[k] for k in ("optimizer", "lr") if k in record.strategy})
    return ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()
    )


def _feasible(record: TrialRecord) -> str:
    """ "yes", or "no:" and the limits broken, in a word each ("latency", "size", "quality")."""
    if record.feasible:
        return "yes"
    if not record.violations:
        return record.status
    return "no: " + ", ".join(v.axis for v in record.violations)


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(run: Run, pick: TrialRecord | None, test) -> None:
    metric = run.requirements.metric
    objective = Objective.of(run.requirements)
    trials = sorted(
        run.trials(),
        key=lambda r: (r.val_metric is None, -objective.key(r.val_metric or 0.0), r.p95_ms or 0.0),
    )
    ranked_by = (
        "fold mean of cross-validation" if any(r.cv for r in trials) else f"validation {metric}"
    )
    board = Table(
        title=f"Leaderboard (top 15 of {len(trials)}; val = {ranked_by})",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),  # two spaces between columns: more of 80 for the configuration
    )
    # Trial numbers, names and figures are never cut; the verdict and the configuration wrap
    # at words in what is left of a terminal's width (whole on one line when piped).
    for column in ("#", "family", "val", "p95 ms", "MB", "rows"):
        board.add_column(column, no_wrap=True)
    board.add_column("feasible?", overflow="fold")
    board.add_column("key params", overflow="fold")
    for r in trials[:15]:
        board.add_row(
            str(r.number),
            r.family or "-",
            _fmt(r.val_metric, ".4f"),
            _fmt(r.p95_ms, ".4f"),
            _fmt(r.size_mb, ".3f"),
            _rows(r),
            _feasible(r),
            _key_params(r),
        )
    out_console.print(board)

    front = Table(
        title="Pareto front (validation quality vs p95 latency, trained candidates)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for column in ("#", "family", f"val {metric}", "p95 ms", "MB", "meets requirements?"):
        front.add_column(column, no_wrap=True)
    for r in run.front():
        front.add_row(
            str(r.number),
            r.family,
            f"{r.val_metric:.4f}",
            f"{r.p95_ms:.4f}",
            f"{r.size_mb:.3f}",
            "yes" if r.feasible else "no",
        )
    out_console.print(front)

    counts = run.counts()
    out_console.print(
        f"Trials: {counts['trials']} ({counts['trained']} trained, {counts['infeasible_untrained']} "
        f"rejected on cost before training, {counts['pruned']} stopped early (by halving, by "
        "racing on folds, or by the time budget while cross-validating), "
        f"{counts['skipped']} skipped, {counts['failed']} failed). Training seconds spent "
        f"on trials found infeasible: {counts['train_seconds_on_cost_infeasible']:.1f} s "
        f"(networks: never trained; gradient boosting and ensembles, whose cost is known only "
        f"once fitted or combined: "
        f"{counts['fit_seconds_before_cost_known']:.1f} s), of {counts['train_seconds']:.1f} s "
        f"in all; near misses trained for compression to rescue: "
        f"{counts['train_seconds_on_near_misses']:.1f} s."
        + (
            f" Peak resident memory of the search process: {peak:.0f} MB (getrusage)."
            if (peak := peak_rss_of(run)) is not None
            else ""
        ),
        highlight=False,
    )
    if pick is None:
        return  # print_no_pick says what would admit one
    out_console.print(
        f"\n[bold]Selected:[/] trial #{pick.number}, {pick.family} ({_key_params(pick)})\n"
        f"  validation {metric}: {pick.val_metric:.4f}"
        + (
            f" (fold mean: {pick.cross_validation}; validation split alone "
            f"{pick.holdout_val_metric:.4f})\n"
            if pick.cross_validation is not None
            else "\n"
        )
        + f"  test {metric}: {test}  (computed once, after selection)\n"
        f"  p95 latency: {pick.p95_ms:.4f} ms (95% upper bound {_fmt(pick.p95_high_ms, '.4f')} ms; "
        f"p50 {pick.p50_ms:.4f} ms; {_fmt(pick.ratio_to_reference, '.2f')}x the reference model), "
        f"size {pick.size_mb:.3f} MB, {pick.n_params} parameters, {_fmt(pick.flops, ',')} FLOPs\n"
        + (
            f"  made by {pick.compression['pass']} from trial #{pick.parent_trial}: "
            f"{pick.compression['verdict']['reason']}\n"
            if pick.parent_trial is not None
            else ""
        )
        + f"  latency measured with {escape(describe_method(pick.latency_method))}\n"
        f"  run folder: {run.out} (resume with: tradeoff search --resume {run.out})",
        highlight=False,
    )


def no_pick_dict(run: Run, stopped_early: str | None) -> dict:
    """When nothing meets the requirements: the cheapest figures measured, and for each
    requirement the least relaxation that would admit a candidate (and what it would pick)."""
    from tradeoff.price import least_relaxations

    trials = run.trials()
    measured = [r for r in trials if r.p95_ms is not None and r.size_mb is not None]
    fastest = min(measured, key=lambda r: r.p95_ms, default=None)
    smallest = min(measured, key=lambda r: r.size_mb, default=None)

    def figure(record: TrialRecord | None, value: float | None) -> dict | None:
        if record is None:
            return None
        return {"trial": record.number, "family": record.family, "value": value}

    return {
        "stopped_early": stopped_early,
        "measured": len(measured),
        "fastest_p95_ms": figure(fastest, fastest and fastest.p95_ms),
        "smallest_size_mb": figure(smallest, smallest and smallest.size_mb),
        "relaxations": [
            {
                "flag": x.flag,
                "current": x.current,
                "needed": x.needed,
                "pick": None if x.pick is None else x.pick.number,
                "pick_family": None if x.pick is None else x.pick.family,
                "pick_val_metric": None if x.pick is None else x.pick.val_metric,
                "needs_training": not x.trained,
            }
            for x in least_relaxations(trials, run.requirements)
        ],
    }


def print_no_pick(run: Run, stopped_early: str | None) -> None:
    from tradeoff.price import least_relaxations

    answer = no_pick_dict(run, stopped_early)
    out_console.print("\n[bold red]No trained candidate meets the requirements.[/]")
    if stopped_early:
        out_console.print(f"  The search stopped early: {stopped_early}.", highlight=False)
    fastest, smallest = answer["fastest_p95_ms"], answer["smallest_size_mb"]
    if fastest is None:
        out_console.print("  No candidate was measured.")
        return
    out_console.print(
        f"  Cheapest measured ({answer['measured']} candidates): p95 {fastest['value']:.4g} ms "
        f"(#{fastest['trial']}, {fastest['family']}); size {smallest['value']:.4g} MB "
        f"(#{smallest['trial']}, {smallest['family']}).",
        highlight=False,
    )
    relaxations = least_relaxations(run.trials(), run.requirements)
    if not relaxations:
        out_console.print("  No single requirement relaxed alone admits a measured candidate.")
    for relaxation in relaxations:
        out_console.print(
            f"  Least relaxation: {relaxation.describe(run.requirements.metric)}", highlight=False
        )
