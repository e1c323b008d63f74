"""One builder of a new search's settings (searcher/settings.py, search_settings) for the CLI,
tradeoff.search() and the estimators: the same defaults, the same checks."""

from __future__ import annotations

import pytest

import tradeoff
from tradeoff import Requirements
from tradeoff.cli._app import app
from tradeoff.errors import TradeoffError
from tradeoff.measure import QUICK_PROTOCOL, LatencyProtocol
from tradeoff.searcher.settings import SearchSettings, search_settings


def test_the_defaults_are_those_of_a_search_given_no_options():
    built = search_settings(time_budget="5m")
    assert built == SearchSettings(time_budget_s=300.0)
    assert built.compression is not None and built.compression.passes is None
    assert str(built.compression.tolerance) == "1.00% relative"


def test_options_become_settings():
    built = search_settings(
        time_budget=20,
        compress=["int8_static"],
        max_quality_drop=0.005,
        quick_latency=True,
        threads=2,
    )
    assert built.time_budget_s == 20.0 and built.compression.passes == ("int8_static",)
    assert built.protocol.threads == 2 and built.protocol.min_calls == QUICK_PROTOCOL.min_calls
    assert search_settings(time_budget=None, n_trials=3, compress=False).compression is None
    given = LatencyProtocol(min_calls=7)
    assert search_settings(time_budget=None, n_trials=1, protocol=given).protocol == given


@pytest.mark.parametrize(
    ("options", "culprit"),
    [({"compress": ["nope"]}, "--passes"), ({"threads": 0}, "--threads")],
    ids=["pass", "threads"],
)
def test_a_bad_option_fails_naming_its_flag(options, culprit):
    with pytest.raises(TradeoffError, match=culprit):
        search_settings(time_budget="1m", **options)


def test_the_python_api_and_the_cli_refuse_a_bad_pass_before_reading_any_data(tmp_path):
    from typer.testing import CliRunner

    with pytest.raises(TradeoffError, match="--passes"):
        tradeoff.search(
            tmp_path / "missing.csv", Requirements(), out=tmp_path / "a", compress=["x"]
        )
    result = CliRunner().invoke(
        app,
        ["search", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "b"), "--passes", "x"],
    )
    assert result.exit_code == 2 and "--passes" in result.output, result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
