"""Checks of the judge (lstm_course/grading/judge.py) on notebooks built here, without nbgrader's kernel.

``AddProbes`` and ``Judge`` run as nbgrader runs them, and the judge starts its real probe process
(``probe_runner.py`` under ``confine.py``); the test cells' kernel outputs are written by the test (the kernel's
verdict is advice now, whatever it says). nbgrader's own ``determine_grade`` then scores each test cell as
SaveAutoGrades would. Faults of the result channel (missing, forged, duplicated, damaged, oversized, compressed
lines) are fed to the judge's reading step directly.
"""
from __future__ import annotations

import base64
import io
import pickle
import resource
import zipfile

import nbformat
import pytest
import torch
from nbgrader.utils import determine_grade
from traitlets.config import Config

from lstm_course.grading import protocol, static
from lstm_course.grading.judge import KEY, AddProbes, Judge, checks_for
from nbgrader_course import REPO, solution_cells

ASSIGNMENTS = ("gates", "detaching", "temperature", "backward")
ADVICE = "advice only: the points come from the grader's own run of your function"


def _config(**judge) -> Config:
    c = Config()
    c.CourseDirectory.root = str(REPO)
    c.CourseDirectory.source_directory = "solutions"
    for name, value in judge.items():
        setattr(c.Judge, name, value)
    return c


def _notebook(assignment: str, replace: dict[str, str] | None = None, insert: dict[int, str] | None = None):
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in (replace or {}):
            cell.source = replace[gid]
    for where, source in sorted((insert or {}).items(), reverse=True):
        nb.cells.insert(where, nbformat.v4.new_code_cell(source))
    return nb


def _resources(assignment: str) -> dict:
    return {"nbgrader": {"student": "s", "assignment": assignment, "notebook": assignment}}


def _kernel_says(nb, output) -> None:
    for cell in nb.cells:  # the test cells as the kernel left them (they decide nothing now)
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs = [output]


PASSED = nbformat.v4.new_output("stream", name="stdout", text="all visible tests passed\n")


def _judged(assignment, replace=None, insert=None, kernel=PASSED, **judge):
    nb = _notebook(assignment, replace, insert)
    config = _config(**judge)
    nb, resources = AddProbes(config=config).preprocess(nb, _resources(assignment))
    _kernel_says(nb, kernel)
    nb, resources = Judge(config=config).preprocess(nb, resources)
    assert KEY not in resources, "the judge's state must not outlive the judge"
    return nb


def _scores(nb) -> dict[str, float]:
    return {c.metadata["nbgrader"]["grade_id"]: determine_grade(c)[0] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}


