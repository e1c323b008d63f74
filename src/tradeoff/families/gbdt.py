"""Gradient-boosted trees: scikit-learn's HistGradientBoosting, exported to ONNX.

The exporter writes the fitted trees into one ``ai.onnx.ml`` ``TreeEnsembleRegressor``
node that returns the raw boosting scores, so the model's output has the same
meaning as a network's: logits for a classifier (binary: ``[0, score]``, whose
softmax is sklearn's ``predict_proba``), the prediction for a regressor.

skl2onnx 1.20 cannot convert HistGradientBoosting models from scikit-learn 1.9
(it writes a boolean into an integer attribute), so the few lines that map the
trees to ONNX live here; the parity test checks them against scikit-learn.
"""

from __future__ import annotations

import time

import numpy as np
import onnx
from onnx import TensorProto, helper

from tradeoff.families._base import (
    CUT_BY_DEADLINE,
    INPUT_NAME,
    OUTPUT_NAME,
    PATIENCE_ROUNDS,
    FittedFamily,
    FittedModel,
    register_family,
)
from tradeoff.families._onnxml import native_outputs


@register_family("gbdt")
class GradientBoosting(FittedFamily):
    has_native = True
    modalities = frozenset({"tabular"})
    class_weights = True
    rounds_param = "max_iter"
    description = (
        "scikit-learn HistGradientBoosting trees: rounds, depth, leaves, learning rate, L2"
    )

    def suggest(self, trial, input_shape):
        return {
            "max_iter": trial.suggest_int(self.key("max_iter"), 10, 300, log=True),
            "max_depth": trial.suggest_int(self.key("max_depth"), 2, 8),
            "max_leaf_nodes": trial.suggest_int(self.key("max_leaf_nodes"), 4, 63, log=True),
            "learning_rate": trial.suggest_float(self.key("learning_rate"), 0.01, 0.5, log=True),
            "l2_regularization": trial.suggest_float(
                self.key("l2_regularization"), 1e-6, 10.0, log=True
            ),
        }

    def defaults(self, input_shape):
        return {
            "max_iter": 100,
            "max_depth": 6,
            "max_leaf_nodes": 31,
            "learning_rate": 0.1,
            "l2_regularization": 1e-3,
        }

    def fit(self, params, prepared, seed):
        return self.fit_until(params, prepared, seed, None)

    def fit_until(self, params, prepared, seed, deadline):
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        start = time.perf_counter()
        params = dict(params)
        if prepared.task == "regression":
            params.pop("class_weight", None)
        elif params.get("class_weight") == "none":
            params["class_weight"] = None
        estimator = (
            HistGradientBoostingRegressor
            if prepared.task == "regression"
            else HistGradientBoostingClassifier
        )(
            **params,
            # Rounds stop once the loss on the given validation split has not improved for
            # PATIENCE_ROUNDS (tol 0: any gain counts, as LightGBM and XGBoost count it).
            early_stopping=True,
            scoring="loss",
            n_iter_no_change=PATIENCE_ROUNDS,
            tol=0.0,
            random_state=seed,
        )
        X = prepared.X_train.reshape(len(prepared.X_train), -1)
        validation = {
            "X_val": prepared.X_val.reshape(len(prepared.X_val), -1),
            "y_val": prepared.y_val,
        }
        cut = False
        if deadline is None:
            estimator.fit(X, prepared.y_train, **validation)
        else:
            cut = _fit_in_chunks(estimator, X, prepared.y_train, deadline, validation)
        rounds = _keep_best_rounds(estimator)
        onnx_model, n_params = trees_to_onnx(estimator, X.shape[1], prepared.n_outputs)
        return FittedModel(
            onnx_model,
            n_params,
            time.perf_counter() - start,
            rounds,
            CUT_BY_DEADLINE if cut else None,
            native_outputs(estimator, prepared.n_outputs, prepared.task == "regression"),
        )


def _keep_best_rounds(estimator) -> int:
    """Drop the rounds after the one with the best validation loss (scikit-learn keeps the
    ``n_iter_no_change`` rounds that did not improve it; LightGBM and XGBoost ship the best
    round) and return how many rounds are left. Both ``predict`` and the export read
    ``_predictors``, so they agree."""
    # validation_score_[i] is minus the loss after i rounds (index 0: before any tree).
    rounds = max(1, int(np.argmax(estimator.validation_score_)))
    estimator._predictors = estimator._predictors[:rounds]  # n_iter_ is its length
    return rounds


