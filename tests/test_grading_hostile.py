"""A hostile class: no technique buys points over the honest wrong answer it is placed on.

For every graded notebook, one honest wrong answer (``WRONG``) is submitted alone, and again with each technique of
``hostile_techniques.py`` placed after it in the answer cell:

- ``TECHNIQUES`` attack the grading kernel (IPython hooks of every kind, module attributes and ``torch._C`` members,
  ``sys.modules``, builtins, a ``gc`` walk, ``ctypes``, a torch-function mode, signal handlers, threads, a trace
  function, a child process that rewrites files, forged result lines, ``exec``). They are graded by ``nbgrader
  autograde`` for real with the static scan off (``c.Judge.penalize_flagged = False``: the judge alone);
- ``REACH`` make the wrong function right by obtaining a correct implementation at run time where a scan of names does
  not see it: the course package by any import mechanism (and the instructor's notebook in ``solutions/``), aliases of
  torch, names the setup cell imports, string resolvers, pickled globals, the test cells' helpers, autograd by other
  names, switching the operator recorder off, and a decompression bomb written to the result channel. They are
  decided where they are aimed, by ``AddProbes`` + ``Judge`` with the repository's configuration and the real probe
  process, once with the scan off and once with it on; one route of each kind also goes through ``nbgrader
  autograde`` end to end. ``test_reach_technique_works_outside_the_grader`` shows that each route, where it is open
  (a plain Python process), does leave a correct function.

Each must score no more than the honest wrong answer, with the scan on and with it off -- except the ``NEEDS_SCAN``
routes, which beat the judge alone (code PyTorch's profiler does not see: RecordFunction switched off, collection
toggled, another thread): the scan must flag each of them, and that is what its tamper rules are for.

    pytest tests/test_grading_hostile.py -k "gates and reach"          # one notebook's REACH routes, scan off and on
    pytest tests/test_grading_hostile.py -k "backward and reach and scan-off"
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import nbformat
import pytest

from hostile_techniques import COMMON, GRADED, REACH, TECHNIQUES
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
SCANS = ("scan-off", "scan-on")  # c.Judge.penalize_flagged False / the repository's configuration
FAMILIES = {"techniques": TECHNIQUES, "reach": REACH}
BOMB = "compressed payload: a decompression bomb as the probe's result"


def student_id(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _wrapped(assignment: str, code: str) -> str:
    return WRONG[assignment][1] + "\ntry:\n" + textwrap.indent(code.strip("\n"), "    ") + \
        "\nexcept Exception as _err:\n    print('technique failed:', type(_err).__name__, _err)\n"


def hostile_cell(assignment: str, technique: str) -> str:
    return _wrapped(assignment, COMMON + TECHNIQUES[technique])


def reach_cell(assignment: str, technique: str) -> str:
    """The wrong answer, then the technique's route to a correct one (a blocked route leaves the wrong answer)."""
    return _wrapped(assignment, REACH[technique][assignment])


def cell_for(family: str, assignment: str, technique: str) -> str:
    return (hostile_cell if family == "techniques" else reach_cell)(assignment, technique)


def applies(family: str, assignment: str) -> list[str]:
    """The family's techniques that apply to the notebook (every TECHNIQUE; the REACH ones that name it)."""
    return [t for t, by in FAMILIES[family].items() if family == "techniques" or assignment in by]


def test_reach_names_are_distinct_students():
    ids = [student_id(t) for family in FAMILIES.values() for t in family]
    assert len(ids) == len(set(ids)) and not {"honest-wrong", "solution"} & set(ids)
    assert set(GRADED.items()) == {(a, cell) for a, (cell, _) in WRONG.items()}


# ------------------------------------------------------------------------------------------- grading, lazily
# Which REACH techniques beat the judge when the static scan is off: each is a route the judge alone cannot see
# (code that runs PyTorch's LSTM where the operator recorder does not look), and each is the justification of a
# "tamper" rule (static/rules.py). The scan-on run must hold them; the scan-off run shows that they need the scan.
NEEDS_SCAN = {
    "runtime check off: RecordFunction disabled around the call",
    "runtime check off: the profiler's collection toggled off and on",
    "runtime check off: PyTorch's LSTM or autograd run in a worker thread",
}
# Graded end to end with nbgrader as well (the rest through AddProbes + Judge, which is where REACH is decided: the
# kernel's test cells decide nothing any more): one route of each kind, on gates, scan off and on.
END_TO_END = ["course package: import statement", "string resolver: pydoc.locate", "alias: torch bound to another name",
              "test-cell helpers: the hidden tests' _VF", "runtime check off: torch.autograd._disable_profiler through an alias",
              BOMB]
