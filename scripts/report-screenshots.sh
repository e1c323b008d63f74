#!/usr/bin/env bash
# Screenshots of the demo's report, for docs/: docs/report-overview.png (the "what you get"
# card and the quality-against-cost plot) and docs/report-price.png (the price curves).
#
#   scripts/report-screenshots.sh [BUDGET] [RUN]     # defaults: 90s, runs/screenshots-demo
#
# Runs a short `tradeoff demo` (limits derived on this machine, so the figures differ from
# machine to machine), builds its report and photographs it in headless Chromium
# (playwright, with /usr/bin/chromium or $CHROMIUM). Needs the package installed (or
# PYTHONPATH=src) and playwright.
set -euo pipefail
budget="${1:-90s}"
run="${2:-runs/screenshots-demo}"
python="${PYTHON:-python}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
here="$(cd "$(dirname "$0")/.." && pwd)"

if [ ! -f "$run/run.json" ]; then
  "$python" -m tradeoff demo --time-budget "$budget" --out "$run" || true  # exit 1: no pick
fi
"$python" -m tradeoff report "$run"
"$python" - "$run/report.html" "$here/docs" "$chromium" <<'PY'
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

report, docs, chromium = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), sys.argv[3]
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(
        executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
    )
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report.as_uri(), wait_until="load")
    page.wait_for_selector("#pareto .main-svg", timeout=30_000)
    shots = {
        "report-overview.png": ["#s-what-you-get", "#s-quality-against-cost"],
        "report-price.png": ["#s-the-price-of-each-constraint"],
    }
    for name, selectors in shots.items():
        boxes = [page.locator(s).bounding_box() for s in selectors]
        top = min(b["y"] for b in boxes)
        bottom = max(b["y"] + b["height"] for b in boxes)
        clip = {"x": 0, "y": top, "width": 1100, "height": bottom - top}
        page.screenshot(path=str(docs / name), clip=clip, full_page=True)
        print(f"{docs / name}: {(docs / name).stat().st_size // 1024} kB")
    browser.close()
if errors:
    sys.exit(f"console errors: {errors}")
PY
