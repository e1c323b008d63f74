"""XGBoost gradient-boosted trees, converted to ONNX with onnxmltools.

Like ``lightgbm``: onnxmltools writes the booster as an ``ai.onnx.ml`` tree
ensemble; the model tradeoff ships returns logits (``log p``) for a classifier
and the prediction for a regressor. The CPU-only wheel ``xgboost-cpu`` is the
dependency: the ``xgboost`` wheel pulls in NVIDIA's NCCL (hundreds of MB) on Linux.
"""

from __future__ import annotations

import time

from tradeoff.families._base import (
    CUT_BY_DEADLINE,
    PATIENCE_ROUNDS,
    FittedFamily,
    FittedModel,
    register_family,
)
from tradeoff.families._onnxml import as_logits, native_outputs, tree_parameters
from tradeoff.prepare import balanced_weights


@register_family("xgboost")
class XGBoost(FittedFamily):
    has_native = True
    modalities = frozenset({"tabular"})
    class_weights = True
    training = "own fit (XGBoost)"
    rounds_param = "n_estimators"
    description = "XGBoost trees (onnxmltools): rounds, depth, learning rate, L2, subsampling"

    def suggest(self, trial, input_shape):
        return {
            "n_estimators": trial.suggest_int(self.key("n_estimators"), 20, 500, log=True),
            "max_depth": trial.suggest_int(self.key("max_depth"), 2, 10),
            "learning_rate": trial.suggest_float(self.key("learning_rate"), 0.01, 0.3, log=True),
            "reg_lambda": trial.suggest_float(self.key("reg_lambda"), 1e-3, 10.0, log=True),
            "min_child_weight": trial.suggest_float(
                self.key("min_child_weight"), 0.1, 20, log=True
            ),
            "subsample": trial.suggest_float(self.key("subsample"), 0.5, 1.0),
            "colsample_bytree": trial.suggest_float(self.key("colsample_bytree"), 0.5, 1.0),
        }

    def defaults(self, input_shape):
        # XGBoost's defaults (depth 6, eta 0.3, lambda 1), 100 rounds.
        return {
            "n_estimators": 100,
            "max_depth": 6,
            "learning_rate": 0.3,
            "reg_lambda": 1.0,
            "min_child_weight": 1.0,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
        }

    def fit(self, params, prepared, seed):
        return self.fit_until(params, prepared, seed, None)

    def fit_until(self, params, prepared, seed, deadline):
        import xgboost
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        start = time.perf_counter()
        params = dict(params)
        class_weight = params.pop("class_weight", "none")
        # Rounds stop once the validation loss has not improved for PATIENCE_ROUNDS; the
        # model keeps the best round (``best_iteration``, which the converter honours).
        common = {
            **params,
            "random_state": seed,
            "n_jobs": 1,
            "tree_method": "hist",
            "early_stopping_rounds": PATIENCE_ROUNDS,
        }
        stop = _stop_at(deadline)
        common["callbacks"] = [stop]
        X = prepared.X_train.reshape(len(prepared.X_train), -1)
        weights = None
        if prepared.task == "regression":
            estimator = xgboost.XGBRegressor(**common)
        else:
            estimator = xgboost.XGBClassifier(**common)
            if class_weight == "balanced":
                per_class = balanced_weights(prepared.y_train, prepared.n_outputs)
                weights = per_class[prepared.y_train.astype(int)]
        X_val = prepared.X_val.reshape(len(prepared.X_val), -1)
        estimator.fit(
            X,
            prepared.y_train,
            sample_weight=weights,
            eval_set=[(X_val, prepared.y_val)],
            verbose=False,
        )
        onnx_model = convert_xgboost(
            estimator,
            initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
            target_opset=15,  # the highest these converters accept (onnxmltools 1.16)
        )
        onnx_bytes = as_logits(onnx_model, prepared.n_outputs, prepared.task == "regression")
        return FittedModel(
            onnx_bytes,
            tree_parameters(onnx_model),
            time.perf_counter() - start,
            _rounds_kept(estimator.get_booster()),
            CUT_BY_DEADLINE if stop.fired else None,
            native_outputs(estimator, prepared.n_outputs, prepared.task == "regression"),
        )


def _rounds_kept(booster) -> int:
    """The best round on the validation split (1-based), or every round built where the
    deadline stopped the fit before early stopping looked at it (XGBoost then records none)."""
    best = booster.attr("best_iteration")
    return int(best) + 1 if best is not None else booster.num_boosted_rounds()


def _stop_at(deadline: float | None):
    """An XGBoost callback that ends boosting once ``time.monotonic()`` passes ``deadline``
    (never, for ``None``); the rounds already built are kept, and its ``fired`` says
    whether it ended the fit."""
    from xgboost.callback import TrainingCallback

    class StopAtDeadline(TrainingCallback):
        fired = False

        def after_iteration(self, model, epoch, evals_log) -> bool:
            self.fired = deadline is not None and time.monotonic() >= deadline
            return self.fired

    return StopAtDeadline()
