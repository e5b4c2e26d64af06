"""The recorded benchmark figures as Markdown tables, each with the conditions it was measured under.

    python benchmarks/report.py [--results DIR]

Reads every ``*.json`` record the benchmark scripts wrote into ``benchmarks/results/`` (``--json``)
and prints one section per record: what was measured, the figures, and the machine, device, thread
count, torch version, date and load average of that run. The Speed chapter of the book shows the
same text (``from report import results_markdown``), so the book quotes recorded figures without
anyone copying numbers by hand.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, Sequence

RESULTS = Path(__file__).resolve().parent / "results"


def load_results(results_dir: str | Path = RESULTS) -> list[tuple[str, dict[str, Any]]]:
    """``(file name, record)`` for each readable ``*.json`` in ``results_dir``, sorted by name.

    A file that is not valid JSON, or not a JSON object, is reported as ``(name, {"error": …})``
    rather than hiding the others.
    """
    out = []
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            rec = {"error": f"unreadable: {err}"}
        if not isinstance(rec, dict):
            rec = {"error": f"expected a JSON object, got {type(rec).__name__}"}
        out.append((path.name, rec))
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (numbers to 4 significant digits, thousands separated)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def conditions_line(rec: dict[str, Any]) -> str:
    """Machine, device, threads, torch, date and load average of one record, as one sentence."""
    device = rec.get("device", "?")
    if rec.get("gpu"):
        device = f"{device} ({rec['gpu']})"
    load = rec.get("load_average")
    after = rec.get("load_average_after")  # autograde.py records the load before and after its run
    if load and isinstance(after, list):
        load_txt = (f", load average {' / '.join(str(x) for x in load)} at the start and "
                    f"{' / '.join(str(x) for x in after)} at the end")
    else:
        load_txt = f", load average {' / '.join(str(x) for x in load)} at the end" if load else ""
    flags = f", {' '.join(rec['cpu_flags'])}" if rec.get("cpu_flags") else ""
    return (f"Measured {rec.get('date', '?')} on {rec.get('machine', '?')} ({rec.get('logical_cpus', '?')} logical "
            f"CPUs{flags}), device {device}, {rec.get('threads', '?')} torch threads, torch {rec.get('torch', '?')}"
            f"{load_txt}.")


def _charlm(rec: dict[str, Any]) -> str:
    m, t = rec.get("model_config", {}), rec.get("train_config", {})
    rows = [
        ["model", f"{m.get('num_layers')} x {m.get('hidden_size')} LSTM, E={m.get('embed_dim')}, "
                  f"dropout {m.get('dropout')} ({_fmt(rec.get('parameters'))} parameters)"],
        ["batch", f"B={t.get('batch_size')} streams x T={t.get('bptt')} steps, AdamW lr {t.get('lr')}, "
                  f"autocast {rec.get('amp_dtype_used', t.get('amp_dtype'))}"],
        ["wall-clock budget (s)", rec.get("budget_seconds")],
        ["optimiser steps", rec.get("steps")],
        ["characters / s", rec.get("chars_per_second")],
        ["epochs of the training text", rec.get("epochs")],
        ["train loss, last 50 steps (nats/char)", rec.get("train_loss_last50")],
        ["**held-out loss (nats/char)**", rec.get("val_nats_per_char")],
        ["held-out loss (bits/char)", rec.get("val_bits_per_char")],
    ]
    return ("Character LM trained for a fixed wall-clock budget on the first 90% of "
            f"`{Path(str(rec.get('text', '?'))).name}`, scored on the last 10%.\n\n" + table(["", "value"], rows))


def _cell(rec: dict[str, Any]) -> str:
    rows = [[r["implementation"], 1000 * r["seconds"], r["chars_per_s"], r["time_vs_nn_lstm"]]
            for r in rec.get("results", [])]
    return (f"One LSTM layer, forward + backward, B={rec.get('B')}, T={rec.get('T')}, H={rec.get('H')}.\n\n"
            + table(["implementation", "ms", "characters / s", "time / nn.LSTM"], rows))


def _generation(rec: dict[str, Any]) -> str:
    results = rec.get("results", [])
    lengths = sorted({r["length"] for r in results})
    methods = list(dict.fromkeys(r["method"] for r in results))
    seconds = {(r["method"], r["length"]): r["seconds"] for r in results}
    rows = []
    for method in methods:
        times = [seconds.get((method, n)) for n in lengths]
        growth = times[-1] / times[0] if len(times) > 1 and times[0] and times[-1] else None
        rows.append([method, *times, growth])
    header = ["method", *(f"{n:,} chars (s)" for n in lengths), f"time for {lengths[-1] // lengths[0]}x the length"
              if len(lengths) > 1 else "-"]
    return (f"Generation from a {rec.get('layers')} x {rec.get('hidden')} CharLM: carried state versus re-feeding "
            "the prefix.\n\n" + table(header, rows))


def _book_build(rec: dict[str, Any]) -> str:
    rows = [[stem, s] for stem, s in rec.get("chapters", {}).items()]
    rows += [["all chapters executed (sum)", rec.get("chapters_total_seconds")],
             ["whole build, clean cache (wall)", rec.get("clean_build_wall_seconds")],
             ["whole build, cached rebuild (wall)", rec.get("cached_build_wall_seconds")]]
    return "The book built from a clean execution cache, then rebuilt from the cache.\n\n" + table(
        ["chapter / phase", "seconds"], rows)


def _autograde(rec: dict[str, Any]) -> str:
    rows = [[name, s] for name, s in rec.get("seconds_per_submission", {}).items()]
    rows.append([f"whole class of {rec.get('students')} students, every step (wall)", rec.get("class_wall_seconds")])
    if rec.get("parallel"):
        rows.append([f"the same, graded in {rec['parallel'].get('jobs')} shards in parallel (wall)",
                     rec["parallel"].get("class_wall_seconds")])
    return "nbgrader autograding.\n\n" + table(["assignment", "seconds per submission"], rows)


def spread_text(s: dict[str, Any] | None) -> str:
    """A peer.py summary entry as "mean ± sd [min, max]" (4 decimals), "-" where there is none."""
    if not s:
        return "-"
    return f"{s['mean']:.4f} ± {s['sd']:.4f} [{s['min']:.4f}, {s['max']:.4f}]"


def _peer(rec: dict[str, Any]) -> str:
    rows = []
    for name, s in rec.get("summary", {}).items():
        cfg = next((r.get("model_config", {}) for r in rec.get("runs", []) if r.get("model") == name), {})
        size = (f"{cfg.get('n_layer')} x {cfg.get('n_embd')}, context {cfg.get('block_size')}" if "n_layer" in cfg
                else f"{cfg.get('num_layers')} x {cfg.get('hidden_size')}")
        rows.append([f"{name} ({size})", s.get("parameters"), s.get("runs"), s.get("steps", {}).get("mean"),
                     s.get("chars_per_second", {}).get("mean"), spread_text(s.get("val_nats_windows")),
                     spread_text(s.get("val_nats_carried"))])
    return (f"The LSTM default and a small transformer, {_fmt(rec.get('budget_seconds'))} s each on the first 90% of "
            f"`{Path(str(rec.get('text', '?'))).name}`, seeds {rec.get('seeds')}; held-out nats/char, mean ± sd "
            f"[min, max]: (a) windows of {rec.get('window')} characters read from scratch, (b) the LSTM's state "
            "carried through the whole held-out text.\n\n"
            + table(["model", "parameters", "runs", "steps (mean)", "chars/s (mean)", "(a) windows", "(b) carried"], rows))


_KINDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "charlm": _charlm, "cell": _cell, "generation": _generation, "book_build": _book_build, "autograde": _autograde,
    "peer": _peer,
}


def record_markdown(name: str, rec: dict[str, Any]) -> str:
    """One record as a Markdown section: heading, figures, conditions."""
    if "error" in rec:
        return f"**{name}**: {rec['error']}"
    kind = rec.get("benchmark", "?")
    body = _KINDS[kind](rec) if kind in _KINDS else f"(no summary for benchmark kind {kind!r})"
    return f"**{name}** ({kind}). {body}\n\n{conditions_line(rec)}"


def results_markdown(results_dir: str | Path = RESULTS) -> str:
    """Every record in ``results_dir`` as Markdown, or a sentence saying there is none."""
    records = load_results(results_dir)
    if not records:
        return f"No recorded benchmark results in `{results_dir}`."
    return "\n\n".join(record_markdown(name, rec) for name, rec in records)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=str(RESULTS), help="folder of benchmark JSON records "
                   "(default: benchmarks/results)")
    args = p.parse_args(argv)
    if not Path(args.results).is_dir():
        p.error(f"expected --results to be a folder, got {args.results}")
    text = results_markdown(args.results)
    print(text)
    return text


if __name__ == "__main__":
    main()
