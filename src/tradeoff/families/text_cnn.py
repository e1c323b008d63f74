"""Learned word embeddings + 1D convolutions over tokens, max-pooled: a fast sequence model.

Searched: vocabulary size, max length (tokens read), embedding width, filters, kernel
width, depth (0: no convolution, the mean of the embeddings, fastText-like), learning rate. Padding is masked, so a row's answer does not depend on
the batch it is sent in.
"""

from __future__ import annotations

import torch
from torch import nn

from tradeoff.families import _text
from tradeoff.families._base import register_family
from tradeoff.families._text import TokenFamily


class TextCNN(nn.Module):
    def __init__(self, vocab: int, embed: int, filters: int, kernel: int, layers: int, n_out: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=_text.PAD_ID)
        self.convs = nn.ModuleList(
            nn.Conv1d(embed if i == 0 else filters, filters, kernel, padding=kernel // 2)
            for i in range(layers)
        )
        self.head = nn.Linear(filters if layers else embed, n_out)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != _text.PAD_ID).unsqueeze(1).float()  # [B, 1, T]
        x = self.embed(ids).transpose(1, 2)
        if not self.convs:  # no convolution: the mean of the embeddings (fastText-like)
            return self.head((x * mask).sum(dim=2) / mask.sum(dim=2))
        for conv in self.convs:
            x = torch.relu(conv(x)[..., : ids.shape[1]]) * mask  # pads stay zero, as at the edge
        pooled = (x - (1.0 - mask) * 1e4).amax(dim=2)
        return self.head(pooled)


@register_family("text_cnn")
class TextCNNFamily(TokenFamily):
    modalities = frozenset({"text"})
    description = "word embeddings + 1D CNN over tokens (vocabulary, max length, filters, kernel)"

    def defaults(self, input_shape):
        return {
            "vocab": 20_000,
            "max_len": 256,
            "embed": 32,
            "filters": 32,
            "kernel": 3,
            "layers": 1,
            "lr": 3e-3,
        }

    def suggest(self, trial, input_shape):
        return {
            "vocab": trial.suggest_categorical(self.key("vocab"), [5_000, 10_000, 20_000, 40_000]),
            "max_len": trial.suggest_categorical(self.key("max_len"), [64, 128, 256, 400, 600]),
            "embed": trial.suggest_categorical(self.key("embed"), [32, 64, 128]),
            "filters": trial.suggest_categorical(self.key("filters"), [32, 64, 128]),
            "kernel": trial.suggest_categorical(self.key("kernel"), [3, 5, 7]),
            "layers": trial.suggest_int(self.key("layers"), 0, 2),
            "lr": trial.suggest_float(self.key("lr"), 5e-4, 5e-3, log=True),
        }

    def encoder(self, params, vocab_size, n_outputs):
        return TextCNN(
            vocab_size,
            params["embed"],
            params["filters"],
            params["kernel"],
            params["layers"],
            n_outputs,
        )
