"""Mutation score of the core modules: how many small planted bugs their unit tests catch.

Not a CI gate (it takes minutes per module); run it by hand after changing a module or its tests:

    .venv/bin/python -m pip install mutmut==3.8.1     # the tool this script drives (not in requirements.txt)
    nice .venv/bin/python benchmarks/mutation.py                  # every core module
    nice .venv/bin/python benchmarks/mutation.py sampling vocab   # some of them

For each module ``M`` it copies ``lstm_course/`` and ``tests/test_M.py`` (with ``conftest.py``; ``EXTRA_TESTS`` names
more test files where a module's tests are split, e.g. cell's RNN/GRU tests) into a scratch
folder, runs ``mutmut run`` there with only ``lstm_course/M.py`` mutated and only ``tests/test_M.py`` as the
tests (a module's own unit tests must catch its bugs), and records killed / survived / timeout / no-tests counts
with the date and the machine in ``benchmarks/results/mutation/mutation.json`` (merged: modules not re-run keep their
last record). Survivors are listed by mutmut name with their diff, so each can be killed by a test or explained
as equivalent in ``benchmarks/results/mutation/equivalent.json``; the score reported is
killed / (mutants - equivalent).
"""
from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# a folder of its own: report.py and the Speed chapter show every *.json directly in results/
RESULTS = REPO / "benchmarks" / "results" / "mutation" / "mutation.json"
EQUIVALENT = REPO / "benchmarks" / "results" / "mutation" / "equivalent.json"
# a module's unit tests: tests/test_<module>.py, plus these where its tests are split across files
EXTRA_TESTS = {"cell": ["test_cell_rnn_gru.py"]}
CORE = ["cell", "data", "training", "sampling", "models", "checkpoint", "vocab", "seq2seq", "tagging"]
MUTMUT_VERSION = "3.8.1"

