"""Synthetic labelled reviews for the text tests: the label is the majority of a review's
sentiment words, among filler words."""

from __future__ import annotations

import numpy as np
import pandas as pd

POSITIVE = ["great", "wonderful", "superb", "moving", "brilliant", "loved"]
NEGATIVE = ["awful", "boring", "dull", "terrible", "waste", "hated"]
FILLER = ["the", "film", "plot", "actor", "was", "and", "a", "story", "scene", "it", "of"]


def reviews(n: int, seed: int = 0) -> pd.DataFrame:
    """Reviews whose label is the majority of their sentiment words, among filler words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(FILLER, size=int(rng.integers(4, 40))))
        words += list(rng.choice(POSITIVE if label else NEGATIVE, size=int(rng.integers(2, 4))))
        words += list(rng.choice(NEGATIVE if label else POSITIVE, size=int(rng.integers(0, 2))))
        rng.shuffle(words)
        text = " ".join(words).capitalize() + rng.choice([".", "!", " :)", "..."])
        texts.append(text)
        labels.append("pos" if label else "neg")
    return pd.DataFrame({"review": texts, "sentiment": labels})
