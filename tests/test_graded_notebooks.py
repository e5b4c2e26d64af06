"""The graded notebooks, graded for real: nbgrader generate_assignment + autograde, scores from the gradebook.

For each assignment one temporary course directory is made, the student notebook is generated from
``solutions/<id>/<id>.ipynb`` with the repository's ``nbgrader_config.py``, every submission in
``grading_variants.py`` is placed under ``submitted/<student>/<id>/`` and ONE ``nbgrader autograde`` call
grades them all. The tests then check:

- ``notebooks/<id>/<id>.ipynb`` is exactly what generate_assignment produces (never edited by hand);
- the solution scores full marks, the untouched student notebook 0 (and the batch finishes);
- each wrong-but-plausible submission loses points in the function it gets wrong and keeps every other
  function's points (partial credit), and the student reads what is wrong in words;
- each correct alternative scores full marks.
"""
from __future__ import annotations

import re
import time

import nbformat
import pytest

import grading_variants
from nbgrader_course import REPO, autograde, comparable, make_course, release, solution_cells, submit

pytestmark = pytest.mark.slow

ASSIGNMENTS = {
    "gates": grading_variants.GATES,
    "detaching": grading_variants.DETACHING,
    "temperature": grading_variants.TEMPERATURE,
    "backward": grading_variants.BACKWARD,
}


def student_id(variant_name: str) -> str:
    # nbgrader student ids become folder names and database keys: keep them plain
    return re.sub(r"[^a-z0-9]+", "-", variant_name.lower()).strip("-")


def test_variant_names_are_distinct_students():
    for variants in ASSIGNMENTS.values():
        ids = [student_id(v.name) for v in variants]
        assert len(ids) == len(set(ids))


_RESULTS: dict[str, dict] = {}


