"""FLOPs of one forward pass, counted by torch.utils.flop_counter."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops(model: nn.Module, input_shape: tuple[int, ...], batch: int = 1) -> int:
    """Floating-point operations of one forward pass at ``batch`` (a multiply-add counts as 2).

    Counts what PyTorch's FLOP counter knows (matmuls, convolutions, attention);
    elementwise work is not counted, as in the usual convention.

    >>> count_flops(torch.nn.Linear(40, 10), (40,))
    800
    """
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros((batch, *input_shape)))
    model.train(was_training)
    return int(counter.get_total_flops())
