"""Text: loaders and the free-text rule, text families with tokenization inside the ONNX
graph, latency over real lengths, and bundles that take raw strings (predict, serve, bench)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import tradeoff
from conftest import searched_bundle
from text_data import reviews
from tradeoff.errors import TradeoffError
from tradeoff.families import get_family
from tradeoff.inputs import ngrams
from tradeoff.inputs.text import latency_samples
from tradeoff.measure import QUICK_PROTOCOL, measure_latency, predict_outputs
from tradeoff.prepare import prepare
from tradeoff.serve import create_app


@pytest.fixture(scope="module")
def text_prepared(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "reviews.csv"
    reviews(400).to_csv(path, index=False)
    return prepare(tradeoff.datasets.load(path, target="sentiment"), seed=0)


# ---- loading ----


def test_a_free_text_column_makes_a_text_data_set(tmp_path):
    frame = reviews(60)
    frame.to_csv(tmp_path / "r.csv", index=False)
    data = tradeoff.datasets.load(tmp_path / "r.csv", target="sentiment")
    assert data.modality == "text" and data.task == "binary"
    assert data.X.shape == (60, 1) and data.X.dtype == object
    assert data.X[0, 0] == frame["review"][0] and data.classes == ("neg", "pos")
    assert data.feature_names == ("review",)


def test_a_label_like_column_stays_a_category(tmp_path):
    frame = pd.DataFrame(
        {"city": ["New York", "Paris", "Rome"] * 20, "y": [0, 1] * 30, "x": range(60)}
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = tradeoff.datasets.load(tmp_path / "t.csv", target="y")
    assert data.modality == "tabular"
    assert [c.kind for c in data.columns] == ["categorical", "numeric"]


def test_text_column_flag_overrides_the_rule(tmp_path):
    frame = pd.DataFrame({"word": [f"w{i}" for i in range(40)], "y": [0, 1] * 20})
    frame.to_csv(tmp_path / "w.csv", index=False)
    assert not tradeoff.datasets.text.is_free_text(frame["word"])
    data = tradeoff.datasets.load(tmp_path / "w.csv", target="y", text_column="word")
    assert data.modality == "text" and data.X[3, 0] == "w3"
    with pytest.raises(TradeoffError, match="--text-column: no column 'nope'"):
        tradeoff.datasets.load(tmp_path / "w.csv", target="y", text_column="nope")
    with pytest.raises(TradeoffError, match="--text-column: applies to tables"):
        tradeoff.datasets.load("iris", text_column="word")


def test_an_identifier_column_error_quotes_a_short_excerpt(tmp_path):
    long_value = "x" * 1300
    frame = pd.DataFrame(
        {"id": [f"{long_value}{i}" for i in range(600)], "y": [0, 1] * 300, "v": range(600)}
    )
    frame.to_csv(tmp_path / "ids.csv", index=False)
    with pytest.raises(TradeoffError) as error:
        tradeoff.datasets.load(tmp_path / "ids.csv", target="y")
    message = str(error.value)
    assert "column 'id'" in message and "--text-column" in message
    assert len(message) < 300 and "x" * 41 not in message


def test_free_text_beside_other_columns_makes_a_mixed_table(tmp_path):
    frame = reviews(60).assign(stars=range(60))
    frame.loc[5, "review"] = None
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    data = tradeoff.datasets.load(tmp_path / "mixed.csv", target="sentiment")
    assert data.modality == "tabular"
    assert [(c.name, c.kind) for c in data.columns] == [("review", "text"), ("stars", "numeric")]
    text = data.columns[0]
    assert text.width == text.scores == 1  # a binary target: one score
    assert data.feature_names == ("review~score0", "stars")
    # The score is filled by prepare on the training split; the raw texts are kept.
    assert not data.X[:, 0].any()
    assert data.texts.shape == (60, 1) and data.texts[5, 0] == ""
    assert data.texts[0, 0] == frame.review[0]
    with pytest.raises(
        TradeoffError, match=r"--modality: mixed.csv has its free text 'review'.*'stars'"
    ):
        tradeoff.datasets.load(tmp_path / "mixed.csv", target="sentiment", modality="text")


def test_a_folder_of_txt_files_per_class_is_text_data(tmp_path):
    frame = reviews(30)
    for i, (text, label) in enumerate(zip(frame["review"], frame["sentiment"], strict=True)):
        (tmp_path / "docs" / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / "docs" / label / f"{i:03d}.txt").write_text(text, encoding="utf-8")
    data = tradeoff.datasets.load(tmp_path / "docs")
    assert data.modality == "text" and data.classes == ("neg", "pos") and len(data.y) == 30
    assert set(data.X[:, 0]) == set(frame["review"])
    (tmp_path / "docs" / "neg" / "bad.txt").write_bytes(b"\xff\xfe not utf-8 \xff")
    with pytest.raises(TradeoffError, match="bad.txt: not UTF-8"):
        tradeoff.datasets.load(tmp_path / "docs")


def test_builtin_imdb_reads_the_packaged_reviews():
    data = tradeoff.datasets.load("imdb")
    assert data.modality == "text" and data.task == "binary" and data.X.shape == (25_000, 1)
    assert sorted(np.bincount(data.y)) == [12_500, 12_500]


def test_text_splits_are_deduplicated_and_fingerprinted_by_content(text_prepared):
    p = text_prepared
    assert p.X_train.dtype == object and p.input_shape == (1,)
    assert len(p.y_train) + len(p.y_val) + len(p.y_test) + p.cleaning.n_duplicates_dropped == 400
    again = prepare(p.data, seed=0)
    assert again.fingerprint() == p.fingerprint()
    other = prepare(p.data, seed=1)
    assert other.fingerprint() != p.fingerprint()


# ---- families ----


@pytest.mark.parametrize(
    "params",
    [
        {"analyzer": "word", "max_n": 2, "sublinear_tf": True, "nb_scaling": True},
        {"analyzer": "char", "max_n": 4, "sublinear_tf": False, "nb_scaling": False},
    ],
)
def test_tfidf_graph_takes_raw_strings_and_matches_its_features(text_prepared, params):
    from tradeoff.families import tfidf

    family = get_family("tfidf")
    params = {**family.defaults((1,)), "max_features": 2_000, "C": 10.0, **params}
    fitted = family.fit(params, text_prepared, seed=0)
    outputs = predict_outputs(fitted.onnx_model, text_prepared.X_val)
    assert outputs.shape == (len(text_prepared.y_val), 2)
    assert (outputs.argmax(1) == text_prepared.y_val).mean() >= 0.9
    # Upper case (and for words, punctuation) is normalised inside the graph, as in training.
    loud_text = "GREAT, WONDERFUL!!" if params["analyzer"] == "word" else "GREAT WONDERFUL"
    shouted = np.array([[loud_text], ["great wonderful"]], dtype=object)
    loud, quiet = predict_outputs(fitted.onnx_model, shouted)
    np.testing.assert_allclose(loud, quiet, atol=1e-6)
    # The graph counts the n-grams exactly as the training features were counted.
    from sklearn.feature_extraction.text import CountVectorizer

    ngram_range = (1 if params["analyzer"] == "word" else 2, params["max_n"])
    grams, _, _ = ngrams.top_grams(
        text_prepared.X_train, params["analyzer"], ngram_range, params["max_features"]
    )
    g = tfidf._text.Graph()
    counts_model = g.model(
        ngrams.ngram_counts(g, params["analyzer"], grams), 1, ["N", len(grams)], "counts"
    )
    in_graph = tfidf._text.run_front(counts_model, text_prepared.X_val).toarray()
    joiner = " " if params["analyzer"] == "word" else ""
    extra = {"token_pattern": ngrams.TOKEN_PATTERN} if params["analyzer"] == "word" else {}
    counter = CountVectorizer(
        analyzer=params["analyzer"],
        ngram_range=ngram_range,
        vocabulary=[joiner.join(x) for x in grams],
        **extra,
    )
    in_python = counter.transform(text_prepared.X_val.ravel()).toarray()
    np.testing.assert_array_equal(in_graph, in_python)
    assert in_graph.sum() > 0


def test_hashed_ngrams_share_buckets_inside_the_graph(text_prepared):
    family = get_family("hashed")
    params = {**family.defaults((1,)), "pool": 3_000, "buckets": 256, "C": 10.0}
    fitted = family.fit(params, text_prepared, seed=0)
    outputs = predict_outputs(fitted.onnx_model, text_prepared.X_val)
    assert outputs.shape == (len(text_prepared.y_val), 2)
    assert (outputs.argmax(1) == text_prepared.y_val).mean() >= 0.85
    assert fitted.n_params == 256 + 1 + 256  # weights and idf scale with buckets, not the pool
    bigger = family.fit({**params, "buckets": 1024}, text_prepared, seed=0)
    assert bigger.n_params > fitted.n_params


@pytest.mark.parametrize("name", ["text_cnn", "text_rnn", "text_attention"])
def test_sequence_families_learn_and_answer_the_same_whatever_the_batch(text_prepared, name):
    family = get_family(name)
    params = {**family.defaults((1,)), "vocab": 200, "max_len": 48, "lr": 1e-2}
    untrained = family.untrained(params, text_prepared, seed=0)
    fitted = family.fit(params, text_prepared, seed=0)
    assert untrained.n_params == fitted.n_params
    X = text_prepared.X_val
    outputs = predict_outputs(fitted.onnx_model, X)
    assert (outputs.argmax(1) == text_prepared.y_val).mean() >= 0.75
    one_by_one = np.concatenate(
        [predict_outputs(fitted.onnx_model, X[i : i + 1]) for i in range(20)]
    )
    np.testing.assert_allclose(one_by_one, outputs[:20], atol=1e-5)
    empty = predict_outputs(fitted.onnx_model, np.array([[""], ["!?"]], dtype=object))
    assert np.isfinite(empty).all() and empty.shape == (2, 2)


class _Screened(Exception):
    pass


class _Services:
    """The search's side of a trial, for a family that never draws a strategy or trains
    in the search's loop: ``screen`` stops the trial when ``stop`` is set."""

    def __init__(self, prepared, stop: bool, deadline: float | None = None):
        self.prepared, self.seed, self.stop, self.screened = prepared, 0, stop, []
        self.deadline = deadline

    def screen(self, onnx_model, *, model=None, n_params=None, train_seconds=0.0):
        self.screened.append(n_params)
        if self.stop:
            raise _Screened


