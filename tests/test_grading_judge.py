"""Fast checks of the judge (lstm_course/grading/judge.py) on notebooks built here, without a kernel.

The probe cells' outputs are written by the test, as a kernel would print them, from the checks module's own
``run`` on the solution's functions (right results), a wrong function's, or forged, malformed, duplicated,
oversized or missing lines; nbgrader's own ``determine_grade`` then scores each test cell as SaveAutoGrades would.
"""
from __future__ import annotations

import pickle
import base64

import nbformat
import pytest
import torch
from nbgrader.utils import determine_grade
from traitlets.config import Config

from lstm_course.grading import protocol
from lstm_course.grading.judge import PROBE, AddProbes, Judge, checks_for
from nbgrader_course import REPO, solution_cells

ASSIGNMENTS = ("gates", "detaching", "temperature", "backward")


def _config() -> Config:
    c = Config()
    c.CourseDirectory.root = str(REPO)
    c.CourseDirectory.source_directory = "solutions"
    return c


def _prepared(assignment: str, replace: dict[str, str] | None = None):
    """The source notebook (solutions in place, or ``replace``d) with probe cells added; the judge's resources."""
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in (replace or {}):
            cell.source = replace[gid]
    resources = {"nbgrader": {"student": "s", "assignment": assignment, "notebook": assignment}}
    nb, resources = AddProbes(config=_config()).preprocess(nb, resources)
    return nb, resources


def _namespace(assignment: str, replace: dict[str, str] | None = None) -> dict:
    import math, itertools
    ns = dict(torch=torch, nn=torch.nn, F=torch.nn.functional, math=math, itertools=itertools,
              DEVICE=torch.device("cpu"))
    source = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    if assignment == "backward":  # its setup cell defines what the answers use (np, StepGrads, SequenceGrads)
        exec(next(c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"), ns)
    for gid, code in solution_cells(source).items():
        exec((replace or {}).get(gid, code), ns)
    return ns


def _print(cell, text: str) -> None:
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]


def _run_probes(nb, resources, ns, lines=None) -> None:
    """Fill every probe cell's output as the kernel would (or with ``lines[function]`` when given)."""
    inputs = resources["lstm_course_judge"]["inputs"]
    checks = checks_for(resources["lstm_course_judge"]["notebook"])
    for cell in nb.cells:
        function = cell.metadata.get(PROBE)
        if function:
            if lines is not None and function in lines:
                _print(cell, lines[function])
            else:
                blob = protocol.encode(checks.run(function, ns, inputs[function], torch.device("cpu")))
                _print(cell, f"{protocol.MARKER} {function} {blob}\n")


def _scores(nb) -> dict[str, float]:
    return {c.metadata["nbgrader"]["grade_id"]: determine_grade(c)[0] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}


def _judged(assignment, lines=None, replace=None, penalize=True):
    nb, resources = _prepared(assignment, replace)
    for cell in nb.cells:  # the test cells ran and passed in the kernel (perhaps fooled)
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="all visible tests passed\n")]
    _run_probes(nb, resources, _namespace(assignment, replace), lines)
    config = _config()
    config.Judge.penalize_flagged = penalize
    nb, resources = Judge(config=config).preprocess(nb, resources)
    assert not any(c.metadata.get(PROBE) for c in nb.cells), "the probe cells must be gone before grades are saved"
    assert "lstm_course_judge" not in resources
    return nb


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_right_results_keep_the_kernels_verdict(assignment):
    scores = _scores(_judged(assignment))
    assert scores and all(s > 0 for s in scores.values()), scores


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_inputs_are_new_each_run_and_never_in_the_notebook_as_a_seed(assignment):
    a, ra = _prepared(assignment)
    b, rb = _prepared(assignment)
    first = [c.source for c in a.cells if c.metadata.get(PROBE)]
    assert first and first != [c.source for c in b.cells if c.metadata.get(PROBE)]
    assert "seed" not in ra["lstm_course_judge"]


def _first_function(assignment):
    return checks_for(assignment).FUNCTIONS[0]