_RUN: dict = {}


class _Class(dict):
    """assignment -> that notebook's graded class (one family, one course), graded on first use: `-k backward`
    grades one notebook."""

    def __init__(self, course, family, only=None):
        super().__init__()
        self.course, self.family, self.only = course, family, only

    def __missing__(self, assignment):
        self[assignment] = _grade_class(self.course, self.family, assignment, self.only)
        return self[assignment]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(scan, family) -> its class graded with nbgrader for real: a course of its own per pair."""
    def get(scan: str, family: str, only=None) -> _Class:
        if (scan, family) not in _RUN:
            course = make_course(tmp_path_factory.mktemp(f"hostile-{scan}-{family}"), "gates")
            import shutil
            for assignment in WRONG:
                if assignment != "gates":
                    shutil.copytree(REPO / "solutions" / assignment, course / "solutions" / assignment)
            with open(course / "nbgrader_config.py", "a") as f:
                if scan == "scan-off":
                    f.write("\nc.Judge.penalize_flagged = False  # the judge's verdict alone\n")
                f.write("\nc.GradingExecute.timeout = 15\nc.GradingExecute.memory_limit = 2 * 2**30\n"
                        "c.Judge.probe_timeout = 15\nc.Judge.probe_memory = 2 * 2**30\n")
            _RUN[(scan, family)] = _Class(course, family, only)
        return _RUN[(scan, family)]
    return get


def _grade_class(course, family: str, assignment: str, only=None) -> dict:
    cell_id, wrong = WRONG[assignment]
    released = release(course, assignment)
    answers = solution_cells(nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4))
    students = {"honest-wrong": wrong, "solution": answers[cell_id]}
    students.update({student_id(t): cell_for(family, assignment, t) for t in applies(family, assignment)
                     if only is None or t in only})
    for student, answer in students.items():
        nb = nbformat.read(released, as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in answers:
                cell.source = answer if gid == cell_id else answers[gid]
        submit(course, assignment, student, nb)
    done, results = autograde(course, assignment, list(students))
    print(f"\n{assignment} ({family}, {course.parent.name}): " + ", ".join(f"{s} {r.score:g}" for s, r in results.items()))
    return dict(done=done, results=results)


_JUDGED: dict = {}


def judged(assignment: str, answer: str, scan: str) -> tuple[float, float, list]:
    """(points, maximum, static findings) of the notebook with ``answer`` in the graded cell, decided by AddProbes
    and Judge with the repository's configuration (``penalize_flagged`` off for "scan-off"), the real probe process."""
    from nbgrader.utils import determine_grade
    from traitlets.config import Config

    from lstm_course.grading.judge import KEY, AddProbes, Judge
    key = (assignment, answer, scan)
    if key not in _JUDGED:
        c = Config()
        c.CourseDirectory.root = str(REPO)
        c.CourseDirectory.source_directory = "solutions"
        c.Judge.penalize_flagged = scan == "scan-on"
        c.Judge.probe_timeout = 15.0
        nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == WRONG[assignment][0]:
                cell.source = answer
        nb, resources = AddProbes(config=c).preprocess(
            nb, {"nbgrader": {"student": "s", "assignment": assignment, "notebook": assignment}})
        findings = resources[KEY]["findings"]
        nb, _ = Judge(config=c).preprocess(nb, resources)
        grades = [determine_grade(x) for x in nb.cells if x.metadata.get("nbgrader", {}).get("grade")]
        _JUDGED[key] = (sum(g for g, _ in grades), sum(m for _, m in grades), findings)
    return _JUDGED[key]


# ------------------------------------------------------------------------------------------------- the tests
@pytest.mark.slow
@pytest.mark.parametrize("assignment", list(WRONG))
def test_the_honest_answers_score_as_expected(hostile, assignment):
    run = hostile("scan-off", "techniques")[assignment]
    solution, wrong = run["results"]["solution"], run["results"]["honest-wrong"]
    assert solution.score == solution.max_score, solution.errors
    assert 0 < wrong.score < wrong.max_score, (wrong.score, wrong.cells)