def test_sequence_families_are_screened_untrained_and_report_their_training(text_prepared):
    family = get_family("text_rnn")
    params = {**family.defaults((1,)), "vocab": 200, "max_len": 32}

    def never(*args):
        pytest.fail("trained before its cost was screened")

    family.fit_until = never  # the instance's: a trial stopped at screening must not train
    with pytest.raises(_Screened):
        family.produce(params, _Services(text_prepared, stop=True))
    del family.fit_until
    services = _Services(text_prepared, stop=False)
    candidate = family.produce(params, services)
    assert services.screened and services.screened[0] > 0  # parameters of the untrained model
    assert candidate.model is None and candidate.train_seconds > 0
    assert predict_outputs(candidate.onnx_model, text_prepared.X_val[:3]).shape == (3, 2)


def test_a_sequence_family_stops_mid_epoch_where_the_search_deadline_falls(
    text_prepared, monkeypatch
):
    import itertools
    import time
    import types

    import tradeoff.families._text as token_training
    import tradeoff.train as training

    # A clock that moves one second each time it is read, in both modules. The epoch starts
    # at 0 and 1; before its third batch (t = 3) the validation still to come is reserved at
    # the epoch's pace, 2 s for 128 rows, over the validation rows: about 1 s more, which
    # reaches the deadline at 4, so the first epoch stops after two of its batches.
    ticks = itertools.count()
    fake = types.SimpleNamespace(
        monotonic=lambda: float(next(ticks)), perf_counter=time.perf_counter
    )
    monkeypatch.setattr(training, "time", fake)
    monkeypatch.setattr(token_training, "time", fake)
    family = get_family("text_cnn")
    params = {**family.defaults((1,)), "vocab": 200, "max_len": 32}
    candidate = family.produce(params, _Services(text_prepared, stop=False, deadline=4.0))
    assert candidate.stopped_by == "time budget"
    fitted = family.fit_until(params, text_prepared, 0, deadline=None)
    assert fitted.stopped_by is None  # no deadline: it ran its epochs (or stopped early)
    cut = family.fit_until(params, text_prepared, 0, deadline=float(next(ticks)) + 4.0)
    assert cut.stopped_by == "time budget"
    assert predict_outputs(cut.onnx_model, text_prepared.X_val[:3]).shape == (3, 2)


