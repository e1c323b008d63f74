"""LightGBM gradient-boosted trees, converted to ONNX with onnxmltools.

onnxmltools writes the booster as an ``ai.onnx.ml`` tree ensemble whose
second output holds the class probabilities (or, for a regressor, the
prediction). The model tradeoff ships returns what every family returns:
logits for a classifier (``log p``, whose softmax is LightGBM's
``predict_proba``), the prediction for a regressor. The family test checks
the ONNX outputs against LightGBM's own, with the export's float32 tolerance.
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


@register_family("lightgbm")
class LightGBM(FittedFamily):
    has_native = True
    modalities = frozenset({"tabular"})
    class_weights = True
    training = "own fit (LightGBM)"
    rounds_param = "n_estimators"
    description = (
        "LightGBM trees (onnxmltools): rounds, leaves, depth, learning rate, L2, subsampling"
    )

    def suggest(self, trial, input_shape):
        return {
            "n_estimators": trial.suggest_int(self.key("n_estimators"), 20, 500, log=True),
            "num_leaves": trial.suggest_int(self.key("num_leaves"), 4, 127, log=True),
            "max_depth": trial.suggest_int(self.key("max_depth"), 2, 10),
            "learning_rate": trial.suggest_float(self.key("learning_rate"), 0.01, 0.3, log=True),
            "reg_lambda": trial.suggest_float(self.key("reg_lambda"), 1e-6, 10.0, log=True),
            "min_child_samples": trial.suggest_int(self.key("min_child_samples"), 5, 100, log=True),
            "subsample": trial.suggest_float(self.key("subsample"), 0.5, 1.0),
            "colsample_bytree": trial.suggest_float(self.key("colsample_bytree"), 0.5, 1.0),
        }

    def defaults(self, input_shape):
        # LightGBM's own defaults (what `LGBMClassifier()` does), but for unlimited depth.
        return {
            "n_estimators": 100,
            "num_leaves": 31,
            "max_depth": 10,
            "learning_rate": 0.1,
            "reg_lambda": 1e-6,
            "min_child_samples": 20,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
        }

    def fit(self, params, prepared, seed):
        return self.fit_until(params, prepared, seed, None)

    def fit_until(self, params, prepared, seed, deadline):
        import lightgbm
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        start = time.perf_counter()
        params = dict(params)
        class_weight = params.pop("class_weight", "none")
        common = {
            **params,
            # Row subsampling needs a bagging frequency to take effect.
            "subsample_freq": 1 if params["subsample"] < 1.0 else 0,
            "random_state": seed,
            "n_jobs": 1,  # the search runs workers side by side; each fit keeps to one core
            "verbose": -1,
        }
        X = prepared.X_train.reshape(len(prepared.X_train), -1)
        if prepared.task == "regression":
            estimator = lightgbm.LGBMRegressor(**common)
        else:
            estimator = lightgbm.LGBMClassifier(
                **common, class_weight="balanced" if class_weight == "balanced" else None
            )
        # Rounds stop once the validation loss has not improved for PATIENCE_ROUNDS; the model
        # keeps the best round (LightGBM's ``best_iteration_``, which the converter writes).
        stop = _stop_at(deadline)
        callbacks = [lightgbm.early_stopping(PATIENCE_ROUNDS, verbose=False), stop]
        X_val = prepared.X_val.reshape(len(prepared.X_val), -1)
        estimator.fit(
            X, prepared.y_train, eval_X=(X_val,), eval_y=(prepared.y_val,), callbacks=callbacks
        )
        onnx_model = convert_lightgbm(
            estimator,
            initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
            target_opset=15,  # the highest these converters accept (onnxmltools 1.16)
            zipmap=False,
        )
        onnx_bytes = as_logits(onnx_model, prepared.n_outputs, prepared.task == "regression")
        rounds = estimator.best_iteration_ or estimator.n_estimators_
        return FittedModel(
            onnx_bytes,
            tree_parameters(onnx_model),
            time.perf_counter() - start,
            rounds,
            CUT_BY_DEADLINE if stop.fired else None,
            native_outputs(estimator, prepared.n_outputs, prepared.task == "regression"),
        )


def _stop_at(deadline: float | None):
    """A LightGBM callback that ends boosting once ``time.monotonic()`` passes ``deadline``
    (never, for ``None``); the rounds already built are kept (the model has as many trees as
    rounds it ran), and its ``fired`` says whether it ended the fit."""
    from lightgbm.callback import EarlyStopException

    def callback(env) -> None:
        if deadline is not None and time.monotonic() >= deadline:
            callback.fired = True
            raise EarlyStopException(env.iteration, env.evaluation_result_list or [])

    callback.fired = False
    return callback