def graded(assignment: str, tmp_path_factory) -> dict:
    """Release and autograde ``assignment`` once per test session; later calls reuse the result."""
    if assignment in _RESULTS:
        return _RESULTS[assignment]
    course = make_course(tmp_path_factory.mktemp(assignment), assignment)
    released_path = release(course, assignment)
    released = nbformat.read(released_path, as_version=4)
    source = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = solution_cells(source)
    variants = ASSIGNMENTS[assignment]
    for variant in variants:
        nb = nbformat.read(released_path, as_version=4)
        if not variant.untouched:
            grading_variants.answer(nb, answers, variant.changes, variant.name)
        if variant.after_tests:
            last = max(k for k, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade"))
            nb.cells[last + 1:last + 1] = [nbformat.v4.new_code_cell(src) for src in variant.after_tests]
        submit(course, assignment, student_id(variant.name), nb)
    start = time.perf_counter()
    done, results = autograde(course, assignment, [student_id(v.name) for v in variants])
    seconds = time.perf_counter() - start
    # which test cells check which function: test_<function> and test_<function>_hidden
    cells = [c.metadata["nbgrader"]["grade_id"] for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    owner = {cell: next(f for f in answers if cell in (f"test_{f}", f"test_{f}_hidden")) for cell in cells}
    _RESULTS[assignment] = dict(course=course, released=released, done=done, results=results,
                                seconds=seconds, owner=owner, variants={v.name: v for v in variants})
    print(f"\nautograde {assignment}: {len(variants)} submissions in {seconds:.1f} s")
    return _RESULTS[assignment]


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_committed_student_notebook_is_what_nbgrader_generates(assignment, tmp_path_factory):
    fresh = graded(assignment, tmp_path_factory)["released"]
    committed = nbformat.read(REPO / "notebooks" / assignment / f"{assignment}.ipynb", as_version=4)
    assert comparable(committed) == comparable(fresh), (
        f"notebooks/{assignment}/{assignment}.ipynb is out of date: run "
        f"`nbgrader generate_assignment {assignment} --force` from the repository root and commit the result")
    text = "\n".join(c.source for c in fresh.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_autograde_grades_every_submission(assignment, tmp_path_factory):
    run = graded(assignment, tmp_path_factory)
    assert run["done"].returncode == 0, run["done"].stdout + run["done"].stderr
    assert set(run["results"]) == {student_id(name) for name in run["variants"]}
    # every function is graded, by a visible and a hidden test cell
    for function in set(run["owner"].values()):
        assert {f"test_{function}", f"test_{function}_hidden"} <= set(run["owner"])


CASES = [(a, v.name) for a, variants in ASSIGNMENTS.items() for v in variants]


@pytest.mark.parametrize("assignment,name", CASES, ids=[f"{a}-{student_id(n)}" for a, n in CASES])
def test_score(assignment, name, tmp_path_factory):
    run = graded(assignment, tmp_path_factory)
    variant = run["variants"][name]
    result = run["results"][student_id(name)]
    assert result.max_score > 0
    if variant.untouched:
        assert result.score == 0, result.cells
        # every test cell ran and failed on the stubs, none was skipped by a hang or crash; the ungraded cells after
        # the tests (see it work, try it) call the stubs too, and fail without costing anything more
        assert set(result.errors) - set(ungraded_ids(run)) == set(run["owner"]), result.errors
        assert all("NotImplementedError" in err for cell, err in result.errors.items() if cell in run["owner"]), (
            result.errors)
        return
    lost = {cell: (score, top) for cell, (score, top) in result.cells.items() if score < top}
    if not variant.lose:
        assert result.score == result.max_score, f"a correct submission lost points: {lost}\n{result.errors}"
        return
    lost_functions = {run["owner"][cell] for cell in lost}
    assert lost_functions == set(variant.lose), (
        f"expected to lose points in {set(variant.lose)} only, lost {lost}\n{result.errors}")
    for function in variant.lose:
        feedback = "\n".join(err for cell, err in result.errors.items() if run["owner"].get(cell) == function)
        for words in variant.feedback:
            assert words in feedback, f"the student should read {words!r}; they read:\n{feedback}"


# ------------------------------------------------------------------------------ the ungraded part: see it work
def ungraded_ids(run: dict) -> list[str]:
    """grade_ids of the code cells after the last test cell ("?" for the try-it cells, which have none)."""
    cells = run["released"].cells
    last = max(k for k, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade"))
    return [c.metadata.get("nbgrader", {}).get("grade_id", "?") for c in cells[last + 1:] if c.cell_type == "code"]


def autograded_cells(run: dict, assignment: str, variant: str) -> dict[str, nbformat.NotebookNode]:
    """The autograded notebook's cells after the last test cell, by grade_id (try-it cells by their cell id)."""
    path = run["course"] / "autograded" / student_id(variant) / assignment / f"{assignment}.ipynb"
    cells = nbformat.read(path, as_version=4).cells
    last = max(k for k, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade"))
    return {c.metadata.get("nbgrader", {}).get("grade_id") or c.get("id"): c for c in cells[last + 1:]
            if c.cell_type == "code"}


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _images(cell) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.outputs)


# the notebooks with an ungraded "see it work" part (backward, the newest, has none yet)
SEE_IT_WORK = ("gates", "detaching", "temperature")


@pytest.mark.parametrize("assignment", SEE_IT_WORK)
def test_see_it_work_runs_the_students_functions_and_shows_the_effect(assignment, tmp_path_factory):
    """In the graded solution, every cell after the tests ran without an error and showed what it names."""
    run = graded(assignment, tmp_path_factory)
    cells = autograded_cells(run, assignment, "solution")
    errors = {name: [o.evalue for o in c.outputs if o.output_type == "error"] for name, c in cells.items()}
    assert not any(errors.values()), errors
    assert len(cells) >= 3 and all(_text(c) or _images(c) for c in cells.values()), "every cell after the tests shows something"
    see_it = cells["see_it_samples" if assignment == "temperature" else "see_it"]  # the cell that draws
    assert _images(see_it) == 1, "the see-it-work cell draws one figure"
    if assignment == "gates":
        # the share of c_0 left after 10 steps grows with the forget-gate bias (sigmoid(b)^10 with b = 0, 1, 2)
        left = [float(v) for v in re.findall(r"forget bias \d: ([0-9.e+-]+)", _text(see_it))]
        assert len(left) == 3 and left[0] < left[1] < left[2] and left[2] > 100 * left[0], _text(see_it)
    elif assignment == "detaching":
        first, last = map(float, re.search(r"epoch 1 ([0-9.]+), epoch \d+ ([0-9.]+)", _text(see_it)).groups())
        assert last < first - 1.0, f"train_tbptt's loss should fall by more than 1 nat/char: {first} -> {last}"
        no_detach = _text(cells["see_it_no_detach"])
        assert "train_tbptt without detaching raised RuntimeError" in no_detach, no_detach
        assert "backward through the graph a second time" in no_detach, no_detach
    elif assignment == "temperature":
        text = _text(see_it)
        shares = [int(v) for v in re.findall(r"temperature [0-9.]+: (\d+)%", text)]
        assert len(shares) == 3 and shares[0] > shares[1] > shares[2], f"a higher temperature draws the favourite less: {text}"
        samples = re.findall(r"^temperature [0-9.]+: (the .*)$", text, re.M)
        assert len(samples) == 3 and len(set(samples)) == 3 and all(len(s) >= 80 for s in samples), text


@pytest.mark.parametrize("assignment", SEE_IT_WORK)
def test_an_error_in_the_ungraded_part_costs_no_points(assignment, tmp_path_factory):
    """The submission whose see-it-work cell raises (a name it calls was deleted after the tests) has full marks
    (test_score), and its see-it-work cell did raise: the grader's probes ran before it."""
    run = graded(assignment, tmp_path_factory)
    result = run["results"][student_id("see it work raises")]
    assert result.score == result.max_score, result.errors
    raised = [cell for cell, err in result.errors.items() if cell.startswith("see_it") and "NameError" in err]
    assert raised, result.errors
