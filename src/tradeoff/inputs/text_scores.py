"""A mixed table's free text as scores: a linear model on its TF-IDF, fitted on the training split.

A free-text column beside numbers and categories (``datasets.tabular``) carries a large
vocabulary (:data:`TEXT_FEATURES` word n-grams). Tens of thousands of dense TF-IDF features beside the others would not fit
in memory at real size, and a small vocabulary loses accuracy (docs/data.md), so each text
column enters the table as its *scores*: the decision function of a linear model fitted on
the training split's TF-IDF (logistic regression for classes, ridge for regression), one
score for a binary or regression target, one per class otherwise. The model families then
search the whole row, scores beside the numbers and one-hots.

The training rows' scores are out of fold (each from the model fitted on the other folds),
so that a family learns how much to trust the text from scores of rows the text model did
not see; validation and test rows (and a shipped bundle) get the model fitted on the whole
training split, which the exported graph computes from the raw string (``table_input``).
Each model's vocabulary and idf are counted on the rows it is fitted on (a fold's on the
fold's rows), so no validation or test text shapes the graph that ships.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradeoff.errors import TradeoffError
from tradeoff.inputs import ngrams

#: A text column is scored on TF-IDF of its most frequent word n-grams in the rows a text
#: model is fitted on: at most this many, of these lengths (a text data set's own families
#: search both).
TEXT_FEATURES = 20_000
TEXT_NGRAMS = (1, 2)
#: Folds for the training rows' out-of-fold scores (fewer when a class has fewer rows).
SCORE_FOLDS = 5
#: The linear models' regularisation, not searched. Not scikit-learn's defaults (its C is 1):
#: C = 4 was taken from a throw-away comparison on the texts it was then reported on
#: (docs/benchmarks.md, "Defaults chosen on test figures"); RIDGE_ALPHA is Ridge's default.
LOGISTIC_C, RIDGE_ALPHA = 4.0, 1.0


@dataclass(frozen=True)
class TextHead:
    """The linear model of one text column: ``scores = tfidf @ coef.T + intercept``, the
    TF-IDF over ``grams`` weighted by ``idf``, both counted on the rows it was fitted on."""

    grams: tuple[tuple[str, ...], ...]
    idf: np.ndarray  # [grams], float32
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
    task: str,
    n_classes: int,
    seed: int = 0,
    culprit: str = "free-text column",
) -> tuple[TextHead, np.ndarray, list[np.ndarray]]:
    """The text model fitted on the training texts, the training rows' out-of-fold scores, and
    the scores of each of ``others`` (validation, test) from the model fitted on all of them.
    ``culprit`` names the column in the error raised when the training texts hold no word."""
    from sklearn.model_selection import KFold, StratifiedKFold

    width = n_scores(task, n_classes)
    scores = np.zeros((len(y_train), width), np.float32)
    classify = task != "regression"
    smallest = int(np.bincount(y_train.astype(np.int64)).min()) if classify else len(y_train)
    k = min(SCORE_FOLDS, smallest, len(y_train))
    if k >= 2:
        splitter = (StratifiedKFold if classify else KFold)(k, shuffle=True, random_state=seed)
        for fit_rows, held in splitter.split(np.zeros(len(y_train)), y_train):
            head = _fit(train_texts[fit_rows], y_train[fit_rows], task, n_classes, seed)
            if head is not None:  # a fold without any repeated word scores zero
                scores[held] = _scores(head, train_texts[held])
    head = _fit(train_texts, y_train, task, n_classes, seed)
    if head is None:
        raise TradeoffError(f"{culprit}: no word occurs in two texts of the training split")
    if k < 2:  # too few rows per class to hold any out: in-sample scores
        scores = _scores(head, train_texts)
    return head, scores, [_scores(head, t) for t in others]


def _vocabulary(texts: np.ndarray):
    """The :data:`TEXT_FEATURES` most frequent word n-grams of ``texts`` (in at least two of
    them, from 20 texts on), sorted by length as ``ngrams.ngram_counts`` wants them, and their
    idf; None when there is none. Counted afresh, not through ``ngrams``' cache, which keys on
    an array's identity (each fold's rows are a new array)."""
    from sklearn.feature_extraction.text import CountVectorizer

    counter = CountVectorizer(
        ngram_range=TEXT_NGRAMS,
        token_pattern=ngrams.TOKEN_PATTERN,
        min_df=2 if len(texts) >= 20 else 1,
        max_features=TEXT_FEATURES,
        lowercase=True,
        dtype=np.float32,
    )
    try:
        counts = counter.fit_transform(list(texts)).tocsr()
    except ValueError:  # no n-gram at all (every text empty, or none repeated)
        return None
    names = counter.get_feature_names_out()
    grams = [tuple(n.split(" ")) for n in names]
    order = sorted(range(len(grams)), key=lambda i: (len(grams[i]), grams[i]))
    return tuple(grams[i] for i in order), ngrams.idf(counts[:, order])


def _fit(texts: np.ndarray, y: np.ndarray, task: str, n_classes: int, seed: int):
    """The text model fitted on ``texts``, over their own vocabulary; None when they have none."""
    from sklearn.linear_model import LogisticRegression, Ridge

    vocabulary = _vocabulary(texts)
    if vocabulary is None:
        return None
    grams, idf = vocabulary
    X = tfidf(texts, grams, idf)
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
    return TextHead(grams, idf, coef.astype(np.float32), np.asarray(intercept, np.float32))


def _scores(head: TextHead, texts: np.ndarray) -> np.ndarray:
    X = tfidf(texts, head.grams, head.idf)
    return np.asarray(X @ head.coef.T + head.intercept[None, :], np.float32)
