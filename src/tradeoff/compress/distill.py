"""Knowledge distillation: the most accurate model so far teaches a cheaper architecture.

The student is drawn from architectures the search already trained and found
feasible and cheaper; it is trained from scratch on a mix of the teacher's
soft targets (at temperature T) and the labels, with T and the mix weight
drawn per run. The variant is judged against the student trained alone.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tradeoff.compress._base import CompressionPass, Parent, Variant, register_pass
from tradeoff.families import deployable, get_family, to_onnx
from tradeoff.measure.quality import score
from tradeoff.train import Strategy, TrainResult, predict_in_batches, train

TEMPERATURES = (2.0, 4.0, 8.0)
SOFT_WEIGHTS = (0.5, 0.7, 0.9)


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
        result = distill(
            parent.model, model, prepared, temperature, soft_weight, seed=seed, deadline=deadline
        )
        if result.epochs == 0:
            return None
        return Variant(
            onnx=to_onnx(model, prepared.input_shape),
            settings={
                "student_trial": student.trial,
                "student_family": student.family,
                "student_params": student.params,
                "temperature": temperature,
                "soft_weight": soft_weight,
                "epochs": result.epochs,
            },
            model=model,
            train_seconds=result.seconds,
            reference_trial=student.trial,
            reference_metric=student.val_metric,
            family=student.family,
            params=student.params,
        )


#: How a student trains: Adam at a fixed rate, early stopping on validation accuracy.
STUDENT_STRATEGY = Strategy(
    optimizer="adam", lr=3e-3, batch_size=64, max_epochs=40, patience=6, augment=False
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
) -> TrainResult:
    """Train ``student`` in place on soft targets + labels (the search's training loop, with
    this loss); it keeps its best validation epoch."""
    teacher.eval()
    X, y = torch.from_numpy(prepared.X_train), torch.from_numpy(prepared.y_train)
    # The teacher sees the training split in batches: 48,000 images at once would need GBs.
    soft = F.softmax(predict_in_batches(teacher, X) / temperature, dim=1)

    def loss(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        soft_loss = F.kl_div(
            F.log_softmax(logits / temperature, dim=1), soft[rows], reduction="batchmean"
        ) * (temperature**2)
        return soft_weight * soft_loss + (1 - soft_weight) * F.cross_entropy(logits, y[rows])

    return train(
        student,
        prepared,
        STUDENT_STRATEGY,
        score=lambda y_true, outputs: score("accuracy", y_true, outputs),
        seed=seed,
        deadline=deadline,
        training_loss=loss,
    )
