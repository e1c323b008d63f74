"""The one exception type for user mistakes.

The CLI turns a :class:`TradeoffError` into one line on stderr and exit status 2;
anything else is a programming error and stays a traceback.
"""


class TradeoffError(Exception):
    """A problem with what the user gave us (a file, a flag, a requirement).

    The message names the culprit, e.g. ``--max-latency-ms: must be > 0, got -1``.
    """
