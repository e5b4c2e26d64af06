"""Run nbgrader for real in a throw-away course directory: release, submit, autograde, read grades.

The course directory is a temporary folder holding a copy of the repository's ``nbgrader_config.py``
(whose ``CourseDirectory.root = "."`` then means that folder) and of ``solutions/<id>/``; nbgrader is
run there as an instructor would run it from the repository root. Submissions are built in code
from the notebooks themselves (see ``grading_variants.py``), never kept as hand-edited fixtures.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # nbgrader runs `alembic` from PATH when it creates the gradebook
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*(\n|\Z)", re.M)


def nbgrader(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in ``course``; the output is returned, never printed."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter")  # a user's own nbgrader config stays out
    env.setdefault("OMP_NUM_THREADS", "1")  # tiny tensors: threads only slow a shared CI machine down
    return subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=timeout)


def make_course(tmp: Path, assignment: str) -> Path:
    """A course directory with the repository's config and the assignment's source notebook."""
    course = tmp / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions" / assignment, course / "solutions" / assignment)
    return course


def release(course: Path, assignment: str) -> Path:
    """``nbgrader generate_assignment``; returns the student notebook it wrote."""
    done = nbgrader(course, "generate_assignment", assignment, "--force")
    path = course / "notebooks" / assignment / f"{assignment}.ipynb"
    if done.returncode != 0 or not path.exists():
        raise RuntimeError(f"generate_assignment {assignment} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return path


def comparable(nb: nbformat.NotebookNode) -> dict:
    """What must match between the committed and a freshly generated student notebook.

    Outputs and execution counts are left out (a released notebook has none, and an instructor who
    ran one by mistake changed nothing a student sees); everything else, including nbgrader's cell
    metadata and checksums (computed from the sources, so stable between runs), must be identical.
    """
    return {
        "metadata": dict(nb.metadata),
        "cells": [{"cell_type": c.cell_type, "source": c.source, "metadata": dict(c.metadata)} for c in nb.cells],
    }


def solution_source(cell_source: str) -> str:
    """A solution cell's code as the instructor wrote it, without the ``### BEGIN/END SOLUTION`` lines."""
    return SOLUTION_MARKERS.sub("", cell_source)


def solution_cells(source_nb: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> solution code, for every cell a student writes."""
    return {c.metadata["nbgrader"]["grade_id"]: solution_source(c.source)
            for c in source_nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


def submit(course: Path, assignment: str, student: str, nb: nbformat.NotebookNode) -> None:
    """Place a notebook where ``nbgrader autograde`` looks: submitted/<student>/<id>/<id>.ipynb."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{assignment}.ipynb")


@dataclass
class Graded:
    """What autograde recorded for one student."""
    score: float
    max_score: float
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)  # test cell grade_id -> (score, max)
    errors: dict[str, str] = field(default_factory=dict)  # test cell grade_id -> error text a student reads


def autograde(course: Path, assignment: str, students: list[str]) -> tuple[subprocess.CompletedProcess, dict[str, Graded]]:
    """``nbgrader autograde`` for every submitted student at once; scores come from the gradebook."""
    from nbgrader.api import Gradebook  # imported late: only the grading tests need it

    done = nbgrader(course, "autograde", assignment, "--force")
    results: dict[str, Graded] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            sub = gb.find_submission_notebook(assignment, assignment, student)
            graded = Graded(score=sub.score, max_score=sub.max_score)
            for grade in sub.grades:
                graded.cells[grade.name] = (grade.score, grade.max_score)
            results[student] = graded
    for student, graded in results.items():
        path = course / "autograded" / student / assignment / f"{assignment}.ipynb"
        if path.exists():
            for cell in nbformat.read(path, as_version=4).cells:
                # the judge's verdict (an error) and the notebook's own test's message, which the judge keeps as
                # advice ("The notebook's own test raised ..."): both are what the student reads about a test
                errs = [f"{o.ename}: {o.evalue}" for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                errs += [o.text for o in cell.get("outputs", []) if o.get("output_type") == "stream"
                         and o.get("text", "").startswith("The notebook's own test raised")]
                if errs:
                    gid = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
                    graded.errors[gid] = "\n".join(errs)
    return done, results


# ------------------------------------------------------------------------ hidden tests in the feedback
HIDDEN_REGION = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n(.*?)^[ \t]*### END HIDDEN TESTS", re.M | re.S)
TRACEBACK_PREFIX = re.compile(r"^\s*-*>?\s*\d+\s")


def hidden_lines(source_nb: nbformat.NotebookNode) -> set[str]:
    """Every line (stripped, non-empty) inside a ``### BEGIN/END HIDDEN TESTS`` region of the source notebook."""
    return {line.strip() for c in source_nb.cells if c.cell_type == "code"
            for region in HIDDEN_REGION.findall(c.source) for line in region.splitlines() if line.strip()}


def html_text(path: Path) -> str:
    """The text a reader sees in an HTML file (tags, styles and scripts removed, entities decoded)."""
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("style", "script")

        def handle_endtag(self, tag):
            self.skip -= tag in ("style", "script")

        def handle_data(self, data):
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return "".join(parser.parts)


def leaked_lines(text: str, hidden: set[str], shown: list[nbformat.NotebookNode]) -> list[str]:
    """The hidden-test lines that ``text`` shows.

    A hidden line that also occurs inside a line of a notebook the student has anyway (``shown``: the released
    notebook, their own submission) is no secret and is not counted (``try:``, ``)``, a call that the visible
    tests make too). A hidden line counts as shown when a line of ``text`` is that line (after IPython's
    traceback prefix ``---> 12``), or, for lines of 20 characters or more, when a line of ``text`` contains it.
    """
    theirs = [line.strip() for nb in shown for c in nb.cells for line in c.source.splitlines()]
    secrets = [h for h in hidden if not any(h in line for line in theirs)]
    lines = [TRACEBACK_PREFIX.sub("", line).strip() for line in text.splitlines()]
    exact = set(lines)
    return sorted(h for h in secrets if h in exact or (len(h) >= 20 and any(h in line for line in lines)))
