"""Long short-term memory network over sequence steps or image rows."""

from __future__ import annotations

from torch import nn

from tradeoff.families._base import register_family
from tradeoff.families._rnn import RecurrentFamily


@register_family("lstm")
class LSTM(RecurrentFamily):
    cell = nn.LSTM
    description = "LSTM over steps / image rows: hidden size, layers, bidirectional, head"
