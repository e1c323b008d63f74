"""Model families, registered by name. Importing this package registers the built-in ones."""

from tradeoff.families import cnn as _cnn  # noqa: F401
from tradeoff.families import ensemble as _ensemble  # noqa: F401
from tradeoff.families import gbdt as _gbdt  # noqa: F401
from tradeoff.families import gru as _gru  # noqa: F401
from tradeoff.families import hashed as _hashed  # noqa: F401
from tradeoff.families import lightgbm as _lightgbm  # noqa: F401
from tradeoff.families import linear as _linear  # noqa: F401
from tradeoff.families import lstm as _lstm  # noqa: F401
from tradeoff.families import mlp as _mlp  # noqa: F401
from tradeoff.families import ridge as _ridge  # noqa: F401
from tradeoff.families import rocket as _rocket  # noqa: F401
from tradeoff.families import text_attention as _text_attention  # noqa: F401
from tradeoff.families import text_cnn as _text_cnn  # noqa: F401
from tradeoff.families import text_rnn as _text_rnn  # noqa: F401
from tradeoff.families import tfidf as _tfidf  # noqa: F401
from tradeoff.families import transformer as _transformer  # noqa: F401
from tradeoff.families import xgboost as _xgboost  # noqa: F401
from tradeoff.families._base import (
    INPUT_NAME,
    OUTPUT_NAME,
    Candidate,
    CombiningFamily,
    Family,
    FittedFamily,
    FittedModel,
    TrialServices,
    count_parameters,
    deployable,
    family_names,
    get_family,
    register_family,
    regression_target,
    to_onnx,
)

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAME",
    "Candidate",
    "CombiningFamily",
    "Family",
    "FittedFamily",
    "FittedModel",
    "TrialServices",
    "count_parameters",
    "deployable",
    "family_names",
    "get_family",
    "regression_target",
    "register_family",
    "to_onnx",
]