#: Rounds between two looks at the deadline: HistGradientBoosting has no callback, so a fit
#: under a deadline grows by warm starts of this many rounds (each re-bins the data, cheap
#: beside ten rounds).
_CHUNK_ROUNDS = 10


def _fit_in_chunks(
    estimator, X: np.ndarray, y: np.ndarray, deadline: float, validation: dict
) -> bool:
    """Fit ``estimator`` to its ``max_iter`` rounds, ``_CHUNK_ROUNDS`` at a time, stopping
    between chunks once ``time.monotonic()`` passes ``deadline`` (the rounds built stay) or
    once early stopping ended a chunk short. Returns whether the deadline cut it short."""
    total = estimator.max_iter
    rounds = min(_CHUNK_ROUNDS, total)
    estimator.set_params(warm_start=True, max_iter=rounds)
    estimator.fit(X, y, **validation)
    while estimator.n_iter_ == rounds < total and time.monotonic() < deadline:
        rounds = min(rounds + _CHUNK_ROUNDS, total)
        estimator.set_params(max_iter=rounds)
        estimator.fit(X, y, **validation)
    return estimator.n_iter_ == rounds < total


def _float32_at_most(value: float) -> np.float32:
    """The largest float32 <= ``value``: for float32 inputs ``x <= t`` then decides exactly
    as scikit-learn's float64 comparison does."""
    t = np.float32(value)
    return np.nextafter(t, np.float32(-np.inf)) if t > value else t


def trees_to_onnx(estimator, n_features: int, n_outputs: int) -> tuple[bytes, int]:
    """A fitted HistGradientBoosting model as ONNX bytes, and how many numbers it stores."""
    n_scores = estimator.n_trees_per_iteration_
    attrs: dict[str, list] = {
        k: []
        for k in [
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_modes",
            "nodes_values",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "nodes_missing_value_tracks_true",
            "target_treeids",
            "target_nodeids",
            "target_ids",
            "target_weights",
        ]
    }
    tree_id = 0
    for iteration in estimator._predictors:
        for score_index, predictor in enumerate(iteration):
            for node_id, node in enumerate(predictor.nodes):
                leaf = bool(node["is_leaf"])
                attrs["nodes_treeids"].append(tree_id)
                attrs["nodes_nodeids"].append(node_id)
                attrs["nodes_featureids"].append(0 if leaf else int(node["feature_idx"]))
                attrs["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
                attrs["nodes_values"].append(
                    0.0 if leaf else float(_float32_at_most(node["num_threshold"]))
                )
                attrs["nodes_truenodeids"].append(0 if leaf else int(node["left"]))
                attrs["nodes_falsenodeids"].append(0 if leaf else int(node["right"]))
                attrs["nodes_missing_value_tracks_true"].append(
                    0 if leaf else int(node["missing_go_to_left"])
                )
                if leaf:
                    attrs["target_treeids"].append(tree_id)
                    attrs["target_nodeids"].append(node_id)
                    attrs["target_ids"].append(score_index)
                    attrs["target_weights"].append(float(node["value"]))
            tree_id += 1
    baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)
    scores = "scores" if n_scores == 1 and n_outputs == 2 else OUTPUT_NAME
    nodes = [
        helper.make_node(
            "TreeEnsembleRegressor",
            [INPUT_NAME],
            [scores],
            domain="ai.onnx.ml",
            n_targets=n_scores,
            aggregate_function="SUM",
            base_values=[float(b) for b in baseline],
            **attrs,
        )
    ]
    if scores != OUTPUT_NAME:  # binary: logits [0, score], so softmax gives sklearn's proba
        nodes += [
            helper.make_node("Sub", [scores, scores], ["zero"]),
            helper.make_node("Concat", ["zero", scores], [OUTPUT_NAME], axis=1),
        ]
    graph = helper.make_graph(
        nodes,
        "gbdt",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", n_features])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", n_outputs])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="tradeoff",
    )
    onnx.checker.check_model(model)
    n_params = 2 * len(attrs["nodes_nodeids"])  # a threshold per split, a value per leaf
    return model.SerializeToString(), n_params