def test_a_text_candidate_ranked_by_folds_is_refitted_on_train_and_validation(text_prepared):
    """The refit before a CV-ranked pick's test estimate (and its export) takes strings."""
    from tradeoff.families import get_family
    from tradeoff.retrain import outputs_of, refit

    with_folds = prepare(text_prepared.data, seed=0, cv=3)
    params = get_family("tfidf").defaults(with_folds.input_shape)
    fitted = refit(with_folds, "tfidf", params, {}, [], seed=0)
    assert len(fitted.prepared.y_train) == len(with_folds.y_train) + len(with_folds.y_val)
    outputs = outputs_of(fitted.candidate, with_folds.X_test)
    assert np.mean(outputs.argmax(1) == with_folds.y_test) > 0.7


def test_text_latency_is_measured_on_training_lengths(text_prepared):
    fitted = get_family("tfidf").fit(
        {**get_family("tfidf").defaults((1,)), "max_features": 500}, text_prepared, seed=0
    )
    samples = latency_samples(text_prepared.X_train, n=64)
    latency = measure_latency(fitted.onnx_model, (1,), QUICK_PROTOCOL, samples=samples)
    inputs = latency.method["inputs"]
    lengths = [len(t) for t in samples[:, 0]]
    assert inputs["n"] == 64 and inputs["chars_max"] == max(lengths)
    assert inputs["chars_p50"] == float(np.median(lengths))
    assert latency.p95_ms >= latency.p50_ms > 0


# ---- a search, exported, served on raw text ----


