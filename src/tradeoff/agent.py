"""The cost agent: runs on a deployment target and measures ONNX models sent to it.

``GET /info`` describes the machine (CPU model, ISA flags, cores, memory, OS, ONNX
Runtime version and providers) and the agent's limits; ``POST /measure`` takes an ONNX
model (base64), the input shape, the latency protocol, optional check rows and, for a
model that takes text, the texts to time it on (its latency depends on their length); measures
it in a fresh process under a wall-time and memory cap, and answers the same
:class:`~tradeoff.measure.candidate.Measurement` record a local measurement gives.

Measuring is exclusive: one job runs at a time, ``queue`` more wait, the rest get 503
with ``Retry-After``. Security: a bearer token (constant-time comparison; 401) whenever
a token file is given, and always when listening beyond loopback; a model-size cap
(413); ``onnx.checker`` before ONNX Runtime sees a model (422 naming the problem); no
external-data files, no custom-op libraries or domains, no paths or pickles from
clients. A model that breaks a limit is reported as such (422, ``limit``) and the agent
stays up.

Imports only NumPy, ONNX, ONNX Runtime, FastAPI and uvicorn (``pip install
"tradeoff[agent]"``): no PyTorch, scikit-learn, Optuna or Typer.

>>> app = create_app(AgentSettings(token="s3cret"))  # doctest: +SKIP
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations.

import argparse
import asyncio
import base64
import binascii
import hmac
import ipaddress
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tradeoff.errors import TradeoffError
from tradeoff.measure.candidate import (
    MAX_SAMPLE_CHARS,
    LimitExceeded,
    Limits,
    MeasureSpec,
    measure_model,
)
from tradeoff.measure.latency import LatencyProtocol
from tradeoff.measure.machine import machine_info

#: 2: text models are timed on the texts a request sends (``samples``); 3: ``samples`` may
#: be every input's rows by name (a mixed table's raw columns).
AGENT_VERSION = "3"
DEFAULT_PORT = 7070
DEFAULT_MAX_MODEL_MB = 64.0
#: At most this many texts to time a text model on (and MAX_SAMPLE_CHARS characters in all).
MAX_SAMPLES = 1024
#: At most this many check rows per request.
MAX_CHECK_ROWS = 4096
#: Operator domains ONNX Runtime implements itself; anything else would need a custom-op library.
ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True)
class AgentSettings:
    """The agent's limits and its token (``None``: no token; loopback only)."""

    token: str | None = None
    max_model_mb: float = DEFAULT_MAX_MODEL_MB
    max_seconds: float = 300.0  # wall time of one measurement, its fresh process included
    max_memory_mb: float = 4096.0  # resident memory of the measuring process
    queue: int = 8  # jobs that may wait while one runs


class Protocol(BaseModel):
    """The latency protocol (``tradeoff.measure.LatencyProtocol``), bounded."""

    model_config = ConfigDict(extra="forbid")
    threads: int = Field(1, ge=1, le=256)
    batch: int = Field(1, ge=1, le=65536)
    warmup_calls: int = Field(50, ge=1, le=100_000)
    settle_tolerance: float = Field(0.05, gt=0, le=1)
    warmup_max_seconds: float = Field(2.0, gt=0, le=60)
    min_calls: int = Field(2000, ge=1, le=10_000_000)
    min_seconds: float = Field(3.0, ge=0, le=120)
    max_seconds: float = Field(20.0, gt=0, le=120)
    block_calls: int = Field(25, ge=1, le=10_000)
    reference_every: int = Field(4, ge=0, le=1000)
    n_boot: int = Field(300, ge=10, le=10_000)
    # Sequential screening happens on the searching side; an agent runs the full protocol.
    screen_first_calls: int = Field(200, ge=0, le=10_000_000)
    screen_margin: float = Field(1.5, ge=1, le=100)


