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

from tradeoff.heap import HeapTrim
from tradeoff.prepare import Prepared, balanced_weights
from tradeoff.rules import Objective

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "adagrad")
SCHEDULES = ("constant", "cosine", "step")
#: Losses the search may draw, per kind of task. Classification MSE regresses one-hot targets.
LOSSES = {"classification": ("cross_entropy", "mse"), "regression": ("mse", "mae", "huber")}

#: ``score(y_true, outputs) -> float``: the validation metric, higher or lower is better.
Score = Callable[[np.ndarray, np.ndarray], float]
#: ``loss(outputs, rows)``: a training batch's loss from its outputs and its row indices.
TrainingLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


#: Epochs a trial trains at most before early stopping, unless the search is told otherwise.
DEFAULT_MAX_EPOCHS = 60


@dataclass(frozen=True)
class Strategy:
    """How a model is trained: drawn by the search jointly with its structure."""

    optimizer: str = "adam"
    lr: float = 3e-3
    schedule: str = "constant"
    batch_size: int = 64
    weight_decay: float = 0.0
    loss: str = "cross_entropy"
    label_smoothing: float = 0.0
    augment: bool = False
    max_epochs: int = DEFAULT_MAX_EPOCHS
    patience: int = 10
    class_weight: str = "none"  # "balanced": each class weighted by 1 / its share of train


def suggest_strategy(trial: optuna.Trial, prepared: Prepared) -> Strategy:
    """Draw a training strategy from the shared search space."""
    kind = "regression" if prepared.task == "regression" else "classification"
    loss = trial.suggest_categorical(f"loss.{kind}", list(LOSSES[kind]))
    return Strategy(
        optimizer=trial.suggest_categorical("optimizer", list(OPTIMIZERS)),
        lr=trial.suggest_float("lr", 1e-4, 3e-2, log=True),
        schedule=trial.suggest_categorical("schedule", list(SCHEDULES)),
        batch_size=trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        loss=loss,
        label_smoothing=(
            trial.suggest_float("label_smoothing", 0.0, 0.2) if kind == "classification" else 0.0
        ),
        augment=(
            trial.suggest_categorical("augment", [True, False])
            if prepared.augmentation is not None and prepared.augmentation.enabled
            else False
        ),
        # Searched only where it can matter: a class under IMBALANCED_SHARE of the training rows.
        class_weight=(
            trial.suggest_categorical("class_weight", ["none", "balanced"])
            if prepared.imbalanced
            else "none"
        ),
    )


#: Where a search of one to three short trials starts (the estimators', 20 epochs each by
#: default): Adam with a larger step than ``default_strategy_params``, so that those few epochs
#: learn. With the default strategy instead, one 20-epoch trial failed scikit-learn's
#: ``check_classifiers_train`` and ``check_regressors_train``.
SHORT_RUN_STRATEGY = {"optimizer": "adam", "lr": 1e-2, "batch_size": 32, "weight_decay": 1e-6}


def default_strategy_params(prepared: Prepared) -> dict:
    """The study's parameters for a sensible default strategy (Adam, cosine schedule)."""
    kind = "regression" if prepared.task == "regression" else "classification"
    params = {
        "optimizer": "adam",
        "lr": 3e-3,
        "schedule": "cosine",
        "batch_size": 64,
        "weight_decay": 1e-5,
        f"loss.{kind}": LOSSES[kind][0],
    }
    if kind == "classification":
        params["label_smoothing"] = 0.0
    if prepared.imbalanced:
        params["class_weight"] = "none"
    if prepared.augmentation is not None and prepared.augmentation.enabled:
        # Shifts help networks on signals and images (chosen on one MNIST-1D run's test
        # figure: docs/benchmarks.md, "Defaults chosen on test figures").
        params["augment"] = True
    return params