@pytest.fixture(scope="module")
def text_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("text-run")
    reviews(300).to_csv(root / "reviews.csv", index=False)
    return (*searched_bundle(root / "reviews.csv", "sentiment", ["tfidf"]), root)


def test_bundle_card_and_predictor_take_raw_text(text_bundle):
    run, bundle, _ = text_bundle
    card = json.loads((bundle / "card.json").read_text())
    assert card["input"]["dtype"] == "string" and card["input"]["modality"] == "text"
    assert card["input"]["max_chars"] >= 32_768
    assert card["cost"]["method"]["inputs"]["kind"] == "texts, cycled through"
    predictor = tradeoff.load(bundle)
    labels = predictor.predict(["A great, wonderful film", "boring, awful, a waste"])
    assert labels.tolist() == ["pos", "neg"]
    expected = predict_outputs((bundle / "model.onnx").read_bytes(), run.prepared.X_test)
    np.testing.assert_allclose(
        predictor.predict_proba(run.prepared.X_test[:, 0].tolist()),
        tradeoff.bundle.softmax(expected),
        atol=1e-6,
    )
    with pytest.raises(TradeoffError, match="row 1: 40000 characters"):
        predictor.predict(["fine", "x" * 40_000])
    with pytest.raises(TradeoffError, match="row 0: expected a text"):
        predictor.predict([3])


def test_serve_takes_strings_and_refuses_a_1mb_string_with_422(text_bundle):
    _, bundle, _ = text_bundle
    client = TestClient(create_app(bundle))
    ok = client.post("/predict", json={"instances": ["great wonderful", "awful dull"]})
    assert ok.status_code == 200 and ok.json()["labels"] == ["pos", "neg"]
    huge = client.post("/predict", json={"instances": ["great " * (2**20 // 6)]})
    assert huge.status_code == 422
    assert huge.json()["detail"][0]["type"] == "string_too_long"
    assert client.post("/predict", json={"instances": [7]}).status_code == 422


def test_cli_predict_and_bench_take_text(text_bundle, tmp_path):
    _, bundle, root = text_bundle
    cli = [sys.executable, "-m", "tradeoff"]
    (tmp_path / "new.txt").write_text("great and moving\nawful, boring\n", encoding="utf-8")
    done = subprocess.run(
        [*cli, "predict", str(bundle), str(tmp_path / "new.txt")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert [r.split(",")[1] for r in done.stdout.splitlines()[1:]] == ["pos", "neg"]
    refused = subprocess.run(
        [*cli, "bench", str(bundle), "--quick"], capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--texts" in refused.stderr
    done = subprocess.run(
        [*cli, "bench", str(bundle), "--quick", "--json", "--texts", str(root / "reviews.csv")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    inputs = json.loads(done.stdout)["latency"]["method"]["inputs"]
    assert inputs["n"] == 300


@pytest.mark.slow
def test_search_export_serve_on_raw_text_end_to_end(tmp_path):
    """The CLI as a user runs it: search a CSV of reviews, export, serve over HTTP on loopback."""
    import socket
    import time
    import urllib.error
    import urllib.request

    reviews(400, seed=1).to_csv(tmp_path / "reviews.csv", index=False)
    cli = [sys.executable, "-m", "tradeoff"]
    search = [*cli, "search", str(tmp_path / "reviews.csv"), "--target", "sentiment"]
    search += ["--families", "tfidf,text_cnn", "--trials", "3", "--quick-latency"]
    done = subprocess.run([*search, "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [*cli, "export", str(tmp_path / "run"), "--out", str(tmp_path / "model")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*cli, "serve", str(tmp_path / "model"), "--port", str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)

        def post(instances):
            request = urllib.request.Request(
                url + "/predict",
                data=json.dumps({"instances": instances}).encode(),
                headers={"content-type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        status, body = post(["a great, wonderful film", "boring and awful"])
        assert status == 200 and body["labels"] == ["pos", "neg"]
        status, body = post(["x" * 2**20])
        assert status == 422 and body["detail"][0]["type"] == "string_too_long"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_report_of_a_text_run_times_the_pick_on_training_texts(text_bundle, tmp_path):
    from tradeoff.report import build_report

    run, _, _ = text_bundle
    page = build_report(run, tmp_path / "report.html").read_text()
    assert "tfidf" in page
    # The pick's latency distribution was timed on training texts, and says so.
    n = len(run.prepared.X_train)
    assert f"inputs: {min(n, 256)} texts cycled through (p50" in page


@pytest.mark.parametrize("name", ["tfidf", "hashed", "text_cnn", "text_rnn", "text_attention"])
def test_text_family_defaults_are_points_of_its_space(name):
    import optuna

    family = get_family(name)
    defaults = family.defaults((1,))
    study = optuna.create_study()
    study.enqueue_trial({family.key(k): v for k, v in defaults.items()})
    assert family.suggest(study.ask(), (1,)) == defaults
