"""The suite's results file: every run appended as it ends, with where and how it ran.

One JSON file per collection (``benchmarks/results-dev.json``, ``results-eval.json``):
``invocations`` (commit, CPU and its flags, the reference model's p95, load average before
and after, the command line) and ``runs`` (one per set, seed, limits and contender, each
naming its invocation). Written whole to a temporary file and renamed, so an interrupted
suite leaves the file as it was after its last finished run.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = 1
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile")


def machine() -> dict:
    """The CPU and the software a figure was measured with."""
    from importlib.metadata import version

    from tradeoff.measure import cpu_model

    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    return {
        "cpu": cpu_model(),
        "cpu_flags": [f for f in FLAGS if f in flags],
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("torch", "onnxruntime", "optuna", "scikit-learn")},
    }


@dataclass
class Results:
    path: Path
    invocations: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path) -> Results:
        if not path.is_file():
            return cls(path)
        stored = json.loads(path.read_text())
        if stored.get("schema") != SCHEMA:
            raise SystemExit(f"{path}: results schema {stored.get('schema')!r}, expected {SCHEMA}")
        return cls(path, stored["invocations"], stored["runs"])

    def collection(self) -> str:
        found = {r["collection"] for r in self.runs}
        return found.pop() if len(found) == 1 else "mixed"

    def has(self, name: str, seed: int, limits, contender: str) -> bool:
        kind = None if limits is None else limits.name
        return any(
            (r["set"], r["seed"], r["limits"], r["contender"]) == (name, seed, kind, contender)
            for r in self.runs
        )

    def begin(self, invocation: dict) -> None:
        self.invocations.append(invocation)
        self._write()

    def end(self, load_after: tuple[float, ...]) -> None:
        self.invocations[-1]["load_after"] = load_after
        self._write()

    def append(self, run: dict) -> None:
        key = (run["set"], run["seed"], run["limits"], run["contender"])
        self.runs = [
            r for r in self.runs if (r["set"], r["seed"], r["limits"], r["contender"]) != key
        ]
        self.runs.append(run | {"invocation": len(self.invocations) - 1})
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"schema": SCHEMA, "invocations": self.invocations, "runs": self.runs}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=1, default=_plain) + "\n")
        os.replace(tmp, self.path)


def _plain(value):
    """NumPy scalars and tuples as JSON."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")
