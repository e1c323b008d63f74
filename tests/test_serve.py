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


# --- category columns: the card's fallback, or strict enums ----------------------------------


ROW = {"color": "green", "size": 0.4, "plant": "berlin", "shape": "round"}


@pytest.fixture(scope="module")
def table_bundle_linear(table_bundles):
    return table_bundles("linear")[1]


def test_an_unseen_or_missing_category_counts_as_the_most_frequent_and_is_reported(
    table_bundle_linear,
):
    card = json.loads((table_bundle_linear / "card.json").read_text())
    color = next(f for f in card["input"]["features"] if f["name"] == "color")
    mode = color["missing_becomes"]
    assert mode == "red" and "purple" not in color["categories"]  # red: half of the rows
    rows = [ROW, {**ROW, "color": "purple"}, {**ROW, "color": None}, {**ROW, "color": mode}]
    client = TestClient(create_app(table_bundle_linear))
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200, response.text
    body = response.json()
    # The unseen and the missing colour answer as the most frequent one does...
    assert body["probabilities"][1] == body["probabilities"][2] == body["probabilities"][3]
    assert body["probabilities"][0] != body["probabilities"][3]  # (colour matters to the model)
    # ... which is what model.onnx itself does with the raw string (its encoder's default).
    predictor = tradeoff.load(table_bundle_linear)
    raw = predictor.session.run(
        None,
        {
            "numeric": np.array([[0.4]], np.float32),
            "categorical": np.array([["purple", "berlin", "round"]], dtype=object),
        },
    )[0]
    np.testing.assert_allclose(body["probabilities"][1], tradeoff.bundle.softmax(raw)[0], rtol=1e-6)
    # Each such cell is reported, per row; a known category is not.
    assert body["warnings"] == [
        {
            "instance": 1,
            "column": "color",
            "value": "purple",
            "counted_as": "red",
            "msg": "column 'color': unseen category 'purple' counted as 'red', the training "
            "split's most frequent category",
        },
        {
            "instance": 2,
            "column": "color",
            "value": None,
            "counted_as": "red",
            "msg": "column 'color': missing value counted as 'red', the training split's "
            "most frequent category",
        },
    ]
    assert client.post("/predict", json={"instances": [ROW]}).json()["warnings"] == []


def test_strict_categories_restore_the_422(table_bundle_linear):
    client = TestClient(create_app(table_bundle_linear, strict_categories=True))
    assert client.post("/predict", json={"instances": [ROW]}).status_code == 200
    for value in ("purple", None):
        response = client.post("/predict", json={"instances": [ROW, {**ROW, "color": value}]})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "instances", 1, "color"]


def test_the_openapi_schema_says_which_categories_are_accepted(table_bundle_linear):
    def color_schema(strict: bool) -> dict:
        app = create_app(table_bundle_linear, strict_categories=strict)
        return (
            TestClient(app)
            .get("/openapi.json")
            .json()["components"]["schemas"]["Row"]["properties"]["color"]
        )

    lenient, strict = color_schema(False), color_schema(True)
    assert "enum" not in json.dumps(lenient)
    assert {"type": "null"} in lenient["anyOf"] and {"type": "string"} in lenient["anyOf"]
    assert "counts as 'red'" in lenient["description"] and "warnings" in lenient["description"]
    assert sorted(strict["enum"]) == ["blue", "green", "red"]
    assert "422" in strict["description"]


def test_serve_cli_strict_categories_on_a_real_server(table_bundle_linear):
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from agent_process import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tradeoff", "serve", str(table_bundle_linear), "--port", str(port)]
        + ["--strict-categories"],
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.2)
        body = json.dumps({"instances": [{**ROW, "color": "purple"}]}).encode()
        request = urllib.request.Request(
            url + "/predict", data=body, headers={"content-type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 422
    finally:
        server.terminate()
        server.wait(timeout=10)


# --- schemathesis against a real uvicorn server on loopback ---------------------------------


@pytest.fixture(scope="module", params=["sequence", "table"])
def served_schema(request):
    """A real server on loopback for a bundle of MNIST-1D series, and for one of table rows
    with text columns (objects with a field per column; any string or null for a category)."""
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
