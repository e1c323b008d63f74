"""Learned word embeddings + a GRU or LSTM over tokens, mean-pooled over the real tokens.

Searched: the cell (GRU or LSTM), vocabulary size, max length, embedding and hidden
widths, learning rate. A unidirectional RNN's outputs at a token never depend on the
padding after it, so the masked mean is the same whatever the batch.
"""

from __future__ import annotations

import torch
from torch import nn

from tradeoff.families import _text
from tradeoff.families._base import register_family
from tradeoff.families._text import TokenFamily


class TextRNN(nn.Module):
    def __init__(self, vocab: int, embed: int, hidden: int, cell: str, n_out: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=_text.PAD_ID)
        self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != _text.PAD_ID).unsqueeze(2).float()
        out, _ = self.rnn(self.embed(ids))
        return self.head(_text.masked_mean(out, mask))


@register_family("text_rnn")
class TextRNNFamily(TokenFamily):
    modalities = frozenset({"text"})
    description = "word embeddings + GRU / LSTM over tokens (cell, vocabulary, max length, widths)"

    def defaults(self, input_shape):
        return {
            "cell": "gru",
            "vocab": 20_000,
            "max_len": 128,
            "embed": 32,
            "hidden": 32,
            "lr": 3e-3,
        }

    def suggest(self, trial, input_shape):
        return {
            "cell": trial.suggest_categorical(self.key("cell"), ["gru", "lstm"]),
            "vocab": trial.suggest_categorical(self.key("vocab"), [5_000, 10_000, 20_000]),
            "max_len": trial.suggest_categorical(self.key("max_len"), [32, 64, 128, 256, 400]),
            "embed": trial.suggest_categorical(self.key("embed"), [32, 64, 128]),
            "hidden": trial.suggest_categorical(self.key("hidden"), [32, 64, 128]),
            "lr": trial.suggest_float(self.key("lr"), 5e-4, 5e-3, log=True),
        }

    def encoder(self, params, vocab_size, n_outputs):
        return TextRNN(vocab_size, params["embed"], params["hidden"], params["cell"], n_outputs)
