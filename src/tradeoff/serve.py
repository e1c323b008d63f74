"""HTTP inference on ONNX Runtime: FastAPI + uvicorn over one bundle.

``POST /predict`` takes ``{"instances": [...]}`` (a batch of raw inputs: for a
table bundle, objects with one field per column; for a text bundle, strings up to the
card's ``max_chars``) and returns labels and probabilities; ``GET /health``; ``GET /metadata``
returns the cost card. A category column takes any string or null, as ``model.onnx`` does: a
value never seen in training, or null, counts as the training split's most frequent category
(the card's rule, applied by the model's own graph), and the response lists each such cell in
``warnings``; with ``strict_categories`` the schema is an enum of the training categories and
any other value is a 422. The request schema carries the model's exact input shape, so a
wrong shape, a non-number, a non-finite value or too big a batch is a 422
naming the field; too big a body is a 413. The ONNX Runtime session is created
once, when the app is built.

>>> app = create_app("model/")  # doctest: +SKIP
>>> serve("model/", port=8000)  # doctest: +SKIP
"""

# No ``from __future__ import annotations``: FastAPI reads the request model built
# at run time from the endpoint's annotation.

import os
import time
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from tradeoff.bundle import FLOAT32_MAX, Predictor, softmax
from tradeoff.errors import TradeoffError
from tradeoff.inputs.table import CATEGORICAL_INPUT, NUMERIC_INPUT, TEXT_INPUT

DEFAULT_MAX_BATCH = 1024
DEFAULT_MAX_BODY_BYTES = 8 * 2**20

#: A JSON number that fits float32: strict (no strings, no booleans), finite.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]


class CategoryWarning(BaseModel):
    """A category cell the model did not see in training (or null): what it counted as."""

    instance: int
    column: str
    value: str | None
    counted_as: str
    msg: str


class Classification(BaseModel):
    """Labels and class probabilities, one per instance, in request order; ``warnings``:
    the category cells that counted as the training split's most frequent category."""

    labels: list[str]
    probabilities: list[list[float]]
    classes: list[str]
    warnings: list[CategoryWarning] = []


class Regression(BaseModel):
    """One predicted value per instance, in request order; ``warnings`` as for classes."""

    predictions: list[float]
    warnings: list[CategoryWarning] = []


class Health(BaseModel):
    status: str


class Problem(BaseModel):
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Invalid(BaseModel):
    """A 422: the fields that failed validation, or one line naming the rows."""

    detail: list[FieldError] | str


def _instance_type(shape: tuple[int, ...]) -> Any:
    """Nested fixed-length lists of numbers: one instance of ``shape``."""
    item: Any = Number
    for size in reversed(shape):
        item = Annotated[list[item], Field(min_length=size, max_length=size)]
    return item


def _field(feature: dict, strict_categories: bool) -> tuple[Any, Any]:
    """The type of one column's field, and its Field (the column's name, and for a category
    column what the schema accepts, in words)."""
    if feature["type"] == "numeric":
        return Number, Field(alias=feature["name"])
    if feature["type"] == "text":
        return Annotated[str, Field(max_length=feature["max_chars"])], Field(alias=feature["name"])
    known = ", ".join(feature["categories"])
    if strict_categories:
        described = f"One of the training categories ({known}); any other value is a 422."
        return Literal[tuple(feature["categories"])], Field(
            alias=feature["name"], description=described
        )
    described = (
        f"A category: one of the training categories ({known}); any other value, or null, "
        f"counts as {feature['missing_becomes']!r}, the training split's most frequent "
        "category, and is reported in the response's warnings."
    )
    return str | None, Field(alias=feature["name"], description=described)


def _row_type(features: list[dict], strict_categories: bool) -> Any:
    """One table row: a field per column (named as in the data): numbers, categories, or
    free text up to the bundle's length cap."""
    fields = {f"c{i}": _field(f, strict_categories) for i, f in enumerate(features)}
    return create_model("Row", __config__=ConfigDict(extra="forbid", strict=True), **fields)


def _table_feeds(features: list[dict], rows: list[BaseModel]) -> dict[str, np.ndarray]:
    """The model's inputs for table rows; a null category is fed as the category it counts as
    (an unseen one goes in as it is: the model's encoder maps it, by the same rule)."""
    feeds = {}
    for name, kind, dtype in (
        (NUMERIC_INPUT, "numeric", np.float32),
        (CATEGORICAL_INPUT, "categorical", object),
        (TEXT_INPUT, "text", object),
    ):
        columns = [(f"c{i}", f) for i, f in enumerate(features) if f["type"] == kind]
        if columns:
            feeds[name] = np.asarray(
                [
                    [
                        f["missing_becomes"] if getattr(r, k) is None else getattr(r, k)
                        for k, f in columns
                    ]
                    for r in rows
                ],
                dtype,
            )
    return feeds


def _category_warnings(features: list[dict], rows: list[BaseModel]) -> list[dict]:
    """Each category cell of ``rows`` not among the training categories (or null), with the
    category it counts as: the card's rule, which the model applies."""
    warnings = []
    for i, feature in enumerate(features):
        if feature["type"] != "categorical":
            continue
        known, fallback = set(feature["categories"]), feature["missing_becomes"]
        for instance, row in enumerate(rows):
            value = getattr(row, f"c{i}")
            if value in known:
                continue
            what = "missing value" if value is None else f"unseen category {value!r}"
            warnings.append(
                {
                    "instance": instance,
                    "column": feature["name"],
                    "value": value,
                    "counted_as": fallback,
                    "msg": f"column {feature['name']!r}: {what} counted as {fallback!r}, "
                    "the training split's most frequent category",
                }
            )
    return sorted(warnings, key=lambda w: w["instance"])