BAD_LINES = {
    "missing": lambda f, good: "",
    "not base64": lambda f, good: f"{protocol.MARKER} {f} @@@not-base64@@@\n",
    "not an archive": lambda f, good: f"{protocol.MARKER} {f} {base64.b64encode(b'hello').decode()}\n",
    "a pickle that calls code": lambda f, good: (
        f"{protocol.MARKER} {f} {base64.b64encode(pickle.dumps(print)).decode()}\n"),
    "duplicated": lambda f, good: good + good,
    "oversized": lambda f, good: f"{protocol.MARKER} {f} {'A' * (protocol.MAX_RESULT_BYTES * 2)}\n",
    "forged: inputs echoed": lambda f, good: f"{protocol.MARKER} {f} {protocol.encode({'cases': []})}\n",
    "the probe's own error": lambda f, good: f"{protocol.MARKER} {f} {protocol.encode({'probe_error': 'x'})}\n",
}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("kind", list(BAD_LINES))
def test_missing_or_malformed_results_score_zero(assignment, kind):
    function = _first_function(assignment)
    nb, resources = _prepared(assignment)
    ns = _namespace(assignment)
    inputs = resources["lstm_course_judge"]["inputs"]
    good = f"{protocol.MARKER} {function} {protocol.encode(checks_for(assignment).run(function, ns, inputs[function], torch.device('cpu')))}\n"
    scores = _scores(_judged(assignment, lines={function: BAD_LINES[kind](function, good)}))
    assert scores[f"test_{function}"] == 0 and scores[f"test_{function}_hidden"] == 0, scores
    others = {k: v for k, v in scores.items() if not k.startswith(f"test_{function}")}
    assert all(v > 0 for v in others.values()), f"{kind} in {function} must not cost other functions: {scores}"


WRONG = {"gates": ("lstm_cell", "def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n    return state\n"),
         "detaching": ("batchify", "def batchify(tokens, batch_size):\n    return tokens.reshape(batch_size, -1)\n"),
         "temperature": ("generate", "def generate(model, prompt, length, **kw):\n"
                                     "    return torch.zeros(length, dtype=torch.long)\n"),
         "backward": ("lstm_backward", "def lstm_backward(dhs, caches, W_ih, W_hh, dc_T=None):\n"
                                       "    z = np.zeros_like\n    return SequenceGrads(dx=np.zeros(dhs.shape[:2] + "
                                       "caches[0].x.shape[1:]), dh0=z(dhs[0]), dc0=z(dhs[0]), dW_ih=z(W_ih), "
                                       "dW_hh=z(W_hh), db=np.zeros(W_hh.shape[0]))\n")}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_wrong_results_fail_though_the_kernel_said_passed(assignment):
    function, code = WRONG[assignment]
    nb = _judged(assignment, replace={function: code})
    scores = _scores(nb)
    assert scores[f"test_{function}"] == 0 and scores[f"test_{function}_hidden"] == 0, scores
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"test_{function}")
    assert cell.outputs[0].ename == "GraderVerdict" and function in cell.outputs[0].evalue
    assert cell.outputs[1].text == "all visible tests passed\n", "the kernel's own output stays, after the verdict"


def test_a_forged_numeric_output_gives_no_partial_credit():
    function, code = WRONG["gates"]
    nb, resources = _prepared("gates", {function: code})
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1000.0"}, execution_count=1)]
    _run_probes(nb, resources, _namespace("gates", {function: code}))
    nb, _ = Judge(config=_config()).preprocess(nb, resources)
    assert _scores(nb)["test_lstm_cell"] == 0


def test_the_kernels_failure_stands_when_the_judge_finds_no_fault():
    nb, resources = _prepared("gates")
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="kernel says no", traceback=[])]
    _run_probes(nb, resources, _namespace("gates"))
    nb, _ = Judge(config=_config()).preprocess(nb, resources)
    assert all(v == 0 for v in _scores(nb).values())


