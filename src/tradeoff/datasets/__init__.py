"""Data in: built-in data sets, file loaders and the Dataset record.

>>> import tradeoff
>>> data = tradeoff.datasets.load("mnist1d")
>>> table = tradeoff.datasets.load("churn.csv", target="churned")  # doctest: +SKIP

Each file format is one module registering its loader with ``@register_format``.
"""

from tradeoff.datasets import arrays as _arrays  # noqa: F401  (each import registers a format)
from tradeoff.datasets import builtin as _builtin  # noqa: F401
from tradeoff.datasets import fashion_mnist as _fashion_mnist  # noqa: F401
from tradeoff.datasets import images as _images  # noqa: F401
from tradeoff.datasets import islp as _islp  # noqa: F401
from tradeoff.datasets import tabular as _tabular  # noqa: F401
from tradeoff.datasets import text as _text  # noqa: F401
from tradeoff.datasets import timeseries as _timeseries  # noqa: F401
from tradeoff.datasets._base import (
    MODALITIES,
    TASKS,
    Column,
    Dataset,
    Modality,
    Task,
    builtin_names,
    builtin_origin,
    load,
    register_dataset,
    register_format,
    supported_formats,
)
from tradeoff.datasets._target import infer_task

__all__ = [
    "MODALITIES",
    "TASKS",
    "Column",
    "Dataset",
    "Modality",
    "Task",
    "builtin_names",
    "builtin_origin",
    "infer_task",
    "load",
    "register_dataset",
    "register_format",
    "supported_formats",
]
