#!/usr/bin/env bash
# Set up a fresh machine for tradeoff: system packages, a virtual environment, the package.
# Idempotent; safe to re-run. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use (headless Chromium for the report, PostgreSQL for shared studies)
# and the Fashion-MNIST idx files (the built-in data set `fashion_mnist`).
APT_PACKAGES=(postgresql chromium dataset-fashion-mnist)
if [ ${#APT_PACKAGES[@]} -gt 0 ]; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

python3 -m venv .venv
# torch first, pinned: 2.13.0 is the CPU wheel on this machine's disk; the package's own
# requirement is a range it satisfies, so nothing bigger is pulled in afterwards.
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[all,test]"
# ISLP's wheel ships the Caravan, Bikeshare and Default tables as CSV files (the built-ins
# `caravan`, `bikeshare`, `credit_default`). --no-deps: tradeoff reads only the CSVs, while
# ISLP's own requirements (statsmodels, lifelines, pygam, pytorch_lightning, torchmetrics,
# glmstar, an unpinned torch) would add hundreds of MB and may move the pinned torch.
.venv/bin/pip install -q --no-deps "ISLP>=0.4,<1"
echo "tradeoff is installed in .venv (activate with: . .venv/bin/activate)"
