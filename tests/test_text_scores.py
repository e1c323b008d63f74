"""A mixed table's text scores: out of fold on the training split, in-graph for the rest."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import tradeoff
from text_data import reviews
from tradeoff.errors import TradeoffError
from tradeoff.inputs.table import TableSchema, fold
from tradeoff.inputs.text_scores import fit_scores, n_scores, tfidf
from tradeoff.prepare import prepare


def _noise(n: int, seed: int = 0):
    """Texts whose one rare word is shared by a pair of rows of one label, labels otherwise
    random: a word identifies its pair's label, and says nothing about any other row."""
    rng = np.random.default_rng(seed)
    texts = np.array([f"word{i // 2} common" for i in range(n)], dtype=object)
    return texts, np.repeat(rng.integers(0, 2, n // 2), 2)


def test_training_scores_are_out_of_fold_so_memorised_words_do_not_leak():
    texts, y = _noise(200)
    head, train_scores, [again] = fit_scores(texts, y, [texts], "binary", 2)
    # In sample, each row's rare word identifies its label; out of fold it says nothing.
    assert np.mean((again[:, 0] > 0) == y) > 0.95
    assert abs(np.mean((train_scores[:, 0] > 0) == y) - 0.5) < 0.15
    assert head.coef.shape == (1, len(head.grams)) == (1, len(head.idf))
    assert head.intercept.shape == (1,)


def test_the_vocabulary_and_idf_are_counted_on_the_training_texts_only():
    train = np.array([f"plain words row {i % 7}" for i in range(60)], dtype=object)
    y = np.arange(60) % 2
    test = np.array(["zebra quagga words", "zebra quagga"] * 10, dtype=object)
    head, _, [scores] = fit_scores(train, y, [test], "binary", 2)
    assert ("words",) in head.grams and ("plain", "words") in head.grams
    assert not [g for g in head.grams if "zebra" in g or "quagga" in g]
    # idf from the training texts alone: "words" is in every one of them, so its idf is 1.
    assert head.idf[head.grams.index(("words",))] == pytest.approx(1.0)
    # A test text of unseen words only has no TF-IDF: the intercept alone.
    assert scores[1, 0] == pytest.approx(head.intercept[0])
    with pytest.raises(TradeoffError, match="'notes': no word occurs in two texts"):
        fit_scores(np.array(["", "!"] * 20, object), y[:40], [], "binary", 2, culprit="'notes'")


def test_one_score_per_class_beyond_two_and_for_regression():
    assert [n_scores("binary", 2), n_scores("multiclass", 4), n_scores("regression", 0)] == [
        1,
        4,
        1,
    ]
    texts = np.array(["good film", "bad film", "fine film"] * 20, dtype=object)
    y = np.array([0, 1, 2] * 20)
    head, scores, [other] = fit_scores(texts, y, [texts[:3]], "multiclass", 3)
    assert scores.shape == (60, 3) and other.shape == (3, 3)
    assert list(other.argmax(axis=1)) == [0, 1, 2]
    values = np.array([1.0, -1.0, 0.0] * 20, np.float32)
    _, scores, [other] = fit_scores(texts, values, [texts[:3]], "regression", 0)
    assert scores.shape == (60, 1) and other[0, 0] > other[2, 0] > other[1, 0]
    # A missing text is the empty string: no n-gram, an all-zero row.
    assert tfidf(np.array(["", "Good FILM"], dtype=object), head.grams, head.idf)[0].nnz == 0


def test_a_word_seen_only_in_test_rows_is_not_in_the_shipped_graph(tmp_path):
    """Words appended to the test rows' reviews change neither the split nor the vocabulary,
    idf and text model that prepare fits, nor the encoding graph a bundle ships."""
    frame = reviews(120).assign(stars=np.arange(120) % 5)
    frame.to_csv(tmp_path / "t.csv", index=False)
    before = prepare(tradeoff.datasets.load(tmp_path / "t.csv", target="sentiment"), seed=0)
    test_texts = set(before.texts.test[:, 0])
    frame["review"] = [t + " zebra quagga" if t in test_texts else t for t in frame["review"]]
    frame.to_csv(tmp_path / "t.csv", index=False)
    after = prepare(tradeoff.datasets.load(tmp_path / "t.csv", target="sentiment"), seed=0)
    assert all("zebra quagga" in t for t in after.texts.test[:, 0])
    assert not any(
        "zebra" in t for t in np.concatenate([after.texts.train, after.texts.val]).ravel()
    )
    head, old = after.text_heads["review"], before.text_heads["review"]
    assert head.grams == old.grams and not [g for g in head.grams if "zebra" in g]
    np.testing.assert_array_equal(head.idf, old.idf)
    np.testing.assert_array_equal(after.X_train, before.X_train)
    np.testing.assert_array_equal(after.X_val, before.X_val)
    # The encoding in front of a model (here an identity on the features) holds no test word.
    width = after.X_train.shape[1]
    identity = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "identity",
            [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, width])],
            [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, width])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    shipped = fold(identity.SerializeToString(), TableSchema.of(after))
    assert b"superb" in shipped and b"zebra" not in shipped and b"quagga" not in shipped
