"""A whole class graded for real: the instructor workflow against broken and hostile submissions.

One temporary course directory (the repository's ``nbgrader_config.py`` plus a few lines that make the
limits short for CI) is set up as the guide ``book/grading-a-class.md`` says, from the repository root:

    nbgrader db student import roster.csv      # the class list
    nbgrader generate_assignment <id>          # release
    submitted/<student>/<id>/<id>.ipynb        # collect: a folder per student ...
    nbgrader zip_collect <id>                  # ... and an LMS-style zip of many files
    nbgrader autograde <id>
    nbgrader generate_feedback <id>
    nbgrader export --to grades.csv

Every submission is built in code from the current source and student notebooks (``CLASS`` below), so
the class never drifts from the notebooks. ``gates`` is graded against the full hostile class; every
assignment is graded for a correct / untouched / partly correct trio. Each case states the score it
must get; the tests check it from the gradebook, the exported CSV and the feedback HTML.
"""
from __future__ import annotations

import csv
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
import pytest

from nbgrader_course import REPO, hidden_lines, html_text, leaked_lines, make_course, nbgrader, release, solution_cells

pytestmark = pytest.mark.slow

ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())
TIMEOUT = 10  # seconds per cell in the test course (the repository's config says 30)
MEMORY = 2 * 2**30  # the grading kernel's cap in the test course
OLD, LATE = "20250301-100000", "20250302-093000"  # LMS attempt timestamps


# ------------------------------------------------------------------------------------- submissions
@dataclass
class Sub:
    """One student's hand-in for one assignment and the score it must get.

    ``answers`` maps answer cells (grade_id) to code, "solution", "stub" or a function of the solution.
    ``score`` is a function of the per-function points (dict function -> points) giving the expected
    score; ``at_most`` names a student whose score this one must not exceed (cheating attempts).
    """
    student: str
    assignment: str
    answers: dict[str, object] = field(default_factory=dict)
    default: str = "solution"
    score: Callable[[dict[str, float]], float] | None = None
    at_most: str | None = None
    mutate: Callable[[nbformat.NotebookNode], None] | None = None  # applied after answering
    raw: Callable[[bytes], bytes] | None = None  # applied to the file's bytes
    filename: str | None = None
    via_zip: bool = False
    log: str = ""  # words the autograde log must contain about this student
    output: str = ""  # words the student's autograded notebook must show


def full(points):
    return sum(points.values())


def without(*functions):
    return lambda points: sum(v for f, v in points.items() if f not in functions)


def only(*functions):
    return lambda points: sum(v for f, v in points.items() if f in functions)


def before_def(prefix: str) -> Callable[[str], str]:
    return lambda solution: prefix + "\n" + solution


UNREADABLE = "There was an error processing assignment"
WRONG_CELL = "def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n    return state[0] * 0, state[1] * 0\n"
FIND_SOURCE = '''
import os, json, glob
_found = []
_here = os.path.abspath(".")
for _up in range(8):
    for _pattern in ("solutions/*/*.ipynb", "source/*/*.ipynb", "gradebook.db", "autograded/*/*/*.ipynb"):
        _found += glob.glob(os.path.join(_here, _pattern))
    _here = os.path.dirname(_here)
_stolen = 0
for _path in _found:
    try:
        with open(_path, "rb") as _f:
            _data = _f.read()
        _stolen += 1
        if _path.endswith(".ipynb"):
            for _cell in json.loads(_data)["cells"]:
                if "BEGIN SOLUTION" in "".join(_cell["source"]):
                    exec("".join(_cell["source"]))
    except Exception as _err:
        print("CHEAT BLOCKED", type(_err).__name__)
print(f"CHEAT READ {_stolen} OF {len(_found)} GRADER FILES")
'''


