"""A mixed table's free text as scores: a linear model on its TF-IDF, fitted on the training split.

A free-text column beside numbers and categories (``datasets.tabular``) carries a large
vocabulary (:data:`~tradeoff.datasets.tabular.TEXT_FEATURES` word n-grams, counted at load
without labels). Tens of thousands of dense TF-IDF features beside the others would not fit
in memory at real size, and a small vocabulary loses accuracy (docs/data.md), so each text
column enters the table as its *scores*: the decision function of a linear model fitted on
the training split's TF-IDF (logistic regression for classes, ridge for regression), one
score for a binary or regression target, one per class otherwise. The model families then
search the whole row, scores beside the numbers and one-hots.

The training rows' scores are out of fold (each from the model fitted on the other folds),
so that a family learns how much to trust the text from scores of rows the text model did
not see; validation and test rows (and a shipped bundle) get the model fitted on the whole
training split, which the exported graph computes from the raw string (``table_input``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradeoff import ngrams

#: Folds for the training rows' out-of-fold scores (fewer when a class has fewer rows).
SCORE_FOLDS = 5
#: The linear models' regularisation, not searched. Not scikit-learn's defaults (its C is 1):
#: C = 4 was taken from a throw-away comparison on the texts it was then reported on
#: (docs/benchmarks.md, "Defaults chosen on test figures"); RIDGE_ALPHA is Ridge's default.
LOGISTIC_C, RIDGE_ALPHA = 4.0, 1.0


@dataclass(frozen=True)
class TextHead:
    """The linear model of one text column: ``scores = tfidf @ coef.T + intercept``."""

    coef: np.ndarray  # [scores, grams], float32
    intercept: np.ndarray  # [scores], float32


def tfidf(texts: np.ndarray, grams: tuple[tuple[str, ...], ...], idf: np.ndarray):
    """The TF-IDF rows (CSR ``[N, grams]``) of ``texts`` (object ``[N]``) over a fixed
    vocabulary, as the graph computes them (``ngrams.weighted``, sublinear tf)."""
    from sklearn.feature_extraction.text import CountVectorizer

    lengths = sorted({len(g) for g in grams}) or [1]
    counter = CountVectorizer(
        vocabulary=[" ".join(g) for g in grams],
        ngram_range=(lengths[0], lengths[-1]),
        token_pattern=ngrams.TOKEN_PATTERN,
        lowercase=True,
        dtype=np.float32,
    )
    return ngrams.normalised(counter.transform(list(texts)), idf, sublinear=True)


def n_scores(task: str, n_classes: int) -> int:
    """How many scores a text column gives: one for a binary or regression target."""
    return 1 if task == "regression" or n_classes <= 2 else n_classes


def fit_scores(
    train_texts: np.ndarray,
    y_train: np.ndarray,
    others: list[np.ndarray],
    grams: tuple[tuple[str, ...], ...],
    idf: np.ndarray,
    task: str,
    n_classes: int,
    seed: int = 0,
) -> tuple[TextHead, np.ndarray, list[np.ndarray]]:
    """The text model fitted on the training texts, the training rows' out-of-fold scores, and
    the scores of each of ``others`` (validation, test) from the model fitted on all of them."""
    from sklearn.model_selection import KFold, StratifiedKFold

    X = tfidf(train_texts, grams, idf)
    width = n_scores(task, n_classes)
    scores = np.zeros((len(y_train), width), np.float32)
    classify = task != "regression"
    smallest = int(np.bincount(y_train.astype(np.int64)).min()) if classify else len(y_train)
    k = min(SCORE_FOLDS, smallest, len(y_train))
    if k >= 2:
        splitter = (StratifiedKFold if classify else KFold)(k, shuffle=True, random_state=seed)
        for fit_rows, held in splitter.split(X, y_train):
            head = _fit(X[fit_rows], y_train[fit_rows], task, n_classes, seed)
            scores[held] = _apply(head, X[held])
    head = _fit(X, y_train, task, n_classes, seed)
    if k < 2:  # too few rows per class to hold any out: in-sample scores
        scores = _apply(head, X)
    return head, scores, [_apply(head, tfidf(t, grams, idf)) for t in others]


def _fit(X, y: np.ndarray, task: str, n_classes: int, seed: int) -> TextHead:
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "regression":
        model = Ridge(alpha=RIDGE_ALPHA).fit(X, y)
        coef, intercept = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)
    else:
        model = LogisticRegression(C=LOGISTIC_C, max_iter=1000, random_state=seed).fit(X, y)
        coef, intercept = model.coef_, model.intercept_
        if n_classes > 2 and coef.shape[0] < n_classes:  # a class absent from these rows
            full = np.zeros((n_classes, X.shape[1]))
            bias = np.full(n_classes, -1e3)
            full[model.classes_], bias[model.classes_] = coef, intercept
            coef, intercept = full, bias
    return TextHead(coef.astype(np.float32), np.asarray(intercept, np.float32))


def _apply(head: TextHead, X) -> np.ndarray:
    return np.asarray(X @ head.coef.T + head.intercept[None, :], np.float32)
