"""A running search's progress: trials, feasible count, best feasible quality.

On a terminal (or in Jupyter) a Rich bar on stderr; elsewhere (a CI log, ``2> log``) a plain
line on stderr every :data:`PLAIN_EVERY_S` seconds and one at the end, since a bar redrawn
in place is unreadable in a log and Rich would cut it to 80 columns.
"""

from __future__ import annotations

import sys
import time

import optuna
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tradeoff.records import Status, trial_records
from tradeoff.rules import Objective

#: How often a search not on a terminal prints its progress line.
PLAIN_EVERY_S = 30.0


class SearchProgress:
    """Context manager and Optuna callback. The bar follows the time budget, or the trial count."""

    def __init__(
        self,
        *,
        budget_s: float | None,
        n_trials: int | None,
        enabled: bool = True,
        higher_is_better: bool = True,
    ):
        self.budget_s, self.n_trials = budget_s, n_trials
        self.objective = Objective(higher_is_better)
        self.start = time.monotonic()
        self.trials = self.feasible = self.infeasible = self.pruned = self.failed = 0
        self.best: float | None = None
        console = Console(stderr=True)
        live = enabled and (console.is_terminal or console.is_jupyter)
        self.plain, self.last_line = enabled and not live, float("-inf")
        self.progress = Progress(
            TextColumn("[bold]searching"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=console,
            disable=not live,
            transient=False,
        )
        total = float(n_trials) if n_trials and not budget_s else (budget_s or 1.0)
        self.task = self.progress.add_task(self._text(), total=total)

    def __enter__(self) -> SearchProgress:
        self.progress.start()
        self._refresh()
        return self

    def __exit__(self, kind, *exc) -> None:
        self._refresh(final="done after" if kind is None else "stopped after")
        self.progress.stop()

    def on_epoch(self, trial_number: int, epoch: int, point: dict) -> None:
        self._refresh()

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        # Count the whole study: other workers add trials to it too.
        finished = [r for r in trial_records(study) if r.status is not Status.RUNNING]
        self.trials = len(finished)
        self.infeasible = sum(r.status is Status.INFEASIBLE for r in finished)
        self.pruned = sum(r.status is Status.PRUNED for r in finished)
        self.failed = sum(r.status is Status.FAILED for r in finished)
        feasible = [r.val_metric for r in finished if r.feasible]
        self.feasible = len(feasible)
        self.best = self.objective.best(feasible)
        self._refresh()

    def _text(self) -> str:
        best = "-" if self.best is None else f"{self.best:.4f}"
        return (
            f"trials {self.trials} · feasible {self.feasible} · infeasible (untrained) "
            f"{self.infeasible} · pruned {self.pruned} · failed {self.failed} · "
            f"best feasible val {best}"
        )

    def _refresh(self, final: str = "") -> None:
        """Redraw the bar; off a terminal, print the line when due or ``final`` (its first
        words: how the search ended)."""
        if self.budget_s:
            done = min(time.monotonic() - self.start, self.budget_s)
        else:
            done = float(self.trials)
        if final:
            done = self.progress.tasks[0].total
        self.progress.update(self.task, completed=done, description=self._text())
        now = time.monotonic()
        if self.plain and (final or now - self.last_line >= PLAIN_EVERY_S):
            self.last_line = now
            state = final or "searching,"
            print(f"{state} {now - self.start:.0f} s: {self._text()}", file=sys.stderr, flush=True)
