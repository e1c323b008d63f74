"""Gated recurrent unit network over sequence steps or image rows."""

from __future__ import annotations

from torch import nn

from tradeoff.families._base import register_family
from tradeoff.families._rnn import RecurrentFamily


@register_family("gru")
class GRU(RecurrentFamily):
    cell = nn.GRU
    description = "GRU over steps / image rows: hidden size, layers, bidirectional, head"
