"""Preparation: cleaning counted, splits stratified, every statistic fitted on train only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tradeoff.datasets import Column, Dataset, load
from tradeoff.prepare import Augmentation, prepare


def table(seed: int = 0, n: int = 300) -> Dataset:
    """Column 0 is the row id (to find rows after splitting); NaNs in numbers and a one-hot."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32) * [1, 2, 3, 4]
    X[:, 0] = np.arange(n)
    X[rng.random(n) < 0.2, 1] = np.nan
    colour = rng.integers(0, 3, size=n)
    onehot = np.eye(3, dtype=np.float32)[colour]
    onehot[rng.random(n) < 0.2] = np.nan
    X = np.concatenate([X, onehot], axis=1)
    columns = (
        Column("id", "numeric"),
        Column("a", "numeric"),
        Column("b", "numeric"),
        Column("c", "numeric"),
        Column("colour", "categorical", ("blue", "green", "red")),
    )
    return Dataset(
        name="t",
        X=X,
        y=(np.arange(n) % 3).astype(np.int64),
        task="multiclass",
        modality="tabular",
        classes=("x", "y", "z"),
        feature_names=tuple(f for c in columns for f in c.feature_names()),
        columns=columns,
    )


def with_rows_changed(data: Dataset, ids: np.ndarray, rng) -> Dataset:
    X = data.X.copy()
    X[ids, 1:4] = rng.normal(50, 30, size=(len(ids), 3))
    X[ids[::2], 1] = np.nan
    X[ids, 4:] = np.eye(3, dtype=np.float32)[np.full(len(ids), 2)]  # all "red"
    return Dataset(**{**data.__dict__, "X": X})


def test_scaling_and_imputation_are_fitted_on_the_training_split_only():
    data = table()
    before = prepare(data, seed=3)
    held_out = np.concatenate([before.X_val[:, 0], before.X_test[:, 0]]).astype(int)
    after = prepare(with_rows_changed(data, held_out, np.random.default_rng(1)), seed=3)
    # Same split, same statistics: changing validation and test rows changes nothing fitted.
    assert np.array_equal(before.X_train, after.X_train)
    assert np.array_equal(before.imputation.fill, after.imputation.fill)
    assert np.array_equal(before.scaling.mean, after.scaling.mean)
    assert np.array_equal(before.scaling.std, after.scaling.std)
    assert not np.array_equal(before.X_test, after.X_test)
    # ...while changing training rows does change them (the check above can fail).
    train_ids = before.X_train[:20, 0].astype(int)
    moved = prepare(with_rows_changed(data, train_ids, np.random.default_rng(1)), seed=3)
    assert not np.array_equal(before.imputation.fill, moved.imputation.fill)
    assert not np.array_equal(before.scaling.mean, moved.scaling.mean)


def test_imputation_uses_the_train_median_and_most_frequent_category():
    data = table()
    prepared = prepare(data, seed=0)
    train_rows = data.X[prepared.X_train[:, 0].astype(int)]
    assert prepared.imputation.fill[1] == pytest.approx(np.nanmedian(train_rows[:, 1]))
    most_frequent = int(np.argmax(np.nansum(train_rows[:, 4:], axis=0)))
    assert list(prepared.imputation.fill[4:]) == list(np.eye(3)[most_frequent])
    for split in (prepared.X_train, prepared.X_val, prepared.X_test):
        assert not np.isnan(split).any()
    numeric = int(np.isnan(data.X[:, :4]).sum())
    categorical = int(np.isnan(data.X[:, 4:]).any(axis=1).sum())
    assert prepared.cleaning.n_values_imputed == numeric + categorical