def _full(nb) -> bool:
    return all(determine_grade(c)[0] == determine_grade(c)[1] for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")


def _text(nb, gid: str) -> str:
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
    return "\n".join(o.get("evalue", "") or o.get("text", "") for o in cell.outputs)


def _lost(nb) -> set[str]:
    return {gid for gid, score in _scores(nb).items() if score == 0}


SOLUTIONS = {a: solution_cells(nbformat.read(REPO / "solutions" / a / f"{a}.ipynb", as_version=4)) for a in ASSIGNMENTS}


# ------------------------------------------------------------------------------------ the whole way
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_right_answers_score_full_marks(assignment):
    nb = _judged(assignment)
    assert _full(nb), {gid: _text(nb, gid)[:300] for gid in _lost(nb)}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_inputs_are_new_each_run_and_nothing_is_added_to_the_notebook(assignment):
    a, b = _notebook(assignment), _notebook(assignment)
    cells = len(a.cells)
    a, ra = AddProbes(config=_config()).preprocess(a, _resources(assignment))
    b, rb = AddProbes(config=_config()).preprocess(b, _resources(assignment))
    assert len(a.cells) == cells, "no probe cell runs in the student's kernel any more"
    assert protocol.encode(ra[KEY]["inputs"]) != protocol.encode(rb[KEY]["inputs"])
    assert "seed" not in ra[KEY]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_probe_runs_the_setup_and_the_students_cells_and_no_test_cell(assignment):
    nb = _notebook(assignment, insert={4: "helper = 1  # a cell the student added"})
    _, resources = AddProbes(config=_config()).preprocess(nb, _resources(assignment))
    ran = resources[KEY]["cells"]
    names = [name for name, _ in ran]
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert names[0] == "setup" and "cell 5" in names
    assert set(SOLUTIONS[assignment]) <= set(names)
    assert not any(source.strip() == t.source.strip() for _, source in ran for t in tests)
    last_test = max(k for k, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade"))
    after = {c.source for c in nb.cells[last_test + 1:]}
    assert not any(source in after for _, source in ran), "cells after the tests never run in the probe"


WRONG = {"gates": ("lstm_cell", "def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n    return state\n"),
         "detaching": ("batchify", "def batchify(tokens, batch_size):\n    return tokens.reshape(batch_size, -1)\n"),
         "temperature": ("generate", "def generate(model, prompt, length, **kw):\n"
                                     "    return torch.zeros(length, dtype=torch.long)\n"),
         "backward": ("lstm_backward", "def lstm_backward(dhs, caches, W_ih, W_hh, dc_T=None):\n"
                                       "    z = np.zeros_like\n    return SequenceGrads(dx=np.zeros(dhs.shape[:2] + "
                                       "caches[0].x.shape[1:]), dh0=z(dhs[0]), dc0=z(dhs[0]), dW_ih=z(W_ih), "
                                       "dW_hh=z(W_hh), db=np.zeros(W_hh.shape[0]))\n")}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_wrong_results_fail_that_function_only_though_the_kernel_said_passed(assignment):
    function, code = WRONG[assignment]
    nb = _judged(assignment, replace={function: code})
    assert _lost(nb) == {f"test_{function}", f"test_{function}_hidden"}, _scores(nb)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"test_{function}")
    assert cell.outputs[0].ename == "GraderVerdict" and function in cell.outputs[0].evalue
    assert cell.outputs[-1].text == "all visible tests passed\n", "the kernel's own output stays, after the verdict"


def test_a_forged_numeric_output_gives_no_partial_credit():
    function, code = WRONG["gates"]
    nb = _judged("gates", replace={function: code},
                 kernel=nbformat.v4.new_output("execute_result", data={"text/plain": "1000.0"}, execution_count=1))
    assert _scores(nb)["test_lstm_cell"] == 0
    assert all(o.output_type != "execute_result" for c in nb.cells for o in c.get("outputs", []))


def test_the_kernels_own_failure_is_advice_and_costs_nothing():
    """The notebook's test cells share the kernel with every other function (detaching's train_tbptt test calls the
    student's detach_state): their errors are shown, marked as advice, and the judge alone decides."""
    nb = _judged("gates", kernel=nbformat.v4.new_output("error", ename="AssertionError", evalue="kernel says no",
                                                        traceback=["AssertionError: kernel says no"]))
    assert _full(nb)
    assert "kernel says no" in _text(nb, "test_lstm_cell") and ADVICE in _text(nb, "test_lstm_cell")


def test_a_broken_cell_costs_only_the_functions_it_defines():
    """detach_state's cell raises (say, it ran out of memory): train_tbptt, which calls detach_state, keeps its points
    (it ran with the grader's stand-in), and the student is told what happened in the grader's run."""
    broken = "x = [0] * 10\nraise MemoryError('out of memory')\n" + SOLUTIONS["detaching"]["detach_state"]
    nb = _judged("detaching", replace={"detach_state": broken})
    assert _lost(nb) == {"test_detach_state", "test_detach_state_hidden"}, _scores(nb)
    assert "MemoryError: out of memory" in _text(nb, "test_train_tbptt")


# --------------------------------------------------------------------------- behaviour, not names
LSTM_CELL = ("def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n"
             "    return tuple(torch.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh))\n")
HIDDEN_LSTM = ("_m = [torch]\n_name = 'ls' + 'tm_cell'\n"
               "def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh, _f=None):\n"
               "    return tuple(vars(_m[0])[_name](x, state, W_ih, W_hh, b_ih, b_hh))\n")


@pytest.mark.parametrize("penalize", [True, False], ids=["scan on", "scan off"])
@pytest.mark.parametrize("code", [LSTM_CELL, HIDDEN_LSTM], ids=["by name", "by a name built at run time"])
def test_pytorchs_lstm_run_by_a_hand_written_function_costs_that_function(code, penalize):
    nb = _judged("gates", replace={"lstm_cell": code}, penalize_flagged=penalize)
    lost = _lost(nb)
    assert {"test_lstm_cell", "test_lstm_cell_hidden"} <= lost, _scores(nb)
    if not penalize or code == LSTM_CELL:  # vars() on a module is tampering as well: with the scan on, all is lost
        assert lost == {"test_lstm_cell", "test_lstm_cell_hidden"}, _scores(nb)
    assert "aten::lstm_cell" in _text(nb, "test_lstm_cell")


def test_pytorchs_lstm_named_beside_the_answer_costs_nothing():
    """A self-check helper that compares the student's cell with nn.LSTMCell, never called by the graded function:
    an advice note, no points lost."""
    check = ("\ndef _self_check():\n    ref = nn.LSTMCell(3, 4)\n    return ref\n")
    nb = _judged("gates", replace={"lstm_cell": SOLUTIONS["gates"]["lstm_cell"] + check})
    assert _full(nb), _scores(nb)
    assert "no points deducted" in _text(nb, "test_lstm_cell")
    compare = "lstm = nn.LSTMCell(3, 4)  # a student compares their lstm_cell with PyTorch's\n"
    assert _full(_judged("gates", insert={4: compare}))


AUTOGRAD_STEP = """def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
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
    g = [v.numpy().astype(dh.dtype) for v in GRAD(loss, leaves + [rest])]
    return StepGrads(dx=g[0], dh_prev=g[1], dc_prev=g[2], dW_ih=g[3], dW_hh=g[4], db=g[5].sum(axis=0))
"""


@pytest.mark.parametrize("penalize", [True, False], ids=["scan on", "scan off"])
@pytest.mark.parametrize("grad", ["torch.autograd.grad", "vars(vars(torch)['auto' + 'grad'])['grad']"],
                         ids=["by name", "by a name built at run time"])
def test_autograd_in_the_backward_notebook_costs_that_function(grad, penalize):
    """Gradients from autograd are not a backward pass by hand: 0 for that function (right as they are), decided
    from the operators it ran; the other function keeps its points."""
    nb = _judged("backward", replace={"lstm_step_backward": AUTOGRAD_STEP.replace("GRAD", grad)},
                 penalize_flagged=penalize)
    lost = _lost(nb)
    assert {"test_lstm_step_backward", "test_lstm_step_backward_hidden"} <= lost, _scores(nb)
    if not penalize or grad == "torch.autograd.grad":  # vars() on a module is tampering as well
        assert lost == {"test_lstm_step_backward", "test_lstm_step_backward_hidden"}, _scores(nb)
    assert "autograd::engine" in _text(nb, "test_lstm_step_backward")


def test_autograd_where_it_is_allowed_is_not_a_finding():
    detaching = nbformat.read(REPO / "solutions/detaching/detaching.ipynb", as_version=4)
    assert not [f for f in static.scan(detaching) if f.kind == "autograd"], "detaching's loss.backward() is fine there"


STOP_RECORDER = {
    "private stop": "    t = torch\n    t.autograd._disable_profiler()\n",
    "a profiler of its own": "    with torch.profiler.profile():\n        pass\n",
}


@pytest.mark.parametrize("how", list(STOP_RECORDER))
def test_stopping_the_recorder_costs_that_function_even_with_the_scan_off(how):
    code = ("def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n" + STOP_RECORDER[how] +
            "    return tuple(torch.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh))\n")
    nb = _judged("gates", replace={"lstm_cell": code}, penalize_flagged=False)
    assert _lost(nb) == {"test_lstm_cell", "test_lstm_cell_hidden"}, _scores(nb)
    assert "recorder was stopped" in _text(nb, "test_lstm_cell")


# ---------------------------------------------------------------------------------- out of reach
REACH = {
    "the course package": "import sys as _s\n_s.path.insert(0, %r)\nfrom lstm_course.cell import lstm_cell\n" % str(REPO),
    "the solutions": ("_src = open(%r).read()\nimport json as _j\n"
                      "exec(''.join(_j.loads(_src)['cells'][3]['source']).replace('### BEGIN SOLUTION', ''))\n"
                      % str(REPO / "solutions/gates/gates.ipynb")),
    "a visible test's helper": ("def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n"
                                "    return _reference_layer(x[None], state, W_ih, W_hh, b_ih, b_hh)[1]\n"),
}


@pytest.mark.parametrize("route", list(REACH))
def test_no_reference_is_reachable_from_the_probe(route):
    """With the scan off, a cell that reaches for a reference gets an error in the grader's run: the course package
    and solutions/ are outside the probe's sandbox, and no test cell runs there."""
    nb = _judged("gates", replace={"lstm_cell": REACH[route]}, penalize_flagged=False)
    assert {"test_lstm_cell", "test_lstm_cell_hidden"} <= _lost(nb), _scores(nb)
    assert "Error" in _text(nb, "test_lstm_cell")


def test_the_probe_sandbox_refuses_the_course_package_and_solutions(tmp_path):
    import subprocess
    import sys
    script = tmp_path / "try.py"
    attempts = {"package": "import lstm_course", "solutions": f"open({str(REPO / 'solutions/gates/gates.ipynb')!r})",
                "mem": "open('/proc/self/mem', 'rb')", "torch": "import torch"}
    script.write_text(f"import json\nout = {{}}\nfor name, what in {attempts!r}.items():\n"
                      "    try:\n        exec(what)\n        out[name] = 'read'\n"
                      "    except Exception as e:\n        out[name] = type(e).__name__\n"
                      "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-m", "lstm_course.grading.confine", f"--tmp={tmp_path}",
                           f"--deny={REPO}", "--", sys.executable, "-I", str(script)],
                          capture_output=True, text=True, timeout=120)
    import json
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"package": "PermissionError", "solutions": "PermissionError", "mem": "PermissionError",
                    "torch": "read"}, (seen, done.stderr[-500:])


