"""A class graded in shards (lstm_course.grading.shard) gets exactly the serial run's grades.

One small class of ``gates`` submissions (right, wrong, untouched, partly right, unreadable) is graded three
times, each in its own course directory: serially with ``nbgrader autograde``; with ``run --jobs 2``; and with
the ``grade`` / ``merge`` commands exactly as a job array calls them, shard by shard, with a shard that has not
finished when the first merge runs. Every grade of every test cell must equal the serial run's; merging twice
must add no row; feedback and export work on the merged course.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys

import nbformat
import pytest

from nbgrader_course import REPO, make_course, nbgrader, release, solution_cells, submit

pytestmark = pytest.mark.slow
A = "gates"
WRONG_CELL = "def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n    return state[0] * 0, state[1] * 0\n"


def _class(course):
    released = release(course, A)
    answers = solution_cells(nbformat.read(REPO / "solutions" / A / f"{A}.ipynb", as_version=4))
    stub = nbformat.read(released, as_version=4)
    for student, changes in (("ada", {}), ("alan", {"lstm_cell": WRONG_CELL}), ("grace", None),
                             ("edsger", {"lstm_cell": None, "lstm_layer": None}), ("barbara", {})):
        nb = nbformat.read(released, as_version=4)
        if changes is not None:
            for cell in nb.cells:
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if gid in answers:
                    new = changes.get(gid, answers[gid])
                    cell.source = stub.cells[nb.cells.index(cell)].source if new is None else new
        submit(course, A, student, nb)
    (course / "submitted" / "barbara" / A / f"{A}.ipynb").write_bytes(b"")  # unreadable: graded 0, logged


def _grades(course) -> dict[tuple[str, str], tuple]:
    with sqlite3.connect(course / "gradebook.db") as db:
        rows = db.execute(
            "select student.id, base_cell.name, grade.auto_score, grade.manual_score, grade.needs_manual_grade "
            "from grade join submitted_notebook on grade.notebook_id = submitted_notebook.id "
            "join submitted_assignment on submitted_notebook.assignment_id = submitted_assignment.id "
            "join student on submitted_assignment.student_id = student.id "
            "join base_cell on grade.cell_id = base_cell.id").fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def _counts(course) -> tuple[int, ...]:
    with sqlite3.connect(course / "gradebook.db") as db:
        return tuple(db.execute(f"select count(*) from {t}").fetchone()[0]
                     for t in ("student", "submitted_assignment", "submitted_notebook", "grade", "comment"))


def _shard(course, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lstm_course.grading.shard", *args], cwd=course,
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("serial"), A)
    _class(course)
    nbgrader(course, "autograde", A)
    return course


def test_serial_reference_graded_everyone(serial):
    grades = _grades(serial)
    assert {s for s, _ in grades} == {"ada", "alan", "grace", "edsger", "barbara"}
    assert sum(v[0] for (s, _), v in grades.items() if s == "ada") == 11
    assert sum(v[0] for (s, _), v in grades.items() if s == "alan") == 6


def test_run_with_two_jobs_gives_the_serial_grades(serial, tmp_path):
    course = make_course(tmp_path, A)
    _class(course)
    done = _shard(course, "run", A, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert _grades(course) == _grades(serial)
    assert sorted(p.parent.name for p in (course / "autograded").glob(f"*/{A}")) == ["ada", "alan", "edsger", "grace"]
    assert nbgrader(course, "generate_feedback", A).returncode == 0
    assert len(list((course / "feedback").glob(f"*/{A}/{A}.html"))) == 4
    assert nbgrader(course, "export", "--to", "grades.csv").returncode == 0
    assert (course / "grades.csv").read_text().count(f"\n{A},") == 5


def test_grade_and_merge_as_a_job_array_calls_them(serial, tmp_path):
    course = make_course(tmp_path, A)
    _class(course)
    assert _shard(course, "grade", A, "--shards", "2", "--index", "0").returncode == 0
    # shard 1 has not run (a failed or pending task): the merge takes shard 0, names shard 1, exits 1
    partial = _shard(course, "merge", A, "--shards", "2")
    assert partial.returncode == 1 and "shard(s) 1 of 2" in partial.stderr
    first = sorted(["ada", "alan", "barbara", "edsger", "grace"])[0::2]
    assert {s for s, _ in _grades(course)} == set(first)
    # the missing shard is rerun alone, then merged; merging again changes nothing
    assert _shard(course, "grade", A, "--shards", "2", "--index", "1").returncode == 0
    assert _shard(course, "merge", A, "--shards", "2").returncode == 0
    assert _grades(course) == _grades(serial)
    counts = _counts(course)
    assert _shard(course, "merge", A, "--shards", "2").returncode == 0
    assert _counts(course) == counts and counts == _counts(serial)
    # a shard graded again (e.g. a task retried by the scheduler) replaces its results, duplicating nothing
    assert _shard(course, "grade", A, "--shards", "2", "--index", "0").returncode == 0
    assert _shard(course, "merge", A, "--shards", "2").returncode == 0
    assert _counts(course) == counts and _grades(course) == _grades(serial)


def test_bad_shard_arguments_are_refused(tmp_path):
    course = make_course(tmp_path, A)
    done = _shard(course, "grade", A, "--shards", "2", "--index", "2")
    assert done.returncode == 2 and "gradebook.db" in done.stderr
    release(course, A)
    done = _shard(course, "grade", A, "--shards", "2", "--index", "2")
    assert done.returncode == 2 and "expected 0 <= index < shards, got index 2 of 2" in done.stderr
