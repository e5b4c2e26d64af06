"""A hostile class, graded for real: code that runs before or during the tests cannot buy points.

For every graded notebook, one honest wrong answer (``WRONG``) and the same wrong answer with each technique of
``hostile_techniques.py`` appended (IPython hooks of every kind, module attributes and ``torch._C`` members, whole
submodules, ``sys.modules``, builtins, a ``gc`` walk, ``ctypes``, a global torch-function mode, a signal handler, a
thread, a trace function, a child process that outlives the kernel and rewrites files, forged probe results,
``exec``) are submitted and graded by ``nbgrader autograde`` in one course. Each must score no more than the
honest wrong answer.

The course runs with ``c.Judge.penalize_flagged = False``: the static check (``static.py``), which fails the whole
notebook for every one of these techniques (``test_every_technique_is_flagged``), is switched off, so the scores
show what the judge's verdict alone holds against. The repository's configuration keeps it on.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from hostile_techniques import COMMON, TECHNIQUES
from nbgrader_course import REPO, autograde, make_course, release, solution_cells, submit

WRONG = {  # assignment -> (answer cell, honest wrong answer)
    "gates": ("lstm_cell", "def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n    return state[0] * 0, state[1] * 0\n"),
    "detaching": ("detach_state", "def detach_state(state):\n    return state\n"),
    "temperature": ("sample_next", "import torch as _t0\ndef sample_next(logits, temperature=1.0, top_k=None, "
                    "top_p=None, generator=None):\n    return logits.argmax(dim=-1)\n"),
    "backward": ("lstm_step_backward", "def lstm_step_backward(dh, dc, cache, W_ih, W_hh):\n    z = np.zeros_like\n"
                 "    return StepGrads(dx=z(cache.x), dh_prev=z(dh), dc_prev=z(dc), dW_ih=z(W_ih), dW_hh=z(W_hh), "
                 "db=np.zeros(W_ih.shape[0], dtype=W_ih.dtype))\n"),
}


def student_id(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def hostile_cell(assignment: str, technique: str) -> str:
    return WRONG[assignment][1] + "\ntry:\n" + "\n".join("    " + line for line in (COMMON + TECHNIQUES[technique]).splitlines()) + \
        "\nexcept Exception as _err:\n    print('technique failed:', type(_err).__name__, _err)\n"


def test_every_technique_is_flagged():
    """With the repository's configuration each technique costs the whole notebook: static.py finds it."""
    from lstm_course.grading import static
    for assignment, (cell_id, _) in WRONG.items():
        source = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        instructor = {c.source.strip() for c in source.cells if c.metadata.get("nbgrader", {}).get("locked")}
        for technique in TECHNIQUES:
            nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
            for c in nb.cells:
                if c.metadata.get("nbgrader", {}).get("grade_id") == cell_id:
                    c.source = TECHNIQUES[technique]
            found = [f for f in static.scan(nb, instructor) if f.kind == "tamper"]
            assert found, f"{technique} is not flagged in {assignment}"
        assert not static.scan(source, instructor), "the instructor's solution must not be flagged"


_RUN: dict = {}


class _Class(dict):
    """assignment -> its graded hostile class, graded on first use (so that `-k backward` grades one notebook)."""

    def __init__(self, course):
        super().__init__()
        self.course = course

    def __missing__(self, assignment):
        self[assignment] = _grade_class(self.course, assignment)
        return self[assignment]


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    if not _RUN:
        course = make_course(tmp_path_factory.mktemp("hostile"), "gates")
        import shutil
        for assignment in WRONG:
            if assignment != "gates":
                shutil.copytree(REPO / "solutions" / assignment, course / "solutions" / assignment)
        with open(course / "nbgrader_config.py", "a") as f:
            f.write("\nc.Judge.penalize_flagged = False  # the judge's verdict alone\n"
                    "c.GradingExecute.timeout = 15\nc.GradingExecute.memory_limit = 2 * 2**30\n")
        _RUN["class"] = _Class(course)
    return _RUN["class"]


def _grade_class(course, assignment: str) -> dict:
    cell_id, wrong = WRONG[assignment]
    released = release(course, assignment)
    answers = solution_cells(nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4))
    students = {"honest-wrong": wrong, "solution": answers[cell_id]}
    students.update({student_id(t): hostile_cell(assignment, t) for t in TECHNIQUES})
    for student, answer in students.items():
        nb = nbformat.read(released, as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in answers:
                cell.source = answer if gid == cell_id else answers[gid]
        submit(course, assignment, student, nb)
    done, results = autograde(course, assignment, list(students))
    print(f"\n{assignment}: " + ", ".join(f"{s} {r.score:g}" for s, r in results.items()))
    return dict(done=done, results=results)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", list(WRONG))
def test_the_honest_answers_score_as_expected(hostile_class, assignment):
    run = hostile_class[assignment]
    solution, wrong = run["results"]["solution"], run["results"]["honest-wrong"]
    assert solution.score == solution.max_score, solution.errors
    assert 0 < wrong.score < wrong.max_score, (wrong.score, wrong.cells)


CASES = [(a, t) for a in WRONG for t in TECHNIQUES]


@pytest.mark.slow
@pytest.mark.parametrize("assignment,technique", CASES, ids=[f"{a}-{student_id(t)}" for a, t in CASES])
def test_technique_scores_no_more_than_the_wrong_answer(hostile_class, assignment, technique):
    run = hostile_class[assignment]
    wrong, cheat = run["results"]["honest-wrong"], run["results"][student_id(technique)]
    assert cheat.score <= wrong.score, (
        f"{technique} scored {cheat.score} > {wrong.score}: {cheat.cells}\n{cheat.errors}")


def test_no_honest_submission_is_flagged():
    """Every correct alternative and every wrong-but-plausible answer of grading_variants.py passes the static check,
    except the two that call PyTorch's LSTM, which are flagged for that function only."""
    import grading_variants
    from lstm_course.grading import static
    from lstm_course.grading.judge import checks_for
    for assignment, variants in (("gates", grading_variants.GATES), ("detaching", grading_variants.DETACHING),
                                 ("temperature", grading_variants.TEMPERATURE), ("backward", grading_variants.BACKWARD)):
        source = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        instructor = {c.source.strip() for c in source.cells if c.metadata.get("nbgrader", {}).get("locked")}
        answers = solution_cells(source)
        for variant in variants:
            nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
            for cell in nb.cells:
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if gid in variant.changes:
                    change = variant.changes[gid]
                    cell.source = change(answers[gid]) if callable(change) else change
            found = static.scan(nb, instructor, autograd=bool(getattr(checks_for(assignment), "NO_AUTOGRAD", ())))
            if "torch.lstm_cell" in variant.name or "nn.LSTM" in variant.name:
                assert [(f.kind, f.cell) for f in found] == [("lstm", variant.lose[0])], found
            else:
                assert not found, f"{assignment} / {variant.name}: {[str(f) for f in found]}"
