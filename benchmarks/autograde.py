"""How long nbgrader takes to grade the course's notebooks: per submission, and a whole class end to end.

    python benchmarks/autograde.py --students 50 --json benchmarks/results/autograde.json
    python benchmarks/autograde.py --students 1                    # a quick check that it works

A temporary course directory gets the repository's ``nbgrader_config.py`` (the grading kernel with
its limits and sandbox, exactly as instructors run it) and ``solutions/``; every student hands in
every assignment answered with the instructor's solution (all test cells run to the end, which is the
slow case: a wrong answer fails early). Then, as in the guide: ``generate_assignment``,
``autograde`` (one call per assignment for the whole class), ``generate_feedback``, ``export``.

Reported: seconds of each step, seconds per submission-assignment for autograde (the step's time
divided by the number of students), and the whole class's wall time. ``--jobs J`` also grades the whole
class again, in a fresh course, with ``python -m lstm_course.grading.shard run <id> --jobs J`` instead of
``nbgrader autograde`` (J shards in parallel, each in its own copy of the course, merged into the one
gradebook), and reports that wall time. The machine's load average is recorded: the cores may be shared.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch

from _common import _ROOT, conditions, print_table, write_json

sys.path.insert(0, str(_ROOT / "tests"))  # the tests' course helpers: one implementation of the workflow
from nbgrader_course import nbgrader, solution_cells  # noqa: E402


def assignments() -> list[str]:
    return sorted(p.name for p in (_ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())


def make_course(folder: Path, ids: list[str]) -> Path:
    course = folder / "course"
    course.mkdir(parents=True)
    shutil.copy(_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for a in ids:
        shutil.copytree(_ROOT / "solutions" / a, course / "solutions" / a)
    return course


def timed(course: Path, *args: str) -> float:
    start = time.perf_counter()
    done = nbgrader(course, *args, timeout=24 * 3600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds


def hand_in(course: Path, ids: list[str], students: list[str]) -> None:
    """Every student submits every assignment, answered with the instructor's solution."""
    for a in ids:
        released = nbformat.read(course / "notebooks" / a / f"{a}.ipynb", as_version=4)
        answers = solution_cells(nbformat.read(course / "solutions" / a / f"{a}.ipynb", as_version=4))
        for cell in released.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in answers:
                cell.source = answers[gid]
        for s in students:
            folder = course / "submitted" / s / a
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(released, folder / f"{a}.ipynb")


def timed_shards(course: Path, assignment: str, jobs: int) -> float:
    """``python -m lstm_course.grading.shard run <assignment> --jobs J`` in ``course``; seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lstm_course.grading.shard", "run", assignment, "--jobs", str(jobs)],
                          cwd=course, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"grading.shard run {assignment} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def grade_class(course: Path, ids: list[str], students: list[str], jobs: int = 1) -> dict[str, float]:
    """Release, collect, autograde (in ``jobs`` shards when > 1), feedback, export; seconds per step."""
    steps: dict[str, float] = {}
    for a in ids:
        steps[f"generate_assignment {a}"] = timed(course, "generate_assignment", a, "--force")
    hand_in(course, ids, students)
    for a in ids:
        steps[f"autograde {a}"] = timed(course, "autograde", a) if jobs == 1 else timed_shards(course, a, jobs)
    for a in ids:
        steps[f"generate_feedback {a}"] = timed(course, "generate_feedback", a)
    steps["export"] = timed(course, "export", "--to", "grades.csv")
    return steps


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--students", type=int, default=50, help="class size (default: %(default)s)")
    p.add_argument("--assignments", nargs="*", default=None, help="assignment ids (default: every one in solutions/)")
    p.add_argument("--jobs", type=int, default=1, help="also grade with grading.shard run --jobs JOBS (default: %(default)s = no)")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    ids = args.assignments or assignments()
    unknown = set(ids) - set(assignments())
    if unknown:
        p.error(f"expected assignment ids from solutions/ ({', '.join(assignments())}), got {', '.join(sorted(unknown))}")
    if args.students < 1 or args.jobs < 1:
        p.error(f"expected --students >= 1 and --jobs >= 1, got {args.students} and {args.jobs}")
    students = [f"student{k:03d}" for k in range(args.students)]
    record = {"benchmark": "autograde", **conditions(torch.device("cpu")), "students": args.students,
              "assignments": ids}
    with tempfile.TemporaryDirectory(prefix="autograde_bench_") as tmp:
        start = time.perf_counter()
        steps = grade_class(make_course(Path(tmp) / "one", ids), ids, students)
        record["class_wall_seconds"] = time.perf_counter() - start
        record["steps_seconds"] = steps
        record["seconds_per_submission"] = {a: steps[f"autograde {a}"] / args.students for a in ids}
        if args.jobs > 1:
            start = time.perf_counter()
            sharded = grade_class(make_course(Path(tmp) / "sharded", ids), ids, students, jobs=args.jobs)
            record["parallel"] = {"jobs": args.jobs, "class_wall_seconds": time.perf_counter() - start,
                                  "steps_seconds": sharded}
        record["load_average_after"] = [round(x, 2) for x in __import__("os").getloadavg()]

    n = len(ids) * args.students
    print(f"autograding {args.students} students x {len(ids)} assignments on {record['machine']} "
          f"({record['logical_cpus']} logical CPUs, load average {record['load_average']} before, "
          f"{record['load_average_after']} after)")
    rows = [[name, s, s / args.students if name.startswith("autograde") else ""] for name, s in steps.items()]
    rows.append([f"whole class ({n} submission-assignments)", record["class_wall_seconds"],
                 record["class_wall_seconds"] / n])
    if "parallel" in record:
        rows.append([f"whole class, grading.shard run --jobs {record['parallel']['jobs']}", record["parallel"]["class_wall_seconds"],
                     record["parallel"]["class_wall_seconds"] / n])
    print_table(["step", "seconds", "per submission"], rows)
    write_json(args.json, record)
    return record


if __name__ == "__main__":
    main()
