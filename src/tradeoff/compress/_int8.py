"""Which int8 recipe a CPU computes without saturating: chosen from its ISA, recorded with it.

ONNX Runtime's x86 int8 kernels multiply unsigned 8-bit activations by signed 8-bit
weights (U8S8). Without VNNI (AVX2, or AVX-512 without VNNI) the pairwise products are
summed into 16 bits (``vpmaddubsw``) and can saturate; ORT's documented remedy is 7-bit
weights (``reduce_range``). With VNNI (``avx512_vnni``, ``avx_vnni``, AMX) they are summed
in 32 bits and the full range is safe. On ARM, ORT recommends signed activations (S8S8).

>>> int8_recipe(("avx2", "fma"), "x86_64").reduce_range
True
>>> int8_recipe(("avx2", "avx512_vnni"), "x86_64").reduce_range
False

A search measuring on target agents quantizes for them (:func:`recipe_for`), not for the
machine it runs on.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass

from onnxruntime.quantization import QuantType

from tradeoff.measure import cpu_flags

_X86 = {"x86_64", "amd64", "i386", "i686", "x86"}
_ARM = {"aarch64", "arm64", "armv8l", "armv7l"}
_VNNI = {"avx512_vnni", "avx_vnni", "amx_int8"}


@dataclass(frozen=True)
class Int8Recipe:
    """How activations and weights are quantized, and why on this ISA."""

    activation: str  # "QUInt8" or "QInt8"
    weight: str
    reduce_range: bool  # 7-bit weights
    isa: dict  # the machine and flags the choice was made for
    why: str

    @property
    def activation_type(self) -> QuantType:
        return QuantType[self.activation]

    @property
    def weight_type(self) -> QuantType:
        return QuantType[self.weight]

    def to_dict(self) -> dict:
        return asdict(self)


def int8_recipe(flags: tuple[str, ...] | None = None, machine: str | None = None) -> Int8Recipe:
    """The recipe for a CPU with ``flags`` on ``machine`` (default: this one)."""
    flags = cpu_flags() if flags is None else tuple(flags)
    machine = (machine or platform.machine()).lower()
    isa = {"machine": machine, "flags": list(flags), "vnni": bool(_VNNI & set(flags))}
    if machine in _ARM:
        isa["dotprod"] = "asimddp" in flags
        return Int8Recipe(
            "QInt8", "QInt8", False, isa, "ARM: signed activations and weights (S8S8)"
        )
    if machine in _X86 and isa["vnni"]:
        return Int8Recipe(
            "QUInt8", "QInt8", False, isa, "x86 with VNNI: U8S8 sums in 32 bits, full range"
        )
    if machine in _X86:
        return Int8Recipe(
            "QUInt8",
            "QInt8",
            True,
            isa,
            "x86 without VNNI: U8S8 can saturate in 16 bits, so weights use 7 bits",
        )
    return Int8Recipe("QUInt8", "QInt8", True, isa, f"{machine}: 7-bit weights, the safe choice")


def recipe_for(machines: tuple[dict, ...] = ()) -> Int8Recipe:
    """The recipe for the machines the model will run on (their ``machine_info``, e.g. the
    targets' ``/info``; none: this machine). Machines needing different recipes get the one
    safe on each: unsigned activations, 7-bit weights."""
    if not machines:
        return int8_recipe()
    recipes = [int8_recipe(tuple(m.get("cpu_flags", ())), m.get("arch")) for m in machines]
    if len(recipes) == 1:
        return recipes[0]
    isa = {"machines": [r.isa for r in recipes]}
    kinds = {(r.activation, r.weight, r.reduce_range) for r in recipes}
    if len(kinds) == 1:
        first = recipes[0]
        return Int8Recipe(first.activation, first.weight, first.reduce_range, isa, first.why)
    return Int8Recipe(
        "QUInt8", "QInt8", True, isa, "targets of different ISAs: 7-bit weights, safe on each"
    )
