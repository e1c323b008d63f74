"""Multi-layer perceptron on the flattened input."""

from __future__ import annotations

import math

from torch import nn

from tradeoff.families._base import Family, activation, halved, register_family

#: The range of units per hidden layer.
WIDTHS = (16, 512)


@register_family("mlp")
class MLP(Family):
    modalities = frozenset({"tabular", "sequence", "image"})
    description = "fully connected layers: depth, width, activation, dropout, batch norm"

    def suggest(self, trial, input_shape):
        return {
            "depth": trial.suggest_int(self.key("depth"), 1, 3),
            "width": trial.suggest_int(self.key("width"), *WIDTHS, log=True),
            "activation": trial.suggest_categorical(
                self.key("activation"), ["relu", "gelu", "tanh", "sigmoid"]
            ),
            "dropout": trial.suggest_float(self.key("dropout"), 0.0, 0.5),
            "batch_norm": trial.suggest_categorical(self.key("batch_norm"), [False, True]),
        }

    def defaults(self, input_shape):
        return {"depth": 2, "width": 128, "activation": "relu", "dropout": 0.1, "batch_norm": False}

    def shrink(self, params):
        return halved(params, "width", WIDTHS[0])

    def build(self, params, input_shape, n_outputs):
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = math.prod(input_shape)
        for _ in range(params["depth"]):
            layers.append(nn.Linear(width_in, params["width"]))
            if params.get("batch_norm", False):
                layers.append(nn.BatchNorm1d(params["width"]))
            layers += [activation(params["activation"]), nn.Dropout(params["dropout"])]
            width_in = params["width"]
        layers.append(nn.Linear(width_in, n_outputs))
        return nn.Sequential(*layers)