def test_duplicates_and_constant_columns_are_dropped_and_counted():
    data = table(n=200)
    X = np.concatenate([data.X, data.X[:15]])
    X = np.concatenate([X, np.full((len(X), 1), 7.0, np.float32)], axis=1)
    y = np.concatenate([data.y, data.y[:15]])
    names = (*data.feature_names, "always_7")
    dup = Dataset(**{**data.__dict__, "X": X, "y": y, "feature_names": names, "columns": ()})
    prepared = prepare(dup, seed=0)
    assert prepared.cleaning.n_duplicates_dropped == 15
    assert len(prepared.y_train) + len(prepared.y_val) + len(prepared.y_test) == 200
    assert prepared.cleaning.constant_columns_dropped == ("always_7",)
    assert prepared.input_shape == (7,) and "always_7" not in prepared.feature_names
    described = prepared.describe()
    assert described["cleaning"]["n_duplicates_dropped"] == 15
    assert described["cleaning"]["constant_columns_dropped"] == ["always_7"]


def test_splits_are_stratified_seeded_and_disjoint():
    data = table(n=300)
    a, b = prepare(data, seed=5), prepare(data, seed=5)
    assert a.fingerprint() == b.fingerprint() != prepare(data, seed=6).fingerprint()
    ids = [set(s[:, 0].astype(int)) for s in (a.X_train, a.X_val, a.X_test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == 300
    for y in (a.y_train, a.y_val, a.y_test):
        shares = np.bincount(y, minlength=3) / len(y)
        assert np.allclose(shares, 1 / 3, atol=0.02)


def test_regression_splits_are_random_and_keep_float_targets(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3)).astype(np.float32)
    y = (X @ [1.0, -2.0, 0.5] + rng.normal(0, 0.1, 100)).astype(np.float32)
    data = Dataset("r", X, y, task="regression", modality="tabular")
    prepared = prepare(data, seed=0)
    assert prepared.n_outputs == 1 and prepared.y_train.dtype == np.float32
    assert (len(prepared.y_train), len(prepared.y_val), len(prepared.y_test)) == (64, 16, 20)


def test_a_builtin_test_split_is_kept_as_is():
    gun = load("gunpoint")
    prepared = prepare(gun, seed=0)
    assert np.array_equal(prepared.X_test, gun.X_test) and len(prepared.y_train) == 40


def test_cv_folds_partition_train_and_validation_each_fitted_on_its_own_part():
    data = table(n=150)
    prepared = prepare(data, seed=0, cv=3)
    assert len(prepared.folds) == 3
    pool = set(np.concatenate([prepared.X_train[:, 0], prepared.X_val[:, 0]]).astype(int))
    held = [set(f.X_val[:, 0].astype(int)) for f in prepared.folds]
    assert set().union(*held) == pool and sum(len(h) for h in held) == len(pool)
    for fold in prepared.folds:
        assert fold.X_test.shape == prepared.X_test.shape
        assert np.allclose(fold.scaling.mean[1:4], fold.X_train[:, 1:4].mean(axis=0), atol=1e-4)
    assert prepared.describe()["cv_folds"] == 3


def test_augmentation_changes_training_batches_and_is_chosen_per_modality():
    assert prepare(load("iris")).augmentation.kinds == ()
    digits = prepare(load("digits"), augment="shift,hflip")
    assert digits.augmentation.kinds == ("shift", "hflip")
    assert prepare(load("digits"), augment="off").augmentation.enabled is False
    gunpoint = prepare(load("gunpoint"), augment="shift,jitter")
    assert prepare(load("gunpoint")).augmentation.kinds == ("shift",)
    assert gunpoint.augmentation.kinds == ("shift", "jitter")

    batch = torch.from_numpy(digits.X_train[:64])
    flipped = Augmentation("image", ("hflip",)).apply(batch, np.random.default_rng(0))
    same = [torch.equal(flipped[i], batch[i]) for i in range(64)]
    mirrored = [torch.equal(flipped[i], batch[i].flip(-1)) for i in range(64)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True)) and 10 < sum(mirrored) < 54
    seq = torch.from_numpy(gunpoint.X_train[:8])
    jittered = Augmentation("sequence", ("jitter",), gunpoint.augmentation.jitter_std).apply(
        seq, np.random.default_rng(0)
    )
    assert jittered.shape == seq.shape and not torch.equal(jittered, seq)