class _BodyLimit:
    """ASGI middleware: a body larger than ``max_bytes`` is a 413, read or announced."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            response = JSONResponse(
                {"detail": f"body: larger than the server's limit of {self.max_bytes} bytes"},
                status_code=413,
            )
            return await response(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(
                    413, f"body: larger than the server's limit of {self.max_bytes} bytes"
                )
            return message

        return await self.app(scope, limited_receive, send)


class _ServerTiming:
    """ASGI middleware: a ``Server-Timing: app;dur=<ms>`` header on every response.

    The time from the request reaching the app to its response starting: what the
    server adds, without the client's HTTP library or the network.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()

        async def timed_send(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - start) * 1e3
                message["headers"] = [
                    *message.get("headers", []),
                    (b"server-timing", f"app;dur={ms:.4f}".encode()),
                ]
            await send(message)

        return await self.app(scope, receive, timed_send)


def _instance_schema(predictor: Predictor, strict_categories: bool) -> tuple[Any, str]:
    """The type of one instance in a request, and how it is shaped, in words."""
    if predictor.text:
        # A length cap in the schema: a huge text is a 422 at parsing, never a slow answer.
        instance = Annotated[str, Field(strict=True, max_length=predictor.max_chars)]
        return instance, f"a string of at most {predictor.max_chars} characters"
    if predictor.table:
        shaped = "an object with a field per column: " + ", ".join(
            f["name"] for f in predictor.features
        )
        return _row_type(predictor.features, strict_categories), shaped
    return _instance_type(predictor.input_shape), f"shaped {list(predictor.input_shape)}"


def _request_feeds(predictor: Predictor, input_name: str, instances: list) -> dict:
    """The model's inputs for a validated request's instances."""
    if predictor.text:
        return {input_name: np.asarray(instances, dtype=object).reshape(-1, 1)}
    if predictor.table:
        return _table_feeds(predictor.features, instances)
    return {input_name: np.asarray(instances, dtype=np.float32)}


def create_app(
    bundle: str | os.PathLike | Predictor,
    *,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    strict_categories: bool = False,
) -> FastAPI:
    """The FastAPI app serving one bundle; its ONNX Runtime session is created here, once.

    ``strict_categories``: a table's category columns accept only the training categories
    (an enum in the schema; anything else a 422) instead of the card's fallback.
    """
    if max_batch < 1:
        raise TradeoffError(f"--max-batch: must be >= 1, got {max_batch}")
    if max_body_bytes < 1:
        raise TradeoffError(f"--max-body-bytes: must be >= 1, got {max_body_bytes}")
    predictor = bundle if isinstance(bundle, Predictor) else Predictor(bundle)
    card = predictor.card
    classification = predictor.task != "regression"
    instance, shaped = _instance_schema(predictor, strict_categories)
    request_model = create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        instances=(
            Annotated[
                list[instance],
                Field(
                    min_length=1,
                    max_length=max_batch,
                    description=f"A batch of 1..{max_batch} raw inputs, each {shaped}.",
                ),
            ],
            ...,
        ),
    )
    response_model = Classification if classification else Regression
    session, input_name = predictor.session, predictor.session.get_inputs()[0].name

    app = FastAPI(
        title="tradeoff model server",
        version=str(card.get("versions", {}).get("tradeoff", "")),
        description=f"{card['task']} model, trial {card.get('lineage', {}).get('trial')} "
        f"({card.get('lineage', {}).get('family')}); cost card at GET /metadata.",
    )
    app.state.predictor = predictor
    app.add_middleware(_BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(_ServerTiming)
    problems = {
        400: {"model": Problem, "description": "Body is not valid JSON."},
        413: {"model": Problem, "description": "Body too large."},
        422: {
            "model": Invalid,
            "description": "Invalid instances (shape, type, non-finite, batch size"
            + (", a category not seen in training" if strict_categories else "")
            + "), or values so large that the model's output is not finite.",
        },
    }

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        # The default handler echoes the input back, which can hold NaN (not JSON) and
        # is as large as the request; name the field and the problem only.
        detail = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()[:20]
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.post("/predict", response_model=response_model, responses=problems)
    async def predict(request: request_model):  # type: ignore[valid-type]
        feeds = _request_feeds(predictor, input_name, request.instances)
        warnings = (
            _category_warnings(predictor.features, request.instances)
            if predictor.table and not strict_categories
            else []
        )
        # A tiny model answers in microseconds: run it inline rather than in a thread.
        out = session.run(None, feeds)[0]
        finite = np.isfinite(out).all(axis=1)
        if not finite.all():
            rows = np.flatnonzero(~finite)[:10].tolist()
            raise HTTPException(
                422, f"instances{rows}: values too large for the model (output not finite)"
            )
        # A JSONResponse skips re-validating our own output against response_model
        # (which only documents it): it is built from the model's arrays, right by construction.
        if not classification:
            return JSONResponse({"predictions": out[:, 0].tolist(), "warnings": warnings})
        return JSONResponse(
            {
                "labels": predictor.classes[out.argmax(axis=1)].tolist(),
                "probabilities": softmax(out).tolist(),
                "classes": predictor.classes.tolist(),
                "warnings": warnings,
            }
        )

    @app.get("/health", response_model=Health)
    async def health():
        return {"status": "ok"}

    @app.get("/metadata", response_model=dict[str, Any])
    async def metadata():
        return card

    return app


def serve(
    bundle: str | os.PathLike,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    strict_categories: bool = False,
) -> None:
    """Serve ``bundle`` with uvicorn until interrupted."""
    import uvicorn

    app = create_app(
        bundle,
        max_batch=max_batch,
        max_body_bytes=max_body_bytes,
        strict_categories=strict_categories,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
