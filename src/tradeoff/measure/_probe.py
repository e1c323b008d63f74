"""The fresh measuring process (run as a script by tradeoff.measure; not imported).

Reads a JSON request from argv, prints one JSON line. Only NumPy and ONNX
Runtime are imported before the memory baseline is taken. Besides memory, it may
time latency, throughput at a batch and run check rows (``tradeoff.measure.candidate``);
check rows come as a JSON file (numbers and strings only).
"""

import json
import sys

import numpy as np
import onnxruntime as ort


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    request = json.loads(sys.argv[1])
    protocol = request["protocol"]
    baseline = _status_mb("VmRSS")
    options = ort.SessionOptions()
    options.intra_op_num_threads = protocol["threads"]
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    sess = ort.InferenceSession(request["model"], options, providers=["CPUExecutionProvider"])
    # As latency.sample_feeds, without importing tradeoff before the memory is read.
    feeds = {}
    for i, spec in enumerate(sess.get_inputs()):
        shape = (protocol["batch"], *(request["input_shape"] if i == 0 else spec.shape[1:]))
        string = spec.type == "tensor(string)"
        feeds[spec.name] = np.full(shape, "", object) if string else np.zeros(shape, np.float32)
    samples = None
    # Real inputs: the first input's rows, or each input's by name (as candidate.check_feeds
    # reads them, without importing tradeoff before the peak memory is read).
    if request.get("samples_file"):
        with open(request["samples_file"], encoding="utf-8") as file:
            given = json.load(file)
        inputs = [(i.name, i.type == "tensor(string)") for i in sess.get_inputs()]
        by_name = given if isinstance(given, dict) else {inputs[0][0]: given}
        arrays = {
            name: np.asarray(by_name[name], dtype=object if text else np.float32)
            for name, text in inputs
            if name in by_name
        }
        samples = arrays if isinstance(given, dict) else arrays[inputs[0][0]]
        feeds = {name: rows[: protocol["batch"]] for name, rows in arrays.items()}
    for _ in range(20):
        sess.run(None, feeds)
    peak = _status_mb("VmHWM")
    check_outputs = None
    if request.get("check_rows"):
        from tradeoff.measure.candidate import check_feeds, model_inputs

        with open(request["check_rows"], encoding="utf-8") as file:
            feeds = check_feeds(model_inputs(sess), json.load(file))
        check_outputs = sess.run(None, feeds)[0].tolist()
    del sess
    result = {
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak,
        "inference_rss_mb": peak - baseline,
        "latency": None,
        "check_outputs": check_outputs,
    }
    if request["latency"] or request.get("throughput_batch"):
        from tradeoff.measure.latency import LatencyProtocol, measure_latency, measure_throughput

    if request["latency"]:
        latency = measure_latency(
            request["model"],
            tuple(request["input_shape"]),
            LatencyProtocol(**protocol),
            samples=samples,
        )
        result["latency"] = latency.to_dict()
    if request.get("throughput_batch"):
        result["throughput_rows_per_s"] = measure_throughput(
            request["model"],
            tuple(request["input_shape"]),
            request["throughput_batch"],
            LatencyProtocol(**protocol),
            samples,
        )
    if request.get("machine"):
        from tradeoff.measure.machine import machine_info

        result["machine"] = machine_info()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
