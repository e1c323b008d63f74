"""Compression passes, registered by name. Importing this package registers the built-in ones."""

from tradeoff.compress import distill as _distill  # noqa: F401
from tradeoff.compress import int8_dynamic as _int8_dynamic  # noqa: F401
from tradeoff.compress import int8_static as _int8_static  # noqa: F401
from tradeoff.compress import prune as _prune  # noqa: F401
from tradeoff.compress._base import (
    SPEED_GAIN,
    CompressionPass,
    Parent,
    QualityTolerance,
    Student,
    Variant,
    Verdict,
    get_pass,
    judge,
    pass_names,
    quality_holds,
    register_pass,
)

__all__ = [
    "SPEED_GAIN",
    "CompressionPass",
    "Parent",
    "QualityTolerance",
    "Student",
    "Variant",
    "Verdict",
    "get_pass",
    "judge",
    "pass_names",
    "quality_holds",
    "register_pass",
]
