"""scikit-learn estimators: ``fit`` runs a small search and keeps the pick as ONNX bytes.

>>> from tradeoff import Requirements, TradeoffClassifier
>>> clf = TradeoffClassifier(requirements=Requirements(max_latency_ms=0.1), n_trials=5)
>>> clf.fit(X, y).score(X_test, y_test)  # doctest: +SKIP

They follow the scikit-learn estimator contract (``check_estimator`` passes on
both): ``__init__`` only stores its arguments, all validation and
work happen in ``fit``, learned state ends in ``_``. Each ``fit`` searches in
a temporary run folder that is deleted afterwards; the model learned is the
ONNX artifact ``model_onnx_`` (bytes), run in ONNX Runtime by ``predict``.

``X`` is numbers ``[n_samples, n_features]``, or raw texts: one column of strings (a list,
a 1-D array, a pandas Series or a one-column frame), searched over the text families
(TF-IDF to sequence models, tokenized inside the ONNX graph); ``text_input_`` says which.

>>> clf = TradeoffClassifier(n_trials=1, families=["tfidf"]).fit(reviews, labels)  # doctest: +SKIP
>>> clf.predict(["a moving, brilliant film"])  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import optuna
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from tradeoff.bundle import FLOAT32_MAX, run_onnx, softmax
from tradeoff.datasets import Dataset
from tradeoff.errors import TradeoffError
from tradeoff.families import get_family
from tradeoff.frontier import Run
from tradeoff.measure import LatencyProtocol, session
from tradeoff.prepare import Prepared, fit_scaling, split_rows
from tradeoff.records import TrialRecord, load_run_info, trial_records
from tradeoff.requirements import PREFER, Requirements
from tradeoff.searcher import run_search
from tradeoff.searcher.settings import search_settings
from tradeoff.selection import select
from tradeoff.train import SHORT_RUN_STRATEGY

#: A short latency protocol: an estimator's search is small and its ranking coarse.
ESTIMATOR_PROTOCOL = LatencyProtocol(warmup_calls=20, min_calls=100, min_seconds=0.05)
#: Tried first, so that even a 1-3 trial budget starts from training settings that learn.
FIRST_TRIALS = (
    {**get_family("linear").point(), **SHORT_RUN_STRATEGY},
    {
        **get_family("mlp").point(depth=1, width=64, activation="relu", dropout=0.0),
        **SHORT_RUN_STRATEGY,
    },
)


class _TradeoffEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters, the search, ONNX inference."""

    _task: ClassVar[str]

    def __init__(
        self,
        requirements: Requirements | None = None,
        time_budget: float | None = None,
        n_trials: int | None = 3,
        families: Sequence[str] | None = None,
        max_epochs: int = 30,
        random_state: int = 0,
        prefer: str = "accurate",
    ) -> None:
        self.requirements = requirements
        self.time_budget = time_budget
        self.n_trials = n_trials
        self.families = families
        self.max_epochs = max_epochs
        self.random_state = random_state
        self.prefer = prefer

    def _check_params(self) -> None:
        name = type(self).__name__
        if self.requirements is not None and not isinstance(self.requirements, Requirements):
            raise ValueError(
                f"{name}: requirements must be a tradeoff.Requirements or None, "
                f"got {self.requirements!r}"
            )
        if self.n_trials is not None and (not isinstance(self.n_trials, int) or self.n_trials < 1):
            raise ValueError(f"{name}: n_trials must be an int >= 1 or None, got {self.n_trials!r}")
        if self.time_budget is not None and not (
            isinstance(self.time_budget, (int, float)) and self.time_budget > 0
        ):
            raise ValueError(
                f"{name}: time_budget must be seconds > 0 or None, got {self.time_budget!r}"
            )
        if self.n_trials is None and self.time_budget is None:
            raise ValueError(f"{name}: give n_trials or time_budget, or the search never ends")
        if not isinstance(self.max_epochs, int) or self.max_epochs < 1:
            raise ValueError(f"{name}: max_epochs must be an int >= 1, got {self.max_epochs!r}")
        if not isinstance(self.random_state, int):
            raise ValueError(f"{name}: random_state must be an int, got {self.random_state!r}")
        if self.prefer not in PREFER:
            raise ValueError(
                f"{name}: prefer must be one of {', '.join(PREFER)}, got {self.prefer!r}"
            )

    def _validate(self, X, y, **checks) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` checked: raw texts ``[n, 1]`` (object), or float64 numbers."""
        texts = as_texts(X)
        self.text_input_ = texts is not None
        if texts is None:
            return validate_data(self, X, y, dtype=np.float64, **checks)
        y = column_or_1d(y, warn=True)
        check_consistent_length(texts, y)
        if checks.get("y_numeric"):
            y = y.astype(np.float64)
        self.n_features_in_ = 1
        return texts, y

    def _search(self, X: np.ndarray, y: np.ndarray, classes: tuple[str, ...]) -> None:
        """Search on (X, y); keep the pick's ONNX bytes and record."""
        if not self.text_input_:
            if np.abs(X).max(initial=0.0) > FLOAT32_MAX:
                raise ValueError(f"{type(self).__name__}: X has values outside the float32 range")
            X = X.astype(np.float32)
        prepared = _prepare(X, y, self._task, classes, self.random_state)
        requirements = self.requirements or Requirements()
        settings = search_settings(
            time_budget=float(self.time_budget) if self.time_budget is not None else None,
            n_trials=self.n_trials,
            families=tuple(self.families) if self.families else None,
            seed=self.random_state,
            max_epochs=self.max_epochs,
            protocol=ESTIMATOR_PROTOCOL,
            first_trials=FIRST_TRIALS,
            # Compression serves a cost limit; without one a fit returns the most accurate
            # trial, and skipping it saves about a quarter of a small fit (0.64 -> 0.49 s).
            compress=requirements.limits_cost,
            prefer=self.prefer,
        )
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        pick, onnx_bytes, n_trials = self._run_search(prepared, requirements, settings)
        self.model_onnx_ = onnx_bytes
        self.trial_ = pick
        self.n_trials_ = n_trials
        self._session = session(self.model_onnx_)

    def _run_search(self, prepared, requirements, settings) -> tuple[TrialRecord, bytes, int]:
        with tempfile.TemporaryDirectory(prefix="tradeoff-fit-", dir=_scratch_dir()) as tmp:
            out = Path(tmp) / "run"
            study, _ = run_search(
                prepared.data,
                requirements,
                out,
                settings,
                show_progress=False,
                prepared=prepared,
            )
            trials = trial_records(study)
            pick = _pick(trials, requirements, type(self).__name__, self.prefer)
            run = Run(out, study, load_run_info(out), prepared)
            return pick, Path(run.artifact_path(pick, tmp)).read_bytes(), len(trials)

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self, "model_onnx_")
        if self.text_input_:
            texts = as_texts(X)
            if texts is None:
                raise ValueError(
                    f"{type(self).__name__}: fitted on texts; X must be one column of strings"
                )
            return run_onnx(self._session, texts)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return run_onnx(self._session, X.astype(np.float32))

    # The ONNX Runtime session cannot be pickled; the ONNX bytes can, and rebuild it.
    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: never drop the live session
        state.pop("_session", None)
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if "model_onnx_" in state:
            self._session = session(self.model_onnx_)


class TradeoffClassifier(ClassifierMixin, _TradeoffEstimator):
    """The most accurate classifier ``requirements`` can afford, as a scikit-learn estimator.

    Parameters: ``requirements`` (a :class:`tradeoff.Requirements`, default none),
    ``time_budget`` (seconds) and/or ``n_trials`` (default 3), ``families``
    (default: all serving tables), ``max_epochs`` per trial, ``random_state``, ``prefer``
    (``"accurate"``: the most accurate trial meeting the requirements; ``"cheaper"``: its
    cheaper twin, the same quality within noise, where there is one).
    The pick is :func:`tradeoff.selection.select`'s, the same as ``tradeoff export --trial best``
    makes from the same trials (ties in quality: fewer parameters, then the faster, then the earlier trial).

    Attributes after ``fit``: ``classes_``, ``n_features_in_``, ``model_onnx_``
    (the picked model, ONNX bytes, preprocessing folded in), ``trial_`` (its
    :class:`~tradeoff.searcher.TrialRecord`: family, params, cost), ``n_trials_``,
    ``text_input_`` (whether ``X`` was raw texts: then ``predict`` takes texts too).

    >>> clf = TradeoffClassifier(n_trials=3).fit(X, y)  # doctest: +SKIP
    >>> clf.predict_proba(X[:2])  # doctest: +SKIP
    """

    _task = "classification"

    def fit(self, X, y) -> TradeoffClassifier:
        """Search for the best classifier of ``y`` from ``X`` and keep it."""
        self._check_params()
        X, y = self._validate(X, y)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"TradeoffClassifier: y has one class only ({self.classes_[0]!r}); "
                "a classifier needs at least 2"
            )
        self._search(X, encoded.astype(np.int64), tuple(str(c) for c in self.classes_))
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``[n_samples, n_classes]``, columns in the order of ``classes_``."""
        return softmax(self._outputs(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        outputs = self._outputs(X)  # first: raises NotFittedError before classes_ is read
        return self.classes_[outputs.argmax(axis=1)]


class TradeoffRegressor(RegressorMixin, _TradeoffEstimator):
    """The best regressor ``requirements`` can afford, as a scikit-learn estimator.

    Same parameters and attributes as :class:`TradeoffClassifier` (no ``classes_``).
    Needs the search's regression training; without it ``fit`` raises a
    :class:`~tradeoff.TradeoffError` saying why no trial trained.

    >>> reg = TradeoffRegressor(n_trials=3).fit(X, y)  # doctest: +SKIP
    """

    _task = "regression"

    def fit(self, X, y) -> TradeoffRegressor:
        """Search for the best regressor of ``y`` from ``X`` and keep it."""
        self._check_params()
        X, y = self._validate(X, y, y_numeric=True)
        if len(y) < 2:
            raise ValueError(
                f"TradeoffRegressor: got {len(y)} sample; a regressor needs at least 2 "
                "(its R² is undefined on fewer)"
            )
        self._search(X, y.astype(np.float32), ())
        return self

    def predict(self, X) -> np.ndarray:
        """The predicted value of each row."""
        return self._outputs(X)[:, 0].astype(np.float64)


def as_texts(X) -> np.ndarray | None:
    """``X`` as texts ``[n, 1]`` (object) when it is one column of strings, else ``None``."""
    if getattr(X, "dtype", None) is not None and X.dtype.kind in "biufc":
        return None  # numbers: never converted element by element
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] != 1:
        return None
    try:
        texts = np.asarray(X, dtype=object)
    except (TypeError, ValueError):
        return None
    if texts.ndim == 1:
        texts = texts.reshape(-1, 1)
    if texts.ndim != 2 or texts.shape[1] != 1 or not len(texts):
        return None
    return texts if all(isinstance(text, str) for text in texts[:, 0]) else None


def _scratch_dir() -> str | None:
    # The fit's run folder is thrown away: keep it in memory where possible, since
    # the study's SQLite commits each wait for the disk otherwise.
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _prepare(X: np.ndarray, y: np.ndarray, task: str, classes: tuple[str, ...], seed: int):
    """Train/validation splits for a fit; no test split (the caller holds its own)."""
    task_name = task if task == "regression" else ("binary" if len(classes) == 2 else "multiclass")
    modality = "text" if X.dtype == object else "tabular"
    data = Dataset(name="estimator", X=X, y=y, task=task_name, modality=modality, classes=classes)
    n_val = max(1, round(0.2 * len(y)))
    stratify = task != "regression"
    if stratify:
        can_split = len(y) >= 10 and np.bincount(y).min() >= 2 and n_val >= len(classes)
    else:
        can_split = len(y) >= 10
    if can_split:
        train, val = split_rows(np.arange(len(y)), y, n_val, seed, stratify, "X, y")
        X_train, X_val, y_train, y_val = X[train], X[val], y[train], y[val]
    else:
        # Too little data to hold any out: validate on the training rows.
        X_train, X_val, y_train, y_val = X, X, y, y
    return Prepared(
        data=data,
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        X_test=X_val,
        y_test=y_val,
        scaling=fit_scaling(X_train, modality),
        seed=seed,
    )


def _pick(
    trials: list[TrialRecord], requirements: Requirements, who: str, prefer: str
) -> TrialRecord:
    pick = select(trials, requirements, prefer)  # the one selection rule, as `tradeoff export` uses
    if pick is not None:
        return pick
    if any(r.trained for r in trials):
        raise TradeoffError(
            f"{who}: none of the {len(trials)} trained candidates meets the requirements; "
            "loosen them or search longer (n_trials, time_budget)"
        )
    errors = [r.error for r in trials if r.error]
    why = f"first error: {errors[0]}" if errors else "every candidate broke a cost requirement"
    raise TradeoffError(f"{who}: no candidate was trained ({why})")