def test_carving_keeps_what_lies_beside_a_denied_path(tmp_path):
    from lstm_course.grading.confine import carve
    (tmp_path / "a" / "secret").mkdir(parents=True)
    (tmp_path / "a" / "open").mkdir()
    (tmp_path / "b").mkdir()
    kept = carve([tmp_path], [tmp_path / "a" / "secret"])
    assert sorted(kept) == [tmp_path / "a" / "open", tmp_path / "b"]
    assert carve([tmp_path / "a" / "open"], [tmp_path]) == [tmp_path / "a" / "open"], "a root asked for stays"


# ------------------------------------------------------------------------------ the result channel
@pytest.fixture(scope="module")
def channel():
    """A real probe run of the gates solution: the judge's state and the probe's genuine output."""
    config = _config()
    nb, resources = AddProbes(config=config).preprocess(_notebook("gates"), _resources("gates"))
    state = resources[KEY]
    judge = Judge(config=config)
    stdout, stderr, code = judge._run_probe(state, checks_for("gates"))
    return judge, state, stdout


def _line(state, function: str, blob: str) -> str:
    return f"{protocol.MARKER} {function} {blob} {protocol.sign(state['key'], function, blob)}\n"


def _bomb() -> str:
    """A torch.save-shaped archive whose one member inflates to 1 GiB (about 1 MB compressed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("archive/data.pkl", "w", force_zip64=True) as f:
            block = b"\0" * 2**24
            for _ in range(64):
                f.write(block)
    return base64.b64encode(buf.getvalue()).decode()


FAULTS = {
    "missing": lambda s, f, good: "",
    "not base64": lambda s, f, good: _line(s, f, "@@@not-base64@@@"),
    "not an archive": lambda s, f, good: _line(s, f, base64.b64encode(b"hello").decode()),
    "a pickle that calls code": lambda s, f, good: _line(s, f, base64.b64encode(pickle.dumps(print)).decode()),
    "duplicated": lambda s, f, good: good + good,
    "oversized": lambda s, f, good: _line(s, f, "A" * (protocol.MAX_RESULT_BYTES * 2)),
    "a decompression bomb": lambda s, f, good: _line(s, f, _bomb()),
    "inputs echoed": lambda s, f, good: _line(s, f, base64.b64encode(protocol.encode({"results": {"cases": []},
                                                                                      "recorder": "ok"})).decode()),
    "the probe's own error": lambda s, f, good: _line(s, f, base64.b64encode(protocol.encode({"probe_error": "x"})).decode()),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_result_costs_its_function_only(channel, fault):
    judge, state, stdout = channel
    function = "lstm_cell"
    good = next(line + "\n" for line in stdout.splitlines() if line.split(" ")[1:2] == [function])
    rest = "".join(line + "\n" for line in stdout.splitlines() if line.split(" ")[1:2] != [function])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    failures, _ = judge._verdicts(state, checks_for("gates"), rest + FAULTS[fault](state, function, good), "", "s")
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB
    assert failures[function], fault
    assert not failures["lstm_layer"] and not failures["init_forget_bias"], failures
    assert grown < 200 * 1024, f"reading the result grew the judge by {grown // 1024} MiB"


def test_the_genuine_output_passes_and_a_line_not_signed_by_the_grader_costs_the_notebook(channel):
    judge, state, stdout = channel
    failures, _ = judge._verdicts(state, checks_for("gates"), stdout, "", "s")
    assert not any(failures.values()), failures
    blob = stdout.splitlines()[-1].split(" ")[2]
    forged = stdout + f"{protocol.MARKER} lstm_cell {blob} {'0' * 64}\n"
    failures, _ = judge._verdicts(state, checks_for("gates"), forged, "", "s")
    assert all(failures[f] for f in ("lstm_cell", "lstm_layer", "init_forget_bias")), failures


def test_a_compressed_archive_is_refused_before_it_is_inflated():
    with pytest.raises(protocol.ProbeError, match="compressed member"):
        protocol.check_archive(base64.b64decode(_bomb()))
    with pytest.raises(protocol.ProbeError, match="oversized"):
        protocol.check_archive(protocol.encode(torch.zeros(2**20)), max_bytes=2**20)
    protocol.check_archive(protocol.encode(torch.zeros(10)))


def test_the_judges_memory_cap_is_lifted_afterwards():
    from lstm_course.grading.judge import _memory_cap
    before = resource.getrlimit(resource.RLIMIT_DATA)
    with _memory_cap(2**28):
        soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
        assert soft != resource.RLIM_INFINITY
        with pytest.raises(MemoryError):
            bytearray(2**29)
    assert resource.getrlimit(resource.RLIMIT_DATA) == before


def test_tampering_costs_the_notebook():
    nb = _judged("gates", replace={"init_forget_bias": "import gc\n" + SOLUTIONS["gates"]["init_forget_bias"]})
    assert all(v == 0 for v in _scores(nb).values())
    assert _full(_judged("gates", replace={"init_forget_bias": "import gc\n" + SOLUTIONS["gates"]["init_forget_bias"]},
                         penalize_flagged=False)), "with the scan off only what the function did counts"


def test_the_package_is_denied_wherever_it_is_installed():
    """An editable install reads the package from the repository, a normal one from site-packages: both, and the
    package's metadata, are among the paths the probe may not read."""
    import sysconfig
    from pathlib import Path

    import lstm_course
    from lstm_course.grading.confine import package_paths, probe_readable
    denied = package_paths()
    folder = Path(lstm_course.__file__).resolve().parent
    assert folder in denied
    site = Path(sysconfig.get_paths()["purelib"])
    assert {p for p in site.iterdir() if "lstm_course" in p.name} <= set(denied)
    readable = probe_readable([])
    for entry in [folder, *(p.resolve() for p in site.iterdir() if "lstm_course" in p.name)]:
        assert not any(p == entry or entry in p.parents or p in entry.parents for p in readable), (entry, readable)


