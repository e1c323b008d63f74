"""Every registered family, on every modality it serves: build, train a step, export, and
give the same outputs in ONNX Runtime as in PyTorch / scikit-learn."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch

from tradeoff.families import deployable, family_names, get_family, to_onnx
from tradeoff.families.gbdt import trees_to_onnx
from tradeoff.measure import session
from tradeoff.train import Strategy, train

CASES = [
    (name, key)
    for name in family_names()
    for key in [
        ("tabular", "binary"),
        ("tabular", "regression"),
        ("sequence", "multiclass"),
        ("image", "multiclass"),
    ]
    if key[0] in get_family(name).modalities and not get_family(name).combines_trials
]


def _params(family, input_shape, seed=0):
    """A random point of the family's own search space (through a real Optuna trial)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    return family.suggest(trial, input_shape)


def _ort_outputs(onnx_model: bytes, X: np.ndarray) -> np.ndarray:
    sess = session(onnx_model)
    return sess.run(None, {sess.get_inputs()[0].name: X})[0]


def test_every_issue_family_is_registered():
    assert {"linear", "gbdt", "mlp", "cnn", "gru", "lstm", "transformer", "ensemble"} <= set(
        family_names()
    )
    assert {"cnn", "gru", "lstm", "transformer"} <= set(family_names("image"))


@pytest.mark.parametrize(("name", "key"), CASES, ids=[f"{n}-{k[0]}-{k[1]}" for n, k in CASES])
def test_family_trains_exports_and_matches_onnx(name, key, prepared_by_modality):
    prepared = prepared_by_modality[key]
    family = get_family(name)
    X = prepared.X_val[:64]
    for seed in (0, 1):  # two points of the space, e.g. with and without a bidirectional pass
        params = _params(family, prepared.input_shape, seed)
        if not family.builds_network:  # fits itself (the ensemble is not in CASES)
            fitted = family.fit(params, prepared, seed)
            outputs = _ort_outputs(fitted.onnx_model, X)
            assert outputs.shape == (len(X), prepared.n_outputs)
            assert np.isfinite(outputs).all()
            continue
        torch.manual_seed(seed)
        regression = prepared.task == "regression"
        target = (float(prepared.y_train.mean()), float(prepared.y_train.std()))
        model = deployable(
            family,
            params,
            prepared.input_shape,
            prepared.n_outputs,
            prepared.scaling,
            target if regression else None,
        )
        before = [p.detach().clone() for p in model.parameters()]
        loss = "mse" if regression else "cross_entropy"
        train(model, prepared, Strategy(max_epochs=1, batch_size=128, loss=loss), seed=seed)
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
        with torch.no_grad():
            expected = model.eval()(torch.from_numpy(X)).numpy()
        outputs = _ort_outputs(to_onnx(model, prepared.input_shape), X)
        assert outputs.shape == expected.shape == (len(X), prepared.n_outputs)
        scale = max(1.0, float(np.abs(expected).max())) if regression else 1.0
        assert np.abs(outputs - expected).max() <= 1e-4 * scale
        if not regression:
            assert (outputs.argmax(1) == expected.argmax(1)).all()


@pytest.mark.parametrize("n_classes", [0, 2, 3])
def test_gbdt_onnx_matches_scikit_learn(n_classes):
    from scipy.special import softmax
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values take the branch sklearn learned
    if n_classes:
        y = (np.nan_to_num(X[:, 0]) + rng.standard_normal(400) > 0).astype(int)
        y = y + (n_classes == 3) * (np.nan_to_num(X[:, 1]) > 0.5)
        model = HistGradientBoostingClassifier(max_iter=25, random_state=0).fit(X, y)
    else:
        y = 3 * np.nan_to_num(X[:, 0]) + rng.standard_normal(400)
        model = HistGradientBoostingRegressor(max_iter=25, random_state=0).fit(X, y)
    onnx_model, n_params = trees_to_onnx(model, 6, n_classes or 1)
    outputs = _ort_outputs(onnx_model, X)
    assert n_params > 0
    if n_classes:
        assert (outputs.argmax(1) == model.predict(X)).all()
        assert np.abs(softmax(outputs, axis=1) - model.predict_proba(X)).max() <= 1e-4
    else:
        assert np.abs(outputs[:, 0] - model.predict(X)).max() <= 1e-4 * np.abs(y).max()


