"""Convolutional network over sequence steps (1D)."""

from __future__ import annotations

from torch import nn

from tradeoff.families._base import Family, activation, register_family


class _ChannelsFirst(nn.Module):
    """[B, T, C] -> [B, C, T], the layout Conv1d expects."""

    def forward(self, x):
        return x.transpose(1, 2)


@register_family("cnn")
class CNN(Family):
    modalities = frozenset({"sequence"})
    description = "1D convolutions: depth, channels, kernel, stride, pooling head"

    def suggest(self, trial, input_shape):
        return {
            "depth": trial.suggest_int(self.key("depth"), 1, 4),
            "channels": trial.suggest_int(self.key("channels"), 8, 96, log=True),
            "kernel": trial.suggest_categorical(self.key("kernel"), [3, 5, 7]),
            "downsample": trial.suggest_categorical(self.key("downsample"), [True, False]),
            "head": trial.suggest_categorical(self.key("head"), ["flatten", "avg"]),
            "activation": trial.suggest_categorical(self.key("activation"), ["relu", "gelu"]),
            "dropout": trial.suggest_float(self.key("dropout"), 0.0, 0.3),
        }

    def build(self, params, input_shape, n_outputs):
        steps, channels_in = input_shape
        layers: list[nn.Module] = [_ChannelsFirst()]
        for i in range(params["depth"]):
            # Halve the time axis after the first layer while it stays long enough.
            stride = 2 if params["downsample"] and i > 0 and steps >= 8 else 1
            kernel = params["kernel"]
            layers += [
                nn.Conv1d(
                    channels_in, params["channels"], kernel, stride=stride, padding=kernel // 2
                ),
                activation(params["activation"]),
            ]
            steps = (steps + 2 * (kernel // 2) - kernel) // stride + 1
            channels_in = params["channels"]
        if params["head"] == "avg":
            layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten()]
            features = channels_in
        else:
            layers += [nn.Flatten()]
            features = channels_in * steps
        layers += [nn.Dropout(params["dropout"]), nn.Linear(features, n_outputs)]
        return nn.Sequential(*layers)