def _no_more(run: dict, technique: str) -> None:
    wrong, cheat = run["results"]["honest-wrong"], run["results"][student_id(technique)]
    assert cheat.score <= wrong.score, (
        f"{technique} scored {cheat.score} > {wrong.score} (the wrong answer alone): {cheat.cells}\n{cheat.errors}")


CASES = [(a, t) for a in WRONG for t in applies("techniques", a)]


@pytest.mark.slow
@pytest.mark.parametrize("assignment,technique", CASES, ids=[f"{a}-scan-off-{student_id(t)}" for a, t in CASES])
def test_technique_scores_no_more_than_the_wrong_answer(hostile, assignment, technique):
    """The attacks on the grading kernel, graded with nbgrader for real with the scan off (the judge alone): the kernel
    decides no points, so each scores at most the wrong answer. (With the scan on most also score 0 as tampering.)"""
    _no_more(hostile("scan-off", "techniques")[assignment], technique)


REACH_CASES = [(a, s, t) for a in WRONG for s in SCANS for t in applies("reach", a)]


@pytest.mark.slow
@pytest.mark.parametrize("assignment,scan,technique", REACH_CASES,
                         ids=[f"{a}-{s}-{student_id(t)}" for a, s, t in REACH_CASES])
def test_reach_scores_no_more_than_the_wrong_answer(assignment, scan, technique):
    """Each route to a correct implementation, on top of the wrong answer, decided by the judge: never more than the
    wrong answer alone, with the scan on; with the scan off too, except the NEEDS_SCAN routes, which the scan must
    flag (they are what its tamper rules are for)."""
    wrong = judged(assignment, WRONG[assignment][1], scan)[0]
    points, top, findings = judged(assignment, reach_cell(assignment, technique), scan)
    tamper = [f for f in findings if f.kind == "tamper"]
    if technique in NEEDS_SCAN:
        assert tamper, f"{technique} beats the judge without the scan, and the scan does not flag it"
        if scan == "scan-off":
            print(f"{assignment} / {technique}: {points:g} of {top:g} with the scan off (wrong answer: {wrong:g})")
            return
    assert points <= wrong, f"{technique} scored {points:g} > {wrong:g} ({scan}); findings: {tamper[:2]}"


END_CASES = [(s, t) for s in SCANS for t in END_TO_END]


@pytest.mark.slow
@pytest.mark.parametrize("scan,technique", END_CASES, ids=[f"gates-{s}-{student_id(t)}" for s, t in END_CASES])
def test_reach_end_to_end_with_nbgrader(hostile, scan, technique):
    run = hostile(scan, "reach", only=END_TO_END)["gates"]
    _no_more(run, technique)
    if technique == BOMB:  # the judge survived it: every submission of the class, the ones after it too, was graded
        assert run["done"].returncode == 0, run["done"].stderr[-3000:]


FLAGGED = list(WRONG)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", FLAGGED)
def test_every_kernel_technique_is_flagged_or_beaten(hostile, assignment):
    """Each attack on the kernel is held by something: a "tamper" finding of static.scan, or the judge's verdict
    alone (the scan-off course scores it no more than the wrong answer)."""
    from lstm_course.grading import static
    cell_id = WRONG[assignment][0]
    path = REPO / "solutions" / assignment / f"{assignment}.ipynb"
    source = nbformat.read(path, as_version=4)
    instructor = {c.source.strip() for c in source.cells if c.metadata.get("nbgrader", {}).get("locked")}
    assert not [f for f in static.scan(source, instructor) if f.kind == "tamper"], "the solution must not be flagged"
    results = None
    held, loose = {}, []
    for technique in applies("techniques", assignment):
        nb = nbformat.read(path, as_version=4)
        for c in nb.cells:
            if c.metadata.get("nbgrader", {}).get("grade_id") == cell_id:
                c.source = cell_for("techniques", assignment, technique)
        found = [f for f in static.scan(nb, instructor) if f.kind == "tamper"]
        if found:
            held[technique] = f"flagged: {found[0]}"
            continue
        results = results or hostile("scan-off", "techniques")[assignment]["results"]
        wrong, cheat = results["honest-wrong"], results[student_id(technique)]
        if cheat.score <= wrong.score:
            held[technique] = f"beaten by the judge ({cheat.score:g} <= {wrong.score:g})"
        else:
            loose.append(f"{technique}: not flagged, and {cheat.score:g} > {wrong.score:g} with the scan off")
    print(f"\n{assignment}:\n" + "\n".join(f"  {t}: {why}" for t, why in held.items()))
    assert not loose, "\n".join(loose)