class NoTimeToValidate(Exception):
    """The deadline cut the first epoch, and its validation (never measured yet; reckoned at
    the epoch's own pace) would end past the deadline: the model is not validated, so the
    search does not run past its budget for it."""

    def __init__(self, seconds: float, rows: int) -> None:
        super().__init__(
            f"time budget: cut after {rows} rows of its first epoch, with no time left to "
            "validate it"
        )
        self.seconds = seconds


@dataclass
class TrainResult:
    """What training produced, besides the weights (restored in place)."""

    epochs: int
    best_epoch: int
    seconds: float
    stopped_by: str  # "early stopping", "max epochs", "time budget", "pruned"
    # Per epoch: train_loss, train_metric (running, over the epoch's batches), val_loss, val_metric.
    curve: list[dict] = field(default_factory=list)


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


def make_schedule(name: str, optimizer: torch.optim.Optimizer, max_epochs: int):
    """A per-epoch learning-rate schedule: constant, cosine to zero, or /10 every third of the run."""
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs)
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=max(1, max_epochs // 3), gamma=0.1
        )
    raise ValueError(f"unknown schedule {name!r}")


def make_loss(
    strategy: Strategy, n_outputs: int, target_scale: float, class_weights=None
) -> Callable:
    """``loss(outputs, y)`` for the strategy. Regression losses are computed in target-std units
    so one learning rate range fits every data set. ``class_weights`` weight cross-entropy."""
    if strategy.loss == "cross_entropy":
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        return nn.CrossEntropyLoss(weight=weight, label_smoothing=strategy.label_smoothing)
    if strategy.loss == "mse" and n_outputs > 1:
        smooth = strategy.label_smoothing

        def one_hot_mse(outputs, y):
            target = nn.functional.one_hot(y, n_outputs).float() * (1 - smooth) + smooth / n_outputs
            return nn.functional.mse_loss(outputs, target)

        return one_hot_mse
    base = {"mse": nn.MSELoss(), "mae": nn.L1Loss(), "huber": nn.HuberLoss(delta=1.0)}[
        strategy.loss
    ]
    return lambda outputs, y: base(outputs[:, 0] / target_scale, y / target_scale)


