"""The RESULTS.md tables, computed from a results file alone.

A figure is the mean over seeds with its min and max; a pick "meets" a limit kind when what
ships (measured in a fresh process, p95 at batch 1 and size on disk) is within it. The
headline is quality at equal limits: tradeoff's pick beside the best peer whose pick met the
limits in every seed, once ONNX against ONNX and once as shipped.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.suite.contenders import BASELINES, LIMITS, Limits

START, END = "<!-- benchmarks.suite:{}:start -->", "<!-- benchmarks.suite:{}:end -->"
LOWER_IS_BETTER = ("log_loss", "mae", "rmse", "mse")


def one_line(run: dict) -> str:
    if run.get("error"):
        return f"error: {run['error']}"
    test = run.get("test")
    shipped = ", ".join(
        f"{m['how']} p95 {m['p95_ms']:.4f} ms {m['size_mb']:.3f} MB"
        if "p95_ms" in m
        else f"{m['how']}: {m.get('error')}"
        for m in run.get("measured", [])
    )
    return f"{run.get('pick')}: test {test[0]:.3f} ({shipped}), {run['wall_s']:.0f} s"


def _limits_of(run: dict, kind: Limits) -> tuple[float, float]:
    """The limits ``run`` is judged against: its own when it searched under them, else the
    kind's, from the reference p95 measured by the run's invocation."""
    if run["limits"] is not None:
        return run["max_latency_ms"], run["max_size_mb"]
    latency = float(f"{kind.latency_factor * run['reference_p95_ms']:.3g}")
    return latency, kind.max_size_mb


def _entries(runs: list[dict], kind: Limits) -> dict[tuple[str, str, str], list[dict]]:
    """(set, contender, how) -> one entry per seed: test value, p95, size, whether it meets."""
    grouped: dict[tuple[str, str, str], list[dict]] = {}
    for run in runs:
        if run["limits"] not in (None, kind.name):
            continue
        if run["limits"] is None and run["contender"] not in BASELINES:
            continue
        max_ms, max_mb = _limits_of(run, kind)
        measured = run.get("measured") or [{"how": "-"}]
        for m in measured:
            ok = "p95_ms" in m and run.get("test") is not None
            entry = {
                "seed": run["seed"],
                "test": run["test"][0] if ok else None,
                "p95_ms": m.get("p95_ms"),
                "ratio": m.get("ratio_to_reference"),
                "size_mb": m.get("size_mb"),
                "meets": ok and m["p95_ms"] <= max_ms and m["size_mb"] <= max_mb,
                "pick": run.get("pick") or run.get("error", "-"),
                "trials": (run.get("counts") or {}).get("trials"),
                "limit_ms": max_ms,
                "metric": run["metric"],
            }
            grouped.setdefault((run["set"], run["contender"], m["how"]), []).append(entry)
    return grouped


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.3f}"
    return f"{mean:.3f} [{min(values):.3f}, {max(values):.3f}]"


def _mean(values: list[float | None], digits: int = 4) -> str:
    present = [v for v in values if v is not None]
    return f"{statistics.fmean(present):.{digits}f}" if present else "-"


def _best(entries: dict, set_name: str, onnx: bool, higher: bool) -> str:
    """The peer with the best mean test figure among those that met the limits in every seed."""
    candidates = []
    for (name, contender, how), seeds in entries.items():
        if name != set_name or contender == "tradeoff":
            continue
        if onnx != (how == "ONNX in ORT"):
            continue
        if seeds and all(e["meets"] for e in seeds):
            values = [e["test"] for e in seeds]
            candidates.append((statistics.fmean(values), contender, values, len(seeds)))
    if not candidates:
        return "none met the limits"
    mean, contender, values, n = (max if higher else min)(candidates, key=lambda c: c[0])
    return f"{contender}: {_spread(values)} (n={n})"


def render(results) -> list[str]:
    """Markdown: per limit kind, the headline table then every contender's rows."""
    runs = results.runs
    if not runs:
        return ["(no runs yet)"]
    lines = [_provenance(results), ""]
    sets_in_order = list(dict.fromkeys(r["set"] for r in runs))
    searched = {r["limits"] for r in runs if r["limits"] is not None}
    for kind in (k for k in LIMITS.values() if k.name in searched):
        entries = _entries(runs, kind)
        lines += [
            f"#### Limits `{kind.name}`: p95 at batch 1 <= {kind.about}",
            "",
            "| set | metric | tradeoff (bundle in ORT) | met limits | best peer, ONNX vs ONNX "
            "| best peer, as shipped |",
            "|---|---|---|---|---|---|",
        ]
        for set_name in sets_in_order:
            mine = entries.get((set_name, "tradeoff", "bundle in ORT"), [])
            metric = next(
                (e["metric"] for k, v in entries.items() if k[0] == set_name for e in v), ""
            )
            if not metric:
                continue
            higher = metric not in LOWER_IS_BETTER
            tests = [e["test"] for e in mine if e["test"] is not None]
            met = f"{sum(e['meets'] for e in mine)}/{len(mine)}" if mine else "-"
            lines.append(
                f"| {set_name} | {metric} | {_spread(tests)} | {met} "
                f"| {_best(entries, set_name, True, higher)} "
                f"| {_best(entries, set_name, False, higher)} |"
            )
        lines += [
            "",
            "| set | contender | ships as | test mean [min, max] | p95 ms (mean) | × reference "
            "| size MB | met limits | trials | picks |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for (set_name, contender, how), seeds in entries.items():
            tests = [e["test"] for e in seeds if e["test"] is not None]
            picks = sorted({str(e["pick"]) for e in seeds})
            lines.append(
                f"| {set_name} | {contender} | {how} | {_spread(tests)} "
                f"| {_mean([e['p95_ms'] for e in seeds])} | {_mean([e['ratio'] for e in seeds], 2)} "
                f"| {_mean([e['size_mb'] for e in seeds], 3)} "
                f"| {sum(e['meets'] for e in seeds)}/{len(seeds)} "
                f"| {_mean([e['trials'] for e in seeds], 0)} | {'; '.join(picks)[:120]} |"
            )
        lines += ["", *_rules_table(runs, kind, sets_in_order), ""]
    return lines


def _rules_table(runs: list[dict], kind: Limits, sets_in_order: list[str]) -> list[str]:
    """tradeoff's test figure under each selection rule: the most accurate pick (the default)
    and ``--prefer cheaper`` (its cheaper twin where it has one, else the same pick)."""
    mine = [
        r
        for r in runs
        if r["contender"] == "tradeoff" and r["limits"] == kind.name and r.get("test") is not None
    ]
    if not any("twin" in r for r in mine):
        return []
    lines = [
        f"Selection rules under `{kind.name}` (tradeoff's test figure, mean [min, max] over seeds; "
        "search p95 of the twin over the pick's):",
        "",
        "| set | most accurate (default) | --prefer cheaper | twins | twin p95 / pick p95 |",
        "|---|---|---|---|---|",
    ]
    accurate_all, cheaper_all = [], []
    for set_name in sets_in_order:
        seeds = [r for r in mine if r["set"] == set_name and "twin" in r]
        if not seeds:
            continue
        accurate = [r["test"][0] for r in seeds]
        cheaper = [(r["twin"] or r)["test"][0] for r in seeds]
        ratios = [r["twin"]["search_p95_ms"] / r["search_p95_ms"] for r in seeds if r["twin"]]
        if seeds[0]["metric"] == "accuracy":  # one mean over sets of one metric
            accurate_all.append(statistics.fmean(accurate))
            cheaper_all.append(statistics.fmean(cheaper))
        lines.append(
            f"| {set_name} | {_spread(accurate)} | {_spread(cheaper)} "
            f"| {sum(r['twin'] is not None for r in seeds)}/{len(seeds)} | {_mean(ratios, 2)} |"
        )
    if accurate_all:
        lines.append(
            f"| mean accuracy over the {len(accurate_all)} accuracy sets "
            f"| {statistics.fmean(accurate_all):.3f} | {statistics.fmean(cheaper_all):.3f} | | |"
        )
    return lines


def _provenance(results) -> str:
    parts = []
    for i, inv in enumerate(results.invocations):
        held = sum(r.get("invocation") == i for r in results.runs)
        if not held:  # every run of it was run again later
            continue
        load = inv.get("load_before"), inv.get("load_after")
        loads = " → ".join("-" if x is None else f"{x[0]:.1f}/{x[2]:.1f}" for x in load)
        parts.append(
            f"- invocation {i}: commit `{inv['commit']}`, {inv['started']}, {inv['cpu']} "
            f"({inv['cores']} cores; flags {', '.join(inv['cpu_flags']) or 'none of note'}), "
            f"reference p95 {inv['reference_p95_ms']:.4f} ms, load average (1/15 min) {loads}, "
            f"`python -m benchmarks.suite {' '.join(inv['argv'])}`; {held} of the runs below"
        )
    seeds = sorted({r["seed"] for r in results.runs})
    budgets = sorted({r["budget_s"] for r in results.runs})
    return (
        f"Seeds {', '.join(map(str, seeds))}; search budget {', '.join(f'{b:g} s' for b in budgets)} "
        f"per run; {len(results.runs)} runs.\n" + "\n".join(parts)
    )


def write_section(path: Path, lines: list[str], collection: str) -> None:
    """Replace the section of ``collection`` in ``path`` (appended when it has none)."""
    start, end = START.format(collection), END.format(collection)
    text = path.read_text() if path.is_file() else ""
    body = "\n".join([start, *lines, end])
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + body + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text)