SETUP_CFG = """[mutmut]
source_paths = lstm_course/
only_mutate = lstm_course/{module}.py
pytest_add_cli_args_test_selection ={tests}
pytest_add_cli_args =
    -p
    no:cacheprovider
    -m
    not slow
process_isolation = forkserver
use_git_change_detection = false
"""


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def _mutmut(args: list[str], cwd: Path, timeout: float | None = None, log=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=cwd, env=env, text=True,
                          stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


def _function(source: str, name: str) -> list[str]:
    m = re.search(r"^([ \t]*)def " + re.escape(name) + r"\(.*?(?=\n\1?(?:def |class |@|\S))", source, re.S | re.M)
    # the whole definition, signature included (defaults are mutated too), under one name so only changes show
    return m.group(0).replace(name, "<function>").splitlines() if m else []


def _diff(source: str, mutant: str) -> str:
    """The changed lines of one mutant: mutmut keeps each mutant as its own copy of the function in the
    mutated file (``…__mutmut_7`` beside ``…__mutmut_orig``), so the diff is read there, with no subprocess."""
    fn = mutant.rsplit(".", 1)[-1]
    orig = re.sub(r"__mutmut_\d+$", "__mutmut_orig", fn)
    lines = difflib.unified_diff(_function(source, orig), _function(source, fn), lineterm="", n=0)
    return "\n".join(l.rstrip() for l in lines
                     if l[:1] in "+-" and l[1:].strip() and not l.startswith(("+++", "---")))


def _test_files(module: str) -> list[str]:
    return [f"test_{module}.py", *EXTRA_TESTS.get(module, [])]


def run_module(module: str, work: Path, max_children: int, timeout: float) -> dict:
    d = work / module
    shutil.rmtree(d, ignore_errors=True)
    (d / "tests").mkdir(parents=True)
    shutil.copytree(REPO / "lstm_course", d / "lstm_course", ignore=shutil.ignore_patterns("__pycache__"))
    tests = _test_files(module)
    for name in ("conftest.py", "booktools.py", *tests):
        shutil.copy(REPO / "tests" / name, d / "tests" / name)
    shutil.copy(REPO / "pyproject.toml", d / "pyproject.toml")
    (d / "setup.cfg").write_text(SETUP_CFG.format(module=module, tests="".join(f"\n    tests/{t}" for t in tests)))
    start = time.perf_counter()
    finished = True
    with open(d / "mutmut-run.log", "w") as log:
        try:
            _mutmut(["run", "--max-children", str(max_children)], d, timeout=timeout, log=log)
        except subprocess.TimeoutExpired:
            finished = False
    seconds = time.perf_counter() - start
    statuses: dict[str, str] = {}
    out = _mutmut(["results", "--all", "true"], d).stdout
    for line in out.splitlines():
        m = re.match(r"\s+(\S+): (.+)$", line)
        if m:
            statuses[m.group(1)] = m.group(2).strip()
    counts: dict[str, int] = {}
    for s in statuses.values():
        counts[s] = counts.get(s, 0) + 1
    mutated = d / "mutants" / "lstm_course" / f"{module}.py"
    source = mutated.read_text() if mutated.exists() else ""
    survivors = {name: {"status": s, "diff": _diff(source, name)} for name, s in sorted(statuses.items())
                 if s in ("survived", "no tests", "timeout", "suspicious")}
    return {"counts": counts, "mutants": len(statuses), "finished": finished, "seconds": round(seconds, 1),
            "survivors": survivors, "log_tail": (d / "mutmut-run.log").read_text()[-2000:] if not statuses else None}


def _score(r: dict, equivalent: dict[str, str]) -> None:
    """killed / (mutants - equivalent); survivors listed in ``equivalent`` carry their reason."""
    for name, s in r["survivors"].items():
        s.pop("equivalent", None)
        if name in equivalent:
            s["equivalent"] = equivalent[name]
    eq = sum("equivalent" in s for s in r["survivors"].values())
    killed = r["counts"].get("killed", 0)
    scored = r["mutants"] - eq
    r.update(killed=killed, equivalent=eq, score=round(killed / scored, 4) if scored else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", default=CORE, help=f"core modules (default: all of {CORE})")
    ap.add_argument("--max-children", type=int, default=2, help="parallel mutant runs (default: 2)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per module before giving up (default: 3600)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--rescore", action="store_true",
                    help="only re-apply mutation-equivalent.json to the recorded modules (no mutmut run)")
    args = ap.parse_args()
    bad = [m for m in args.modules if m not in CORE]
    if bad:
        ap.error(f"expected modules from {CORE}, got {bad}")
    if args.rescore:
        record = json.loads(RESULTS.read_text())
        equivalent = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
        for module, r in record["modules"].items():
            _score(r, equivalent.get(module, {}))
            print(f"[{module}] {r['mutants']} mutants, {r['killed']} killed, {r['equivalent']} equivalent: "
                  f"score {r['score']:.1%}")
        RESULTS.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        return
    try:
        import mutmut  # noqa: F401
    except ImportError:
        sys.exit(f"mutation.py: expected mutmut to be installed: {sys.executable} -m pip install mutmut=={MUTMUT_VERSION}")
    work = args.work or Path(tempfile.mkdtemp(prefix="lstm-mutation-"))
    record = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"modules": {}}
    equivalent = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    for module in args.modules:
        print(f"[{module}] mutating lstm_course/{module}.py against {', '.join(_test_files(module))} ...", flush=True)
        r = run_module(module, work, args.max_children, args.timeout)
        _score(r, equivalent.get(module, {}))
        r.update(date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), machine=machine(),
                 tool=f"mutmut {MUTMUT_VERSION}")
        record["modules"][module] = r
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")  # after each module: partial runs count
        score = f"{r['score']:.1%}" if r["score"] is not None else "n/a"
        print(f"[{module}] {r['mutants']} mutants in {r['seconds']:.0f} s: {r['counts']}; {r['equivalent']} equivalent; "
              f"score {score}{'' if r['finished'] else ' (TIMED OUT: partial)'}", flush=True)
        for name, s in r["survivors"].items():
            if "equivalent" not in s:
                print(f"    {s['status']}: {name}\n        " + s["diff"].replace("\n", "\n        "))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
