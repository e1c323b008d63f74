"""The rocket family: its features are sktime's MiniRocket's, its ONNX graph is its torch model,
and its cost is measured before anything is fitted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
import sktime.datasets
import torch

from tradeoff.datasets import load
from tradeoff.errors import TradeoffError
from tradeoff.families import get_family, to_onnx
from tradeoff.families.rocket import (
    N_KERNELS,
    MiniRocketFeatures,
    default_stride,
    fit_dilations,
    fit_rocket,
    kernel_weights,
    searched_strides,
    transform,
)
from tradeoff.measure import architecture_key, session
from tradeoff.prepare import prepare

DATA = Path(sktime.datasets.__file__).parent / "data"
#: The tests that call sktime's numba kernels are slow (CI runs them): a fresh environment
#: compiles those kernels on first use, 51 s of a clean CI run's default suite.
NUMBA_COMPILES = pytest.mark.slow


def _sktime_order(features: MiniRocketFeatures, F: np.ndarray) -> np.ndarray:
    return F[:, np.argsort(features.order)]


def _agree_with(reference: np.ndarray, mine: np.ndarray, shortest: int) -> None:
    """Same features up to float rounding: a value exactly at a bias may compare either way in
    float32 summed in another order, which moves one PPV by 1/T; nothing else may differ."""
    diff = np.abs(reference - mine)
    assert diff.max() <= 2.0 / shortest + 1e-6
    assert (diff > 1e-6).mean() < 1e-3


@pytest.fixture(scope="module")
def gunpoint():
    from sktime.datasets import load_gunpoint

    X, _ = load_gunpoint(split="train", return_type="numpy3d")
    X_test, _ = load_gunpoint(split="test", return_type="numpy3d")
    return X.astype(np.float32), X_test.astype(np.float32)


@NUMBA_COMPILES
def test_dilations_are_sktimes(gunpoint):
    pytest.importorskip("numba")
    from sktime.transformations.rocket._minirocket_numba import _fit_dilations

    for n_steps in (40, 150, 1460):
        for n_features in (84, 500, 2000, 10_000):
            ours = fit_dilations(n_steps, n_features)
            theirs = _fit_dilations(n_steps, n_features, 32)
            assert np.array_equal(ours[0], theirs[0]) and np.array_equal(ours[1], theirs[1])


@NUMBA_COMPILES
def test_features_match_sktime_minirocket_with_its_kernels_and_biases(gunpoint):
    pytest.importorskip("numba")
    from sktime.transformations.rocket import MiniRocket

    X, X_test = gunpoint
    reference = MiniRocket(num_kernels=1000, random_state=0).fit(X)
    dilations, counts, biases = reference.parameters
    mask = np.ones((len(dilations) * N_KERNELS, 1), np.float32)
    features = MiniRocketFeatures(X.shape[2], 1, dilations, counts, biases, mask)
    mine = _sktime_order(features, transform(features, X_test.transpose(0, 2, 1).copy()))
    expected = reference.transform(X_test).to_numpy()
    assert mine.shape == expected.shape == (len(X_test), 84 * int(counts.sum()))
    _agree_with(expected, mine, X.shape[2] - 8 * int(dilations.max()))


@NUMBA_COMPILES
def test_multivariate_features_match_sktime_minirocket_multivariate():
    pytest.importorskip("numba")
    from sktime.datasets import load_basic_motions
    from sktime.transformations.rocket import MiniRocketMultivariate

    X, _ = load_basic_motions(split="train", return_type="numpy3d")
    X = X.astype(np.float32)
    reference = MiniRocketMultivariate(num_kernels=500, random_state=0).fit(X)
    sizes, channels, dilations, counts, biases = reference.parameters
    mask = np.zeros((len(sizes), X.shape[1]), np.float32)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for combo in range(len(sizes)):
        mask[combo, channels[starts[combo] : starts[combo + 1]]] = 1.0
    features = MiniRocketFeatures(X.shape[2], X.shape[1], dilations, counts, biases, mask)
    mine = _sktime_order(features, transform(features, X.transpose(0, 2, 1).copy()))
    expected = reference.transform(X).to_numpy()
    assert mine.shape == expected.shape
    _agree_with(expected, mine, X.shape[2] - 8 * int(dilations.max()))


def _ppv_by_hand(x, dilations, counts, biases, stride):
    """PPV of univariate ``x`` [T] over every ``stride``-th step, straight from the definition,
    in sktime's order (dilation, kernel, bias); unpadded kernels visit only steps whose
    whole window lies inside the series."""
    n_steps, weights, out = len(x), kernel_weights(), []
    steps = np.arange(0, n_steps, stride)
    for i, (dilation, count) in enumerate(zip(dilations, counts, strict=True)):
        padded = np.concatenate([np.zeros(4 * dilation), x, np.zeros(4 * dilation)])
        taps = np.stack([padded[j * dilation : j * dilation + n_steps] for j in range(9)])
        for k in range(N_KERNELS):
            c = (weights[k] @ taps)[steps]
            if (i + k) % 2 == 1:
                c = c[(steps >= 4 * dilation) & (steps < n_steps - 4 * dilation)]
            first = len(out)
            out += [np.mean(c > b) for b in biases[first : first + count]]
    return np.array(out)


@pytest.mark.parametrize("stride", [1, 3, 4])
def test_strided_pooling_is_the_share_over_every_strideth_step(stride):
    rng = np.random.default_rng(0)
    n_steps = 70
    dilations, counts = fit_dilations(n_steps, 400)
    biases = rng.standard_normal(N_KERNELS * int(counts.sum())).astype(np.float32)
    mask = np.ones((len(dilations) * N_KERNELS, 1), np.float32)
    features = MiniRocketFeatures(n_steps, 1, dilations, counts, biases, mask, "ppv", stride)
    x = rng.standard_normal((2, n_steps, 1)).astype(np.float32)
    mine = _sktime_order(features, transform(features, x))
    for row in range(2):
        expected = _ppv_by_hand(x[row, :, 0], dilations, counts, biases, stride)
        _agree_with(expected[None], mine[row][None], -(-(n_steps - 8 * dilations.max()) // stride))


def test_long_series_pool_over_fewer_steps_by_default():
    family = get_family("rocket")
    assert default_stride(150) == 1 and family.defaults((150, 1))["stride"] == 1
    assert default_stride(1460) == 4 and family.defaults((1460, 1))["stride"] == 4
    # The default's work (features x visited steps) stays about the same.
    short, long = family.defaults((365, 1)), family.defaults((1460, 1))
    assert short["stride"] == 1 and abs(short["n_features"] - long["n_features"]) <= 1
    # A strided graph is another architecture: its cost is never reused from the unstrided one.
    full, strided = (family.unfitted_onnx({**long, "stride": s}, (1460, 1), 10)[0] for s in (1, 4))
    assert architecture_key(full) != architecture_key(strided)


def test_the_search_draws_only_strides_that_visit_enough_steps():
    family = get_family("rocket")
    assert searched_strides(29) == [1]  # JapaneseVowels: every step
    assert searched_strides(150) == [1, 2]  # GunPoint: 75 steps at most every 2nd
    assert searched_strides(1460) == [1, 2, 4, 8]  # ACSF1: 183 steps at every 8th
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    used = set()
    for _ in range(40):
        trial = study.ask()
        used.add(family.suggest(trial, (150, 1))["stride"])
        # The choices Optuna sees never change, so a run resumed across this rule goes on.
        assert trial.distributions[family.key("stride")].choices == (1, 2, 4, 8)
        study.tell(trial, 0.0)
    assert used == {1, 2}


@pytest.mark.parametrize("pooling", ["ppv", "multi"])
@pytest.mark.parametrize("head", ["ridge", "logistic"])
def test_fitted_rocket_onnx_matches_torch_and_learns(pooling, head):
    data = load(DATA / "BasicMotions" / "BasicMotions_TRAIN.ts")
    prepared = prepare(data, seed=0)
    params = {"n_features": 300, "pooling": pooling, "head": head, "stride": 2}
    model = fit_rocket(
        params, prepared.X_train, prepared.y_train, prepared.task, prepared.n_outputs, 0
    )
    with torch.no_grad():
        expected = model(torch.from_numpy(prepared.X_test)).numpy()
    sess = session(to_onnx(model, prepared.input_shape))
    got = sess.run(None, {sess.get_inputs()[0].name: prepared.X_test})[0]
    assert got.shape == (len(prepared.X_test), prepared.n_outputs)
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.99
    assert np.abs(got - expected).max() <= 1e-3 * max(1.0, np.abs(expected).max())
    # BasicMotions is easy for MiniRocket: far above the 0.25 of guessing.
    assert (got.argmax(1) == prepared.y_test).mean() >= 0.8


def test_cost_is_measured_on_the_same_graph_as_the_fitted_model():
    family = get_family("rocket")
    data = load(DATA / "BasicMotions" / "BasicMotions_TRAIN.ts")
    prepared = prepare(data, seed=0)
    params = {"n_features": 400, "pooling": "ppv", "head": "ridge", "stride": 1}
    unfitted, n_params = family.unfitted_onnx(params, prepared.input_shape, prepared.n_outputs)
    fitted = family.fit(params, prepared, seed=0)
    assert architecture_key(unfitted) == architecture_key(fitted.onnx_model)
    assert n_params == fitted.n_params
    bigger, _ = family.unfitted_onnx(
        {**params, "n_features": 800}, prepared.input_shape, prepared.n_outputs
    )
    assert architecture_key(bigger) != architecture_key(unfitted)


def test_too_short_series_are_refused_in_one_line():
    with pytest.raises(TradeoffError, match="at least 9 steps"):
        get_family("rocket").unfitted_onnx(
            {"n_features": 200, "pooling": "ppv", "head": "ridge", "stride": 1}, (6, 1), 2
        )


def test_unequal_lengths_are_padded_and_said():
    from tradeoff.datasets.timeseries import read_ts

    path = DATA / "JapaneseVowels" / "JapaneseVowels_TRAIN.ts"
    data = load(path)
    assert data.X.shape == (270, 29, 12) and data.X_test.shape == (370, 29, 12)
    assert "lengths 7-29, each padded to 29" in data.description
    raw, _ = read_ts(path)
    for series, padded in zip(raw, data.X, strict=True):
        assert np.array_equal(padded[: len(series)], series)
        assert (padded[len(series) :] == series[-1]).all()  # held at its last step


def test_channels_of_different_lengths_are_refused_in_one_line(tmp_path):
    path = tmp_path / "ragged_TRAIN.ts"
    path.write_text(
        "@problemName ragged\n@timeStamps false\n@missing false\n@univariate false\n"
        "@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n"
        "1,2,3:4,5,6:a\n1,2,3,4:5,6:b\n1,2:3,4:a\n1,2,3:4,5,6:b\n"
    )
    with pytest.raises(
        TradeoffError, match=r"ragged_TRAIN.ts: series 1 has channels of different lengths \(4, 2\)"
    ):
        load(path)
