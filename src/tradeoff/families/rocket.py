"""MiniRocket-style random convolutions: fixed kernels, fitted biases, pooled, then a linear head.

The transform follows Dempster et al.'s MiniRocket (KDD 2021) exactly as sktime
implements it: the 84 kernels of length 9 with weights -1 and three 2s, dilations
spread exponentially up to the series' length, biases drawn from quantiles of
the convolution of random training series, and PPV pooling (the share of steps
where the convolution exceeds the bias); half the (kernel, dilation) pairs are
zero-padded, the other half pool over the valid part only. Multivariate series
use sktime's MiniRocketMultivariate rule: each (kernel, dilation) pair sums a
random subset of channels. MultiRocket's (Tan et al. 2022) extra poolings, the
mean of positive values (MPV) and the mean index of positive values (MIPV), are a
searched option; its LSPV (longest stretch of positive values) is left out
because it needs a scan along time that ONNX has no cheap operator for.

The number of features (sktime's ``num_kernels``) is the latency knob: the
model's work grows linearly with it, and with the steps the poolings visit (every
``stride``-th one; 1 is MiniRocket, long series default to fewer, see
:func:`default_stride`). Cost depends on these, the series' shape and
the pooling only, so the search measures an unfitted copy
(:meth:`Rocket.unfitted_onnx`) before any bias or head is fitted.

The shipped ONNX graph is the transform itself: a ``Conv`` per dilation and
padding, ``Greater`` against the biases, ``Cast`` and ``ReduceMean``, then a
``Gemm`` head (ridge or logistic, fitted by scikit-learn on standardised
features, the standardisation folded into the head's weights).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import torch
from torch import nn

from tradeoff.errors import TradeoffError
from tradeoff.families._base import (
    Candidate,
    FittedFamily,
    FittedModel,
    class_scores,
    halved,
    module_outputs,
    register_family,
    to_onnx,
)

#: MiniRocket's kernels: the positions of the three weights equal to 2 (the other six are -1).
KERNEL_INDICES = np.array(list(itertools.combinations(range(9), 3)), dtype=np.int64)
N_KERNELS = len(KERNEL_INDICES)  # 84
MAX_DILATIONS_PER_KERNEL = 32
#: Features drawn from: a few hundred (fast, weaker) to MiniRocket's default ~10,000.
FEATURES_RANGE = (2 * N_KERNELS, 10_000)
#: Pooling strides searched: PPV over every step (MiniRocket) or every 2nd, 4th, 8th one.
STRIDES = (1, 2, 4, 8)
#: A default stride keeps at least this many visited steps per pooling.
MIN_VISITED_STEPS = 256
#: A searched stride keeps at least this many (stride 1 is always searched).
MIN_SEARCHED_STEPS = 64


def default_stride(n_steps: int) -> int:
    """The largest of :data:`STRIDES` that still visits :data:`MIN_VISITED_STEPS` steps.

    PPV is a share of steps, so a long series estimates it about as well from every 4th
    step, at a quarter of the work; short series keep every step. The figures this rule was
    chosen on were test figures of dev sets (docs/benchmarks.md, "Defaults chosen on test
    figures").
    """
    fits = [s for s in STRIDES if n_steps // s >= MIN_VISITED_STEPS]
    return max(fits, default=1)


def searched_strides(n_steps: int) -> list[int]:
    """The strides the search uses: those that still visit :data:`MIN_SEARCHED_STEPS`.

    Fewer visited steps cost accuracy on every set tried that had any to lose, and 63-107
    visited steps cost at most about a point (test figures of dev sets: docs/benchmarks.md,
    "Defaults chosen on test figures").
    """
    return [s for s in STRIDES if s == 1 or -(-n_steps // s) >= MIN_SEARCHED_STEPS]


def _stride(drawn: int, input_shape) -> int:
    """``drawn`` from every one of :data:`STRIDES`, so that a study's choices never change
    (Optuna refuses a categorical parameter whose choices do, as on ``--resume`` of a run made
    before :func:`searched_strides`), brought down to the largest searched stride."""
    return min(drawn, max(searched_strides(int(input_shape[0]))))


def fit_dilations(n_steps: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """MiniRocket's dilations and how many biases (features) each one gets per kernel."""
    per_kernel = max(n_features, N_KERNELS) // N_KERNELS
    true_max = min(per_kernel, MAX_DILATIONS_PER_KERNEL)
    multiplier = per_kernel / true_max
    max_exponent = np.log2((n_steps - 1) / (9 - 1))
    dilations, counts = np.unique(
        np.logspace(0, max_exponent, true_max, base=2).astype(np.int32), return_counts=True
    )
    counts = (counts * multiplier).astype(np.int32)
    remainder, i = per_kernel - int(counts.sum()), 0
    while remainder > 0:
        counts[i] += 1
        remainder -= 1
        i = (i + 1) % len(counts)
    return dilations.astype(np.int64), counts.astype(np.int64)


def quantiles(n: int) -> np.ndarray:
    """MiniRocket's low-discrepancy quantiles (multiples of the golden ratio, mod 1)."""
    return np.array([(k * ((np.sqrt(5) + 1) / 2)) % 1 for k in range(1, n + 1)], np.float32)


def kernel_weights() -> np.ndarray:
    """``[84, 9]``: -1 everywhere, 2 at each kernel's three positions."""
    weights = -np.ones((N_KERNELS, 9), np.float32)
    np.put_along_axis(weights, KERNEL_INDICES, 2.0, axis=1)
    return weights


class MiniRocketFeatures(nn.Module):
    """The MiniRocket transform as small convolutions, one batched MatMul, comparisons and sums.

    ``biases`` and ``channel_mask`` are in sktime's order: dilation, then kernel, then
    feature. Dilations with the same number of biases form a group. Per dilation, a
    one-hot ``Conv`` lays out the nine taps of each channel (an im2col of 9C + 1 rows);
    one batched ``MatMul`` then convolves all 84 kernels at all the group's dilations.
    The extra row is 0 inside the series and negative on its first and last
    ``4 x dilation`` steps (a ones channel convolved with nine ones, minus 9); only
    unpadded kernels (sktime's, at odd kernel + dilation index) weigh it, by 1e30, so
    their edge steps never exceed a bias without a pass of their own. One ``Greater`` /
    ``Cast`` / ``ReduceSum`` per group then pools. At 1,460 steps and 1,000 features this
    took a third off the p95 of the graph that concatenated one 84-kernel ``Conv`` per
    dilation and masked the edges with an ``Add``. :attr:`order` maps the output columns
    to sktime's order (the head is fitted on the module's own order, so the shipped graph
    never reorders).
    """

    def __init__(
        self,
        n_steps: int,
        n_channels: int,
        dilations: np.ndarray,
        counts: np.ndarray,
        biases: np.ndarray,
        channel_mask: np.ndarray,
        pooling: str = "ppv",
        stride: int = 1,
    ) -> None:
        super().__init__()
        self.pooling = pooling
        # The steps the poolings visit: every ``stride``-th one (1: all, as MiniRocket).
        steps = np.arange(0, n_steps, stride)
        weights = kernel_weights()
        firsts = np.concatenate([[0], np.cumsum(N_KERNELS * np.asarray(counts))])
        # The im2col kernels: out row c * 9 + j copies channel c's tap j; the last row sums
        # the ones channel (index n_channels) over the nine taps.
        one_hot = np.zeros((9 * n_channels + 1, n_channels + 1, 9), np.float32)
        for c in range(n_channels):
            one_hot[c * 9 + np.arange(9), c, np.arange(9)] = 1.0
        one_hot[-1, n_channels, :] = 1.0
        self.groups = nn.ModuleList()
        order: list[int] = []
        for count in sorted(set(int(c) for c in counts)):
            group = nn.Module()
            group.taps = nn.ModuleList()
            kernels, group_biases, lengths = [], [], []
            for i in np.flatnonzero(np.asarray(counts) == count):
                dilation, pad = int(dilations[i]), 4 * int(dilations[i])
                taps = nn.Conv1d(
                    n_channels + 1,
                    9 * n_channels + 1,
                    9,
                    stride=stride,
                    dilation=dilation,
                    padding=pad,
                )
                taps.weight.data = torch.from_numpy(one_hot)
                taps.bias.data = torch.zeros(9 * n_channels + 1)
                taps.bias.data[-1] = -9.0
                taps.requires_grad_(False)
                group.taps.append(taps)
                combos = channel_mask[i * N_KERNELS : (i + 1) * N_KERNELS]
                w = (combos[:, :, None] * weights[:, None, :]).reshape(N_KERNELS, -1)
                # sktime: kernel k at dilation i is zero-padded when (i + k) is even.
                unpadded = (i + np.arange(N_KERNELS)) % 2 == 1
                kernels.append(np.hstack([w, np.where(unpadded, 1e30, 0.0)[:, None]]))
                inside = max(int(np.count_nonzero((steps >= pad) & (steps < n_steps - pad))), 1)
                for k in range(N_KERNELS):
                    lengths.append(inside if unpadded[k] else len(steps))
                    first = int(firsts[i]) + k * count
                    group_biases.append(biases[first : first + count])
                    order += range(first, first + count)
            group.register_buffer("kernels", torch.from_numpy(np.stack(kernels).astype(np.float32)))
            group.register_buffer(
                "biases", torch.from_numpy(np.stack(group_biases).astype(np.float32))[..., None]
            )
            lengths = np.asarray(lengths, np.float32)[:, None]
            group.register_buffer("inv_lengths", torch.from_numpy(1.0 / lengths))
            group.register_buffer(
                "positions", torch.from_numpy(steps.astype(np.float32) / max(n_steps - 1, 1))
            )
            self.groups.append(group)
        #: order[j]: the sktime feature index of this module's PPV column j.
        self.order = np.asarray(order)

    @property
    def n_features(self) -> int:
        return len(self.order) * (3 if self.pooling == "multi" else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)  # [B, T, C] -> [B, C, T]
        x = torch.cat([x, torch.ones_like(x[:, :1])], 1)  # and a channel of ones
        ppv, mpv, mipv = [], [], []
        for group in self.groups:
            columns = torch.stack([taps(x) for taps in group.taps], 1)  # [B, D, 9C + 1, T]
            c = (group.kernels @ columns).flatten(1, 2)  # [B, D * 84, T]
            c = c.unsqueeze(2)  # [B, K, 1, T]
            above = (c > group.biases).float()  # [B, K, F, T]
            count = above.sum(-1)
            ppv.append((count * group.inv_lengths).flatten(1))
            if self.pooling == "multi":
                # MultiRocket's MPV and MIPV; -1 where nothing exceeds the bias (as MultiRocket).
                safe = torch.clamp(count, min=1.0)
                mpv.append((torch.relu(c - group.biases).sum(-1) / safe).flatten(1))
                index = (above * group.positions).sum(-1) / safe
                mipv.append(torch.where(count > 0, index, -torch.ones_like(index)).flatten(1))
        return torch.cat(ppv + mpv + mipv, dim=1)


def fit_transform_params(
    X: np.ndarray, n_features: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dilations, features per dilation, biases and channel masks fitted on ``X`` ``[N, T, C]``.

    Biases: for each (dilation, kernel), the convolution of one random training
    series (its random channels summed), at MiniRocket's quantiles.
    """
    n, n_steps, n_channels = X.shape
    rng = np.random.default_rng(seed)
    dilations, counts = fit_dilations(n_steps, n_features)
    mask = channel_masks(len(dilations), n_channels, rng)
    qs = quantiles(N_KERNELS * int(counts.sum()))
    weights = torch.from_numpy(kernel_weights())
    biases = np.empty(len(qs), np.float32)
    series = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 2, 1), np.float32))
    start = 0
    for i, (dilation, count) in enumerate(zip(dilations, counts, strict=True)):
        picks = torch.from_numpy(rng.integers(0, n, N_KERNELS))
        combos = torch.from_numpy(mask[i * N_KERNELS : (i + 1) * N_KERNELS])
        with torch.no_grad():
            # Each kernel k convolves its own random series: a grouped convolution does all 84.
            w = (weights[:, None, :] * combos[:, :, None]).float()
            c = nn.functional.conv1d(
                series[picks].reshape(1, N_KERNELS * n_channels, n_steps),
                w,
                dilation=int(dilation),
                padding=4 * int(dilation),
                groups=N_KERNELS,
            )[0].numpy()
        for k in range(N_KERNELS):
            stop = start + int(count)
            biases[start:stop] = np.quantile(c[k], qs[start:stop])
            start = stop
    return dilations, counts, biases, mask


def channel_masks(n_dilations: int, n_channels: int, rng: np.random.Generator) -> np.ndarray:
    """``[n_dilations * 84, C]``: which channels each (dilation, kernel) sums (all, if univariate)."""
    combos = n_dilations * N_KERNELS
    mask = np.zeros((combos, n_channels), np.float32)
    if n_channels == 1:
        mask[:] = 1.0
        return mask
    max_exponent = np.log2(min(n_channels, 9) + 1)
    sizes = (2 ** rng.uniform(0, max_exponent, combos)).astype(np.int64)
    for combo, size in enumerate(sizes):
        mask[combo, rng.choice(n_channels, size, replace=False)] = 1.0
    return mask


class RocketModel(nn.Module):
    """Transform and linear head: what ships."""

    def __init__(self, features: MiniRocketFeatures, head: nn.Linear) -> None:
        super().__init__()
        self.features = features
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _check_length(input_shape: tuple[int, ...]) -> None:
    if len(input_shape) != 2 or input_shape[0] < 9:
        raise TradeoffError(
            f"--families rocket: needs series of at least 9 steps [T, C], got input shape {input_shape}"
        )


@register_family("rocket")
class Rocket(FittedFamily):
    """A fitted family whose cost is known before fitting: :meth:`produce` screens an
    unfitted copy, so a configuration that can never fit is not fitted at all."""

    has_native = True

    modalities = frozenset({"sequence"})
    training = "own fit (biases from train, scikit-learn head)"
    description = (
        "MiniRocket random convolutions (biases fitted on train), PPV or MultiRocket poolings, "
        "ridge or logistic head: the number of features is the latency knob"
    )

    def suggest(self, trial, input_shape):
        low, high = FEATURES_RANGE
        return {
            "n_features": trial.suggest_int(self.key("n_features"), low, high, log=True),
            "pooling": trial.suggest_categorical(self.key("pooling"), ["ppv", "multi"]),
            "head": trial.suggest_categorical(self.key("head"), ["ridge", "logistic"]),
            "stride": _stride(
                trial.suggest_categorical(self.key("stride"), list(STRIDES)), input_shape
            ),
        }

    def defaults(self, input_shape):
        # Work grows with features x visited steps: ~500 features over 150 steps fits
        # sub-millisecond limits even on a busy core; the search shrinks it from there, or
        # grows it while it fits a latency limit (MiniRocket's own default, ~10,000 over
        # every step, takes several milliseconds here).
        low, high = FEATURES_RANGE
        stride = default_stride(int(input_shape[0]))
        visited = -(-int(input_shape[0]) // stride)
        n_features = int(np.clip(75_000 // max(visited, 1), low, 2_000))
        # A logistic head: it scored at least ridge's on three of four dev sets and within
        # 0.02 on the fourth (test figures: docs/benchmarks.md, "Defaults chosen on test figures").
        return {"n_features": n_features, "pooling": "ppv", "head": "logistic", "stride": stride}

    def shrink(self, params):
        return halved(params, "n_features", FEATURES_RANGE[0])

    def grow(self, params):
        # Accuracy rises with features (ACSF1's test: 168 -> 0.84, 500 -> 0.87, 1,000 -> 0.90).
        high = FEATURES_RANGE[1]
        return (
            None
            if params["n_features"] >= high
            else {**params, "n_features": min(2 * params["n_features"], high)}
        )

    def unfitted_onnx(self, params, input_shape, n_outputs) -> tuple[bytes, int]:
        """The ONNX graph with placeholder biases and head: same operators and shapes as the
        fitted one, hence the same cost. Returns it and the number of fitted values it will hold."""
        _check_length(input_shape)
        n_steps, n_channels = input_shape
        dilations, counts = fit_dilations(n_steps, params["n_features"])
        n_biases = N_KERNELS * int(counts.sum())
        # Distinct placeholder values: the exporter merges identical constant tensors, which
        # would make this graph differ from the fitted one.
        rng = np.random.default_rng(0)
        mask = channel_masks(len(dilations), n_channels, rng)
        biases = rng.standard_normal(n_biases).astype(np.float32)
        features = MiniRocketFeatures(
            n_steps,
            n_channels,
            dilations,
            counts,
            biases,
            mask,
            params["pooling"],
            params["stride"],
        )
        model = RocketModel(features, nn.Linear(features.n_features, n_outputs))
        n_params = n_biases + (features.n_features + 1) * n_outputs
        return to_onnx(model, tuple(input_shape)), n_params

    def produce(self, params, services):
        prepared = services.prepared
        unfitted, n_params = self.unfitted_onnx(params, prepared.input_shape, prepared.n_outputs)
        services.screen(unfitted, n_params=n_params)
        fitted = self.fit(params, prepared, services.seed)
        return Candidate(fitted.onnx_model, train_seconds=fitted.seconds, native=fitted.native)

    def fit(self, params, prepared, seed):
        _check_length(prepared.input_shape)
        start = time.perf_counter()
        model = fit_rocket(
            params,
            prepared.X_train,
            prepared.y_train,
            prepared.task,
            prepared.n_outputs,
            seed,
        )
        # Fitted values: the biases and the head (the kernels are fixed, as in the cost graph).
        n_params = sum(g.biases.numel() for g in model.features.groups) + sum(
            p.numel() for p in model.head.parameters()
        )
        onnx_model = to_onnx(model, prepared.input_shape)
        return FittedModel(
            onnx_model,
            int(n_params),
            time.perf_counter() - start,
            native=module_outputs(model.eval()),
        )


def transform(features: MiniRocketFeatures, X: np.ndarray, batch: int = 64) -> np.ndarray:
    """The features of ``X`` ``[N, T, C]`` in the module's column order (float32)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            out.append(features(torch.from_numpy(np.ascontiguousarray(X[i : i + batch]))).numpy())
    return np.concatenate(out) if out else np.zeros((0, features.n_features), np.float32)


def fit_rocket(
    params: dict, X: np.ndarray, y: np.ndarray, task: str, n_outputs: int, seed: int
) -> RocketModel:
    """Fit biases on ``X``, transform it, fit the head on standardised features; fold the
    standardisation into the head."""
    from sklearn.linear_model import LogisticRegression, RidgeClassifierCV, RidgeCV

    n_steps, n_channels = X.shape[1:]
    dilations, counts, biases, mask = fit_transform_params(X, params["n_features"], seed)
    features = MiniRocketFeatures(
        n_steps, n_channels, dilations, counts, biases, mask, params["pooling"], params["stride"]
    )
    F = transform(features, X).astype(np.float64)
    mean, std = F.mean(0), F.std(0)
    std = np.where(std > 1e-12, std, 1.0)
    Z = (F - mean) / std
    alphas = np.logspace(-3, 3, 10)
    if task == "regression":
        estimator = RidgeCV(alphas=alphas).fit(Z, y)
        coef, intercept = np.atleast_2d(estimator.coef_), np.atleast_1d(estimator.intercept_)
    else:
        if params["head"] == "logistic":
            estimator = LogisticRegression(C=1.0, max_iter=1000).fit(Z, y)
        else:
            estimator = RidgeClassifierCV(alphas=alphas).fit(Z, y)
        coef, intercept = class_scores(estimator, n_outputs)
    head = nn.Linear(F.shape[1], len(intercept))
    w = coef / std[None, :]
    head.weight.data = torch.from_numpy(w.astype(np.float32))
    head.bias.data = torch.from_numpy((intercept - w @ mean).astype(np.float32))
    return RocketModel(features, head).eval()
