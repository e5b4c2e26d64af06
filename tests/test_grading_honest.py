"""An honest class, graded for real: correct answers written in ordinary Python styles all get full marks.

Every variant of ``honest_class.py`` (module-level state, debug output to either stream, helper classes, dataclasses,
namespaces, named tuples, ``vars()``, TorchScript helpers, activations looked up by name over a literal list,
recursion, NumPy, a self-check against PyTorch beside the answer, ``functools``, ``itertools``, type hints, asserts,
a helper in a cell the student added, a ``try``/``except`` fallback), plus the untouched solution, is submitted and
graded by ``nbgrader autograde`` in one course with the repository's configuration (static scan on), one
``autograde`` run per assignment. Each must score full marks, and nbgrader's log must hold no ``TAMPER`` line naming
that student (the judge logs findings that zero a notebook as ``TAMPER <student>/<assignment>/<notebook>: ...``;
advisory ``REVIEW ...`` lines are allowed).

    .venv/bin/python -m pytest tests/test_grading_honest.py -q -p no:cacheprovider -k gates   # one assignment
"""
from __future__ import annotations

import re
import shutil

import nbformat
import pytest

from grading_variants import Variant
from honest_class import HONEST, submission
from nbgrader_course import REPO, autograde, make_course, release, solution_cells, submit

pytestmark = pytest.mark.slow

SOLUTION = "solution"  # the instructor's solution, handed in unchanged: the control


def student_id(name: str) -> str:
    """A student id from a variant's name: lowercase letters, digits and '-'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def test_variant_names_are_distinct_students():
    ids = [student_id(v.name) for variants in HONEST.values() for v in variants]
    assert len(ids) == len(set(ids)) and SOLUTION not in ids
    assert all(re.fullmatch(r"[a-z0-9-]+", s) for s in ids)
    assert all(not v.lose for variants in HONEST.values() for v in variants), "an honest variant loses nothing"
    assert sum(map(len, HONEST.values())) >= 24 and all(len(v) >= 5 for v in HONEST.values())


_RUN: dict = {}


class _Class(dict):
    """assignment -> its graded honest class, graded on first use (so that `-k gates` grades one notebook)."""

    def __init__(self, course):
        super().__init__()
        self.course = course

    def __missing__(self, assignment):
        self[assignment] = _grade_class(self.course, assignment)
        return self[assignment]


@pytest.fixture(scope="module")
def honest_class(tmp_path_factory):
    if not _RUN:
        course = make_course(tmp_path_factory.mktemp("honest"), "gates")
        for assignment in HONEST:
            if assignment != "gates":
                shutil.copytree(REPO / "solutions" / assignment, course / "solutions" / assignment)
        with open(course / "nbgrader_config.py", "a") as f:  # the repository's configuration, shorter limits
            f.write("\nc.GradingExecute.timeout = 15\nc.GradingExecute.memory_limit = 2 * 2**30\n")
        _RUN["class"] = _Class(course)
    return _RUN["class"]


def _grade_class(course, assignment: str) -> dict:
    released = nbformat.read(release(course, assignment), as_version=4)
    answers = solution_cells(nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4))
    students = {SOLUTION: submission(released, answers, Variant(SOLUTION))}
    students.update({student_id(v.name): submission(released, answers, v) for v in HONEST[assignment]})
    for student, nb in students.items():
        submit(course, assignment, student, nb)
    done, results = autograde(course, assignment, list(students))
    print(f"\n{assignment}: " + ", ".join(f"{s} {r.score:g}/{r.max_score:g}" for s, r in results.items()))
    for line in (done.stdout + "\n" + done.stderr).splitlines():  # the findings, for the record
        if re.match(r"^(?:\[[^\]]*\]\s*)?(TAMPER|REVIEW) ", line.strip()):
            print(line[:300])
    return dict(done=done, results=results, log=done.stdout + "\n" + done.stderr, course=course)


def _stderr_cells(course, assignment: str, student: str) -> list[str]:
    """Graded cells of the autograded notebook with output on stderr (nbgrader's own rule scores such a cell 0)."""
    path = course / "autograded" / student / assignment / f"{assignment}.ipynb"
    if not path.exists():
        return []
    return [c.metadata["nbgrader"]["grade_id"] for c in nbformat.read(path, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade") and any(
                o.get("output_type") == "stream" and o.get("name") == "stderr" for o in c.get("outputs", []))]


def _log_lines(log: str, student: str) -> list[str]:
    """The log lines that name ``student`` as the judge does (``<student>/<assignment>``)."""
    return [line for line in log.splitlines() if f"{student}/" in line or f" {student} " in line]


def _tamper_lines(log: str, student: str) -> list[str]:
    """Lines starting with ``TAMPER <student>/`` (after nbgrader's ``[AutogradeApp | WARNING]`` prefix, if any)."""
    pattern = re.compile(rf"^(?:\[[^\]]*\]\s*)?TAMPER {re.escape(student)}/")
    return [line for line in log.splitlines() if pattern.match(line.strip())]


@pytest.mark.parametrize("assignment", list(HONEST))
def test_autograde_grades_every_honest_student(honest_class, assignment):
    run = honest_class[assignment]
    assert run["done"].returncode == 0, run["log"][-3000:]
    assert set(run["results"]) == {SOLUTION} | {student_id(v.name) for v in HONEST[assignment]}


CASES = [(a, SOLUTION) for a in HONEST] + [(a, v.name) for a, variants in HONEST.items() for v in variants]


@pytest.mark.parametrize("assignment,name", CASES,
                         ids=[f"{a}-{SOLUTION}" if n == SOLUTION else student_id(n) for a, n in CASES])
def test_honest_answer_gets_full_marks(honest_class, assignment, name):
    run = honest_class[assignment]
    student = student_id(name)
    graded = run["results"][student]
    cells = ", ".join(f"{cell} {s:g}/{m:g}" for cell, (s, m) in sorted(graded.cells.items()))
    errors = "\n".join(f"  {cell}: {text[:600]}" for cell, text in sorted(graded.errors.items()))
    said = "\n".join(f"  {line[:600]}" for line in _log_lines(run["log"], student))
    stderr = _stderr_cells(run["course"], assignment, student)
    assert graded.score == graded.max_score, (
        f"{name}: {graded.score:g} of {graded.max_score:g}\ncells: {cells}\nerrors:\n{errors}\nlog:\n{said}"
        + (f"\ngraded cells with output on stderr: {', '.join(stderr)}" if stderr else ""))
    tamper = _tamper_lines(run["log"], student)
    assert not tamper, f"{name}: the judge logged a zeroing finding:\n" + "\n".join(tamper)
