"""The search budget: wall-clock time and/or a trial count."""

from __future__ import annotations

import re

from tradeoff.errors import TradeoffError

_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str | float | int, flag: str = "--time-budget") -> float:
    """Seconds from ``"90s"``, ``"5m"``, ``"1.5h"`` or a plain number of seconds.

    >>> parse_duration("5m")
    300.0
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
        if not match:
            raise TradeoffError(f"{flag}: expected a duration like 90s, 5m or 1h, got {text!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise TradeoffError(f"{flag}: must be > 0, got {text!r}")
    return seconds