def test_cnn_picks_1d_or_2d_by_input():
    family = get_family("cnn")
    params = {
        "depth": 2,
        "channels": 8,
        "kernel": 3,
        "pooling": "max",
        "head": "avg",
        "activation": "relu",
        "dropout": 0.0,
    }
    conv_1d = family.build(params, (40, 1), 10)
    conv_2d = family.build(params, (1, 8, 8), 10)
    assert any(isinstance(m, torch.nn.Conv1d) for m in conv_1d.modules())
    assert any(isinstance(m, torch.nn.Conv2d) for m in conv_2d.modules())
    assert conv_2d(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


@pytest.mark.parametrize("key", [("sequence", "multiclass"), ("tabular", "regression")])
def test_ensemble_is_the_weighted_average_of_its_members(key, prepared_by_modality):
    from scipy.special import softmax

    prepared = prepared_by_modality[key]
    regression = prepared.task == "regression"
    X = prepared.X_val[:64]
    members, member_outputs = [], []
    for seed, name in enumerate(["linear", "mlp", "mlp"]):
        family = get_family(name)
        torch.manual_seed(seed)
        target = (float(prepared.y_train.mean()), 1.0) if regression else None
        model = deployable(
            family,
            _params(family, prepared.input_shape, seed),
            prepared.input_shape,
            prepared.n_outputs,
            prepared.scaling,
            target,
        )
        members.append(to_onnx(model, prepared.input_shape))
        member_outputs.append(_ort_outputs(members[-1], X))
    fitted = get_family("ensemble").combine({"weighting": "rank"}, members, prepared.task)
    outputs = _ort_outputs(fitted.onnx_model, X)
    weights = np.array([1, 1 / 2, 1 / 3]) / (1 + 1 / 2 + 1 / 3)
    if regression:
        expected = sum(w * o for w, o in zip(weights, member_outputs, strict=True))
        assert np.abs(outputs - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
    else:
        proba = sum(w * softmax(o, axis=1) for w, o in zip(weights, member_outputs, strict=True))
        assert np.abs(softmax(outputs, axis=1) - proba).max() <= 1e-5
        assert (outputs.argmax(1) == proba.argmax(1)).all()
    assert fitted.n_params > 0


@pytest.mark.parametrize("architecture", ["fcn", "resnet", "inception"])
def test_series_cnn_blocks_train_export_with_batch_norm_folded(architecture, prepared_by_modality):
    import onnx

    prepared = prepared_by_modality[("sequence", "multiclass")]
    family = get_family("cnn")
    params = {**family.defaults(prepared.input_shape), "architecture": architecture}
    params.update(channels=8, depth=3, head="avg")
    torch.manual_seed(0)
    model = deployable(
        family, params, prepared.input_shape, prepared.n_outputs, prepared.scaling, None
    )
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
    train(model, prepared, Strategy(max_epochs=1, batch_size=64), seed=0)
    X = prepared.X_val[:32]
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(X)).numpy()
    onnx_bytes = to_onnx(model, prepared.input_shape)
    ops = {node.op_type for node in onnx.load_from_string(onnx_bytes).graph.node}
    assert "Conv" in ops and "BatchNormalization" not in ops and "ReduceMean" in ops
    outputs = _ort_outputs(onnx_bytes, X)
    assert np.abs(outputs - expected).max() <= 1e-4
    assert (outputs.argmax(1) == expected.argmax(1)).all()
