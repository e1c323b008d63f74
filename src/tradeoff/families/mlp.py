"""Multi-layer perceptron on the flattened input."""

from __future__ import annotations

import math

from torch import nn

from tradeoff.families._base import Family, activation, register_family


@register_family("mlp")
class MLP(Family):
    modalities = frozenset({"tabular", "sequence", "image"})
    description = "fully connected layers: depth, width, activation, dropout"

    def suggest(self, trial, input_shape):
        return {
            "depth": trial.suggest_int(self.key("depth"), 1, 3),
            "width": trial.suggest_int(self.key("width"), 16, 512, log=True),
            "activation": trial.suggest_categorical(
                self.key("activation"), ["relu", "gelu", "tanh"]
            ),
            "dropout": trial.suggest_float(self.key("dropout"), 0.0, 0.5),
        }

    def build(self, params, input_shape, n_outputs):
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = math.prod(input_shape)
        for _ in range(params["depth"]):
            layers += [
                nn.Linear(width_in, params["width"]),
                activation(params["activation"]),
                nn.Dropout(params["dropout"]),
            ]
            width_in = params["width"]
        layers.append(nn.Linear(width_in, n_outputs))
        return nn.Sequential(*layers)
