"""A report read at a glance: log latency axes over decades, the front filling the plot, the
pick and its twin marked, a leaderboard of rounded differences, the "what you get" card."""

from __future__ import annotations

import math

import pytest
from plotly.offline import get_plotlyjs

from tradeoff.report import figures
from tradeoff.report.leaderboard import differing, rounded
from tradeoff.requirements import Requirements, Violation
from tradeoff.searcher import TrialRecord

CHROMIUM = "/usr/bin/chromium"


def _demo_like() -> tuple[list[TrialRecord], list[TrialRecord]]:
    """Like the demo's runs: a front of 0.005-0.03 ms models under a 0.04 ms limit, one
    trained model too slow, and candidates rejected before training at 0.5 and 3 ms."""

    def trained(n, q, p95, size=0.01, feasible=True):
        violations = () if feasible else (Violation("latency", p95, 0.04),)
        return TrialRecord(
            n, "trained", "mlp", val_metric=q, p95_ms=p95, size_mb=size, violations=violations
        )

    front = [trained(0, 0.80, 0.005), trained(1, 0.90, 0.012), trained(2, 0.93, 0.03)]
    slow = trained(3, 0.95, 0.09, feasible=False)
    rejected = [
        TrialRecord(
            n,
            "infeasible",
            "rocket",
            p95_ms=p95,
            size_mb=0.2,
            violations=(Violation("latency", p95, 0.04),),
        )
        for n, p95 in ((4, 0.5), (5, 3.0))
    ]
    return [*front, slow, *rejected], [*front, slow]


def test_axes_go_log_over_more_than_a_decade():
    assert figures.axis_type([0.01, 0.05, 0.09]) == "linear"
    assert figures.axis_type([0.005, 0.09, None]) == "log"
    assert figures.axis_type([]) == "linear"


def test_the_front_fills_a_readable_part_of_the_plot_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    records, front = _demo_like()
    req = Requirements(max_latency_ms=0.04)
    labels = {r.number: r.family for r in records}
    twin = front[1]
    fig = figures.pareto_figure(records, front, front[2], None, req, labels, {}, twin)
    names = [t.name for t in fig.data]
    assert "cheaper twin #1 (same quality within noise)" in names and "Pareto front" in names
    page_file = tmp_path / "pareto.html"
    page_file.write_text(
        f"<html><head><script>{get_plotlyjs()}</script></head><body>"
        + fig.to_html(full_html=False, include_plotlyjs=False, div_id="pareto")
        + "</body></html>"
    )
    problems = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_file.as_uri(), wait_until="load")
            page.wait_for_selector("#pareto .main-svg", timeout=30_000)
            axis = page.evaluate(
                "() => { const a = document.getElementById('pareto')._fullLayout.xaxis;"
                " return {type: a.type, range: a.range}; }"
            )
            front_x = page.evaluate(
                "() => document.getElementById('pareto').data"
                ".find(t => t.name === 'Pareto front').x"
            )
            shot = tmp_path / "pareto.png"
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert problems == []
    assert axis["type"] == "log"
    low, high = axis["range"]  # log10 units on a log axis
    extent = math.log10(max(front_x)) - math.log10(min(front_x))
    assert extent / (high - low) >= 1 / 3, (front_x, axis)
    assert shot.stat().st_size > 10_000


def test_the_price_curve_goes_log_over_decades():
    from tradeoff.price import price_curve, price_of_constraint

    records, _ = _demo_like()
    req = Requirements(max_latency_ms=0.04)
    price = price_of_constraint(records, req, "latency")
    untrained = [r for r in records if r.status == "infeasible"]
    fig = figures.price_figure(price_curve(records, req, "latency"), price, "accuracy", untrained)
    assert fig.layout.xaxis.type == "log"
    # The requirement's label sits at the limit, in the log axis's units.
    label = [a for a in fig.layout.annotations if a.text.startswith("requirement")]
    assert len(label) == 1 and abs(label[0].x - math.log10(0.04)) < 1e-9


def test_the_leaderboard_shows_rounded_differences_from_the_defaults():
    record = TrialRecord(
        0,
        "trained",
        "mlp",
        val_metric=0.9,
        params={"depth": 2, "width": 128, "dropout": 0.3},
        strategy={"optimizer": "adam", "lr": 0.0024551792888502697},
    )
    shape = (40, 1)
    defaults = {"optimizer": "adam", "lr": 3e-3}
    from tradeoff.families import get_family

    assert get_family("mlp").defaults(shape)["width"] == 128  # the test's premise
    changed = differing(record, shape, defaults)
    assert "width" not in changed and "depth" not in changed and "optimizer" not in changed
    assert changed["dropout"] == 0.3
    assert changed["lr"] == 0.0024551792888502697
    assert rounded(changed["lr"]) == "0.00246"