DEATHS = {  # a cell or a function that ends the probe process: what it costs
    "os._exit in a cell before lstm_layer's def": ({"lstm_layer": "import os\nos._exit(3)\n"}, {"lstm_layer"}),
    "os._exit inside lstm_cell": ({"lstm_cell": "def lstm_cell(*args):\n    import os\n    os._exit(3)\n"},
                                  {"lstm_cell"}),
    "a cell that ignores the alarm and loops": ({"init_forget_bias": "import signal\n"
                                                 "signal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n"
                                                 "    pass\n"}, {"init_forget_bias"}),
}


@pytest.mark.parametrize("death", list(DEATHS))
def test_a_cell_or_function_that_ends_the_probe_costs_only_its_own_points(death):
    """The probe process starts again without the cell or function that killed or hung it: the others keep theirs."""
    replace, lose = DEATHS[death]
    nb = _judged("gates", replace=replace, penalize_flagged=False, probe_timeout=5.0)
    assert _lost(nb) == {f"test_{f}" for f in lose} | {f"test_{f}_hidden" for f in lose}, _scores(nb)
    assert "stopped while this ran" in _text(nb, f"test_{sorted(lose)[0]}")


def test_cells_that_use_ipythons_names_run_in_the_probe_as_in_jupyter():
    """display(), In, a magic, get_ipython(): ordinary in a notebook, so they must not undefine a function."""
    source = ("print('\\n'.join(In))\ndisplay(3)\n%matplotlib inline\n!echo hi\n"
              "get_ipython().run_line_magic('time', 'x = 1')\n" + SOLUTIONS["gates"]["init_forget_bias"])
    nb = _judged("gates", replace={"init_forget_bias": source})
    assert _full(nb), {gid: _text(nb, gid)[:300] for gid in _lost(nb)}