def test_flagged_code_costs_the_notebook_or_the_function():
    nb = _judged("gates", replace={"init_forget_bias": "import gc\n" + solution_cells(nbformat.read(
        REPO / "solutions/gates/gates.ipynb", as_version=4))["init_forget_bias"]})
    assert all(v == 0 for v in _scores(nb).values())
    lstm = "def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n    return tuple(torch.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh))\n"
    scores = _scores(_judged("gates", replace={"lstm_cell": lstm}))
    assert scores["test_lstm_cell"] == 0 and scores["test_lstm_layer"] > 0 and scores["test_init_forget_bias"] > 0
    assert _scores(_judged("gates", replace={"lstm_cell": lstm}, penalize=False))["test_lstm_cell"] > 0


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_probes_run_right_after_the_last_test_cell(assignment):
    nb, _ = _prepared(assignment)
    graded = [k for k, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade")]
    probes = [k for k, c in enumerate(nb.cells) if c.metadata.get(PROBE)]
    assert probes == list(range(graded[-1] + 1, graded[-1] + 1 + len(checks_for(assignment).FUNCTIONS)))
    # the ungraded cells (see it work, questions, try-it cells) come after the probes: they cannot change a result
    # (backward, the newest notebook, has no see-it-work part yet)
    if assignment != "backward":
        assert probes[-1] + 1 < len(nb.cells) and any("See it work" in c.source for c in nb.cells[probes[-1] + 1:])


def test_pytorchs_lstm_after_the_tests_costs_nothing_before_them_it_costs_the_hand_written_functions():
    compare = "lstm = nn.LSTMCell(3, 4)  # a student compares their lstm_cell with PyTorch's\n"
    source = nbformat.read(REPO / "solutions" / "gates" / "gates.ipynb", as_version=4)
    last_test = max(k for k, c in enumerate(source.cells) if c.metadata.get("nbgrader", {}).get("grade"))
    hand_written = {"test_lstm_cell", "test_lstm_cell_hidden", "test_lstm_layer", "test_lstm_layer_hidden"}
    for where, lose in ((len(source.cells), set()), (last_test + 1, set()), (last_test, hand_written)):
        nb = nbformat.read(REPO / "solutions" / "gates" / "gates.ipynb", as_version=4)
        nb.cells.insert(where, nbformat.v4.new_code_cell(compare))
        resources = {"nbgrader": {"student": "s", "assignment": "gates", "notebook": "gates"}}
        nb, resources = AddProbes(config=_config()).preprocess(nb, resources)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="all visible tests passed\n")]
        _run_probes(nb, resources, _namespace("gates"))
        nb, _ = Judge(config=_config()).preprocess(nb, resources)
        lost = {gid for gid, score in _scores(nb).items() if score == 0}
        assert lost == lose, (where, lost)


def test_autograd_in_the_backward_notebook_costs_that_function():
    """Gradients from torch.autograd are not a backward pass written by hand: 0 for that function (right as they
    are), the other keeps its points; the same code where autograd is allowed (detaching trains with .backward())
    is not a finding."""
    step = """def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
    if dh.shape != cache.h_prev.shape or dc.shape != cache.h_prev.shape:
        raise ValueError("expected dh and dc of shape (B, H)")
    logit = lambda s: torch.log(s) - torch.log1p(-s)
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    a = torch.cat([logit(t(cache.i)), logit(t(cache.f)), torch.atanh(t(cache.g)), logit(t(cache.o))], dim=1)
    leaves = [t(v).requires_grad_() for v in (cache.x, cache.h_prev, cache.c_prev, W_ih, W_hh)]
    x, h, c0, Wi, Wh = leaves
    rest = (a - x @ Wi.T - h @ Wh.T).detach().requires_grad_()
    ai, af, ag, ao = (x @ Wi.T + h @ Wh.T + rest).chunk(4, dim=1)
    c = torch.sigmoid(af) * c0 + torch.sigmoid(ai) * torch.tanh(ag)
    loss = (torch.sigmoid(ao) * torch.tanh(c) * t(dh)).sum() + (c * t(dc)).sum()
    g = [v.numpy().astype(dh.dtype) for v in torch.autograd.grad(loss, leaves + [rest])]
    return StepGrads(dx=g[0], dh_prev=g[1], dc_prev=g[2], dW_ih=g[3], dW_hh=g[4], db=g[5].sum(axis=0))
"""
    scores = _scores(_judged("backward", replace={"lstm_step_backward": step}))
    assert scores["test_lstm_step_backward"] == 0 and scores["test_lstm_step_backward_hidden"] == 0, scores
    assert scores["test_lstm_backward"] > 0 and scores["test_lstm_backward_hidden"] > 0, scores
    unpenalized = _scores(_judged("backward", replace={"lstm_step_backward": step}, penalize=False))
    assert unpenalized["test_lstm_step_backward_hidden"] > 0, "the autograd answer is right: only the rule costs it"
    # a cell the student added: it costs every function that must not use autograd
    nb = nbformat.read(REPO / "solutions/backward/backward.ipynb", as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell("import torch.autograd as ag\n"))
    _, resources = AddProbes(config=_config()).preprocess(
        nb, {"nbgrader": {"student": "s", "assignment": "backward", "notebook": "backward"}})
    findings = resources["lstm_course_judge"]["findings"]
    assert [(f.kind, f.cell) for f in findings] == [("autograd", "cell 4")], findings
    from lstm_course.grading import static
    detaching = nbformat.read(REPO / "solutions/detaching/detaching.ipynb", as_version=4)
    assert not static.scan(detaching), "detaching's loss.backward() is not a finding there"
    assert static.scan(detaching, autograd=True), "...but it is one where autograd is forbidden"