def gates_class() -> list[Sub]:
    a = "gates"
    wrong = {"lstm_cell": WRONG_CELL}
    bytes_latin1 = lambda data: data.replace("gates".encode(), b"g\xe9tes", 3)
    return [
        Sub("correct", a, score=full, via_zip=True),
        Sub("untouched", a, default="stub", score=lambda p: 0, via_zip=True),
        Sub("partly-correct", a, default="stub", answers={"init_forget_bias": "solution"},
            score=only("init_forget_bias")),
        Sub("wrong-cell", a, answers=wrong, score=without("lstm_cell")),
        Sub("syntax-error", a, answers={"lstm_layer": lambda s: s.replace("):", ")", 1)},
            score=without("lstm_layer"), output="SyntaxError"),
        Sub("raising-cell", a, answers={"lstm_layer": before_def("raise RuntimeError('not finished')")},
            score=without("lstm_layer"), output="not finished"),
        # lstm_cell never defined: the grader runs lstm_layer with a stand-in cell of its own, so its points stay
        Sub("raising-first-cell", a, answers={"lstm_cell": before_def("raise RuntimeError('not finished')")},
            score=without("lstm_cell"), output="not finished"),
        Sub("infinite-loop", a, answers={"init_forget_bias": before_def("while True:\n    pass")},
            score=without("init_forget_bias"), output="KeyboardInterrupt"),
        Sub("sleeps", a, answers={"lstm_layer": before_def("import time\ntime.sleep(10**6)")},
            score=without("lstm_layer")),
        Sub("ignores-interrupt", a, answers={"lstm_layer": before_def(
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")},
            score=without("lstm_layer"), log="did not stop", output="did not stop"),
        Sub("prints-50mb", a, answers={"lstm_cell": before_def("print('x' * 50_000_000)")}, score=full,
            output="output truncated by the grader"),
        Sub("huge-allocation", a, answers={"lstm_layer": before_def(
            "import os\nhuge = bytearray(4 * os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES'))")},
            score=without("lstm_layer"), output="MemoryError"),
        Sub("grows-past-cap", a, answers={"init_forget_bias": before_def(
            "import torch\nchunks = [torch.ones(2**26) for _ in range(16)]  # 16 x 256 MB, touched")},
            score=without("init_forget_bias"), output="can't allocate memory"),
        Sub("sys-exit", a, answers={"init_forget_bias": before_def("import sys\nsys.exit(0)")},
            score=without("init_forget_bias"), output="SystemExit"),
        Sub("os-exit", a, answers={"lstm_layer": before_def("import os\nos._exit(1)")},
            score=without("lstm_layer"), log="kernel died", output="kernel died"),
        Sub("deleted-tests", a, answers=wrong, score=without("lstm_cell"), at_most="wrong-cell",
            mutate=lambda nb: nb.cells.__setitem__(slice(None), [
                c for c in nb.cells if not _gid(c).startswith("test_lstm_cell")])),
        Sub("weakened-tests", a, answers=wrong, score=without("lstm_cell"), at_most="wrong-cell",
            mutate=lambda nb: [setattr(c, "source", "assert True\n") for c in nb.cells if _gid(c).startswith("test_")]),
        Sub("inserted-cell", a, score=full, mutate=_insert_cell),
        Sub("renamed-notebook", a, filename="gates (1).ipynb", score=lambda p: 0,
            log="Skipping unknown notebook"),
        Sub("other-kernel", a, score=full, mutate=lambda nb: nb.metadata.__setitem__(
            "kernelspec", {"name": "conda-env-torch-py", "display_name": "Python [conda env:torch]",
                           "language": "python"})),
        Sub("jupyterlab-4", a, score=full, mutate=_saved_by_lab4),
        Sub("classic-notebook", a, score=full, mutate=_saved_by_classic),
        Sub("colab", a, score=full, mutate=_saved_by_colab),
        Sub("colab-lost-metadata", a, score=full, mutate=_colab_lost_metadata),
        Sub("gpu-outputs", a, score=full, mutate=_gpu_outputs),
        Sub("non-utf8", a, score=lambda p: 0, raw=bytes_latin1, log=UNREADABLE),
        Sub("empty-file", a, score=lambda p: 0, raw=lambda data: b"", log=UNREADABLE),
        Sub("truncated-json", a, score=lambda p: 0, raw=lambda data: data[: len(data) // 2], log=UNREADABLE),
        # cheating from the student's own cell: never more than the honest wrong submission
        Sub("cheat-allclose", a, at_most="wrong-cell", answers={"lstm_cell": WRONG_CELL + (
            "import numpy, torch.testing\n"
            "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
            "torch.testing.assert_close = lambda *a, **k: None\n"
            "numpy.testing.assert_allclose = lambda *a, **k: None\nnumpy.allclose = lambda *a, **k: True\n")}),
        Sub("cheat-eq", a, at_most="wrong-cell", answers={"lstm_cell": (
            "class _Anything:\n"
            "    shape = property(lambda self: self._shape)\n"
            "    def __init__(self, like): self._shape, self.dtype, self.device = like.shape, like.dtype, like.device\n"
            "    def __eq__(self, other): return True\n"
            "    def __getattr__(self, name): return lambda *a, **k: self\n"
            "    def __bool__(self): return True\n"
            "def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n"
            "    return _Anything(state[0]), _Anything(state[1])\n")}),
        Sub("cheat-torch-function", a, at_most="wrong-cell", answers={"lstm_cell": (
            "class _Liar(torch.Tensor):\n"
            "    @classmethod\n"
            "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
            "        if getattr(func, '__name__', '') in ('allclose', 'equal', 'isclose', 'assert_close'):\n"
            "            return True\n"
            "        return super().__torch_function__(func, types, args, kwargs or {})\n"
            "def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n"
            "    return (state[0] * 0).as_subclass(_Liar), (state[1] * 0).as_subclass(_Liar)\n")}),
        Sub("cheat-assertionerror", a, at_most="wrong-cell", answers={"lstm_cell": WRONG_CELL + (
            "import builtins\nclass _Harmless(Exception):\n    pass\n"
            "builtins.AssertionError = _Harmless\nAssertionError = _Harmless\n")}),
        # an IPython hook that blanks every later cell (the tests included): it changes what the kernel shows, and
        # the kernel decides nothing; the probe process has no IPython. Logged for review, scored as the wrong cell
        Sub("cheat-ipython-hook", a, answers={"lstm_cell": WRONG_CELL + (
            "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n")},
            score=without("lstm_cell"), at_most="wrong-cell", output="GraderVerdict",
            log="REVIEW cheat-ipython-hook/gates/gates"),
        Sub("cheat-reads-grader-files", a, at_most="wrong-cell", answers={"lstm_cell": WRONG_CELL + FIND_SOURCE},
            output="CHEAT BLOCKED"),
        # the feedback must not show the hidden tests, even when the student's own cell prints them (In holds the
        # source of every cell run before, hidden tests included); the score is untouched
        Sub("prints-hidden-tests", a, score=full, answers={"init_forget_bias": before_def("print('\\n'.join(In))")}),
    ]


def trio(assignment: str, first_function: str, last_function: str) -> list[Sub]:
    return [
        Sub(f"{assignment}-correct", assignment, score=full, via_zip=True),
        Sub(f"{assignment}-untouched", assignment, default="stub", score=lambda p: 0),
        Sub(f"{assignment}-partly", assignment, default="stub", answers={first_function: "solution"},
            score=only(first_function)),
        Sub(f"{assignment}-prints-tests", assignment, score=full,
            answers={last_function: before_def("print('\\n'.join(In))")}),
    ]


# ------------------------------------------------------------------- how editors save a notebook
def _gid(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def _insert_cell(nb):
    at = next(k for k, c in enumerate(nb.cells) if _gid(c) == "test_lstm_layer_hidden")
    nb.cells.insert(at, nbformat.v4.new_code_cell("print('my own check')\nscratch = [1, 2, 3]"))


def _saved_by_lab4(nb):
    nb.nbformat_minor = 5
    nb.metadata["language_info"] = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                                    "mimetype": "text/x-python", "name": "python", "version": "3.11.7"}
    for k, c in enumerate(nb.cells):
        c["id"] = f"lab4-{k:04d}"
        if c.cell_type == "code":
            c.metadata["execution"] = {"iopub.status.busy": "2025-03-01T10:00:00.000Z"}
            c.execution_count = k + 1


def _saved_by_classic(nb):
    nb.nbformat_minor = 4
    for c in nb.cells:
        c.pop("id", None)
        if c.cell_type == "code":
            c.metadata["trusted"] = True


def _colab_metadata(nb):
    nb.metadata = {"colab": {"provenance": [], "name": "gates.ipynb", "gpuType": "T4"},
                   "kernelspec": {"name": "python3", "display_name": "Python 3"},
                   "language_info": {"name": "python"}, "accelerator": "GPU"}
    for k, c in enumerate(nb.cells):
        c.metadata["id"] = f"colab{k:06d}"
        if c.cell_type == "code":
            c.metadata["colab"] = {"base_uri": "https://localhost:8080/"}
            c.metadata["outputId"] = f"out{k}"


def _saved_by_colab(nb):
    _colab_metadata(nb)


def _colab_lost_metadata(nb):
    for c in nb.cells:
        c.metadata = {}
    _colab_metadata(nb)


def _gpu_outputs(nb):
    for k, c in enumerate(nb.cells):
        if c.cell_type == "code":
            c.execution_count = k
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="torch 2.5.1+cu121, tests run on cuda\n"),
                         nbformat.v4.new_output("display_data", data={"text/plain": "tensor([1.], device='cuda:0')"})]


# ---------------------------------------------------------------------------------- the course
@dataclass
class Run:
    course: Path
    subs: dict[str, Sub]
    points: dict[str, dict[str, float]]  # assignment -> function -> points
    steps: dict[str, object]  # name of the step -> CompletedProcess
    scores: dict[tuple[str, str], float]  # (assignment, student) -> score after the first grading
    max_scores: dict[str, float]


def _answered(released: nbformat.NotebookNode, answers: dict[str, str], sub: Sub) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    for cell in nb.cells:
        gid = _gid(cell)
        if gid in answers:
            change = sub.answers.get(gid, sub.default)
            if change == "solution":
                cell.source = answers[gid]
            elif change == "stub":
                pass
            elif callable(change):
                cell.source = change(answers[gid])
            else:
                cell.source = change
    if sub.mutate:
        sub.mutate(nb)
    return nb


def _points(source: nbformat.NotebookNode) -> dict[str, float]:
    """function -> points of its test cells (test_<function> and test_<function>_hidden)."""
    functions = list(solution_cells(source))
    points: dict[str, float] = {f: 0.0 for f in functions}
    for c in source.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade"):
            owner = next(f for f in functions if meta["grade_id"] in (f"test_{f}", f"test_{f}_hidden"))
            points[owner] += float(meta["points"])
    return points


def _zip(course: Path, assignment: str, name: str, files: dict[str, bytes]) -> None:
    archive = course / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive / name, "w") as z:
        for filename, data in files.items():
            z.writestr(filename, data)


def _scores(course: Path) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {(s.assignment.name, s.student.id): s.score for a in gb.assignments for s in a.submissions}


def _step(run_steps: dict, name: str, course: Path, *args: str) -> None:
    run_steps[name] = nbgrader(course, *args, timeout=1800)


CLASS: dict[str, list[Sub]] = {}


def _class() -> list[Sub]:
    subs = []
    for assignment in ASSIGNMENTS:
        source = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        functions = list(solution_cells(source))
        subs += trio(assignment, functions[0], functions[-1]) if assignment != "gates" else []
    if "gates" in ASSIGNMENTS:
        subs = gates_class() + subs
    return subs


_RUN: list[Run] = []


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> Run:
    if _RUN:
        return _RUN[0]
    tmp = tmp_path_factory.mktemp("class")
    course = make_course(tmp, ASSIGNMENTS[0])
    for assignment in ASSIGNMENTS[1:]:
        import shutil
        shutil.copytree(REPO / "solutions" / assignment, course / "solutions" / assignment)
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f"\n# test course: short limits so the slow cases stay cheap in CI\n"
                f"c.GradingExecute.timeout = {TIMEOUT}\nc.GradingExecute.memory_limit = {MEMORY}\n"
                f"c.Judge.probe_timeout = {TIMEOUT}\nc.Judge.probe_memory = {MEMORY}\n")
    subs = _class()
    steps: dict[str, object] = {}
    roster = course / "roster.csv"
    with open(roster, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "first_name", "last_name", "email"])
        for s in dict.fromkeys(s.student for s in subs):
            w.writerow([s, s.split("-")[0].title(), "Student", f"{s}@example.org"])
    _step(steps, "import", course, "db", "student", "import", str(roster))
    points, answers, released = {}, {}, {}
    for assignment in ASSIGNMENTS:
        released[assignment] = nbformat.read(release(course, assignment), as_version=4)
        source = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        points[assignment], answers[assignment] = _points(source), solution_cells(source)
    zips: dict[str, dict[str, bytes]] = {}
    for sub in subs:
        nb = _answered(released[sub.assignment], answers[sub.assignment], sub)
        data = nbformat.writes(nb).encode()
        data = sub.raw(data) if sub.raw else data
        name = sub.filename or f"{sub.assignment}.ipynb"
        if sub.via_zip:
            lms_name = f"{sub.assignment}_{sub.student}_attempt_{OLD}_{name}"
            zips.setdefault(sub.assignment, {})[lms_name] = data
        else:
            folder = course / "submitted" / sub.student / sub.assignment
            folder.mkdir(parents=True)
            (folder / name).write_bytes(data)
    for assignment, files in zips.items():
        _zip(course, assignment, "class.zip", files)
        _step(steps, f"zip_collect {assignment}", course, "zip_collect", assignment)
    for assignment in ASSIGNMENTS:
        _step(steps, f"autograde {assignment}", course, "autograde", assignment)
        _step(steps, f"generate_feedback {assignment}", course, "generate_feedback", assignment)
    _step(steps, "export", course, "export", "--to", "grades.csv")
    gradebook = _scores(course)
    max_scores = {a: sum(points[a].values()) for a in ASSIGNMENTS}
    _RUN.append(Run(course, {s.student: s for s in subs}, points, steps, gradebook, max_scores))
    return _RUN[0]