def test_a_function_that_prints_to_stderr_loses_nothing():
    """nbgrader scores a test cell with text on standard error 0: a student's debug print to sys.stderr, shown when
    the notebook's test calls the function, must not cost the points the judge found."""
    nb = _judged("gates", kernel=nbformat.v4.new_output("stream", name="stderr", text="debug: B = 3\n"))
    assert _full(nb) and "debug: B = 3" in _text(nb, "test_lstm_cell")


SCRIPTED = '''@torch.jit.script
def _pointwise(gates: torch.Tensor, c_prev: torch.Tensor):
    i, f, g, o = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
    h_prev, c_prev = state
    return _pointwise(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh, c_prev)
'''


def test_a_helper_compiled_by_torchscript_runs_in_the_probe():
    nb = _judged("gates", replace={"lstm_cell": SCRIPTED})
    assert _full(nb), {gid: _text(nb, gid)[:300] for gid in _lost(nb)}


COMPILED = {
    "traced by TorchScript": ("_f = torch.jit.trace(lambda x, h, c, W, U, b, d: torch.lstm_cell(x, (h, c), W, U, b, d),"
                              " tuple(torch.randn(*s) for s in ((3, 5), (3, 4), (3, 4), (16, 5), (16, 4), (16,), (16,))))"
                              "\n"),
    "compiled by torch.compile": "_f = torch.compile(lambda x, h, c, W, U, b, d: torch.lstm_cell(x, (h, c), W, U, b, d))\n",
}