# ---------------------------------------------------------------------- each REACH technique is a real route
OFFLINE = r'''
import io, json, sys, contextlib
setup, answer, solution, helpers, check = json.loads(sys.stdin.read())
ns = {"__name__": "__main__"}
exec(setup, ns)
exec(answer, ns)
sol = {"__name__": "solution"}
exec(setup, sol)
exec(solution, sol)
for code in helpers:  # test cells that define the helpers a technique calls (their own checks may fail: the
    try:              # hidden ones catch PyTorch's LSTM)
        exec(code, ns)
    except AssertionError:
        pass
exec(check, {"ns": ns, "sol": sol, **sol})
print("RIGHT", flush=True)
import os
os._exit(0)  # as the probe runner ends: no exit-time hook (a profiler a technique left running) decides the status
'''
CHECKS = {
    "gates": '''
g = torch.Generator().manual_seed(0)
for dtype, tol in ((torch.float64, dict(rtol=1e-9, atol=1e-10)), (torch.float32, dict(rtol=1e-4, atol=1e-5))):
    B, I, H = 3, 5, 4
    args = [torch.randn(*s, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
            for s in ((B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,))]
    w = [torch.randn(B, H, generator=g, dtype=torch.float64).to(dtype) for _ in range(2)]
    got = ns["lstm_cell"](args[0], (args[1], args[2]), *args[3:])
    want = sol["lstm_cell"](args[0], (args[1], args[2]), *args[3:])
    assert type(got) is tuple and len(got) == 2, got
    for a, b in zip(got, want):
        assert type(a) is torch.Tensor and a.dtype == b.dtype and torch.allclose(a, b, **tol), (a, b)
    ga = torch.autograd.grad(sum((t * v).sum() for t, v in zip(got, w)), args)
    gb = torch.autograd.grad(sum((t * v).sum() for t, v in zip(want, w)), args)
    assert all(torch.allclose(a, b, **tol) for a, b in zip(ga, gb)), "gradients differ"
''',
    "detaching": '''
a = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
x, y = a * 2, a.exp()
def same(got, want):
    assert type(got) is type(want), (got, want)
    if isinstance(want, torch.Tensor):
        assert got.grad_fn is None and not got.requires_grad and torch.equal(got, want)
    elif isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for u, v in zip(got, want):
            same(u, v)
for state in (None, x, (x, y), [x, (y, x)], [], (), ((x,), [y, (x, y)], None)):
    same(ns["detach_state"](state), sol["detach_state"](state))
assert x.grad_fn is not None and y.grad_fn is not None
''',
    "temperature": '''
f = ns["sample_next"]
assert f(torch.tensor([1.0, 3.0, 2.0]), temperature=0).item() == 1
assert f(torch.tensor([[1.0, 3.0, 2.0], [5.0, 0.0, 0.0]]), temperature=0, top_k=2, top_p=0.1).tolist() == [1, 0]
for bad in (dict(temperature=-1.0), dict(temperature=float("nan")), dict(temperature=float("inf")), dict(top_k=0),
            dict(top_p=0.0), dict(top_p=1.5)):
    try:
        f(torch.zeros(3), **bad)
    except ValueError:
        continue
    raise AssertionError(f"no ValueError for {bad}")
N = 20000
p = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
for options in (dict(temperature=0.5), dict(top_k=2), dict(top_p=0.6), dict(temperature=2.0, top_k=3, top_p=0.8)):
    got = f(p.log().repeat(N, 1), generator=torch.Generator().manual_seed(1), **options)
    want = sol["sample_next"](p.log().repeat(N, 1), generator=torch.Generator().manual_seed(2), **options)
    assert got.dtype == torch.long and got.shape == (N,)
    fg, fw = (torch.bincount(t, minlength=4).double() / N for t in (got, want))
    q = (fg + fw) / 2
    assert ((fg - fw).abs() <= 6 * (2 * q * (1 - q) / N).sqrt() + 1e-9).all(), (options, fg, fw)
''',
    "backward": '''
rng = np.random.default_rng(0)
for dtype, tol in ((np.float64, dict(rtol=1e-9, atol=1e-10)), (np.float32, dict(rtol=1e-4, atol=1e-5))):
    B, I, H = 3, 5, 4
    r = lambda *shape: (0.5 * rng.standard_normal(shape)).astype(dtype)
    x, h, c, W_ih, W_hh, b, dh, dc = r(B, I), r(B, H), r(B, H), r(4 * H, I), r(4 * H, H), r(4 * H), r(B, H), r(B, H)
    _, _, cache = ns["lstm_step_forward"](x, h, c, W_ih, W_hh, b)
    got = ns["lstm_step_backward"](dh, dc, cache, W_ih, W_hh)
    want = sol["lstm_step_backward"](dh, dc, cache, W_ih, W_hh)
    assert isinstance(got, ns["StepGrads"]), type(got)
    for name in ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db"):
        a, e = getattr(got, name), getattr(want, name)
        assert type(a) is np.ndarray and a.dtype == e.dtype and np.allclose(a, e, **tol), (name, a, e)
    try:
        ns["lstm_step_backward"](dh[0], dc, cache, W_ih, W_hh)
    except ValueError:
        pass
    else:
        raise AssertionError("dh of shape (H,) must raise ValueError")
''',
}
BOMB_CHECK = '''
import base64, contextlib, io, zipfile
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        ns[FUNCTION](*ARGS)
except KeyboardInterrupt:
    pass
else:
    raise AssertionError("the bomb did not stop the probe")
lines = [l for l in out.getvalue().splitlines() if l.startswith("LSTM-COURSE-PROBE ")]
assert len(lines) == 1 and lines[0].split(" ")[1] == FUNCTION, lines[:1]
blob = lines[0].split(" ")[2]
raw = base64.b64decode(blob)
assert len(blob) < 2 * 2**20, len(blob)
inflated = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(raw)).infolist())
assert inflated >= 2**30, inflated
'''
BOMB_ARGS = {"gates": "(torch.zeros(1, 1), (torch.zeros(1, 1), torch.zeros(1, 1)), torch.zeros(4, 1), torch.zeros(4, 1), "
                      "torch.zeros(4), torch.zeros(4))",
             "detaching": "(None,)", "temperature": "(torch.zeros(3),)", "backward": "(None, None, None, None, None)"}