def _log(run: Run, assignment: str) -> str:
    done = run.steps[f"autograde {assignment}"]
    return done.stdout + done.stderr


CASES = [s.student for s in _class()]


# ------------------------------------------------------------------------------------------ tests
def test_roster_and_collection(graded_class):
    run = graded_class
    for name in ("import", *[k for k in run.steps if k.startswith("zip_collect")], "export"):
        assert run.steps[name].returncode == 0, f"{name}: {run.steps[name].stdout}{run.steps[name].stderr}"
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{run.course / 'gradebook.db'}") as gb:
        students = {s.id: s for s in gb.students}
    assert set(students) == set(run.subs)
    assert students["correct"].email == "correct@example.org"
    zipped = [s for s in run.subs.values() if s.via_zip]
    for sub in zipped:  # zip_collect put each file where autograde looks, with the LMS timestamp
        folder = run.course / "submitted" / sub.student / sub.assignment
        assert (folder / f"{sub.assignment}.ipynb").exists()
        assert "2025-03-01 10:00:00" in (folder / "timestamp.txt").read_text()


def _failed(log: str) -> set[str]:
    """Students nbgrader could not grade at all (it grades the others, then exits non-zero)."""
    return set(re.findall(r"There was an error processing assignment '[^']+' for student '([^']+)'", log))


