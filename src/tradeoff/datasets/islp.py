"""Tables from the ISLP wheel (*An Introduction to Statistical Learning, with Python*).

The wheel ships its data sets as CSV files under ``ISLP/data``; they are read
from there without importing ISLP (whose import pulls in statsmodels, lifelines,
pygam and PyTorch Lightning). ``scripts/setup.sh`` installs the wheel with
``pip install --no-deps ISLP``: the CSVs are all tradeoff needs.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

from tradeoff.datasets._base import Dataset, register_dataset
from tradeoff.datasets.tabular import read_table, table_dataset
from tradeoff.errors import TradeoffError

INSTALL = "pip install --no-deps 'ISLP>=0.4,<1'"
ORIGIN = "ISLP wheel, ISLP/data/{file}"


def islp_csv(file: str, name: str) -> Path:
    """The path of one CSV inside the installed ISLP wheel, or a one-line error naming it."""
    spec = importlib.util.find_spec("ISLP")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "data" / file
        if path.is_file():
            return path
    raise TradeoffError(
        f"{name}: needs {file} from the ISLP wheel, which is not installed; install it with "
        f"`{INSTALL}` (scripts/setup.sh does)"
    )


def _table(name: str, file: str, target: str, drop: tuple[str, ...], description: str) -> Dataset:
    path = islp_csv(file, name)
    frame = read_table(path).drop(columns=list(drop))
    data = table_dataset(frame, target=target, culprit=f"{name} ({file})")
    return replace(
        data, name=name, description=f"{description} ({len(frame)} rows, {frame.shape[1] - 1} cols)"
    )


@register_dataset("caravan", origin=ORIGIN.format(file="Caravan.csv"))
def caravan(seed: int = 0) -> Dataset:
    """Caravan insurance: 5,822 customers, 85 socio-demographic and product columns; target
    ``Purchase`` (about 6 % Yes): imbalanced, binary."""
    return _table("caravan", "Caravan.csv", "Purchase", (), "Caravan insurance purchase")


@register_dataset("bikeshare", origin=ORIGIN.format(file="Bikeshare.csv"))
def bikeshare(seed: int = 0) -> Dataset:
    """Capital Bikeshare, hourly: 8,645 hours; target ``bikers`` (regression). ``casual`` and
    ``registered`` add up to the target and are dropped; ``mnth``, ``weathersit`` are text."""
    return _table(
        "bikeshare",
        "Bikeshare.csv",
        "bikers",
        ("casual", "registered"),
        "Capital Bikeshare riders per hour, regression, text columns",
    )


@register_dataset("credit_default", origin=ORIGIN.format(file="Default.csv"))
def credit_default(seed: int = 0) -> Dataset:
    """ISLP's ``Default``: 10,000 card holders (balance, income, student); target ``default``
    (about 3 % Yes): imbalanced, binary."""
    return _table("credit_default", "Default.csv", "default", (), "Credit card default")
