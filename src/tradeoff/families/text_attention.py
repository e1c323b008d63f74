"""A small self-attention encoder over tokens: embeddings + positions, attention blocks, pooled.

Searched: vocabulary size, max length, width, heads, blocks, learning rate. Padded
positions are masked out of the attention and of the pooling.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tradeoff.families import _text
from tradeoff.families._base import register_family
from tradeoff.families._text import TokenFamily


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, w // self.heads).unbind(2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # [B, heads, T, w/heads]
        scores = q @ k.transpose(-1, -2) / math.sqrt(w // self.heads) + bias
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, w)
        x = x + self.out(attended)
        return x + self.ff(self.norm2(x))


class TextAttention(nn.Module):
    def __init__(self, vocab: int, width: int, heads: int, blocks: int, max_len: int, n_out: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, width, padding_idx=_text.PAD_ID)
        self.position = nn.Embedding(max_len + 1, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(blocks))
        self.head = nn.Linear(width, n_out)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        present = ids != _text.PAD_ID
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.embed(ids) + self.position(positions)
        bias = ((~present).float() * -1e4)[:, None, None, :]  # padded keys get no attention
        for block in self.blocks:
            x = block(x, bias)
        return self.head(_text.masked_mean(x, present.unsqueeze(2).float()))


@register_family("text_attention")
class TextAttentionFamily(TokenFamily):
    modalities = frozenset({"text"})
    description = (
        "word embeddings + small self-attention encoder (vocabulary, max length, width, blocks)"
    )

    def defaults(self, input_shape):
        return {"vocab": 20_000, "max_len": 128, "width": 32, "heads": 2, "blocks": 1, "lr": 1e-3}

    def suggest(self, trial, input_shape):
        return {
            "vocab": trial.suggest_categorical(self.key("vocab"), [5_000, 10_000, 20_000]),
            "max_len": trial.suggest_categorical(self.key("max_len"), [64, 128, 256]),
            "width": trial.suggest_categorical(self.key("width"), [32, 64, 128]),
            "heads": trial.suggest_categorical(self.key("heads"), [2, 4]),
            "blocks": trial.suggest_int(self.key("blocks"), 1, 2),
            "lr": trial.suggest_float(self.key("lr"), 3e-4, 3e-3, log=True),
        }

    def encoder(self, params, vocab_size, n_outputs):
        return TextAttention(
            vocab_size,
            params["width"],
            params["heads"],
            params["blocks"],
            params["max_len"],
            n_outputs,
        )