def _unreadable(run: Run, assignment: str) -> set[str]:
    return {s.student for s in run.subs.values() if s.assignment == assignment and (s.raw or s.filename)}


def test_every_student_is_graded_and_the_batch_finishes(graded_class):
    run = graded_class
    for assignment in ASSIGNMENTS:
        students = {s.student for s in run.subs.values() if s.assignment == assignment}
        assert students <= {st for (a, st) in run.scores if a == assignment}
        done = run.steps[f"autograde {assignment}"]
        # only unreadable notebooks (empty, invalid JSON, bad bytes, another name) fail in nbgrader itself,
        # which then exits non-zero AFTER grading everyone else: the exit status alone is not a failed batch
        assert _failed(_log(run, assignment)) == _unreadable(run, assignment)
        assert done.returncode == (1 if _unreadable(run, assignment) else 0), _log(run, assignment)[-3000:]


@pytest.mark.parametrize("student", CASES)
def test_score(graded_class, student):
    run = graded_class
    sub = run.subs[student]
    got = run.scores[(sub.assignment, student)]
    if sub.score is not None:
        want = sub.score(run.points[sub.assignment])
        assert got == pytest.approx(want), f"{student}: expected {want}, got {got}\n{_autograded_errors(run, sub)}"
    if sub.at_most is not None:
        assert got <= run.scores[(sub.assignment, sub.at_most)], f"{student} raised their own score to {got}"
    if sub.log:  # one line of the log names the student and says what happened
        lines = [line for line in _log(run, sub.assignment).splitlines() if sub.log in line and student in line]
        assert lines, f"no log line with {sub.log!r} and {student!r}:\n{_log(run, sub.assignment)[-3000:]}"
    if sub.output:
        assert sub.output in _autograded_text(run, sub), _autograded_errors(run, sub)


