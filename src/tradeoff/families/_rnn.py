"""The recurrent base shared by ``gru`` and ``lstm``: the cell type is the only difference.

Sequences ``[B, T, C]`` are read step by step; images ``[B, C, H, W]`` are read
row by row, each row (all channels) one time step.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from tradeoff.families._base import Family, halved

#: The range of hidden units per step.
HIDDEN = (8, 128)


class _RecurrentNet(nn.Module):
    def __init__(self, cell: type[nn.RNNBase], params: dict, input_shape, n_outputs: int):
        super().__init__()
        self.image = len(input_shape) == 3
        features = input_shape[0] * input_shape[2] if self.image else input_shape[1]
        self.hidden = params["hidden"]
        self.bidirectional = params["bidirectional"]
        self.head = params["head"]
        self.rnn = cell(
            features,
            params["hidden"],
            num_layers=params["layers"],
            batch_first=True,
            bidirectional=params["bidirectional"],
            dropout=params["dropout"] if params["layers"] > 1 else 0.0,
        )
        directions = 2 if params["bidirectional"] else 1
        self.out = nn.Linear(directions * params["hidden"], n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image:  # [B, C, H, W] -> [B, H, C*W]: one row per step
            x = x.permute(0, 2, 1, 3).flatten(2)
        steps, _ = self.rnn(x)
        if self.head == "mean":
            summary = steps.mean(dim=1)
        elif (
            self.bidirectional
        ):  # the forward pass ends at the last step, the backward at the first
            summary = torch.cat([steps[:, -1, : self.hidden], steps[:, 0, self.hidden :]], dim=1)
        else:
            summary = steps[:, -1]
        return self.out(summary)


class RecurrentFamily(Family):
    """A recurrent family; subclasses name the PyTorch cell in ``cell``."""

    cell: ClassVar[type[nn.RNNBase]]
    modalities = frozenset({"sequence", "image"})

    def suggest(self, trial, input_shape):
        return {
            "hidden": trial.suggest_int(self.key("hidden"), *HIDDEN, log=True),
            "layers": trial.suggest_int(self.key("layers"), 1, 2),
            "bidirectional": trial.suggest_categorical(self.key("bidirectional"), [False, True]),
            "head": trial.suggest_categorical(self.key("head"), ["last", "mean"]),
            "dropout": trial.suggest_float(self.key("dropout"), 0.0, 0.3),
        }

    def defaults(self, input_shape):
        return {"hidden": 32, "layers": 1, "bidirectional": False, "head": "last", "dropout": 0.0}

    def shrink(self, params):
        return halved(params, "hidden", HIDDEN[0])

    def build(self, params, input_shape, n_outputs):
        return _RecurrentNet(type(self).cell, params, input_shape, n_outputs)