def _epoch(
    model: nn.Module,
    X: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
    loss_fn: TrainingLoss,
    optimizer: torch.optim.Optimizer,
    augmentation,
    rng: np.random.Generator,
    trim: HeapTrim,
    clock: Clock,
) -> tuple[float, list[torch.Tensor], int, bool]:
    """One pass over the training split in ``order``: its mean loss, the batches' outputs, the
    rows it trained on, and whether ``clock`` cut it short. An epoch over a big split can take
    minutes: the clock is asked before each batch, so that a search's budget holds."""
    model.train()
    total_loss, seen, outputs_seen = 0.0, 0, []
    began = time.monotonic()
    for first in range(0, len(order), batch_size):
        if seen and not clock.batch_may_start(seen, began):
            return total_loss / seen, outputs_seen, seen, True
        batch = order[first : first + batch_size]
        if len(batch) < 2 and len(order) > 1:
            continue  # batch norm cannot train on one example (unless it is the only one)
        xb = X[batch]
        if augmentation is not None:
            xb = augmentation.apply(xb, rng)
        outputs = model(xb)
        loss = loss_fn(outputs, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(batch)
        seen += len(batch)
        outputs_seen.append(outputs.detach())
        trim()
    return total_loss / max(seen, 1), outputs_seen, len(order), False


def _loss_for(strategy: Strategy, prepared: Prepared) -> Callable:
    """The strategy's loss for ``prepared``: regression in target-std units, classes weighted
    by ``strategy.class_weight``."""
    regression = prepared.task == "regression"
    target_scale = (float(prepared.y_train.std()) or 1.0) if regression else 1.0
    weights = None
    if strategy.class_weight == "balanced" and not regression:
        weights = balanced_weights(prepared.y_train, prepared.n_outputs)
    return make_loss(strategy, prepared.n_outputs, target_scale, weights)


class Clock:
    """When training stops for time. ``deadline`` (``time.monotonic()``): no epoch starts, and
    no batch of an epoch under way, once what is left before it would not pay for the
    validation that follows: the last validation's seconds, or, before the first, the epoch's
    own pace over as many rows as validation has (a training step costs more than a forward
    pass, so that errs early). ``time_limit_s``: no epoch after the first starts once training
    has taken this long (``time.perf_counter()``)."""

    def __init__(self, deadline: float | None, time_limit_s: float | None, val_rows: int):
        self.deadline, self.time_limit_s, self.val_rows = deadline, time_limit_s, val_rows
        self.start = time.perf_counter()
        self.validation_s: float | None = None

    def epoch_may_start(self, epoch: int) -> bool:
        reserve = self.validation_s or 0.0
        if self.deadline is not None and time.monotonic() + reserve >= self.deadline:
            return False
        limit = self.time_limit_s
        return epoch == 1 or limit is None or time.perf_counter() - self.start < limit

    def batch_may_start(self, seen: int, began: float) -> bool:
        """Whether another batch fits, ``seen`` rows into an epoch begun at ``began``."""
        if self.deadline is None:
            return True
        now = time.monotonic()
        reserve = self.validation_s
        if reserve is None:
            reserve = (now - began) / seen * self.val_rows
        return now + reserve < self.deadline

    def check_validation_fits(self, cut: bool, rows: int) -> None:
        """Raise :class:`NoTimeToValidate` for a first epoch ``cut`` after ``rows`` rows: its
        validation, reckoned at its pace, is what would have ended past the deadline."""
        if cut and self.validation_s is None:
            raise NoTimeToValidate(time.perf_counter() - self.start, rows)

    def validate(
        self, model: nn.Module, X_val: torch.Tensor, batch_size: int | None = None
    ) -> torch.Tensor:
        """``predict_in_batches(model, X_val, batch_size)``, its seconds kept for the next
        reserve."""
        began = time.monotonic()
        outputs = predict_in_batches(model, X_val, batch_size)
        self.validation_s = time.monotonic() - began
        return outputs


def _tensors(prepared: Prepared) -> tuple[torch.Tensor, ...]:
    """Training and validation inputs and labels (float for regression, int64 classes)."""
    label_type = np.float32 if prepared.task == "regression" else np.int64
    return (
        torch.from_numpy(prepared.X_train),
        torch.from_numpy(prepared.y_train.astype(label_type)),
        torch.from_numpy(prepared.X_val),
        torch.from_numpy(prepared.y_val.astype(label_type)),
    )


def train(
    model: nn.Module,
    prepared: Prepared,
    strategy: Strategy,
    *,
    score: Score | None = None,
    higher_is_better: bool = True,
    seed: int = 0,
    deadline: float | None = None,
    on_epoch: Callable[[int, dict], bool | None] | None = None,
    rows_for_epoch: Callable[[int], np.ndarray | None] | None = None,
    training_loss: TrainingLoss | None = None,
    time_limit_s: float | None = None,
) -> TrainResult:
    """Train ``model`` in place on the training split; keep the weights of the best validation epoch.

    ``score(y_true, outputs)`` is the validation metric that early stopping
    follows (default: the validation loss, lower is better). ``deadline`` is a
    ``time.monotonic()`` instant by which training ends: no epoch starts, and an epoch under
    way stops before its next batch, once the validation that follows would not fit before
    it (the cut epoch is validated as it is; the trial keeps its best epoch; see ``Clock``);
    a first epoch cut so is not validated (:class:`NoTimeToValidate`).
    ``on_epoch`` sees each epoch's curve point; when it returns True the trial is stopped
    (``stopped_by="pruned"``). ``rows_for_epoch(epoch)`` gives the training rows of
    an epoch (a subsample for the early rungs of halving; None: all of them); the
    curve point says how many (``rows``). ``training_loss(outputs, rows)`` replaces the
    strategy's loss on the labels of a training batch (distillation mixes in a teacher's
    soft targets for those rows); the validation loss stays the strategy's. ``time_limit_s``:
    no epoch after the first starts once training has taken this long (a fine-tune's bound). Validation runs in batches of
    ``EVAL_BATCH`` so that a big split never sits in memory as one activation tensor, and the
    heap memory batches free goes back to the system as training grows (``tradeoff.heap``).

    >>> result = train(model, prepared, Strategy(max_epochs=5))  # doctest: +SKIP
    >>> result.curve[-1]["val_loss"]  # doctest: +SKIP
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    X, y, X_val, y_val = _tensors(prepared)
    loss_fn = _loss_for(strategy, prepared)
    fit_loss = training_loss or (lambda outputs, rows: loss_fn(outputs, y[rows]))
    objective = Objective(higher_is_better)
    optimizer = make_optimizer(
        strategy.optimizer, model.parameters(), strategy.lr, strategy.weight_decay
    )
    schedule = make_schedule(strategy.schedule, optimizer, strategy.max_epochs)
    trim = HeapTrim()

    clock = Clock(deadline, time_limit_s, len(y_val))
    best_metric, best_epoch, best_state = -np.inf, 0, copy.deepcopy(model.state_dict())
    curve: list[dict] = []
    stopped_by = "max epochs"
    for epoch in range(1, strategy.max_epochs + 1):
        if not clock.epoch_may_start(epoch):
            stopped_by = "time budget"
            break
        rows = None if rows_for_epoch is None else rows_for_epoch(epoch)
        order = torch.from_numpy(rng.permutation(len(y) if rows is None else rows))
        augmentation = prepared.augmentation if strategy.augment else None
        train_loss, train_outputs, rows_seen, cut = _epoch(
            model,
            X,
            order,
            strategy.batch_size,
            fit_loss,
            optimizer,
            augmentation,
            rng,
            trim,
            clock,
        )
        clock.check_validation_fits(cut, rows_seen)
        schedule.step()
        if not np.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss} at epoch {epoch}")

        outputs = clock.validate(model, X_val)  # in eval mode
        with torch.no_grad():
            val_loss = loss_fn(outputs, y_val).item()
        point = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "rows": rows_seen}
        if score is not None:
            train_out = torch.cat(train_outputs).numpy()
            point["train_metric"] = score(y[order[: len(train_out)]].numpy(), train_out)
            point["val_metric"] = score(prepared.y_val, outputs.numpy())
            tracked = objective.key(point["val_metric"])
        else:
            tracked = -val_loss
        curve.append(point)
        if not np.isfinite(tracked):
            tracked = -np.inf
        if tracked > best_metric:
            best_metric, best_epoch = tracked, epoch
            best_state = copy.deepcopy(model.state_dict())
        # A cut epoch (it trained on its first batches' rows) ends training as the deadline does.
        if cut or (on_epoch is not None and on_epoch(epoch, point)):
            stopped_by = "time budget" if cut else "pruned"
            break
        if epoch - best_epoch >= strategy.patience:
            stopped_by = "early stopping"
            break

    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        epochs=len(curve),
        best_epoch=best_epoch,
        seconds=time.perf_counter() - clock.start,
        stopped_by=stopped_by,
        curve=curve,
    )


#: Rows a network sees at once when it is evaluated (validation, export's parity check).
EVAL_BATCH = 1024


def predict_in_batches(
    model: nn.Module, X: torch.Tensor | np.ndarray, batch_size: int | None = None
) -> torch.Tensor:
    """``model(X)`` in eval mode without gradients, ``batch_size`` (default ``EVAL_BATCH``)
    rows at a time."""
    X = torch.from_numpy(X) if isinstance(X, np.ndarray) else X
    step = batch_size or EVAL_BATCH
    model.eval()
    with torch.no_grad():
        parts = [model(X[i : i + step]) for i in range(0, len(X), step)]
    return torch.cat(parts) if parts else model(X[:0])