def _autograded(run: Run, sub: Sub) -> Path:
    return run.course / "autograded" / sub.student / sub.assignment / f"{sub.assignment}.ipynb"


def _autograded_text(run: Run, sub: Sub) -> str:
    return _autograded(run, sub).read_text()


def _autograded_errors(run: Run, sub: Sub) -> str:
    path = _autograded(run, sub)
    if not path.exists():
        return "(no autograded notebook)"
    nb = nbformat.read(path, as_version=4)
    return "\n".join(f"{_gid(c)}: {o.get('ename')}: {str(o.get('evalue'))[:300]}" for c in nb.cells
                     for o in c.get("outputs", []) if o.get("output_type") == "error")


def test_feedback_html_for_every_graded_notebook(graded_class):
    run = graded_class
    for sub in run.subs.values():
        html = run.course / "feedback" / sub.student / sub.assignment / f"{sub.assignment}.html"
        if _autograded(run, sub).exists():
            assert html.exists(), sub.student
            assert html.stat().st_size < 5_000_000, f"{sub.student}: feedback of {html.stat().st_size} bytes"
        else:  # nothing gradable was handed in: no feedback, a zero and a reason in the log
            assert sub.raw or sub.filename, f"{sub.student} has no autograded notebook"
            assert run.scores[(sub.assignment, sub.student)] == 0


