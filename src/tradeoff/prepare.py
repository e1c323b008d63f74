"""Preparation: cleaning, splits, imputation, scaling and augmentation, fitted on train only.

The order is fixed and recorded in the run:

1. cleaning on the whole data set: exact duplicate rows dropped (counted);
   rows without a target were already dropped by the loader (counted);
2. splits: the test split is carved first (or taken from the data set) and
   never seen by the search; validation is carved from what remains; both
   stratified for classification, seeded;
3. fitted on the training split only, then applied to every split:
   imputation (median for numbers, most frequent category for categoricals),
   constant columns dropped (tables), standardisation statistics;
4. optionally ``cv`` stratified folds of train+validation, each prepared
   the same way (fitted on the fold's training part only);
5. augmentation, applied by the training loop to training batches only.

>>> import tradeoff
>>> prepared = prepare(tradeoff.datasets.load("iris"), seed=0)
>>> prepared.X_train.shape, prepared.X_val.shape, prepared.X_test.shape
((95, 4), (24, 4), (30, 4))
>>> prepared.cleaning.n_duplicates_dropped  # iris repeats one flower
1
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold, train_test_split

from tradeoff.datasets import Dataset, load
from tradeoff.errors import TradeoffError
from tradeoff.inputs.text_scores import TextHead, fit_scores

#: Augmentations each modality allows, and those ``augment="auto"`` uses.
#: Flips are not on by default: a mirrored digit or letter is another class. Jitter is
#: opt-in, so that ``auto`` trains sequences exactly as the walking skeleton did.
AUGMENTATIONS: dict[str, tuple[str, ...]] = {
    "tabular": (),
    "sequence": ("shift", "jitter"),
    "image": ("shift", "hflip", "vflip", "jitter"),
    "text": (),
}
DEFAULT_AUGMENTATIONS: dict[str, tuple[str, ...]] = {
    "tabular": (),
    "sequence": ("shift",),
    "image": ("shift",),
    "text": (),
}


@dataclass(frozen=True)
class Scaling:
    """Standardisation statistics, shaped to broadcast over one example."""

    mean: np.ndarray
    std: np.ndarray


@dataclass(frozen=True)
class Imputation:
    """The value that replaces a missing one, per input feature (before constant columns drop).

    Fitted on the training split: the median of a numeric feature; for a
    one-hot categorical column, the one-hot of its most frequent category.
    """

    fill: np.ndarray


@dataclass(frozen=True)
class Cleaning:
    """What cleaning changed, so that a run can say it."""

    n_rows: int
    n_duplicates_dropped: int
    n_missing_target_dropped: int
    n_values_imputed: int
    constant_columns_dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to training batches only; the search turns them on or off.

    ``jitter_std`` is the Gaussian noise scale per channel (5 % of the
    training split's standard deviation), since batches are in raw units.
    """

    modality: str
    kinds: tuple[str, ...] = ()
    jitter_std: np.ndarray | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.kinds)

    def apply(self, xb: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """An augmented copy of the batch ``xb`` (``[B, T, C]`` or ``[B, C, H, W]``)."""
        if "shift" in self.kinds:
            if self.modality == "sequence":
                most = max(1, min(3, xb.shape[1] // 4))
                xb = torch.roll(xb, int(rng.integers(-most, most + 1)), dims=1)
            else:
                most = max(1, xb.shape[-1] // 8)
                dy, dx = (int(v) for v in rng.integers(-most, most + 1, size=2))
                xb = torch.roll(xb, (dy, dx), dims=(2, 3))
        for kind, axis in (("hflip", -1), ("vflip", -2)):
            if kind in self.kinds:
                flip = torch.from_numpy(rng.random(len(xb)) < 0.5)
                xb = torch.where(flip.view(-1, *([1] * (xb.dim() - 1))), xb.flip(axis), xb)
        if "jitter" in self.kinds and self.jitter_std is not None:
            noise = torch.from_numpy(rng.standard_normal(tuple(xb.shape)).astype(np.float32))
            xb = xb + noise * torch.from_numpy(self.jitter_std)
        return xb


#: A class rarer than this share of the training rows makes a task imbalanced.
IMBALANCED_SHARE = 0.2


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class weights ``n / (k * count)`` (scikit-learn's ``class_weight="balanced"``)."""
    counts = np.bincount(np.asarray(y, np.int64), minlength=n_classes).astype(np.float64)
    return len(y) / (n_classes * np.maximum(counts, 1.0))


@dataclass(frozen=True)
class RawTexts:
    """A mixed table's free-text columns as written (``Dataset.texts``), for each split's
    rows: what its bundle takes, to check the folded graph and to time it on real lengths."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class Prepared:
    """The splits a search works on, plus how they were made."""

    data: Dataset
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    scaling: Scaling
    seed: int
    imputation: Imputation | None = None
    kept_features: tuple[int, ...] | None = None  # tables: columns left after constant ones drop
    cleaning: Cleaning | None = None
    augmentation: Augmentation | None = None
    folds: tuple[Prepared, ...] = ()  # --cv K: each fold prepared on its own training part
    options: dict = field(default_factory=dict)  # prepare()'s keyword arguments, to redo it
    texts: RawTexts | None = None  # a mixed table's raw texts, row for row with each split
    #: A mixed table's text models by column, fitted on this training split (text_scores).
    text_heads: dict[str, TextHead] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.data.task

    @property
    def modality(self) -> str:
        return self.data.modality

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example the model takes (after constant columns are dropped)."""
        return tuple(self.X_train.shape[1:])

    @property
    def n_outputs(self) -> int:
        return 1 if self.task == "regression" else self.data.n_classes

    @property
    def imbalanced(self) -> bool:
        """A classification task whose rarest class is under ``IMBALANCED_SHARE`` of the
        training rows: the search then also tries class weights."""
        if self.task == "regression" or not len(self.y_train):
            return False
        counts = np.bincount(self.y_train.astype(np.int64), minlength=self.n_outputs)
        return bool(counts.min() / len(self.y_train) < IMBALANCED_SHARE)

    @property
    def feature_names(self) -> tuple[str, ...]:
        names = self.data.feature_names
        if not names or self.kept_features is None:
            return names
        return tuple(names[i] for i in self.kept_features)

    def fingerprint(self) -> str:
        """A short hash of every split, to tell whether a resumed run sees the same data."""
        digest = hashlib.sha256()
        for array in (self.X_train, self.y_train, self.X_val, self.y_val, self.X_test, self.y_test):
            if array.dtype == object:  # texts: hash the strings, not the pointers to them
                digest.update("\x00".join(map(str, array.ravel())).encode("utf-8", "replace"))
            else:
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    def describe(self) -> dict:
        """What a run records about its data: where it came from, how it was prepared."""
        cleaning = self.cleaning
        return {
            "dataset": self.data.name,
            "source": self.data.source,
            "options": self.options,
            "task": self.task,
            "modality": self.modality,
            "target": self.data.target,
            "classes": list(self.data.classes),
            "input_shape": list(self.input_shape),
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            "seed": self.seed,
            "cleaning": None
            if cleaning is None
            else cleaning.__dict__
            | {"constant_columns_dropped": list(cleaning.constant_columns_dropped)},
            "imputation": "median (numbers), most frequent (categories), fitted on train",
            "scaling": "standardise, fitted on train",
            "augmentation": list(self.augmentation.kinds) if self.augmentation else [],
            "cv_folds": len(self.folds),
            "fingerprint": self.fingerprint(),
        }


def prepare_from_description(description: dict, seed: int) -> Prepared:
    """Reload and re-prepare the data a run recorded (``Prepared.describe()``), e.g. to resume it.

    Runs recorded before sources were stored name a built-in data set only.
    """
    source = description.get("source") or {"name": description["dataset"]}
    data = load(**source, seed=seed)
    return prepare(data, seed=seed, **description.get("options", {}))


def fit_scaling(X_train: np.ndarray, modality: str) -> Scaling:
    """Per-feature statistics for tables, per-channel for sequences and images; none for texts
    (they stay strings: each text family fits its own weighting, inside its graph)."""
    if modality == "text":
        return Scaling(mean=np.zeros(1, np.float32), std=np.ones(1, np.float32))
    axes = {"tabular": (0,), "sequence": (0, 1), "image": (0, 2, 3)}[modality]
    mean = X_train.mean(axis=axes, keepdims=True)[0]
    std = X_train.std(axis=axes, keepdims=True)[0]
    std = np.where(std > 1e-12, std, 1.0)
    return Scaling(mean=mean.astype(np.float32), std=std.astype(np.float32))


def fit_imputation(X_train: np.ndarray, data: Dataset) -> Imputation:
    """Fill values from the training split: medians, and most frequent categories for one-hots."""
    flat = X_train.reshape(len(X_train), -1)
    empty = np.isnan(flat).all(axis=0)
    if empty.any():
        names = data.feature_names or tuple(str(i) for i in range(flat.shape[1]))
        raise TradeoffError(
            f"{data.name}: feature {names[int(np.argmax(empty))]!r} has no values in the training split"
        )
    fill = np.nanmedian(flat, axis=0) if np.isnan(flat).any() else np.median(flat, axis=0)
    start = 0
    for column in data.columns:
        if column.kind == "categorical":
            block = flat[:, start : start + column.width]
            onehot = np.zeros(column.width, np.float32)
            onehot[int(np.argmax(np.nansum(block, axis=0)))] = 1.0
            fill[start : start + column.width] = onehot
        start += column.width
    return Imputation(fill=fill.astype(np.float32).reshape(X_train.shape[1:]))


def impute(X: np.ndarray, imputation: Imputation) -> np.ndarray:
    """``X`` with its missing values (NaN) filled."""
    missing = np.isnan(X)
    if not missing.any():
        return X
    return np.where(missing, imputation.fill[None], X).astype(np.float32)


def augmentation_for(modality: str, augment: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """The augmentations to search on/off: ``"auto"`` (the modality's defaults), ``"off"``, or names."""
    if augment in (None, "auto"):
        return DEFAULT_AUGMENTATIONS[modality]
    if augment in ("off", "none", ()):
        return ()
    names = augment if isinstance(augment, tuple) else tuple(a.strip() for a in augment.split(","))
    allowed = AUGMENTATIONS[modality]
    for name in names:
        if name not in allowed:
            choices = ", ".join(allowed) + ", auto or off" if allowed else "auto or off"
            raise TradeoffError(
                f"--augment: {name!r} does not apply to {modality} data; choose from {choices}"
            )
    return tuple(dict.fromkeys(n for n in names if n))


def prepare(
    data: Dataset,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    cv: int | None = None,
    augment: str | None = "auto",
    cv_repeats: int = 1,
) -> Prepared:
    """Clean ``data``, split it (stratified for classification), fit imputation and scaling on train.

    ``cv`` adds that many stratified folds of train+validation (``cv_repeats`` times, each
    time shuffled anew: ``cv * cv_repeats`` folds in all); ``augment``
    says which augmentations the search may turn on (see :func:`augmentation_for`).
    """
    if cv is not None and not (isinstance(cv, int) and 2 <= cv <= 20):
        raise TradeoffError(f"--cv: expected a number of folds from 2 to 20, got {cv!r}")
    if not (isinstance(cv_repeats, int) and 1 <= cv_repeats <= 10):
        raise TradeoffError(f"--cv: expected 1 to 10 repeats, got {cv_repeats!r}")
    kinds = augmentation_for(data.modality, augment)
    options = {
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "cv": cv,
        "cv_repeats": cv_repeats,
        "augment": augment if isinstance(augment, str) or augment is None else ",".join(augment),
    }
    classify = data.task != "regression"
    keep = _first_of_duplicates(data.X, data.y, data.texts)
    X, y = (data.X, data.y) if keep is None else (data.X[keep], data.y[keep])
    n_duplicates = len(data.y) - len(y)
    texts = data.texts if keep is None or data.texts is None else data.texts[keep]
    own_test = data.X_test is not None and data.y_test is not None
    if own_test and texts is not None:
        raise TradeoffError(
            f"{data.name}: free text beside other columns needs the test split carved from "
            "the same table (its raw texts); give the test rows in the table instead"
        )
    _check_enough_rows(data, y, own_test, cv)
    if own_test:
        X_rest, y_rest, X_test, y_test = X, y, data.X_test, data.y_test
    else:
        rows = np.arange(len(y))
        rest, test = split_rows(rows, y, test_fraction, seed, classify, data.name, "test")
        X_rest, y_rest, X_test, y_test = X[rest], y[rest], X[test], y[test]
        if texts is not None:
            texts, texts_test = texts[rest], texts[test]
    rows = np.arange(len(y_rest))
    train, val = split_rows(rows, y_rest, val_fraction, seed + 1, classify, data.name)
    raw = None if texts is None else RawTexts(texts[train], texts[val], texts_test)
    main, n_imputed = _fit(
        data, X_rest[train], y_rest[train], X_rest[val], y_rest[val], X_test, y_test, raw
    )
    jitter = (main.scaling.std * 0.05).astype(np.float32) if "jitter" in kinds else None
    augmentation = Augmentation(data.modality, kinds, jitter)
    folds: tuple[Prepared, ...] = ()
    if cv:
        splitter = (RepeatedStratifiedKFold if classify else RepeatedKFold)(
            n_splits=cv, n_repeats=cv_repeats, random_state=seed
        )
        folds = tuple(
            replace(
                _fit(
                    data,
                    X_rest[a],
                    y_rest[a],
                    X_rest[b],
                    y_rest[b],
                    X_test,
                    y_test,
                    None if texts is None else RawTexts(texts[a], texts[b], texts_test),
                )[0],
                seed=seed,
                augmentation=augmentation,
            )
            for a, b in splitter.split(X_rest.reshape(len(X_rest), -1), y_rest)
        )
    cleaning = Cleaning(
        n_rows=data.n_rows + data.n_missing_target_dropped,
        n_duplicates_dropped=n_duplicates,
        n_missing_target_dropped=data.n_missing_target_dropped,
        n_values_imputed=n_imputed,
        constant_columns_dropped=main.cleaning.constant_columns_dropped,
    )
    return replace(
        main,
        seed=seed,
        cleaning=cleaning,
        augmentation=augmentation,
        folds=folds,
        options=options,
    )


def _fit(
    data, X_train, y_train, X_val, y_val, X_test, y_test, texts: RawTexts | None = None
) -> tuple[Prepared, int]:
    """Score a mixed table's texts, impute, drop constant columns, and standardise: every
    statistic and model from the training split only."""
    if data.modality == "text":
        # Texts stay strings: a missing one is already "", and tokenization, vocabulary and
        # weighting are fitted by each text family on the training split, inside its graph.
        prepared = Prepared(
            data=data,
            X_train=X_train,
            y_train=y_train,
            X_val=X_val,
            y_val=y_val,
            X_test=X_test,
            y_test=y_test,
            scaling=fit_scaling(X_train, data.modality),
            seed=0,
            cleaning=Cleaning(len(y_train), 0, 0, 0),
            augmentation=Augmentation(data.modality),
        )
        return prepared, 0
    heads = {}
    if texts is not None and any(c.kind == "text" for c in data.columns):
        heads = _score_texts(data, (X_train, X_val, X_test), texts, y_train)
    imputation = fit_imputation(X_train, data)
    n_missing = sum(_count_missing(X, data) for X in (X_train, X_val, X_test))
    X_train, X_val, X_test = (impute(X, imputation) for X in (X_train, X_val, X_test))
    kept, dropped = None, ()
    if data.modality == "tabular":
        varies = X_train.max(axis=0) > X_train.min(axis=0)
        if not varies.any():
            raise TradeoffError(f"{data.name}: every feature is constant in the training split")
        if not varies.all():
            names = data.feature_names or tuple(str(i) for i in range(X_train.shape[1]))
            dropped = tuple(names[i] for i in np.flatnonzero(~varies))
            kept = tuple(int(i) for i in np.flatnonzero(varies))
            X_train, X_val, X_test = X_train[:, kept], X_val[:, kept], X_test[:, kept]
    prepared = Prepared(
        data=data,
        X_train=np.ascontiguousarray(X_train),
        y_train=y_train,
        X_val=np.ascontiguousarray(X_val),
        y_val=y_val,
        X_test=np.ascontiguousarray(X_test),
        y_test=y_test,
        scaling=fit_scaling(X_train, data.modality),
        seed=0,
        imputation=imputation,
        kept_features=kept,
        cleaning=Cleaning(len(y_train), 0, 0, n_missing, dropped),
        augmentation=Augmentation(data.modality),
        texts=texts,
        text_heads=heads,
    )
    return prepared, n_missing


def _score_texts(
    data: Dataset, splits: tuple[np.ndarray, ...], texts: RawTexts, y_train: np.ndarray
) -> dict[str, TextHead]:
    """Fill each text column's score features in ``splits`` (train, val, test, in place):
    out-of-fold on train, from the model fitted on all of train elsewhere."""
    heads, start, index = {}, 0, 0
    for column in data.columns:
        if column.kind == "text":
            head, train, (val, test) = fit_scores(
                texts.train[:, index],
                y_train,
                [texts.val[:, index], texts.test[:, index]],
                data.task,
                data.n_classes,
                culprit=f"{data.name}: free-text column {column.name!r}",
            )
            for X, scores in zip(splits, (train, val, test), strict=True):
                X[:, start : start + column.width] = scores
            heads[column.name] = head
            index += 1
        start += column.width
    return heads


def _count_missing(X: np.ndarray, data: Dataset) -> int:
    """Missing values as the user counts them: a missing category is one value, not one per one-hot."""
    missing = np.isnan(X.reshape(len(X), -1))
    if not data.columns:
        return int(missing.sum())
    total, start = 0, 0
    for column in data.columns:
        total += int(missing[:, start : start + column.width].any(axis=1).sum())
        start += column.width
    return total


def _first_of_duplicates(
    X: np.ndarray, y: np.ndarray, texts: np.ndarray | None = None
) -> np.ndarray | None:
    """The rows to keep, the first of each set of identical (features, target) rows (raw
    ``texts`` too, where a mixed table has them), in row order; None when all are distinct."""
    if X.dtype == object:  # texts
        seen: dict[tuple, int] = {}
        for i, key in enumerate(zip(map(tuple, X), y.tolist(), strict=True)):
            seen.setdefault(key, i)
        first = seen
    else:
        flat = np.ascontiguousarray(X.reshape(len(X), -1))
        keys = np.concatenate([flat.view(np.uint8).reshape(len(X), -1), _bytes(y)], axis=1)
        if texts is not None:  # the text's own digest: its features are filled in later
            digests = [
                hashlib.blake2b("\x00".join(row).encode(), digest_size=16).digest() for row in texts
            ]
            keys = np.concatenate(
                [keys, np.frombuffer(b"".join(digests), np.uint8).reshape(len(X), 16)], axis=1
            )
        # A 128-bit digest per row: np.unique(axis=0) sorts whole rows, 27 s for 60,000 images.
        first = {}
        for i, row in enumerate(keys):
            first.setdefault(hashlib.blake2b(row.data, digest_size=16).digest(), i)
    if len(first) == len(X):
        return None
    return np.fromiter(sorted(first.values()), np.int64, count=len(first))


def _bytes(y: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(y.reshape(len(y), 1)).view(np.uint8).reshape(len(y), -1)


def _check_enough_rows(data: Dataset, y: np.ndarray, own_test: bool, cv: int | None) -> None:
    """Refuse, in one line naming the class, a data set whose rarest class cannot fill the
    splits: one row each for test (unless given), validation and training, ``cv`` for folds."""
    if data.task == "regression":
        if len(y) < 10:
            raise TradeoffError(f"{data.name}: {len(y)} rows; splitting needs at least 10")
        return
    counts = np.bincount(y, minlength=data.n_classes)
    present = counts[counts > 0]
    if len(present) < 2:
        raise TradeoffError(
            f"{data.name}: target {data.target!r} has a single class; classification needs at least 2"
        )
    held = 0 if own_test else 1  # the row of each class that the test split takes
    for needed, short in ((2 + held, "splits"), ((cv or 0) + held, "folds")):
        if present.min() >= needed:
            continue
        index = int(np.flatnonzero((counts > 0) & (counts < needed))[0])
        if short == "folds":
            what, fix = f"{cv} cross-validation folds need", "; --cv auto fits the folds to it"
        else:
            test = " (and the test split a third)" if held else ""
            what = f"the validation split needs one row and training another{test}, so"
            fix = f"; add rows of class {data.classes[index]!r} or drop it"
        raise TradeoffError(
            f"{data.name}: class {data.classes[index]!r} of target {data.target!r} has "
            f"{counts[index]} row(s); {what} at least {needed} per class{fix}"
        )


def split_rows(
    rows: np.ndarray,
    y: np.ndarray,
    size: float | int,
    seed: int,
    stratify: bool,
    name: str,
    split: str = "validation",
) -> tuple[np.ndarray, np.ndarray]:
    """Rows kept and rows held out for ``split`` (``size``: a fraction, or a number of rows),
    stratified by ``y`` for classification: the one hold-out split (``prepare`` and the
    estimators).

    A stratified split holds at least one row of each class: with two training series per
    class (a UCR set with dozens of classes) 20 % would hold fewer rows than classes.
    """
    held = int(np.ceil(size * len(rows))) if isinstance(size, float) else int(size)
    if stratify:
        held = max(held, len(np.unique(y)))
        if len(rows) - held < len(np.unique(y)):
            raise TradeoffError(
                f"{name}: {len(rows)} rows cannot hold one row of each of the "
                f"{len(np.unique(y))} classes both in the {split} split and in training"
            )
    try:
        return train_test_split(
            rows, test_size=held, random_state=seed, stratify=y if stratify else None
        )
    except ValueError:  # sklearn's words name its parameters, not our splits
        raise TradeoffError(f"{name}: cannot carve the {split} split ({len(rows)} rows)") from None
