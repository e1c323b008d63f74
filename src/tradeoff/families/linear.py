"""Logistic (multinomial) regression: the cheapest baseline."""

from __future__ import annotations

import math

from torch import nn

from tradeoff.families._base import Family, register_family


@register_family("linear")
class Linear(Family):
    modalities = frozenset({"tabular", "sequence", "image"})
    description = "logistic / linear regression on the flattened input"

    def suggest(self, trial, input_shape):
        return {}

    def build(self, params, input_shape, n_outputs):
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), n_outputs))