def feedback_leaks(course: Path, assignment: str) -> dict[str, list[str]]:
    """student -> hidden-test lines that their feedback HTML shows, for every feedback file of ``assignment``."""
    source = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    released = nbformat.read(course / "notebooks" / assignment / f"{assignment}.ipynb", as_version=4)
    hidden = hidden_lines(source)
    assert len(hidden) > 30, "the source notebook should have hidden tests"  # backward, the shortest, has 48
    leaks = {}
    for html in sorted((course / "feedback").glob(f"*/{assignment}/{assignment}.html")):
        student = html.parts[-3]
        theirs = nbformat.read(course / "submitted" / student / assignment / f"{assignment}.ipynb", as_version=4)
        leaks[student] = leaked_lines(html_text(html), hidden, [released, theirs])
    return leaks


def test_feedback_never_shows_hidden_tests(graded_class):
    run = graded_class
    for assignment in ASSIGNMENTS:
        leaks = feedback_leaks(run.course, assignment)
        assert len(leaks) >= 3, f"{assignment}: expected feedback files, found {sorted(leaks)}"
        shown = {student: lines[:3] for student, lines in leaks.items() if lines}
        assert not shown, f"{assignment}: feedback shows hidden-test source: {shown}"


def test_feedback_shows_each_hidden_test_name_points_result_and_message(graded_class):
    run = graded_class
    for student in ("wrong-cell", "correct", "prints-hidden-tests") + tuple(
            f"{a}-{k}" for a in ASSIGNMENTS if a != "gates" for k in ("correct", "partly")):
        sub = run.subs[student]
        text = html_text(run.course / "feedback" / student / sub.assignment / f"{sub.assignment}.html")
        for cell in nbformat.read(_autograded(run, sub), as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if not (meta.get("grade") and "BEGIN HIDDEN TESTS" in cell.source):
                continue
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            points = meta["points"]
            if errors:
                assert f"{meta['grade_id']}: 0 of {points:g} points, failed" in text, (student, meta["grade_id"])
                message = f"{errors[-1].ename}: {errors[-1].evalue}".splitlines()[0][:150]
                assert message in text, f"{student}: the feedback should show {message!r}"
            else:
                assert f"{meta['grade_id']}: {points:g} of {points:g} points, passed" in text, (student, meta["grade_id"])
    wrong = html_text(run.course / "feedback" / "wrong-cell" / "gates" / "gates.html")
    assert "test_lstm_cell_hidden: 0 of 3 points, failed" in wrong


def test_export_csv_holds_one_row_per_student_and_assignment(graded_class):
    run = graded_class
    with open(run.course / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    keys = [(r["assignment"], r["student_id"]) for r in rows]
    assert len(keys) == len(set(keys))
    for (assignment, student), score in run.scores.items():
        row = next(r for r in rows if (r["assignment"], r["student_id"]) == (assignment, student))
        assert float(row["score"]) == pytest.approx(score)
        assert float(row["max_score"]) == pytest.approx(run.max_scores[assignment])


def test_autograded_notebook_output_is_capped(graded_class):
    sub = graded_class.subs["prints-50mb"]
    assert _autograded(graded_class, sub).stat().st_size < 2_000_000


def test_rerunning_steps_is_safe_and_regrading_gives_the_same_score(graded_class):
    run, course = graded_class, graded_class.course
    again = nbgrader(course, "autograde", "gates", timeout=1800)  # no --force: already graded, skipped
    assert "Skipping existing assignment" in again.stdout + again.stderr
    assert _scores(course) == run.scores
    assert _failed(again.stderr) == _unreadable(run, "gates")  # those are tried again, and fail again
    for student in ["correct", "partly-correct", "os-exit", "cheat-allclose", "colab-lost-metadata", "deleted-tests"]:
        forced = nbgrader(course, "autograde", "gates", "--force", "--student", student, timeout=1800)
        assert forced.returncode == 0, forced.stdout + forced.stderr
    assert _scores(course) == run.scores
    for step in ("generate_feedback", "export"):
        assert nbgrader(course, step, *(["gates", "--force"] if step == "generate_feedback" else ["--to", "again.csv"])
                        ).returncode == 0
    assert (course / "again.csv").read_text() == (course / "grades.csv").read_text()


def test_late_resubmission_replaces_the_earlier_one_only_when_asked(graded_class):
    run, course = graded_class, graded_class.course
    before = _scores(course)
    released = nbformat.read(course / "notebooks" / "gates" / "gates.ipynb", as_version=4)
    source = nbformat.read(course / "solutions" / "gates" / "gates.ipynb", as_version=4)
    fixed = _answered(released, solution_cells(source), Sub("untouched", "gates"))
    _zip(course, "gates", "late.zip", {f"gates_untouched_attempt_{LATE}_gates.ipynb": nbformat.writes(fixed).encode()})
    refused = nbgrader(course, "zip_collect", "gates")  # existing submissions are never overwritten silently
    assert refused.returncode != 0 and "--force" in refused.stdout + refused.stderr
    assert _failed(nbgrader(course, "autograde", "gates").stderr) == _unreadable(run, "gates")
    assert _scores(course) == before
    assert nbgrader(course, "zip_collect", "gates", "--force").returncode == 0
    regraded = nbgrader(course, "autograde", "gates")  # a newer timestamp is regraded without --force
    assert _failed(regraded.stderr) == _unreadable(run, "gates"), regraded.stderr[-3000:]
    assert "Updating existing assignment" in regraded.stderr
    after = _scores(course)
    assert after[("gates", "untouched")] == run.max_scores["gates"]
    assert {k: v for k, v in after.items() if k != ("gates", "untouched")} == {
        k: v for k, v in before.items() if k != ("gates", "untouched")}
    assert "2025-03-02 09:30:00" in (course / "submitted" / "untouched" / "gates" / "timestamp.txt").read_text()
