"""Convolutional network: 1D over sequence steps, 2D over images (picked by the input's rank)."""

from __future__ import annotations

from torch import nn

from tradeoff.families._base import Family, activation, halved, register_family
from tradeoff.families._series_cnn import ARCHITECTURES, SeriesCNN

#: The range of channels per convolution.
CHANNELS = (8, 96)


class _ChannelsFirst(nn.Module):
    """[B, T, C] -> [B, C, T], the layout Conv1d expects."""

    def forward(self, x):
        return x.transpose(1, 2)


@register_family("cnn")
class CNN(Family):
    modalities = frozenset({"sequence", "image"})
    description = (
        "convolutions, 1D on sequences / 2D on images: depth, channels, kernel, pooling, "
        "flatten or global pooling head; on sequences also FCN, ResNet and Inception blocks"
    )

    def suggest(self, trial, input_shape):
        # Sequences: the standard deep series baselines too (families/_series_cnn.py).
        architecture = {}
        if len(input_shape) == 2:
            architecture["architecture"] = trial.suggest_categorical(
                self.key("architecture"), ["plain", *ARCHITECTURES]
            )
        return architecture | {
            "depth": trial.suggest_int(self.key("depth"), 1, 4),
            "channels": trial.suggest_int(self.key("channels"), *CHANNELS, log=True),
            "kernel": trial.suggest_categorical(self.key("kernel"), [3, 5, 7]),
            "pooling": trial.suggest_categorical(self.key("pooling"), ["none", "max", "stride"]),
            "head": trial.suggest_categorical(self.key("head"), ["flatten", "avg", "max"]),
            "activation": trial.suggest_categorical(self.key("activation"), ["relu", "gelu"]),
            "dropout": trial.suggest_float(self.key("dropout"), 0.0, 0.3),
        }

    def defaults(self, input_shape):
        # The MNIST-1D paper's CNN: three strided convolutions, a flatten head.
        plain = {"architecture": "plain"} if len(input_shape) == 2 else {}
        return plain | {
            "depth": 3,
            "channels": 32,
            "kernel": 5,
            "pooling": "stride",
            "head": "flatten",
            "activation": "relu",
            "dropout": 0.0,
        }

    def shrink(self, params):
        return halved(params, "channels", CHANNELS[0])

    def build(self, params, input_shape, n_outputs):
        if params.get("architecture", "plain") != "plain":
            steps, channels_in = input_shape
            return SeriesCNN(
                params["architecture"],
                steps,
                channels_in,
                params["channels"],
                params["depth"],
                n_outputs,
            )
        two_d = len(input_shape) == 3
        if two_d:
            channels_in, *size = input_shape
            conv, max_pool = nn.Conv2d, nn.MaxPool2d
            global_pool = {"avg": nn.AdaptiveAvgPool2d, "max": nn.AdaptiveMaxPool2d}
            layers: list[nn.Module] = []
        else:
            steps, channels_in = input_shape
            size = [steps]
            conv, max_pool = nn.Conv1d, nn.MaxPool1d
            global_pool = {"avg": nn.AdaptiveAvgPool1d, "max": nn.AdaptiveMaxPool1d}
            layers = [_ChannelsFirst()]
        kernel = params["kernel"]
        for i in range(params["depth"]):
            # Halve the spatial axes after the first layer while they stay long enough.
            halve = params["pooling"] != "none" and i > 0 and min(size) >= 8
            stride = 2 if halve and params["pooling"] == "stride" else 1
            # Small images cannot take a large kernel: never let it exceed the input.
            k = min(kernel, 2 * (min(size) // 2) + 1)
            layers += [
                conv(channels_in, params["channels"], k, stride=stride, padding=k // 2),
                activation(params["activation"]),
            ]
            size = [(s + 2 * (k // 2) - k) // stride + 1 for s in size]
            if halve and params["pooling"] == "max":
                layers.append(max_pool(2))
                size = [s // 2 for s in size]
            channels_in = params["channels"]
        if params["head"] in global_pool:
            layers += [global_pool[params["head"]](1), nn.Flatten()]
            features = channels_in
        else:
            layers += [nn.Flatten()]
            features = channels_in
            for s in size:
                features *= s
        layers += [nn.Dropout(params["dropout"]), nn.Linear(features, n_outputs)]
        return nn.Sequential(*layers)
