"""Data in: built-in data sets and the Dataset record.

>>> import tradeoff
>>> data = tradeoff.datasets.load("mnist1d")
"""

from tradeoff.datasets import builtin as _builtin  # noqa: F401  (registers the built-ins)
from tradeoff.datasets._base import Dataset, Modality, Task, builtin_names, load, register_dataset

__all__ = ["Dataset", "Modality", "Task", "builtin_names", "load", "register_dataset"]
