"""Knowledge distillation: the most accurate model so far teaches a cheaper architecture.

The student is drawn from architectures the search already trained and found
feasible and cheaper; it is trained from scratch on a mix of the teacher's
soft targets (at temperature T) and the labels, with T and the mix weight
drawn per run. The variant is judged against the student trained alone.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tradeoff.compress._base import CompressionPass, Parent, Variant, register_pass
from tradeoff.families import deployable, get_family, to_onnx

TEMPERATURES = (2.0, 4.0, 8.0)
SOFT_WEIGHTS = (0.5, 0.7, 0.9)
MAX_EPOCHS, PATIENCE, BATCH, LR = 40, 6, 64, 3e-3


@register_pass("distill")
class Distillation(CompressionPass):
    description = "teach a cheaper feasible architecture with the best model's soft targets"

    def applies(self, parent: Parent) -> bool:
        return bool(parent.students) and isinstance(parent.model, nn.Module)

    def compress(self, parent: Parent, *, seed: int, deadline: float) -> Variant | None:
        rng = np.random.default_rng(seed)
        student = parent.students[int(rng.integers(len(parent.students)))]
        temperature = float(rng.choice(TEMPERATURES))
        soft_weight = float(rng.choice(SOFT_WEIGHTS))
        prepared = parent.prepared
        torch.manual_seed(seed)
        try:
            model = deployable(
                get_family(student.family),
                student.params,
                prepared.input_shape,
                prepared.n_outputs,
                prepared.scaling,
            )
        except NotImplementedError:  # not a torch network (e.g. trees): Family.build says so
            return None
        seconds, epochs = distill(
            parent.model, model, prepared, temperature, soft_weight, seed=seed, deadline=deadline
        )
        if epochs == 0:
            return None
        return Variant(
            onnx=to_onnx(model, prepared.input_shape),
            settings={
                "student_trial": student.trial,
                "student_family": student.family,
                "student_params": student.params,
                "temperature": temperature,
                "soft_weight": soft_weight,
                "epochs": epochs,
            },
            model=model,
            train_seconds=seconds,
            reference_trial=student.trial,
            reference_metric=student.val_metric,
            family=student.family,
            params=student.params,
        )


def distill(
    teacher: nn.Module,
    student: nn.Module,
    prepared,
    temperature: float,
    soft_weight: float,
    *,
    seed: int,
    deadline: float,
) -> tuple[float, int]:
    """Train ``student`` in place on soft targets + labels; keep its best validation epoch.

    Returns (seconds, epochs run).
    """
    start = time.perf_counter()
    teacher.eval()
    X, y = torch.from_numpy(prepared.X_train), torch.from_numpy(prepared.y_train)
    X_val, y_val = torch.from_numpy(prepared.X_val), torch.from_numpy(prepared.y_val)
    with torch.no_grad():
        soft = F.softmax(teacher(X) / temperature, dim=1)
    optimizer = torch.optim.Adam(student.parameters(), lr=LR)
    rng = np.random.default_rng(seed)
    best, best_epoch, best_state, epochs = -1.0, 0, copy.deepcopy(student.state_dict()), 0
    for epoch in range(1, MAX_EPOCHS + 1):
        if time.monotonic() >= deadline:
            break
        student.train()
        for idx in np.array_split(rng.permutation(len(y)), max(1, len(y) // BATCH)):
            batch = torch.from_numpy(idx)
            logits = student(X[batch])
            soft_loss = F.kl_div(
                F.log_softmax(logits / temperature, dim=1), soft[batch], reduction="batchmean"
            ) * (temperature**2)
            loss = soft_weight * soft_loss + (1 - soft_weight) * F.cross_entropy(logits, y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        epochs = epoch
        student.eval()
        with torch.no_grad():
            metric = (student(X_val).argmax(1) == y_val).float().mean().item()
        if metric > best:
            best, best_epoch, best_state = metric, epoch, copy.deepcopy(student.state_dict())
        elif epoch - best_epoch >= PATIENCE:
            break
    student.load_state_dict(best_state)
    student.eval()
    return time.perf_counter() - start, epochs