@pytest.mark.parametrize("how", list(COMPILED))
def test_pytorchs_lstm_inside_compiled_code_is_still_seen(how):
    """Traced or compiled, PyTorch's LSTM would run without its operator reaching the profiler: the probe process
    turns TorchScript and torch.compile off (they then run the Python function), so it is recorded as usual."""
    code = COMPILED[how] + ("def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n"
                            "    return tuple(_f(x, state[0], state[1], W_ih, W_hh, b_ih, b_hh))\n")
    nb = _judged("gates", replace={"lstm_cell": code}, penalize_flagged=False)
    assert {"test_lstm_cell", "test_lstm_cell_hidden"} <= _lost(nb), _scores(nb)
    assert "aten::lstm_cell" in _text(nb, "test_lstm_cell"), _text(nb, "test_lstm_cell")


FAKES = {
    "fake profiler classes that replay the markers": '''
import torch.autograd.profiler as _p
class _Events(list):
    pass
class _Fake:
    names = []
    def __init__(self, *a, **k):
        pass
    def __enter__(self):
        _Fake.names = []
        return self
    def __exit__(self, *a):
        pass
    @property
    def function_events(self):
        return [type("E", (), {"name": n})() for n in _Fake.names]
class _Mark:
    def __init__(self, name):
        _Fake.names.append(name)
    def __enter__(self):
        return self
    def __exit__(self, *a):
        pass
_p.profile, _p.record_function = _Fake, _Mark
''',
    "the runner's recorder patched through __main__": '''
import sys as _s, re as _re
_main = _s.modules["__main__"]
_main.LSTM_OPS = _re.compile("x^")
class _Quiet:
    state, lstm, autograd = "ok", [], []
    def __enter__(self):
        return self
    def __exit__(self, *a):
        return False
_main.Recorder = _Quiet
''',
}


@pytest.mark.parametrize("how", list(FAKES))
def test_replacing_the_recorders_tools_after_the_runner_started_changes_nothing(how):
    code = FAKES[how] + LSTM_CELL
    nb = _judged("gates", replace={"lstm_cell": code}, penalize_flagged=False)
    assert {"test_lstm_cell", "test_lstm_cell_hidden"} <= _lost(nb), _scores(nb)
