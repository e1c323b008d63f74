"""A small Transformer encoder over tokens: sequence steps (or patches of steps), image
patches, or tabular features (one token per feature, as in FT-Transformer).

Attention is written out with plain matrix products so that the exported ONNX
graph is the same computation as the PyTorch module on every runtime.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tradeoff.families._base import Family, register_family

_WIDTHS = (16, 32, 64)
_HEADS = (1, 2, 4)


def patch_choices(input_shape: tuple[int, ...]) -> list[int]:
    """Token sizes that tile the input exactly: steps per token, or pixels per patch side."""
    if len(input_shape) == 3:
        _, height, width = input_shape
        fits = [p for p in (2, 4, 7, 8, 14, 16) if height % p == 0 and width % p == 0]
        return fits or [1]
    if len(input_shape) == 2:
        return [p for p in (1, 2, 4, 5, 8) if input_shape[0] % p == 0]
    return [1]


class _Tokens(nn.Module):
    """Input -> ``[B, tokens, width]`` plus a learned position (or feature) embedding."""

    def __init__(self, input_shape: tuple[int, ...], patch: int, width: int):
        super().__init__()
        self.kind = {1: "tabular", 2: "sequence", 3: "image"}[len(input_shape)]
        self.patch = patch
        if self.kind == "tabular":
            (n_tokens,) = input_shape
            self.weight = nn.Parameter(torch.randn(n_tokens, width) / math.sqrt(width))
            self.bias = nn.Parameter(torch.zeros(n_tokens, width))
        elif self.kind == "sequence":
            steps, channels = input_shape
            n_tokens = steps // patch
            self.embed = nn.Linear(patch * channels, width)
        else:
            channels, height, width_px = input_shape
            n_tokens = (height // patch) * (width_px // patch)
            self.embed = nn.Conv2d(channels, width, patch, stride=patch)
        self.n_tokens = n_tokens
        self.position = nn.Parameter(torch.zeros(1, n_tokens, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "tabular":  # each feature value scales its own embedding vector
            tokens = x.unsqueeze(-1) * self.weight + self.bias
        elif self.kind == "sequence":
            tokens = self.embed(x.unflatten(1, (self.n_tokens, self.patch)).flatten(2))
        else:
            tokens = self.embed(x).flatten(2).transpose(1, 2)
        return tokens + self.position


class _Block(nn.Module):
    """Pre-norm encoder block: multi-head self-attention, then a feed-forward layer."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ff = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * width, width)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        # [B, T, W] -> [B, heads, T, W/heads]
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        scale = 1.0 / math.sqrt(q.shape[-1])
        attention = torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1)
        mixed = (attention @ v).transpose(1, 2).flatten(2)
        x = x + self.drop(self.proj(mixed))
        return x + self.drop(self.ff(self.norm2(x)))


class _Encoder(nn.Module):
    def __init__(self, params: dict, input_shape: tuple[int, ...], n_outputs: int):
        super().__init__()
        width = params["width"]
        self.tokens = _Tokens(input_shape, params.get("patch", 1), width)
        self.blocks = nn.Sequential(
            *(_Block(width, params["heads"], params["dropout"]) for _ in range(params["layers"]))
        )
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.tokens(x))
        return self.out(self.norm(h.mean(dim=1)))


@register_family("transformer")
class Transformer(Family):
    modalities = frozenset({"tabular", "sequence", "image"})
    description = (
        "self-attention encoder over steps, image patches or features: width, heads, layers, "
        "patch size"
    )

    def suggest(self, trial, input_shape):
        params = {
            "width": trial.suggest_categorical(self.key("width"), list(_WIDTHS)),
            "heads": trial.suggest_categorical(self.key("heads"), list(_HEADS)),
            "layers": trial.suggest_int(self.key("layers"), 1, 3),
            "dropout": trial.suggest_float(self.key("dropout"), 0.0, 0.2),
        }
        if len(input_shape) > 1:
            params["patch"] = trial.suggest_categorical(
                self.key("patch"), patch_choices(tuple(input_shape))
            )
        return params

    def defaults(self, input_shape):
        params = {"width": 32, "heads": 4, "layers": 2, "dropout": 0.1}
        if len(input_shape) > 1:
            choices = patch_choices(tuple(input_shape))
            params["patch"] = choices[len(choices) // 2]
        return params

    def shrink(self, params):
        narrower = [w for w in _WIDTHS if w < params["width"]]
        if not narrower:
            return None
        width = narrower[-1]
        return {
            **params,
            "width": width,
            "heads": max(h for h in _HEADS if width % h == 0 and h <= params["heads"]),
        }

    def build(self, params, input_shape, n_outputs):
        return _Encoder(params, tuple(input_shape), n_outputs)
