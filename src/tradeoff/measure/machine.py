"""The machine a figure was measured on: CPU, ISA flags, cores, memory, OS, runtime.

Recorded with every measurement (here, in a fresh process, or on a target through the
agent), so that a figure can be traced to the machine that produced it. Standard library
and ONNX Runtime only: the agent imports this on a target that has nothing else.
"""

from __future__ import annotations

import functools
import os
import platform

import onnxruntime as ort

from tradeoff.measure.latency import cpu_flags, cpu_model


def _memory_total_mb() -> float | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def usable_cores() -> int:
    """Cores this process may run on (its affinity, e.g. under ``taskset``), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@functools.cache
def _static_info() -> dict:
    return {
        "cpu": cpu_model(),
        "cpu_flags": list(cpu_flags()),
        "cpu_count": os.cpu_count() or 1,
        "memory_total_mb": _memory_total_mb(),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "providers": list(ort.get_available_providers()),
        "hostname": platform.node(),
    }


def machine_info() -> dict:
    """This machine, as recorded with a figure (JSON-friendly).

    >>> sorted(machine_info())[:3]
    ['arch', 'cores_usable', 'cpu']
    """
    return {**_static_info(), "cores_usable": usable_cores()}


def describe_machine(machine: dict) -> str:
    """One line naming a machine: CPU, cores, memory, OS, runtime."""
    memory = machine.get("memory_total_mb")
    return (
        f"{machine.get('cpu', '?')}, {machine.get('cores_usable', '?')} usable of "
        f"{machine.get('cpu_count', '?')} cores"
        + (f", {memory / 1024:.1f} GiB" if memory else "")
        + f", {machine.get('os', '?')}, onnxruntime {machine.get('onnxruntime', '?')}"
    )