class MeasureRequest(BaseModel):
    """One model to measure. ``model_b64``: the ONNX file, base64; ``input_shape``: the
    first input's shape without the batch axis; ``check_rows``: rows whose outputs come back
    (``check_outputs``): the first input's, or every input's by name (a table's raw columns,
    numbers or strings); ``samples``: the inputs to time it on, cycled through: for a model
    whose one input takes text (and then always), a list of texts; for any model, every
    input's rows by name (a mixed table's raw columns: numbers, categories and texts)."""

    model_config = ConfigDict(extra="forbid")
    model_b64: str
    input_shape: Annotated[list[Annotated[int, Field(ge=1, le=1_000_000)]], Field(max_length=6)]
    protocol: Protocol = Field(default_factory=Protocol)
    latency: bool = True
    memory: bool = True
    throughput_batch: int | None = Field(None, ge=1, le=65536)
    check_rows: list | dict[str, list] | None = None
    samples: (
        Annotated[list[str], Field(min_length=1, max_length=MAX_SAMPLES)] | dict[str, list] | None
    ) = None


class _Rejected(Exception):
    def __init__(self, status: int, detail: str, **extra) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


def _authorized(request: Request, token: str | None) -> bool:
    if token is None:
        return True
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    # compare_digest on equal-length inputs keeps the time independent of the token.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def problem(status: int, detail: str, **extra) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": str(extra.pop("retry_after", 5))}
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def create_app(settings: AgentSettings = AgentSettings()) -> FastAPI:
    """The agent's FastAPI app."""
    app = FastAPI(
        title="tradeoff cost agent",
        version=AGENT_VERSION,
        description="Measures the cost of ONNX models on this machine.",
    )
    lock = asyncio.Lock()
    state = {"admitted": 0}
    # The model in base64, texts to time (UTF-8, up to 4 bytes a character), the rest.
    max_body = int(settings.max_model_mb * 1e6 * 4 / 3) + 4 * MAX_SAMPLE_CHARS + 4 * 2**20

    @app.get("/info")
    def info(request: Request):
        if not _authorized(request, settings.token):
            return problem(401, "missing or wrong bearer token")
        return {
            "agent_version": AGENT_VERSION,
            "machine": machine_info(),
            "limits": {
                "max_model_mb": settings.max_model_mb,
                "max_seconds": settings.max_seconds,
                "max_memory_mb": settings.max_memory_mb,
                "queue": settings.queue,
            },
            "busy": state["admitted"],
        }

    @app.post("/measure")
    async def measure(request: Request):
        if not _authorized(request, settings.token):
            return problem(401, "missing or wrong bearer token")
        try:
            body = await _read_body(request, max_body)
            # Decoding and checking a large model takes a while: off the loop, so /info answers.
            job = await asyncio.to_thread(_parse, body, settings)
        except _Rejected as rejected:
            return problem(rejected.status, rejected.detail, **rejected.extra)
        if state["admitted"] >= 1 + settings.queue:
            return problem(
                503, "the agent is busy: its queue is full", retry_after=_retry_after(job)
            )
        state["admitted"] += 1
        try:
            async with lock:  # measuring is exclusive: two jobs at once would time each other
                onnx_bytes, spec = job
                limits = Limits(wall_s=settings.max_seconds, memory_mb=settings.max_memory_mb)
                try:
                    result = await asyncio.to_thread(
                        measure_model, onnx_bytes, spec, fresh=True, limits=limits
                    )
                except LimitExceeded as error:
                    return problem(422, str(error), limit=error.limit)
                except TradeoffError as error:
                    return problem(422, str(error))
        finally:
            state["admitted"] -= 1
        return {**result.to_dict(), "agent_version": AGENT_VERSION}

    return app


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Rejected(413, f"request body of {int(declared)} bytes is over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Rejected(413, f"request body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes, settings: AgentSettings) -> tuple[bytes, MeasureSpec]:
    """The model's bytes and what to measure, each checked; a _Rejected naming the problem."""
    try:
        req = MeasureRequest.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise _Rejected(422, f"{where}: {first['msg']}") from None
    if len(req.model_b64) > settings.max_model_mb * 1e6 * 4 / 3 + 4:
        raise _Rejected(413, f"model is over the agent's cap of {settings.max_model_mb:g} MB")
    try:
        onnx_bytes = base64.b64decode(req.model_b64, validate=True)
    except (binascii.Error, ValueError):
        raise _Rejected(422, "model_b64: not valid base64") from None
    if len(onnx_bytes) > settings.max_model_mb * 1e6:
        raise _Rejected(
            413,
            f"model of {len(onnx_bytes) / 1e6:.1f} MB is over the agent's cap of "
            f"{settings.max_model_mb:g} MB",
        )
    inputs = check_model(onnx_bytes)
    if isinstance(req.samples, dict):
        samples = _check_rows(req.samples, inputs, req.input_shape, "samples", MAX_SAMPLES)
        _check_chars(v for rows in samples.values() if rows.dtype == object for v in rows.ravel())
    else:
        samples = _samples(req.samples, inputs[0][1])
    rows = None if req.check_rows is None else _check_rows(req.check_rows, inputs, req.input_shape)
    protocol = LatencyProtocol(**req.protocol.model_dump())
    if protocol.warmup_max_seconds + 2 * protocol.max_seconds > settings.max_seconds:
        raise _Rejected(
            422,
            f"protocol: max_seconds {protocol.max_seconds:g} does not fit the agent's "
            f"time limit of {settings.max_seconds:g} s per measurement",
        )
    spec = MeasureSpec(
        input_shape=tuple(req.input_shape),
        protocol=protocol,
        latency=req.latency,
        memory=req.memory,
        throughput_batch=req.throughput_batch,
        check_rows=rows,
        samples=samples,
    )
    return onnx_bytes, spec


