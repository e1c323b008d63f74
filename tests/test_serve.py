"""The HTTP server: predictions, validation (422/413), one session, and schemathesis on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest
import schemathesis
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

import tradeoff
from tradeoff.serve import create_app


@pytest.fixture(scope="module")
def client(bundle):
    return TestClient(create_app(bundle, max_batch=8, max_body_bytes=20_000))


def test_predict_returns_the_bundles_labels_and_probabilities(client, small_run, bundle):
    X = small_run.prepared.X_test[:5]
    response = client.post("/predict", json={"instances": X.tolist()})
    assert response.status_code == 200
    body = response.json()
    predictor = tradeoff.load(bundle)
    assert body["labels"] == predictor.predict(X).tolist()
    np.testing.assert_allclose(body["probabilities"], predictor.predict_proba(X), rtol=1e-5)
    assert body["classes"] == [str(c) for c in range(10)]


def test_health_and_metadata(client, bundle):
    health = client.get("/health")
    assert health.json() == {"status": "ok"}
    assert health.headers["server-timing"].startswith("app;dur=")
    assert client.get("/metadata").json() == json.loads((bundle / "card.json").read_text())


def _row(value=0.1):
    return [[value]] * 40


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"instances": [_row()[:39]]}, ["body", "instances", 0], "too_short"),
        ({"instances": [_row()] * 9}, ["body", "instances"], "too_long"),  # max batch 8
        ({"instances": []}, ["body", "instances"], "too_short"),
        ({"instances": [[["1"]] * 40]}, ["body", "instances", 0, 0, 0], "float_type"),
        ({"instances": [[[True]] * 40]}, ["body", "instances", 0, 0, 0], "float_type"),
        ({"instances": [_row(1e39)]}, ["body", "instances", 0, 0, 0], "less_than_equal"),
        ({"rows": [_row()]}, ["body", "instances"], "missing"),
    ],
)
def test_invalid_instances_are_422_naming_the_field(client, body, loc, kind):
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    first = response.json()["detail"][0]
    assert first["loc"] == loc and first["type"] == kind


def test_non_finite_values_are_422_not_500(client):
    body = b'{"instances": [[[NaN]' + b", [1]" * 39 + b"]]}"
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "instances", 0, 0, 0]


def test_too_large_a_body_is_413_announced_or_streamed(client):
    response = client.post(
        "/predict", content=b" " * 30_000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and "body" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(30):
            yield b" " * 1000

    response = client.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_the_session_is_created_once(client):
    predictor = client.app.state.predictor
    session = predictor.session
    for _ in range(3):
        assert client.post("/predict", json={"instances": [_row()]}).status_code == 200
    assert client.app.state.predictor is predictor and predictor.session is session


def test_bad_limits_are_one_line_errors(bundle):
    with pytest.raises(tradeoff.TradeoffError, match="--max-batch"):
        create_app(bundle, max_batch=0)


# --- schemathesis against a real uvicorn server on loopback ---------------------------------


@pytest.fixture(scope="module", params=["sequence", "table"])
def served_schema(request):
    """A real server on loopback for a bundle of MNIST-1D series, and for one of table rows
    with text columns (objects with a field per column, categories as enums)."""
    if request.param == "sequence":
        bundle = request.getfixturevalue("bundle")
    else:
        bundle = request.getfixturevalue("table_bundles")("linear")[1]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(bundle, max_batch=16), host="127.0.0.1", port=port, log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json")
    server.should_exit = True
    thread.join(timeout=10)


schema = schemathesis.pytest.from_fixture("served_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_contract_no_5xx_no_schema_violation(case):
    # Every default check runs (no 5xx, status codes, content types, response schemas)
    # except one that cannot hold: "schema-valid data must get a 2xx". Finite float32
    # inputs such as 3e38 overflow inside any model; the server answers 422 naming the
    # rows (documented in the schema), and no JSON Schema keyword can say "the model's
    # output stays finite".
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])


def test_serve_cli_rejects_a_bad_bundle_or_port_in_one_line(bundle, tmp_path):
    from typer.testing import CliRunner

    from tradeoff.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["serve", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "no such bundle folder" in result.output
    result = runner.invoke(app, ["serve", str(bundle), "--port", "70000"])
    assert result.exit_code == 2 and "--port" in result.output
