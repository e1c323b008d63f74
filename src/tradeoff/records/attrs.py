"""The names of the trial user attributes the search writes and :class:`TrialRecord` reads."""

#: Trial user attributes written by the trial pipeline and read back here.
STATUS, FAMILY_PARAMS, STRATEGY, COST, VIOLATIONS, ERROR = (
    "status",
    "family_params",
    "strategy",
    "cost",
    "violations",
    "error",
)
VAL_METRIC, TRAIN_SECONDS, CURVE, ARTIFACT = "val_metric", "train_seconds", "curve", "artifact_id"
#: The trained torch state_dict (tensors only; read back with ``weights_only=True``).
WEIGHTS = "weights_artifact_id"
STOPPED_BY, VAL_CONFUSION = "stopped_by", "val_confusion_matrix"
#: Lineage of a compressed variant: its parent trial, and the pass with its settings and verdict.
PARENT, COMPRESSION = "parent_trial", "compression"
#: --cv ranking: fold scores (``val_metric`` is then their mean) and the validation split's figure.
CV, HOLDOUT_VAL_METRIC = "cv", "holdout_val_metric"
#: The validation metric on the run's fixed bootstrap resamples of the validation rows (the
#: same for every trial of a run): paired, so two trials' difference has a known noise.
VAL_REPLICATES = "val_replicates"
#: Which process runs a trial: "host:pid".
WORKER = "worker"
#: Parent trial attribute listing passes that failed on it (the parent itself is kept).
COMPRESSION_ERRORS = "compression_errors"
#: Peak resident memory of the search process when the trial ended (MB), and the
#: training rows at each halving rung the trial reached (``{epoch: rows}``).
PEAK_RSS_MB, RUNG_ROWS = "peak_rss_mb", "rung_rows"
#: Boosting rounds a boosted-tree trial kept (early stopping on the validation split): its
#: refit on train+validation trains that many.
BOOSTING_ROUNDS = "boosting_rounds"
#: A combining trial's best trained candidates when it was drawn (trial numbers, best first):
#: the same combination is not drawn twice.
FRONT_AT_DRAW = "front_at_draw"
#: Why a trial was queued before the sampler's draws: ``defaults``, ``given`` (the search's
#: ``first_trials``), ``smaller than trial N`` or ``larger than trial N``.
SEEDED = "seeded_as"