def _check_rows(
    given: list | dict,
    inputs: list[tuple[str, bool]],
    first_shape: list[int],
    what: str = "check_rows",
    max_rows: int = MAX_CHECK_ROWS,
) -> dict[str, np.ndarray]:
    """Rows (check rows, or samples by input) as feeds for every input of the model; a
    _Rejected naming what is wrong."""
    names = [name for name, _ in inputs]
    by_name = given if isinstance(given, dict) else {names[0]: given}
    if sorted(by_name) != sorted(names):
        raise _Rejected(422, f"{what}: the model's inputs are {names}, got {sorted(by_name)}")
    feeds = {}
    for name, text in inputs:
        kind = "texts" if text else "finite numbers"
        try:
            rows = np.asarray(by_name[name], dtype=object if text else np.float32)
        except (ValueError, TypeError):
            rows = None
        valid = rows is not None and rows.ndim >= 2 and 1 <= len(rows) <= max_rows
        if valid and text:
            valid = all(isinstance(value, str) for value in rows.ravel())
        elif valid:
            valid = bool(np.isfinite(rows).all())
            valid = valid and (name != names[0] or list(rows.shape[1:]) == first_shape)
        if not valid:
            raise _Rejected(
                422,
                f"{what}: {name!r} is not 1 to {max_rows} rows of {kind}"
                + ("" if text or name != names[0] else f" of shape {first_shape}"),
            )
        feeds[name] = rows
    if len({len(rows) for rows in feeds.values()}) > 1:
        raise _Rejected(422, f"{what}: the inputs have different numbers of rows")
    return feeds


def _check_chars(texts: Iterable[str]) -> None:
    """A 413 when the texts to time a model on hold more than MAX_SAMPLE_CHARS in all."""
    chars = sum(map(len, texts))
    if chars > MAX_SAMPLE_CHARS:
        raise _Rejected(
            413, f"samples: {chars} characters in all, over the agent's cap of {MAX_SAMPLE_CHARS}"
        )


def _samples(texts: list[str] | None, takes_text: bool) -> np.ndarray | None:
    """The texts to time a text model on, as ``[n, 1]``; a _Rejected when they do not fit."""
    if not takes_text:
        if texts is not None:
            raise _Rejected(422, "samples: the model's input takes numbers, not text")
        return None
    if texts is None:
        raise _Rejected(
            422,
            "samples: the model takes text, whose latency depends on its length: send the "
            "texts to time it on",
        )
    _check_chars(texts)
    return np.asarray(texts, dtype=object).reshape(-1, 1)