def test_a_mixed_tables_raw_texts_follow_its_rows_through_deduplication_and_splits():
    from dataclasses import replace

    from tradeoff.errors import TradeoffError

    X = np.repeat(np.arange(40, dtype=np.float32)[:, None], 2, axis=1)
    y = np.arange(40) % 2
    texts = np.array([[f"text {i}"] for i in range(40)], dtype=object)
    X[2], texts[2] = X[0], texts[0]  # a duplicate row, text and target too: dropped
    X[4] = X[0]  # the same numbers as row 0 and another text: kept
    data = Dataset("t", X, y, "binary", "tabular", ("a", "b"), texts=texts)
    prepared = prepare(data, seed=0)
    seen = []
    for split in ("train", "val", "test"):
        values = getattr(prepared, f"X_{split}")[:, 0].astype(int)
        raw = getattr(prepared.texts, split)[:, 0]
        assert all(
            t == f"text {v}" or (v == 0 and t == "text 4") for v, t in zip(values, raw, strict=True)
        )
        seen += list(raw)
    assert sorted(seen) == sorted(f"text {i}" for i in range(40) if i != 2)
    with pytest.raises(TradeoffError, match="free text beside other columns needs the test"):
        prepare(replace(data, X_test=X[:4], y_test=y[:4]), seed=0)


def few_per_class(per_class: int, n_classes: int = 9, n_test: int = 45) -> Dataset:
    """A series set as UCR ships some: a given test split, ``per_class`` training series each."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(n_classes), per_class).astype(np.int64)
    y_test = (np.arange(n_test) % n_classes).astype(np.int64)
    return Dataset(
        name="few",
        X=rng.normal(size=(len(y), 20, 1)).astype(np.float32),
        y=y,
        task="multiclass",
        modality="sequence",
        classes=tuple(f"c{i}" for i in range(n_classes)),
        X_test=rng.normal(size=(n_test, 20, 1)).astype(np.float32),
        y_test=y_test,
        target="class label",
    )


def test_two_rows_per_class_split_one_each_into_training_and_validation():
    prepared = prepare(few_per_class(2), seed=0)
    for y in (prepared.y_train, prepared.y_val):  # 20 % would be 4 rows for 9 classes
        assert np.bincount(y, minlength=9).tolist() == [1] * 9


def test_auto_folds_are_no_more_than_the_rarest_class():
    from tradeoff.searcher.cv import AUTO_FOLDS, auto_folds

    assert auto_folds(prepare(few_per_class(2), seed=0)) == 2
    assert auto_folds(prepare(few_per_class(3), seed=0)) == 3
    assert auto_folds(prepare(few_per_class(12), seed=0)) == AUTO_FOLDS
    folded = prepare(few_per_class(2), seed=0, cv=2, cv_repeats=2)
    assert len(folded.folds) == 4
    for fold in folded.folds:  # each fold trains on one series of every class, scores the other
        assert np.bincount(fold.y_train, minlength=9).tolist() == [1] * 9
        assert np.bincount(fold.y_val, minlength=9).tolist() == [1] * 9


def test_too_few_rows_for_a_split_or_folds_is_refused_naming_the_class_and_split():
    from tradeoff.errors import TradeoffError

    data = few_per_class(2)
    single = Dataset(**{**data.__dict__, "y": np.concatenate([[0], data.y[2:], [8]])})
    with pytest.raises(TradeoffError) as refused:
        prepare(single, seed=0)
    message = str(refused.value)
    assert "class 'c0' of target 'class label' has 1 row(s)" in message
    assert "validation split" in message and "at least 2 per class" in message
    with pytest.raises(TradeoffError) as refused:
        prepare(data, seed=0, cv=5)
    message = str(refused.value)
    assert "has 2 row(s); 5 cross-validation folds need at least 5 per class" in message
    assert "test_size" not in message and "n_splits" not in message
