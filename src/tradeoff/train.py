"""The PyTorch training loop, and the training strategy the search draws.

One function, top to bottom: batches, optimiser step, validation each epoch,
early stopping on the validation metric, the best weights restored at the end.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import optuna
import torch
from torch import nn

from tradeoff.prepare import Prepared

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "adagrad")


@dataclass(frozen=True)
class Strategy:
    """How a model is trained: drawn by the search jointly with its structure."""

    optimizer: str = "adam"
    lr: float = 3e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    augment: bool = False
    max_epochs: int = 60
    patience: int = 10


def suggest_strategy(trial: optuna.Trial, prepared: Prepared) -> Strategy:
    """Draw a training strategy from the shared search space."""
    return Strategy(
        optimizer=trial.suggest_categorical("optimizer", list(OPTIMIZERS)),
        lr=trial.suggest_float("lr", 1e-4, 3e-2, log=True),
        batch_size=trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        augment=(
            trial.suggest_categorical("augment", [True, False])
            if prepared.augmentation is not None and prepared.augmentation.enabled
            else False
        ),
    )


@dataclass
class TrainResult:
    """What training produced, besides the weights (restored in place)."""

    epochs: int
    best_epoch: int
    seconds: float
    stopped_by: str  # "early stopping", "max epochs", "time budget"
    curve: list[dict] = field(default_factory=list)  # per epoch: train_loss, val_loss, val_metric


def make_optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(
            params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def train(
    model: nn.Module,
    prepared: Prepared,
    strategy: Strategy,
    *,
    seed: int = 0,
    deadline: float | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place on the training split; keep the weights of the best validation epoch.

    ``deadline`` is a ``time.monotonic()`` instant after which no new epoch starts.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    X = torch.from_numpy(prepared.X_train)
    y = torch.from_numpy(prepared.y_train)
    X_val = torch.from_numpy(prepared.X_val)
    y_val = torch.from_numpy(prepared.y_val)
    optimizer = make_optimizer(
        strategy.optimizer, model.parameters(), strategy.lr, strategy.weight_decay
    )
    loss_fn = nn.CrossEntropyLoss()

    start = time.perf_counter()
    best_metric, best_epoch, best_state = -np.inf, 0, copy.deepcopy(model.state_dict())
    curve: list[dict] = []
    stopped_by = "max epochs"
    for epoch in range(1, strategy.max_epochs + 1):
        if deadline is not None and time.monotonic() >= deadline:
            stopped_by = "time budget"
            break
        model.train()
        order = torch.from_numpy(rng.permutation(len(y)))
        total_loss = 0.0
        for first in range(0, len(order), strategy.batch_size):
            batch = order[first : first + strategy.batch_size]
            xb = X[batch]
            if strategy.augment and prepared.augmentation is not None:
                xb = prepared.augmentation.apply(xb, rng)
            loss = loss_fn(model(xb), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(batch)
        train_loss = total_loss / len(y)
        if not np.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss} at epoch {epoch}")

        model.eval()
        with torch.no_grad():
            logits = model(X_val)
            val_loss = loss_fn(logits, y_val).item()
            val_metric = (logits.argmax(1) == y_val).float().mean().item()
        point = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_metric": val_metric,
        }
        curve.append(point)
        if on_epoch is not None:
            on_epoch(epoch, point)
        if val_metric > best_metric:
            best_metric, best_epoch = val_metric, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= strategy.patience:
            stopped_by = "early stopping"
            break

    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        epochs=len(curve),
        best_epoch=best_epoch,
        seconds=time.perf_counter() - start,
        stopped_by=stopped_by,
        curve=curve,
    )
