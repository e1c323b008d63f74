"""Structured pruning: physically remove the weakest neurons / channels, then fine-tune briefly.

The pruned model is rebuilt smaller (fewer rows in a Linear, fewer filters in
a Conv1d / Conv2d, and the matching inputs of the next layer), so the ONNX graph
itself shrinks; masks that leave zeros in place give no speed-up and are not
used. Importance is the L1 norm of a neuron's / channel's incoming weights.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict

import torch
from torch import nn

from tradeoff.compress._base import CompressionPass, Parent, Variant, register_pass
from tradeoff.families import to_onnx
from tradeoff.train import Strategy, train

#: Share of each hidden layer's neurons / channels that is kept.
KEEP_FRACTION = 0.5
#: Fine-tuning after pruning: a fixed short recipe. The parent's own optimizer may be
#: plain SGD at a tiny rate that needed many epochs; a few Adam epochs recover more.
FINE_TUNE_EPOCHS, FINE_TUNE_LR, FINE_TUNE_PATIENCE = 15, 1e-3, 4
#: ... and at most this share of the parent's own training time (no new epoch starts after
#: it): on 48,000 images 15 epochs took 464 s, longer than the parent had trained.
FINE_TUNE_SHARE = 0.5
#: Layers narrower than this are left whole: halving them costs too much capacity.
MIN_UNITS = 16

_PRODUCERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
_CONVS = (nn.Conv1d, nn.Conv2d)
#: Layers between two producers that act per neuron / channel (or just reshape).
_PASS_THROUGH = (
    nn.ReLU,
    nn.GELU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Dropout,
    nn.Flatten,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.MaxPool1d,
    nn.MaxPool2d,  # pooling acts on each channel alone (image CNNs)
    nn.Identity,
)


def prunable_pairs(net: nn.Sequential) -> list[tuple[int, int]]:
    """(producer, consumer) index pairs whose shared neurons / channels can be removed."""
    pairs = []
    producer = None
    for i, layer in enumerate(net):
        if isinstance(layer, _PRODUCERS):
            if producer is not None:
                pairs.append((producer, i))
            producer = i
        elif not isinstance(layer, _PASS_THROUGH):
            producer = None
    return pairs


def _out_weights(layer: nn.Module) -> torch.Tensor:
    return layer.weight.detach().reshape(layer.weight.shape[0], -1)


def _slice_producer(layer: nn.Module, keep: torch.Tensor) -> nn.Module:
    if isinstance(layer, nn.Linear):
        new = nn.Linear(layer.in_features, len(keep), bias=layer.bias is not None)
    else:
        new = type(layer)(
            layer.in_channels,
            len(keep),
            layer.kernel_size,
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            bias=layer.bias is not None,
        )
    new.weight.data = layer.weight.detach()[keep].clone()
    if layer.bias is not None:
        new.bias.data = layer.bias.detach()[keep].clone()
    return new


def _slice_consumer(layer: nn.Module, keep: torch.Tensor, n_before: int) -> nn.Module:
    weight = layer.weight.detach()
    if isinstance(layer, _CONVS):
        new = type(layer)(
            len(keep),
            layer.out_channels,
            layer.kernel_size,
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            bias=layer.bias is not None,
        )
        new.weight.data = weight[:, keep].clone()
    else:
        # A Linear after Flatten sees n_before channels x `per` steps, channel-major.
        per = layer.in_features // n_before
        grouped = weight.reshape(layer.out_features, n_before, per)[:, keep]
        new = nn.Linear(len(keep) * per, layer.out_features, bias=layer.bias is not None)
        new.weight.data = grouped.reshape(layer.out_features, -1).clone()
    if layer.bias is not None:
        new.bias.data = layer.bias.detach().clone()
    return new


def prune_structured(model: nn.Module, keep_fraction: float = KEEP_FRACTION) -> nn.Module:
    """A copy of ``model`` with the weakest neurons / channels of each hidden layer removed.

    ``model`` is a deployable ``Sequential(Standardize, network)`` whose network
    is a ``Sequential`` (the MLP and CNN families).
    """
    pruned = copy.deepcopy(model)
    net = pruned[1]
    for producer, consumer in prunable_pairs(net):
        layer = net[producer]
        n_before = layer.weight.shape[0]
        if n_before < MIN_UNITS and keep_fraction < 1.0:
            continue
        n_keep = max(1, round(n_before * keep_fraction))
        keep = torch.sort(_out_weights(layer).abs().sum(1).topk(n_keep).indices).values
        net[producer] = _slice_producer(layer, keep)
        net[consumer] = _slice_consumer(net[consumer], keep, n_before)
    return pruned


@register_pass("prune")
class StructuredPruning(CompressionPass):
    description = (
        f"remove the weakest {1 - KEEP_FRACTION:.0%} of neurons/channels by L1 norm, then fine-tune"
    )

    def applies(self, parent: Parent) -> bool:
        net = parent.model[1] if isinstance(parent.model, nn.Sequential) else None
        return isinstance(net, nn.Sequential) and any(
            net[producer].weight.shape[0] >= MIN_UNITS for producer, _ in prunable_pairs(net)
        )

    def compress(self, parent: Parent, *, seed: int, deadline: float) -> Variant | None:
        if time.monotonic() >= deadline:
            return None
        model = prune_structured(parent.model)
        base = Strategy(**parent.strategy)
        strategy = Strategy(
            **{
                **asdict(base),
                "optimizer": "adam",
                # Adam-trained parents keep half their rate; others get a safe default.
                "lr": base.lr / 2 if base.optimizer in ("adam", "adamw") else FINE_TUNE_LR,
                "max_epochs": FINE_TUNE_EPOCHS,
                "patience": FINE_TUNE_PATIENCE,
            }
        )
        limit = FINE_TUNE_SHARE * parent.train_seconds if parent.train_seconds else None
        result = train(
            model, parent.prepared, strategy, seed=seed, deadline=deadline, time_limit_s=limit
        )
        return Variant(
            onnx=to_onnx(model, parent.prepared.input_shape),
            settings={
                "keep_fraction": KEEP_FRACTION,
                "importance": "L1 norm",
                "fine_tune_epochs": result.epochs,
                "fine_tune_limit": f"{FINE_TUNE_EPOCHS} epochs, and {FINE_TUNE_SHARE:g} x the "
                "parent's training time",
                "fine_tune_lr": strategy.lr,
            },
            model=model,
            train_seconds=result.seconds,
        )
