"""Ridge regression (ridge classification) with its penalty chosen by internal cross-validation.

The baseline a small table must never fall below: on a few hundred rows a network or a
boosted ensemble can score under the best linear model, and this one costs a fraction of a
second to fit and a dot product to serve. The penalty is chosen among :data:`ALPHAS` by
efficient leave-one-out on the training split (scikit-learn's ``RidgeCV`` /
``RidgeClassifierCV``), on standardised inputs; the standardisation and the coefficients
are folded into one ``Gemm`` behind the usual ``Standardize``, so the graph takes raw rows.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from tradeoff.families._base import (
    FittedFamily,
    FittedModel,
    Standardize,
    class_scores,
    register_family,
    to_onnx,
)

#: The penalties leave-one-out chooses among, on standardised features: from nearly least
#: squares to a model that is almost the mean.
ALPHAS = np.logspace(-3, 4, 15)


@register_family("ridge")
class Ridge(FittedFamily):
    modalities = frozenset({"tabular"})
    description = "ridge regression / classification, penalty by leave-one-out on train"
    training = "own fit (sklearn RidgeCV, leave-one-out)"
    baseline = True
    has_native = True

    def suggest(self, trial, input_shape):
        return {}  # its one setting, the penalty, is chosen inside the fit

    def defaults(self, input_shape):
        return {}

    def fit(self, params, prepared, seed):
        from sklearn.linear_model import RidgeClassifierCV, RidgeCV

        started = time.perf_counter()
        X = prepared.X_train.reshape(len(prepared.X_train), -1).astype(np.float64)
        mean = np.asarray(prepared.scaling.mean, np.float64).reshape(-1)
        std = np.asarray(prepared.scaling.std, np.float64).reshape(-1)
        Z = (X - mean) / std
        if prepared.task == "regression":
            estimator = RidgeCV(alphas=ALPHAS).fit(Z, prepared.y_train.astype(np.float64))
            coef = np.atleast_2d(estimator.coef_)
            intercept = np.atleast_1d(estimator.intercept_)
        else:
            estimator = RidgeClassifierCV(alphas=ALPHAS).fit(Z, prepared.y_train)
            coef, intercept = class_scores(estimator, prepared.n_outputs)
        head = nn.Linear(Z.shape[1], len(intercept))
        head.weight.data = torch.from_numpy(coef.astype(np.float32))
        head.bias.data = torch.from_numpy(intercept.astype(np.float32))
        model = nn.Sequential(Standardize(prepared.scaling), nn.Flatten(), head).eval()
        onnx_model = to_onnx(model, prepared.input_shape)
        n_params = coef.size + intercept.size

        def native(rows: np.ndarray) -> np.ndarray:
            """The fitted estimator's own scores, in float64 (``FittedModel.native``)."""
            return ((rows.reshape(len(rows), -1) - mean) / std) @ coef.T + intercept

        return FittedModel(onnx_model, n_params, time.perf_counter() - started, native=native)
