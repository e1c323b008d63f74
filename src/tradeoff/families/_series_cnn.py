"""The standard deep series baselines, as architectures of the ``cnn`` family (1D only).

- ``fcn``: Wang et al. 2017's fully convolutional network: three Conv-BN-ReLU blocks
  (kernels 8, 5, 3; widths c, 2c, c), global average pooling, a linear head.
- ``resnet``: the same paper's ResNet: ``depth`` residual blocks of three Conv-BN-ReLU
  (kernels 8, 5, 3) with a 1x1 Conv-BN shortcut; widths c, 2c, 2c.
- ``inception``: InceptionTime's module (Ismail Fawaz et al. 2020): a 1x1 bottleneck,
  three convolutions of kernels ~L/4, ~L/2, ~L (at most 39, 19, 9 as in the paper)
  and a max-pool branch, concatenated, BN, ReLU; a residual shortcut every three modules.

Batch norm is folded into the convolution it follows when the model is in eval mode
(:class:`ConvBN`): the exported graph holds plain ``Conv`` nodes, no ``BatchNormalization``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

ARCHITECTURES = ("fcn", "resnet", "inception")


class ConvBN(nn.Module):
    """A same-padded Conv1d followed by BatchNorm1d, folded into one convolution in eval mode."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels_in, channels_out, kernel, padding="same", bias=False)
        self.bn = nn.BatchNorm1d(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.bn(self.conv(x))
        scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
        weight = self.conv.weight * scale[:, None, None]
        bias = self.bn.bias - self.bn.running_mean * scale
        return F.conv1d(x, weight, bias, padding="same")


def _kernel(k: int, steps: int) -> int:
    """A kernel no longer than the series (odd, so that 'same' padding is symmetric)."""
    k = min(k, steps)
    return k if k % 2 else max(1, k - 1)


class _ResidualBlock(nn.Module):
    def __init__(self, channels_in: int, channels: int, steps: int) -> None:
        super().__init__()
        kernels = [_kernel(k, steps) for k in (8, 5, 3)]
        self.convs = nn.ModuleList(
            [
                ConvBN(channels_in if i == 0 else channels, channels, k)
                for i, k in enumerate(kernels)
            ]
        )
        self.shortcut = ConvBN(channels_in, channels, 1)

    def forward(self, x):
        y = x
        for i, conv in enumerate(self.convs):
            y = conv(y)
            if i < len(self.convs) - 1:
                y = torch.relu(y)
        return torch.relu(y + self.shortcut(x))


class _InceptionModule(nn.Module):
    """Bottleneck, three convolutions and a max-pool branch, concatenated, BN, ReLU.

    BN over the concatenation is per channel, so each branch carries its own slice of it
    (a :class:`ConvBN`), which folds like any other.
    """

    def __init__(self, channels_in: int, filters: int, steps: int) -> None:
        super().__init__()
        bottleneck = filters if channels_in > 1 else channels_in
        self.bottleneck = nn.Conv1d(channels_in, bottleneck, 1, bias=False)
        self.branches = nn.ModuleList(
            [ConvBN(bottleneck, filters, _kernel(k, steps)) for k in (39, 19, 9)]
        )
        self.pool_conv = ConvBN(channels_in, filters, 1)

    def forward(self, x):
        z = self.bottleneck(x)
        pooled = self.pool_conv(F.max_pool1d(x, 3, stride=1, padding=1))
        return torch.relu(torch.cat([b(z) for b in self.branches] + [pooled], 1))


class SeriesCNN(nn.Module):
    """``[B, T, C]`` -> logits ``[B, n_outputs]``: one of :data:`ARCHITECTURES`, GAP, linear head."""

    def __init__(
        self,
        architecture: str,
        steps: int,
        channels_in: int,
        width: int,
        depth: int,
        n_outputs: int,
    ) -> None:
        super().__init__()
        self.architecture = architecture
        if architecture == "fcn":
            widths = [width, 2 * width, width]
            kernels = [_kernel(k, steps) for k in (8, 5, 3)]
            self.body = nn.ModuleList(
                [
                    ConvBN(c_in, c, k)
                    for c_in, c, k in zip([channels_in, *widths], widths, kernels, strict=False)
                ]
            )
            features = width
        elif architecture == "resnet":
            widths = [width, 2 * width, 2 * width][: max(1, min(depth, 3))]
            self.body = nn.ModuleList(
                [
                    _ResidualBlock(c_in, c, steps)
                    for c_in, c in zip([channels_in, *widths], widths, strict=False)
                ]
            )
            features = widths[-1]
        elif architecture == "inception":
            filters = max(4, width // 4)
            n = max(1, min(depth, 6))
            self.body = nn.ModuleList(
                [
                    _InceptionModule(channels_in if i == 0 else 4 * filters, filters, steps)
                    for i in range(n)
                ]
            )
            self.shortcuts = nn.ModuleList(
                [
                    ConvBN(channels_in if i == 0 else 4 * filters, 4 * filters, 1)
                    for i in range(0, n - n % 3, 3)
                ]
            )
            features = 4 * filters
        else:
            raise ValueError(f"unknown architecture {architecture!r}")
        self.head = nn.Linear(features, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)  # [B, T, C] -> [B, C, T]
        if self.architecture == "inception":
            residual = x
            for i, module in enumerate(self.body):
                x = module(x)
                if i % 3 == 2:  # a shortcut over every three modules, as InceptionTime
                    x = torch.relu(x + self.shortcuts[i // 3](residual))
                    residual = x
        else:
            for block in self.body:
                x = block(x)
                if self.architecture == "fcn":
                    x = torch.relu(x)
        return self.head(x.mean(-1))
