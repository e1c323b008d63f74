"""A mixed table's text scores: out of fold on the training split, in-graph for the rest."""

from __future__ import annotations

import numpy as np

from tradeoff.text_scores import fit_scores, n_scores, tfidf


def _noise(n: int, seed: int = 0):
    """Texts of one unique word each and labels that have nothing to do with them."""
    rng = np.random.default_rng(seed)
    texts = np.array([f"word{i} common" for i in range(n)], dtype=object)
    grams = tuple((f"word{i}",) for i in range(n)) + (("common",),)
    return texts, rng.integers(0, 2, n), grams


def test_training_scores_are_out_of_fold_so_memorised_words_do_not_leak():
    texts, y, grams = _noise(200)
    idf = np.ones(len(grams), np.float32)
    head, train_scores, [again] = fit_scores(texts, y, [texts], grams, idf, "binary", 2)
    # In sample, each row's unique word identifies its label; out of fold it says nothing.
    assert np.mean((again[:, 0] > 0) == y) > 0.95
    assert abs(np.mean((train_scores[:, 0] > 0) == y) - 0.5) < 0.15
    assert head.coef.shape == (1, len(grams)) and head.intercept.shape == (1,)


def test_one_score_per_class_beyond_two_and_for_regression():
    assert [n_scores("binary", 2), n_scores("multiclass", 4), n_scores("regression", 0)] == [
        1,
        4,
        1,
    ]
    texts = np.array(["good film", "bad film", "fine film"] * 20, dtype=object)
    grams = (("bad",), ("fine",), ("film",), ("good",))
    idf = np.ones(4, np.float32)
    y = np.array([0, 1, 2] * 20)
    head, scores, [other] = fit_scores(texts, y, [texts[:3]], grams, idf, "multiclass", 3)
    assert scores.shape == (60, 3) and other.shape == (3, 3)
    assert list(other.argmax(axis=1)) == [0, 1, 2]
    values = np.array([1.0, -1.0, 0.0] * 20, np.float32)
    _, scores, [other] = fit_scores(texts, values, [texts[:3]], grams, idf, "regression", 0)
    assert scores.shape == (60, 1) and other[0, 0] > other[2, 0] > other[1, 0]
    # A missing text is the empty string: no n-gram, an all-zero row.
    assert tfidf(np.array(["", "Good FILM"], dtype=object), grams, idf)[0].nnz == 0
