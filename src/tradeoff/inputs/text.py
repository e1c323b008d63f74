"""Raw text as a bundle takes it: the rows latency is measured on, and the checks on a request.

A text model's latency grows with the length of its input, so its cost is measured on
texts drawn from the training split (``latency_samples``), cycled through during timing:
the p95 is over real lengths, not over one fixed row. The lengths used are recorded
with the figure (``describe_lengths``).
"""

from __future__ import annotations

import numpy as np

from tradeoff.errors import TradeoffError

#: Texts drawn from the training split to time a text model on.
N_LATENCY_SAMPLES = 256
#: The longest text a bundle accepts by default (characters); longer is a 422, not a slow answer.
DEFAULT_MAX_CHARS = 32_768


def latency_samples(X_train: np.ndarray, n: int = N_LATENCY_SAMPLES, seed: int = 0) -> np.ndarray:
    """``n`` training texts (object ``[n, 1]``), drawn at random with a fixed seed."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X_train), size=min(n, len(X_train)), replace=False)
    return X_train[np.sort(rows)]


def describe_lengths(samples: np.ndarray) -> dict:
    """The lengths (characters) of the texts a latency figure was measured on."""
    chars = np.array([len(t) for t in samples.ravel()])
    p50, p95 = np.percentile(chars, [50, 95])
    return {
        "kind": "texts, cycled through",
        "n": len(chars),
        "chars_p50": float(p50),
        "chars_p95": float(p95),
        "chars_max": int(chars.max()),
    }


def max_chars_for(X_train: np.ndarray) -> int:
    """A bundle's length cap: the default, or twice the longest training text if that is longer."""
    longest = max((len(t) for t in X_train.ravel()), default=0)
    return max(DEFAULT_MAX_CHARS, 2 * longest)


def text_rows(X, max_chars: int) -> np.ndarray:
    """``X`` (a str, a list of str, an array or a one-column DataFrame) as object ``[N, 1]``.

    Raises a TradeoffError naming the first row that is not a string or is too long.
    """
    import pandas as pd

    if isinstance(X, str):
        X = [X]
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise TradeoffError(f"input: a text model takes one text column, got {X.shape[1]}")
        X = X.iloc[:, 0].tolist()
    rows = np.asarray(X, dtype=object)
    if rows.ndim == 2 and rows.shape[1] == 1:
        rows = rows[:, 0]
    if rows.ndim != 1:
        raise TradeoffError(f"input: expected a list of texts, got shape {list(rows.shape)}")
    for i, value in enumerate(rows):
        if not isinstance(value, str):
            raise TradeoffError(f"input: row {i}: expected a text, got {type(value).__name__}")
        if len(value) > max_chars:
            raise TradeoffError(
                f"input: row {i}: {len(value)} characters, over the bundle's limit of {max_chars}"
            )
    return rows.reshape(-1, 1)