def check_model(onnx_bytes: bytes) -> list[tuple[str, bool]]:
    """Refuse what ONNX Runtime must not load from a client: a _Rejected (422) naming why.
    The model's inputs: ``(name, takes text)`` each."""
    import onnx

    try:
        model = onnx.load_from_string(onnx_bytes)
    except Exception as error:
        raise _Rejected(422, f"model: not a readable ONNX model ({error})"[:400]) from None
    try:
        onnx.checker.check_model(model)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise _Rejected(422, f"model: onnx.checker: {first}"[:400]) from None
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for tensor in graph.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                raise _Rejected(422, f"model: initializer {tensor.name!r} uses external data")
        for node in graph.node:
            if node.domain not in ALLOWED_DOMAINS:
                raise _Rejected(
                    422, f"model: node {node.name!r} uses operator domain {node.domain!r}"
                )
            for attribute in node.attribute:  # the bodies of If, Loop, Scan
                graphs += ([attribute.g] if attribute.HasField("g") else []) + list(
                    attribute.graphs
                )
    for opset in model.opset_import:
        if opset.domain not in ALLOWED_DOMAINS:
            raise _Rejected(422, f"model: imports operator domain {opset.domain!r}")
    if model.functions:
        raise _Rejected(422, f"model: local function {model.functions[0].name!r} is not accepted")
    return _inputs_of(model)


def _inputs_of(model) -> list[tuple[str, bool]]:
    import onnx

    constants = {tensor.name for tensor in model.graph.initializer}
    inputs = [
        (i.name, i.type.tensor_type.elem_type == onnx.TensorProto.STRING)
        for i in model.graph.input
        if i.name not in constants
    ]
    if not inputs:
        raise _Rejected(422, "model: the graph has no input")
    return inputs


def _retry_after(job: tuple[bytes, MeasureSpec]) -> int:
    protocol = job[1].protocol
    return max(1, int(protocol.warmup_max_seconds + protocol.max_seconds))


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to listen on) is reachable from this machine only."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str | Path) -> str:
    """The token in ``path`` (surrounding whitespace dropped); a TradeoffError when unusable."""
    try:
        token = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise TradeoffError(f"--token-file: cannot read {path} ({error})") from None
    if len(token) < 16:
        raise TradeoffError(f"--token-file: {path} holds a token of under 16 characters")
    return token


def settings_for(host: str, token_file: str | None, **limits) -> AgentSettings:
    """The agent's settings, refusing to listen beyond loopback without a token."""
    token = read_token(token_file) if token_file else None
    if token is None and not is_loopback(host):
        raise TradeoffError(
            f"--host {host}: listening beyond loopback needs a token: give --token-file"
        )
    for flag, value in limits.items():
        if value is None or not value > 0:
            raise TradeoffError(f"--{flag.replace('_', '-')}: must be > 0, got {value!r}")
    return AgentSettings(token=token, **limits)


def run_agent(host: str, port: int, settings: AgentSettings) -> None:
    """Serve the agent with uvicorn until interrupted."""
    import uvicorn

    print(
        json.dumps({"agent": f"http://{host}:{port}", "token": settings.token is not None}),
        flush=True,
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


class _Formatter(argparse.HelpFormatter):
    """``Usage:`` as the other commands (Typer) write it."""

    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)


def main(argv: list[str] | None = None) -> None:
    """``tradeoff agent``: parsed with argparse, so the agent needs no Typer or Rich."""
    parser = argparse.ArgumentParser(
        prog="tradeoff agent",
        formatter_class=_Formatter,
        description="Measure the cost of ONNX models sent to this machine (run on the target).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="Default %(default)s.")
    parser.add_argument("--token-file", help="File holding the bearer token clients must send.")
    parser.add_argument(
        "--max-model-mb",
        type=float,
        default=DEFAULT_MAX_MODEL_MB,
        help="Largest ONNX model accepted (413 beyond); default %(default)s.",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=AgentSettings.max_seconds,
        help="Wall time of one measurement, its fresh process included; default %(default)s.",
    )
    parser.add_argument(
        "--max-memory-mb",
        type=float,
        default=AgentSettings.max_memory_mb,
        help="Resident memory of the measuring process; default %(default)s.",
    )
    parser.add_argument(
        "--queue",
        type=int,
        default=AgentSettings.queue,
        help="Jobs that may wait while one runs (503 beyond); default %(default)s.",
    )
    args = parser.parse_args(argv)
    try:
        if args.queue < 0:
            raise TradeoffError(f"--queue: must be >= 0, got {args.queue}")
        settings = settings_for(
            args.host,
            args.token_file,
            max_model_mb=args.max_model_mb,
            max_seconds=args.max_seconds,
            max_memory_mb=args.max_memory_mb,
        )
    except TradeoffError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    run_agent(args.host, args.port, AgentSettings(**{**settings.__dict__, "queue": args.queue}))


if __name__ == "__main__":
    main()