def _source_cell(assignment: str, grade_id: str) -> str:
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def offline(assignment: str, technique: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The technique's cell in a plain Python process (where its route is open), after the notebook's setup cell;
    then its function is compared with the instructor's solution (or, for the bomb, its forged result is checked)."""
    cell_id = WRONG[assignment][0]
    helpers = []
    if "test-cell helpers" in technique:  # the test cells that define them, run after the answer as in the notebook
        helpers = [_source_cell(assignment, "test_lstm_cell_hidden" if assignment == "gates"
                                else "test_lstm_step_backward")]
    check = CHECKS[assignment] if technique != BOMB else (
        f"FUNCTION, ARGS = {cell_id!r}, {BOMB_ARGS[assignment]}\n" + BOMB_CHECK)
    job = [_source_cell(assignment, "setup"), reach_cell(assignment, technique),
           solution_cells(nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4))[cell_id],
           helpers, check]
    return subprocess.run([sys.executable, "-c", OFFLINE], input=json.dumps(job), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


OFFLINE_CASES = [(a, t) for a in ("gates", "backward") for t in applies("reach", a)]  # every category is on these two


@pytest.mark.slow
@pytest.mark.parametrize("assignment,technique", OFFLINE_CASES,
                         ids=[f"{a}-{student_id(t)}" for a, t in OFFLINE_CASES])
def test_reach_technique_works_outside_the_grader(assignment, technique):
    """Where its route is open, each REACH technique turns the wrong answer into a right one: so its score in the
    graded class shows what the grader holds, not a technique that never worked."""
    done = offline(assignment, technique)
    assert done.returncode == 0 and done.stdout.strip().endswith("RIGHT"), (
        f"{technique} does not make {WRONG[assignment][0]} right outside the grader:\n{done.stdout[-2000:]}\n"
        f"{done.stderr[-3000:]}")
    assert "technique failed" not in done.stdout, done.stdout[-2000:]


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
