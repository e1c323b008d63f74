"""The HTML report of a run: Pareto front, price of each constraint, and the pick in detail."""

from tradeoff.report.build import REPORT_FILE, build_report

__all__ = ["REPORT_FILE", "build_report"]
