"""The cost agent, as a real process on loopback: auth, caps, checks, queue, and one record."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from agent_process import NOT_FOR_THE_AGENT, agent_process, call
from tradeoff.measure import (
    QUICK_PROTOCOL,
    MeasureSpec,
    Target,
    TargetRejected,
    TargetUnreachable,
    cpu_model,
    measure_model,
    measure_on_target,
    predict_outputs,
    reference_model,
)
from tradeoff.measure.candidate import fitting_texts
from tradeoff.measure.remote import resolve_token

TOKEN = "t" * 32


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    with agent_process(tmp_path_factory.mktemp("agent"), "--max-model-mb", "1") as (url, _):
        yield url


def _payload(model: bytes, shape=(64,), **extra) -> dict:
    protocol = {"warmup_calls": 10, "warmup_max_seconds": 0.1, "min_calls": 50, "min_seconds": 0.05}
    return {
        "model_b64": base64.b64encode(model).decode(),
        "input_shape": list(shape),
        "protocol": protocol,
        **extra,
    }


def _big_model(n_floats: int) -> bytes:
    """A valid model holding a constant of ``n_floats`` floats (added to its input)."""
    weight = numpy_helper.from_array(np.ones(n_floats, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["input", "w"], ["output"])],
        "big",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n_floats])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", n_floats])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_info_names_the_machine_and_needs_the_token(agent):
    status, info, _ = call(agent, "/info")
    assert status == 200
    assert info["machine"]["cpu"] == cpu_model()  # the same machine, on loopback
    assert "CPUExecutionProvider" in info["machine"]["providers"]
    assert info["limits"]["max_model_mb"] == 1.0
    if hasattr(os, "sched_getaffinity") and 0 in os.sched_getaffinity(0):
        assert info["machine"]["cores_usable"] == 1  # pinned to core 0
    for token in (None, "wrong", TOKEN + "x"):
        status, body, headers = call(agent, "/info", token=token)
        assert status == 401 and "token" in body["detail"]
        assert headers.get("www-authenticate") == "Bearer"
    status, _, _ = call(agent, "/measure", _payload(reference_model()[0]), token="wrong")
    assert status == 401


def test_a_measurement_through_the_agent_is_the_local_record(agent):
    model, shape = reference_model()
    rows = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    spec = MeasureSpec(shape, QUICK_PROTOCOL, memory=True, throughput_batch=8, check_rows=rows)
    remote = measure_on_target(Target(agent, TOKEN), model, spec)
    local = measure_model(model, spec)
    assert remote.where == f"agent {agent}" and local.where == "this process"
    assert type(remote.latency) is type(local.latency)
    assert set(remote.to_dict()) == set(local.to_dict())
    latency = remote.latency
    assert latency.p95_interval_ms[0] <= latency.p95_ms <= latency.p95_interval_ms[1]
    assert latency.ratio_to_reference is not None and latency.calls >= 50
    assert remote.inference_rss_mb > 0 and remote.throughput_rows_per_s > 0
    assert remote.throughput_batch == 8
    assert remote.machine["cpu"] == latency.method["cpu"] == cpu_model()
    np.testing.assert_allclose(remote.check_outputs, predict_outputs(model, rows), rtol=1e-5)
    np.testing.assert_allclose(remote.check_outputs, local.check_outputs, rtol=1e-5)


def _text_model() -> bytes:
    """A model taking raw strings ``[batch, 1]`` whose cost grows with their length."""
    graph = helper.make_graph(
        [helper.make_node("StringSplit", ["text"], ["words", "counts"])],
        "words",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["batch", 1])],
        [helper.make_tensor_value_info("counts", TensorProto.INT64, ["batch", 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model.SerializeToString()


def test_a_text_model_is_timed_on_the_texts_sent_and_never_on_empty_ones(agent):
    texts = np.asarray([" ".join(["word"] * n) for n in (3, 40, 400, 12)], object).reshape(-1, 1)
    spec = MeasureSpec((1,), QUICK_PROTOCOL, samples=texts)
    remote = measure_on_target(Target(agent, TOKEN), _text_model(), spec)
    inputs = remote.latency.method["inputs"]  # the lengths the agent timed, as a local figure
    assert inputs["n"] == 4 and inputs["chars_max"] == len(texts[2, 0])
    assert inputs == measure_model(_text_model(), spec).latency.method["inputs"]
    # Without texts a text model would be timed on empty strings: refused, naming samples.
    with pytest.raises(TargetRejected, match="samples: the model takes text"):
        measure_on_target(Target(agent, TOKEN), _text_model(), MeasureSpec((1,), QUICK_PROTOCOL))
    model, shape = reference_model()
    with pytest.raises(TargetRejected, match="samples: the model's input takes numbers"):
        measure_on_target(Target(agent, TOKEN), model, MeasureSpec(shape, samples=texts))
    # Check rows by input name, strings too: their outputs come back as here; wrong names 422.
    checked = replace(spec, check_rows={"text": texts})
    remote = measure_on_target(Target(agent, TOKEN), _text_model(), checked)
    assert remote.check_outputs == measure_model(_text_model(), checked).check_outputs
    assert np.asarray(remote.check_outputs).ravel().tolist() == [3, 40, 400, 12]
    with pytest.raises(TargetRejected, match=r"the model's inputs are \['text'\], got \['words'\]"):
        measure_on_target(
            Target(agent, TOKEN), _text_model(), replace(spec, check_rows={"words": texts})
        )
    # What is sent fits the agent's cap: the first texts whose lengths add up to it.
    assert fitting_texts(texts, 3 * 5 - 1 + 40 * 5 - 1) == list(texts[:2, 0])
    assert fitting_texts(texts, 1) == [texts[0, 0]]


def _table_model() -> bytes:
    """A model taking a number and a raw string per row (as a mixed table's bundle does)."""
    graph = helper.make_graph(
        [
            helper.make_node("StringSplit", ["text"], ["words", "counts"]),
            helper.make_node("Cast", ["counts"], ["n"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["numeric", "n"], ["out"]),
        ],
        "table",
        [
            helper.make_tensor_value_info("numeric", TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info("text", TensorProto.STRING, ["batch", 1]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model.SerializeToString()


def test_a_model_of_several_inputs_is_timed_on_the_rows_sent_for_each(agent):
    texts = np.array([["a b c"], ["word " * 40], ["x"]], dtype=object)
    rows = {"numeric": np.array([[1.0], [2.0], [3.0]], np.float32), "text": texts}
    spec = MeasureSpec((1,), QUICK_PROTOCOL, throughput_batch=4, samples=rows)
    remote = measure_on_target(Target(agent, TOKEN), _table_model(), spec)
    timed = remote.latency.method["inputs"]
    assert timed == measure_model(_table_model(), spec).latency.method["inputs"]
    assert timed["n"] == 3 and timed["chars"] == {
        "text": {"chars_p50": 5.0, "chars_p95": pytest.approx(180.5), "chars_max": 200}
    }
    assert remote.throughput_rows_per_s > 0
    with pytest.raises(
        TargetRejected, match=r"samples: the model's inputs are \['numeric', 'text'\]"
    ):
        measure_on_target(
            Target(agent, TOKEN), _table_model(), replace(spec, samples={"text": texts})
        )
    uneven = {"numeric": [[1.0], [2.0]], "text": texts.tolist()}
    status, body, _ = call(agent, "/measure", _payload(_table_model(), (1,), samples=uneven))
    assert status == 422 and body["detail"] == "samples: the inputs have different numbers of rows"


def test_oversized_corrupt_and_foreign_models_are_refused_and_the_agent_stays_up(agent):
    status, body, _ = call(agent, "/measure", _payload(_big_model(300_000), (300_000,)))
    assert status == 413 and "1 MB" in body["detail"]

    status, body, _ = call(agent, "/measure", _payload(b"not an onnx model at all"))
    assert status == 422 and "model" in body["detail"] and "ONNX" in body["detail"]

    broken = onnx.load_from_string(reference_model()[0])
    broken.graph.node[0].input[1] = "no_such_tensor"  # parses, but fails the checker
    status, body, _ = call(agent, "/measure", _payload(broken.SerializeToString()))
    assert status == 422 and "onnx.checker" in body["detail"]

    foreign = onnx.load_from_string(reference_model()[0])
    foreign.graph.node[1].domain = "evil.custom"
    foreign.opset_import.append(helper.make_opsetid("evil.custom", 1))
    status, body, _ = call(agent, "/measure", _payload(foreign.SerializeToString()))
    assert status == 422 and "evil.custom" in body["detail"]

    status, body, _ = call(
        agent, "/measure", {**_payload(reference_model()[0]), "model_path": "/etc"}
    )
    assert status == 422 and "model_path" in body["detail"]

    status, body, _ = call(
        agent, "/measure", _payload(reference_model()[0], check_rows=[[1.0, 2.0]])
    )
    assert status == 422 and "check_rows" in body["detail"]

    status, info, _ = call(agent, "/info")
    assert status == 200 and info["busy"] == 0


def test_a_model_over_the_memory_limit_is_reported_and_the_agent_stays_up(tmp_path):
    # No Python process with ONNX Runtime fits in 30 MB: every job breaks this cap.
    with agent_process(tmp_path, "--max-memory-mb", "30") as (url, _):
        with pytest.raises(TargetRejected, match="memory limit of 30 MB") as rejected:
            measure_on_target(
                Target(url, TOKEN), reference_model()[0], MeasureSpec((64,), QUICK_PROTOCOL)
            )
        assert rejected.value.limit == "memory"
        assert call(url, "/info")[0] == 200


def test_a_full_queue_answers_503_with_retry_after(tmp_path):
    import threading

    slow = {"min_calls": 10**7, "min_seconds": 3.0, "max_seconds": 3.0, "warmup_max_seconds": 0.1}
    with agent_process(tmp_path, "--queue", "0") as (url, _):
        payload = _payload(reference_model()[0])
        first = threading.Thread(target=call, args=(url, "/measure", {**payload, "protocol": slow}))
        first.start()
        try:
            for _ in range(100):  # until the first job is admitted
                if call(url, "/info")[1]["busy"]:
                    break
                threading.Event().wait(0.05)
            status, body, headers = call(url, "/measure", payload)
            assert status == 503 and "busy" in body["detail"]
            assert int(headers["retry-after"]) >= 1
        finally:
            first.join()
        assert call(url, "/measure", payload)[0] == 200


def test_an_agent_beyond_loopback_needs_a_token():
    done = subprocess.run(
        [sys.executable, "-m", "tradeoff", "agent", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --host 0.0.0.0: listening beyond loopback needs a token: give --token-file"
    ]


def test_the_agent_imports_no_torch_sklearn_or_optuna():
    code = (
        "import sys, tradeoff.agent as a, tradeoff.measure.remote\n"
        "a.create_app(a.AgentSettings())\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *NOT_FOR_THE_AGENT],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_an_unreachable_target_is_retried_then_one_error(monkeypatch):
    from agent_process import free_port

    target = Target(f"http://127.0.0.1:{free_port()}", attempts=3, backoff_s=0.01)
    with pytest.raises(TargetUnreachable, match=r"not answering after 3 tries"):
        target.info()
    monkeypatch.setenv("TRADEOFF_TARGET_TOKEN", "from-env")
    assert resolve_token(None) == "from-env"
    with pytest.raises(Exception, match="--agent: 'edge:7070' is not an http"):
        Target("edge:7070")


def test_bench_on_a_target_checks_memory_and_throughput_there(agent, tmp_path):
    import json

    from typer.testing import CliRunner

    from tradeoff.cli import app

    model = tmp_path / "ref.onnx"
    model.write_bytes(reference_model()[0])
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    args = ["bench", str(model), "--agent", agent, "--agent-token-file", str(token_file)]
    args += ["--quick", "--json", "--max-memory-mb", "10000", "--min-throughput", "1"]
    result = CliRunner().invoke(app, [*args, "--throughput-batch", "4"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["where"] == f"agent {agent}" and report["machine"]["cpu"] == cpu_model()
    checks = {c["requirement"]: c for c in report["checks"]}
    assert checks["inference memory <= 10000.0 MB"]["holds"] is True
    assert checks["throughput >= 1 rows/s at batch 4"]["holds"] is True
    assert report["throughput_batch"] == 4 and report["inference_rss_mb"] > 0
    # A memory limit below what the model adds fails on the target: exit 1.
    tight = [*args[:-4], "--quick", "--json", "--max-memory-mb", "0.001"]
    result = CliRunner().invoke(app, tight)
    assert result.exit_code == 1
    assert [c["holds"] for c in json.loads(result.output)["checks"]] == [False]


def test_bench_on_an_unreachable_target_ends_in_one_line(tmp_path):
    from agent_process import free_port

    model = tmp_path / "ref.onnx"
    model.write_bytes(reference_model()[0])
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "tradeoff", "bench", str(model), "--agent", url, "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: target {url}: not answering after 5")


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tradeoff", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TRADEOFF_TARGET_TOKEN": TOKEN, **(env or {})},
    )


@pytest.mark.parametrize("command", ["search", "bench"])
def test_an_agent_that_is_not_a_url_is_one_line_and_exit_2(command, tmp_path):
    model = tmp_path / "ref.onnx"
    model.write_bytes(reference_model()[0])
    first = ["search", "iris", "--out", str(tmp_path / "run")] if command == "search" else []
    done = _cli(*(first or ["bench", str(model)]), "--agent", "edge:7070")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --agent: 'edge:7070' is not an http(s):// URL of an agent"
    ]
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_the_old_spelling_target_url_still_names_an_agent_with_a_deprecation_line(agent, tmp_path):
    import json

    model = tmp_path / "ref.onnx"
    model.write_bytes(reference_model()[0])
    done = _cli("bench", str(model), "--target", agent, "--quick", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["where"] == f"agent {agent}"
    [warning] = done.stderr.strip().splitlines()
    assert warning.startswith(f"warning: `--target {agent}` for an agent is deprecated")
    assert f"write `--agent {agent}`" in warning

    # In a search, `--target COL --target URL` still means the column and an agent.
    from sklearn.datasets import load_iris

    load_iris(as_frame=True).frame.to_csv(tmp_path / "iris.csv", index=False)
    out = tmp_path / "run"
    search = ["search", str(tmp_path / "iris.csv"), "--target", "target", "--target", agent]
    search += ["--trials", "1"]
    search += ["--families", "linear", "--quick-latency", "--no-compress", "--cv", "off"]
    done = _cli(*search, "--max-epochs", "2", "--out", str(out), "--json")
    assert done.returncode in (0, 1), done.stderr  # 1: the one trial met no requirement
    assert [t["url"] for t in json.loads((out / "run.json").read_text())["targets"]] == [agent]
    assert sum("deprecated" in line for line in done.stderr.splitlines()) == 1
    assert json.loads(done.stdout)["run"] == str(out)  # stdout stays one JSON object
