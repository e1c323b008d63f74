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
    texts = None
    if request.get("texts_file"):
        with open(request["texts_file"], encoding="utf-8") as file:
            texts = np.asarray(json.load(file), dtype=object).reshape(-1, 1)
        feeds = {sess.get_inputs()[0].name: texts[: protocol["batch"]]}
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
            samples=texts,
        )
        result["latency"] = latency.to_dict()
    if request.get("throughput_batch"):
        result["throughput_rows_per_s"] = measure_throughput(
            request["model"],
            tuple(request["input_shape"]),
            request["throughput_batch"],
            LatencyProtocol(**protocol),
        )
    if request.get("machine"):
        from tradeoff.measure.machine import machine_info

        result["machine"] = machine_info()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
