"""Code a student who has read the grader could run before or during the tests, to make a wrong answer pass.

Each technique is appended to a wrong answer's cell (``test_grading_hostile.py`` grades every one, in every graded
notebook, with nbgrader for real). Every one of them makes the kernel's own test cells pass or look passed, or forges
the judge's probe results; none computes a right answer. Test cells are recognised by their first comment line
("# Tests for ...", "# Hidden tests for ...").
"""
from __future__ import annotations

COMMON = '''
import torch as _t
def _is_test(src):
    head = src.lstrip().split("\\n", 1)[0].lower()
    return head.startswith("# tests for") or head.startswith("# hidden tests for")
class _Yes:
    """Answers every question with yes: a stand-in for modules, functions and comparisons."""
    def __init__(self, real=None): self.__real = real
    def __call__(self, *a, **k): return True
    def __bool__(self): return True
    def __getattr__(self, name):
        if name in ("allclose", "equal", "isclose", "assert_close", "assert_allclose", "_len_torch_function_stack"):
            return (lambda *a, **k: 0) if name == "_len_torch_function_stack" else (lambda *a, **k: True)
        value = getattr(self.__real, name) if self.__real is not None else _Yes()
        return _Yes(value) if name in ("_C", "_VariableFunctions", "testing", "TensorBase") else value
'''

TECHNIQUES: dict[str, str] = {
    # --- the guide's former "Not defended" list: IPython hooks of every kind
    "input transformer blanks the tests": '''
get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\\n"] if _is_test("".join(lines)) else lines)
''',
    "input transformer gives partial credit": '''
get_ipython().input_transformers_post.append(lambda lines: ["pass\\n", "1000.0\\n"] if _is_test("".join(lines)) else lines)
''',
    "showtraceback silenced": '''
_ip = get_ipython()
_ip.showtraceback = lambda *a, **k: None
_ip._showtraceback = lambda *a, **k: None
_ip.showsyntaxerror = lambda *a, **k: None
''',
    "run_cell replaced": '''
_ip = get_ipython()
_real_async, _real = _ip.run_cell_async, _ip.run_cell
async def _run_cell_async(raw_cell, *a, **k):
    return await _real_async("pass" if _is_test(raw_cell) else raw_cell, *a, **k)
_ip.run_cell_async = _run_cell_async
_ip.run_cell = lambda raw_cell, *a, **k: _real("pass" if _is_test(raw_cell) else raw_cell, *a, **k)
''',
    "pre_run_cell event re-patches torch": '''
import numpy as _np
def _patch(*a):
    _t.allclose = lambda *a, **k: True
    _t.equal = lambda *a, **k: True
    _t.testing.assert_close = lambda *a, **k: None
get_ipython().events.register("pre_run_cell", _patch)
''',
    "post_run_execute event clears the error": '''
def _clear(result=None):
    if result is not None:
        result.error_in_exec = None
get_ipython().events.register("post_run_cell", _clear)
''',
    # --- modules and builtins
    "module attributes replaced": '''
import numpy, torch.testing
_t.allclose = lambda *a, **k: True
_t.equal = lambda *a, **k: True
_t.isclose = lambda a, b, *r, **k: _t.ones_like(a, dtype=_t.bool)
_t.testing.assert_close = lambda *a, **k: None
numpy.allclose = lambda *a, **k: True
_t.Tensor.__eq__ = lambda self, other: True
''',
    "torch._C members and submodules replaced": '''
import sys
_t._C = _Yes(_t._C)
_t.testing = _Yes(_t.testing)
sys.modules["torch.testing"] = _t.testing
try:
    _t._C._VariableFunctions.allclose = lambda *a, **k: True
except Exception:
    pass
''',
    "sys.modules and the global torch replaced": '''
import sys
sys.modules["torch"] = _Yes(_t)
globals()["torch"] = _Yes(_t)
''',
    "builtins replaced": '''
import builtins
class _Harmless(Exception):
    pass
builtins.AssertionError = _Harmless
builtins.isinstance = lambda *a: True
builtins.all = lambda *a: True
builtins.any = lambda *a: False
''',
    "gc walk rewrites the tests' globals and helpers": '''
import gc
def _neuter(*a):
    for obj in gc.get_objects():
        if isinstance(obj, dict) and "In" in obj and "Out" in obj:
            for name, value in list(obj.items()):
                if callable(value) and getattr(value, "__name__", "").startswith(("_check", "_hidden", "_diagnose", "_explain")):
                    obj[name] = lambda *a, **k: None
            obj["torch"] = _Yes(_t)
get_ipython().events.register("pre_run_cell", _neuter)
get_ipython().events.register("post_run_cell", _neuter)
''',
    "ctypes rewrites a C type's dict": '''
import ctypes, gc
for _cls in (type(_t._C._VariableFunctions), _t._C.TensorBase):
    try:
        _d = gc.get_referents(_cls.__dict__)[0]
        _d["allclose"] = staticmethod(lambda *a, **k: True)
        _d["equal"] = staticmethod(lambda *a, **k: True)
        ctypes.pythonapi.PyType_Modified(ctypes.py_object(_cls))
    except Exception:
        pass
''',
    "global torch function mode": '''
import torch.overrides
class _Agree(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal"):
            return True
        return func(*args, **(kwargs or {}))
_Agree().__enter__()
''',
    # --- code that runs during the tests
    "signal handler patches every 5 ms": '''
import signal
def _on_alarm(signum, frame):
    while frame is not None:
        frame.f_globals["torch"] = _Yes(_t)
        frame = frame.f_back
signal.signal(signal.SIGALRM, _on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)
''',
    "thread patches the namespace": '''
import threading, time
_ns = globals()
def _loop():
    while True:
        _ns["torch"] = _Yes(_t)
        for _name in [n for n in list(_ns) if n.startswith(("_check", "_hidden", "_diagnose"))]:
            _ns[_name] = lambda *a, **k: None
        time.sleep(0.0005)
threading.Thread(target=_loop, daemon=True).start()
''',
    "trace function rewrites frames": '''
import sys
def _tracer(frame, event, arg):
    frame.f_globals["torch"] = _Yes(_t)
    return None
sys.settrace(_tracer)
''',
    "stderr and tracebacks swallowed": '''
import sys, io
sys.stderr = io.StringIO()
get_ipython().InteractiveTB.structured_traceback = lambda *a, **k: []
''',
    # --- processes and files
    "child process outlives the kernel and forges files": '''
import subprocess, sys, os
_code = """
import os, sys, time, json, glob
end = time.time() + 120
while time.time() < end:
    for path in glob.glob('*.ipynb') + glob.glob('../*/*.ipynb'):
        try:
            nb = json.load(open(path))
            for c in nb['cells']:
                if c.get('cell_type') == 'code':
                    c['outputs'] = []
            json.dump(nb, open(path, 'w'))
        except Exception:
            pass
    for name in ('lstm_course_probe.pt', 'results.pt', 'probe-results.json'):
        open(name, 'w').write('forged')
    time.sleep(0.2)
"""
subprocess.Popen([sys.executable, "-c", _code], start_new_session=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, cwd=os.getcwd())
''',
    "forged probe results": '''
import base64, io
def _forge(lines):
    src = "".join(lines)
    if "_lstm_course_probe(" not in src:
        return lines
    args = src.split("_lstm_course_probe(", 1)[1]
    function = args.split(",")[1].strip().strip("'\\"")
    buf = io.BytesIO()
    _t.save({"cases": [{"status": "ok", "result": _t.zeros(3)}] * 12, "draws": [], "errors": []}, buf)
    blob = base64.b64encode(buf.getvalue()).decode()
    return ["print(%r)\\n" % ("LSTM-COURSE-PROBE %s %s" % (function, blob))]
get_ipython().input_transformers_cleanup.append(_forge)
''',
    "exec of hidden code": '''
exec(__import__("base64").b64decode(b"aW1wb3J0IHRvcmNoCnRvcmNoLmFsbGNsb3NlID0gbGFtYmRhICphLCAqKms6IFRydWUK").decode())
''',
}


# ============================================================================================================ REACH
# Techniques that make the wrong answer RIGHT by obtaining a correct implementation at run time, where a static scan
# of names does not see it (issue 27, "Students who reach a correct implementation under another name"). Each entry
# is technique -> {notebook: code}; ``test_grading_hostile.py`` puts the code, inside ``try: ... except Exception``,
# after the honest wrong answer of that notebook (``WRONG``), so a route that is blocked leaves the wrong answer and
# a route that is open leaves a correct function (``test_reach_technique_works_outside_the_grader`` shows that, in a
# plain Python process). Each
# must score no more than the wrong answer: the reference must be out of reach, or its use seen by the judge.
#
# What each notebook's wrong function becomes, and where its reference answers are:
GRADED = {"gates": "lstm_cell", "detaching": "detach_state", "temperature": "sample_next", "backward": "lstm_step_backward"}
COURSE = {  # the course package's reference answer: module, function, file in the repository
    "gates": ("lstm_course.cell", "lstm_cell", "lstm_course/cell.py"),
    "detaching": ("lstm_course.training", "detach_state", "lstm_course/training.py"),
    "temperature": ("lstm_course.sampling", "sample_next", "lstm_course/sampling.py"),
    "backward": ("lstm_course.numpy_cell", "lstm_step_backward", "lstm_course/numpy_cell.py"),
}
# what the string resolvers and pickles name: PyTorch's own cell in gates (the judge must see it by behaviour),
# the course package elsewhere (the judge must keep it out of reach)
RESOLVED = {**COURSE, "gates": ("torch", "lstm_cell", None)}

# `_ref` (a correct function) becomes the notebook's graded function
ADOPT = {
    "gates": '''
if not callable(_ref):
    raise TypeError(f"not a function: {_ref!r}")
def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
    return tuple(_ref(x, state, W_ih, W_hh, b_ih, b_hh))
''',
    "detaching": '''
if not callable(_ref):
    raise TypeError(f"not a function: {_ref!r}")
detach_state = _ref
''',
    "temperature": '''
if not callable(_ref):
    raise TypeError(f"not a function: {_ref!r}")
sample_next = _ref
''',
    "backward": '''
if not callable(_ref):
    raise TypeError(f"not a function: {_ref!r}")
def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
    g = _ref(dh, dc, cache, W_ih, W_hh)  # the package's StepGrads: the notebook's own is expected
    return StepGrads(dx=g.dx, dh_prev=g.dh_prev, dc_prev=g.dc_prev, dW_ih=g.dW_ih, dW_hh=g.dW_hh, db=g.db)
''',
}

FIND_REPO = '''
import os
def _find_repo():
    """The repository holding the course package: above sys.prefix (its .venv), the working directory, python."""
    for start in (os.path.dirname(sys.prefix), os.getcwd(), os.path.dirname(os.path.realpath(sys.executable))):
        d = os.path.abspath(start)
        while True:
            if os.path.isfile(os.path.join(d, "lstm_course", "cell.py")):
                return d
            if os.path.dirname(d) == d:
                break
            d = os.path.dirname(d)
    raise FileNotFoundError("no lstm_course folder above sys.prefix or the working directory")
'''

_COURSE_ROUTES = {  # code that sets `_ref` from @MOD@.@NAME@ (file @FILE@)
    "course package: import statement": '''
import @MOD@ as _course_module
_ref = _course_module.@NAME@
''',
    "course package: the setup cell's importlib, without importing it": '''
_ref = importlib.import_module("@MOD@").@NAME@
''',
    "course package: __import__": '''
_ref = __import__("@MOD@", fromlist=["@NAME@"]).@NAME@
''',
    "course package: os.sys.path gets the repository, found from sys.prefix": FIND_REPO + '''
os.sys.path.insert(0, _find_repo())
import @MOD@
_ref = @MOD@.@NAME@
''',
    "course package: runpy.run_path of its source file": FIND_REPO + '''
import runpy
_ref = runpy.run_path(os.path.join(_find_repo(), "@FILE@"))["@NAME@"]
''',
    "course package: exec of its source file's text": FIND_REPO + '''
_course_ns = {"__name__": "__main__"}  # a module that exists: dataclasses look their module up
with open(os.path.join(_find_repo(), "@FILE@")) as _f:
    exec(compile(_f.read(), "course_copy", "exec"), _course_ns)
_ref = _course_ns["@NAME@"]
''',
    "course package: importlib.util.spec_from_file_location": FIND_REPO + '''
import importlib.util
_spec = importlib.util.spec_from_file_location("course_copy", os.path.join(_find_repo(), "@FILE@"))
_course_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _course_module  # as importlib's documentation does it (dataclasses look it up)
_spec.loader.exec_module(_course_module)
_ref = _course_module.@NAME@
''',
    "course package: pickle.loads of a pickled global": '''
import pickle
_ref = pickle.loads(@PICKLE@)
''',
    "course package: pickle reached as torch.serialization.pickle": '''
_ref = torch.serialization.pickle.loads(@PICKLE@)
''',
}

SOLUTION_NOTEBOOK = '''
import os, json
def _source_notebooks(assignment):
    """Every place an instructor's notebook may be: solutions/ or source/ above the working directory or sys.prefix."""
    for start in (os.getcwd(), os.path.dirname(sys.prefix)):
        d = os.path.abspath(start)
        while True:
            for folder in ("solutions", "source"):
                yield os.path.join(d, folder, assignment, assignment + ".ipynb")
            if os.path.dirname(d) == d:
                break
            d = os.path.dirname(d)
_solution = None
for _path in _source_notebooks("@ASSIGNMENT@"):
    try:
        with open(_path) as _f:
            _cells = json.load(_f)["cells"]
    except (OSError, ValueError):
        continue
    for _c in _cells:
        if _c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "@NAME@":
            _solution = "".join(_c["source"])
    if _solution:
        break
if not _solution:
    raise FileNotFoundError("no readable source notebook")
exec(_solution)  # the instructor's answer cell (its ### BEGIN/END SOLUTION lines are comments)
'''

_RESOLVER_ROUTES = {  # code that sets `_ref` from a string naming @MOD@.@NAME@ (@ROOT@: that module, as an object)
    "string resolver: getattr with a computed name": '''
_ref = getattr(@ROOT@, "@N1@" + "@N2@")
''',
    "string resolver: operator.attrgetter": '''
import operator
_ref = operator.attrgetter("@NAME@")(@ROOT@)
''',
    "string resolver: functools.reduce(getattr, ...)": '''
import functools
_ref = functools.reduce(getattr, ["@NAME@"], @ROOT@)
''',
    "string resolver: vars(module)[name]": '''
_ref = vars(@ROOT@)["@N1@" + "@N2@"]
''',
    "string resolver: module.__dict__[name]": '''
_ref = @ROOT@.__dict__["@N1@" + "@N2@"]
''',
    "string resolver: logging.config's ext:// converter": '''
import logging.config
_ref = logging.config.BaseConfigurator({"target": "ext://@MOD@.@NAME@"}).config["target"]
''',
    "string resolver: string.Formatter().get_field": '''
import string
_ref = string.Formatter().get_field("0.@NAME@", (@ROOT@,), {})[0]
''',
    "string resolver: unittest.mock.patch(...).get_original": '''
import unittest.mock
_ref = unittest.mock.patch("@MOD@.@NAME@").get_original()[0]
''',
    "string resolver: pkgutil.resolve_name": '''
import pkgutil
_ref = pkgutil.resolve_name("@MOD@:@NAME@")
''',
    "string resolver: pydoc.locate": '''
import pydoc
_ref = pydoc.locate("@MOD@.@NAME@")
''',
    "pickled global: numpy.load of an object array (allow_pickle)": '''
import io, numpy
_ref = numpy.load(io.BytesIO(@NPY@), allow_pickle=True)
''',
    "pickled global: torch.load with weights_only=False": '''
import io
_ref = torch.load(io.BytesIO(@TORCH_SAVE@), weights_only=False)
''',
}

# ---- PyTorch's own LSTM (gates) and autograd (backward), and the runtime check that must see them
GATES_LSTM = '''
_t = torch
def _pytorch_cell(x, state, W_ih, W_hh, b_ih, b_hh):
    return tuple(_t.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh))
'''
BACKWARD_AUTOGRAD = '''
_t = torch
def _check_shapes(dh, dc, cache):
    for name, grad in (("dh", dh), ("dc", dc)):
        if not isinstance(grad, np.ndarray) or grad.shape != cache.h_prev.shape:
            raise ValueError(f"expected {name} of shape (B, H) = {cache.h_prev.shape}, got {getattr(grad, 'shape', grad)}")
def _step_leaves(cache, W_ih, W_hh):
    """The step's inputs as float64 tensors, and its bias row by row (the cache holds none: what the gates imply)."""
    f64 = lambda a: np.asarray(a, dtype=np.float64)
    logit = lambda s: np.log(f64(s)) - np.log1p(-f64(s))
    a = np.concatenate([logit(cache.i), logit(cache.f), np.arctanh(f64(cache.g)), logit(cache.o)], axis=1)
    rest = a - f64(cache.x) @ f64(W_ih).T - f64(cache.h_prev) @ f64(W_hh).T  # (B, 4H)
    return [_t.from_numpy(f64(v).copy()) for v in (cache.x, cache.h_prev, cache.c_prev, W_ih, W_hh, rest)]
def _step_loss(x, h_prev, c_prev, W_ih, W_hh, rest, dh, dc):
    a_i, a_f, a_g, a_o = (x @ W_ih.T + h_prev @ W_hh.T + rest).chunk(4, dim=1)
    c = _t.sigmoid(a_f) * c_prev + _t.sigmoid(a_i) * _t.tanh(a_g)
    h = _t.sigmoid(a_o) * _t.tanh(c)
    return (h * _t.from_numpy(np.asarray(dh, dtype=np.float64))).sum() + (c * _t.from_numpy(np.asarray(dc, dtype=np.float64))).sum()
def _as_step_grads(grads, dtype):
    g = [t.detach().numpy().astype(dtype) for t in grads]
    return StepGrads(dx=g[0], dh_prev=g[1], dc_prev=g[2], dW_ih=g[3], dW_hh=g[4], db=g[5].sum(axis=0))
def _autograd_by_backward(dh, dc, cache, W_ih, W_hh):
    """Autograd, without one attribute name a scan looks for: Tensor.backward and .grad through computed names."""
    leaves = _step_leaves(cache, W_ih, W_hh)
    for t in leaves:
        getattr(t, "requires_" + "grad_")()
    getattr(_step_loss(*leaves, dh, dc), "back" + "ward")()
    return _as_step_grads([getattr(t, "gr" + "ad") for t in leaves], dh.dtype)
'''
LSTM_FUNCTION = {  # the graded function, computed by PyTorch's LSTM / autograd inside `with _hide():`
    "gates": GATES_LSTM + '''
def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
    with _hide():
        return _pytorch_cell(x, state, W_ih, W_hh, b_ih, b_hh)
''',
    "backward": BACKWARD_AUTOGRAD + '''
def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
    _check_shapes(dh, dc, cache)
    with _hide():
        return _autograd_by_backward(dh, dc, cache, W_ih, W_hh)
''',
}
_SWITCH_OFF = {  # a context manager `_hide` around the call of PyTorch's LSTM / autograd
    "runtime check off: the kernel's spy, by DisableTorchFunction through an alias": ("gates", '''
_tt = torch
_hide = _tt._C.DisableTorchFunction  # torch function modes (the hidden test's _KernelSpy) see nothing
'''),
    "runtime check off: torch.autograd._disable_profiler through an alias": (None, '''
import contextlib
_tt = torch
@contextlib.contextmanager
def _hide():
    for _off in (_tt.autograd._disable_profiler, _tt.autograd._disable_profiler_legacy):
        try:
            _off()
        except Exception:
            pass
    yield
'''),
    "runtime check off: torch._C._autograd._disable_profiler through an alias": (None, '''
import contextlib
_tt = torch
@contextlib.contextmanager
def _hide():
    for _off in (_tt._C._autograd._disable_profiler, _tt._C._autograd._disable_profiler_legacy):
        try:
            _off()
        except Exception:
            pass
    yield
'''),
    "runtime check off: a second autograd profiler entered and exited inside": (None, '''
import contextlib
_tt = torch
@contextlib.contextmanager
def _hide():
    inner = _tt.autograd.profiler.profile()
    try:
        inner.__enter__()
    except Exception:
        inner = None
    try:
        yield
    finally:
        if inner is not None:
            try:
                inner.__exit__(None, None, None)
            except Exception:
                pass
'''),
    "runtime check off: torch.profiler.profile entered and exited inside": (None, '''
import contextlib
_tt = torch
@contextlib.contextmanager
def _hide():
    inner = _tt.profiler.profile(activities=[_tt.profiler.ProfilerActivity.CPU])
    try:
        inner.__enter__()
    except Exception:
        inner = None
    try:
        yield
    finally:
        if inner is not None:
            try:
                inner.__exit__(None, None, None)
            except Exception:
                pass
'''),
    "runtime check off: record_function names the call something else": (None, '''
_tt = torch
_hide = lambda: _tt.autograd.profiler.record_function("aten::add")
'''),
    "runtime check off: the profiler stopped, then a fresh one started": (None, '''
import contextlib
_tt = torch
@contextlib.contextmanager
def _hide():
    for _off in (_tt.autograd._disable_profiler, _tt.autograd._disable_profiler_legacy):
        try:
            _off()
        except Exception:
            pass
    try:
        yield
    finally:
        try:
            _tt.autograd.profiler.profile(use_kineto=False).__enter__()  # the grader's exit finds one running
        except Exception:
            pass
'''),
    "runtime check off: RecordFunction disabled around the call": (None, '''
import contextlib
_tt = torch
@contextlib.contextmanager
def _hide():
    _switch = _tt._C._autograd._enable_record_function
    _switch(False)
    try:
        yield
    finally:
        _switch(True)
'''),
    "runtime check off: the profiler's collection toggled off and on": (None, '''
import contextlib
_tt = torch
@contextlib.contextmanager
def _hide():
    _toggle, _cpu = _tt.autograd.profiler._toggle_collection_dynamic, {_tt.autograd.ProfilerActivity.CPU}
    try:
        _toggle(False, _cpu)
    except Exception:
        pass
    try:
        yield
    finally:
        try:
            _toggle(True, _cpu)
        except Exception:
            pass
'''),
    "runtime check off: the profiler's classes replaced by fakes that replay the markers": (None, '''
import contextlib
_seen = []
class _FakeRecord:
    def __init__(self, name, *args, **kwargs):
        self.name = name
    def __enter__(self):
        _seen.append(self.name)
        return self
    def __exit__(self, *exc):
        return False
class _FakeEvent:
    def __init__(self, name):
        self.name = name
class _FakeProfile:
    def __init__(self, *args, **kwargs):
        pass
    def __enter__(self):
        del _seen[:]
        return self
    def __exit__(self, *exc):
        return False
    @property
    def function_events(self):
        return [_FakeEvent(n) for n in _seen]
for _module in (torch.autograd.profiler, torch.profiler):
    setattr(_module, "profile", _FakeProfile)
    setattr(_module, "record_function", _FakeRecord)
_hide = contextlib.nullcontext
'''),
    "runtime check off: the runner's patterns and recorder patched through sys.modules['__main__']": (None, '''
import contextlib, re
_s = sys
_runner = _s.modules.get("__main__")
for _name, _value in list(vars(_runner).items()):
    if isinstance(_value, re.Pattern):
        setattr(_runner, _name, re.compile(r"(?!)"))  # matches no operator name
    elif isinstance(_value, type) and getattr(_value, "__module__", "") == "__main__" and hasattr(_value, "__exit__"):
        def _quiet_exit(self, *exc, _exit=_value.__exit__):
            done = _exit(self, *exc)
            for key, val in list(vars(self).items()):
                if isinstance(val, list):
                    setattr(self, key, [])
            return done
        setattr(_value, "__exit__", _quiet_exit)
_hide = contextlib.nullcontext
'''),
    "runtime check off: PyTorch's LSTM or autograd run in a worker thread": (None, '''
_futures = importlib.import_module("concurrent.futures")
_pool = _futures.ThreadPoolExecutor(1)
class _hide:
    """Not a context: the graded function below is replaced by one that runs in the worker thread."""
'''),
}
THREADED = {  # the worker-thread technique's function
    "gates": GATES_LSTM + '''
def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
    return _pool.submit(_pytorch_cell, x, state, W_ih, W_hh, b_ih, b_hh).result()
''',
    "backward": BACKWARD_AUTOGRAD + '''
def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
    _check_shapes(dh, dc, cache)
    return _pool.submit(_autograd_by_backward, dh, dc, cache, W_ih, W_hh).result()
''',
}

_GATES_ONLY = {
    "alias: torch bound to another name": '''
_t = torch
def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
    return tuple(_t.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh))
''',
    "alias: torch as a default argument": '''
def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh, _m=torch):
    return tuple(_m.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh))
''',
    "alias: torch as an attribute of another module (F.torch)": '''
def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
    return tuple(F.torch.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh))
''',
    "alias: torch in a dict of modules": '''
_modules = {"numerics": math, "tensors": torch}
def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
    return tuple(_modules["tensors"].lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh))
''',
    "test-cell helpers: the hidden tests' _VF": '''
_wrong_cell = lstm_cell
def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
    try:
        helper = _VF  # torch._C._VariableFunctions, which the hidden test cells leave in the notebook's globals
    except NameError:
        return _wrong_cell(x, state, W_ih, W_hh, b_ih, b_hh)
    return tuple(helper.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh))
''',
}

_BACKWARD_ONLY = {
    "test-cell helpers: the visible tests' autograd stand-in and referee": BACKWARD_AUTOGRAD + '''
_wrong_step = lstm_step_backward
def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
    try:
        standin = _standin_step  # test_lstm_backward's stand-in step, computed with autograd
    except NameError:
        standin = None
    try:
        referee = _autograd_step  # test_lstm_step_backward's referee: autograd's gradients of one step
    except NameError:
        referee = None
    if standin is None and referee is None:
        return _wrong_step(dh, dc, cache, W_ih, W_hh)
    _check_shapes(dh, dc, cache)
    if standin is not None:
        return standin(dh, dc, cache, W_ih, W_hh)
    x, h_prev, c_prev, W1, W2, rest = (t.numpy() for t in _step_leaves(cache, W_ih, W_hh))
    want = referee(x, h_prev, c_prev, W1, W2, rest, dh, dc)  # rest (B, 4H) broadcasts where b (4H,) would
    return StepGrads(dx=want["dx"].astype(dh.dtype), dh_prev=want["dh_prev"].astype(dh.dtype),
                     dc_prev=want["dc_prev"].astype(dh.dtype), dW_ih=want["dW_ih"].astype(dh.dtype),
                     dW_hh=want["dW_hh"].astype(dh.dtype), db=want["db"].sum(axis=0).astype(dh.dtype))
''',
    "autograd: Tensor.backward and .grad through computed names": BACKWARD_AUTOGRAD + '''
def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
    _check_shapes(dh, dc, cache)
    return _autograd_by_backward(dh, dc, cache, W_ih, W_hh)
''',
    "autograd: torch.func.vjp through the setup cell's importlib": BACKWARD_AUTOGRAD + '''
_vjp = getattr(importlib.import_module("torch." + "func"), "v" + "jp")
def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
    _check_shapes(dh, dc, cache)
    _, pullback = _vjp(lambda *ts: _step_loss(*ts, dh, dc), *_step_leaves(cache, W_ih, W_hh))
    return _as_step_grads(pullback(_t.ones((), dtype=_t.float64)), dh.dtype)
''',
    "autograd: torch.autograd.grad through vars()": BACKWARD_AUTOGRAD + '''
_engine_grad = vars(vars(torch)["auto" + "grad"])["gr" + "ad"]
def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
    _check_shapes(dh, dc, cache)
    leaves = [getattr(t, "requires_" + "grad_")() for t in _step_leaves(cache, W_ih, W_hh)]
    return _as_step_grads(_engine_grad(_step_loss(*leaves, dh, dc), leaves), dh.dtype)
''',
    "autograd: torch.func.grad through an alias": BACKWARD_AUTOGRAD + '''
_functional = importlib.import_module("torch.func")
_fgrad = getattr(_functional, "gr" + "ad")
def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
    _check_shapes(dh, dc, cache)
    grads = _fgrad(lambda *ts: _step_loss(*ts, dh, dc), argnums=tuple(range(6)))(*_step_leaves(cache, W_ih, W_hh))
    return _as_step_grads(grads, dh.dtype)
''',
    "setup-cell names: subprocess runs the course package in a child process": '''
import io, struct
_CHILD = r"""
import io, struct, sys
import numpy as np
from lstm_course.numpy_cell import StepCache, lstm_step_backward
FIELDS = ("x", "h_prev", "c_prev", "i", "f", "g", "o", "c", "tanh_c")
read, out = sys.stdin.buffer.read, sys.stdout.buffer
while True:
    head = read(8)
    if len(head) < 8:
        break
    a = np.load(io.BytesIO(read(struct.unpack("<Q", head)[0])))
    buf = io.BytesIO()
    try:
        g = lstm_step_backward(a["dh"], a["dc"], StepCache(**{k: a["cache_" + k] for k in FIELDS}), a["W_ih"], a["W_hh"])
        np.savez(buf, ok=np.array(1), dx=g.dx, dh_prev=g.dh_prev, dc_prev=g.dc_prev, dW_ih=g.dW_ih, dW_hh=g.dW_hh, db=g.db)
    except ValueError as err:
        np.savez(buf, ok=np.array(0), message=np.array(str(err)))
    out.write(struct.pack("<Q", len(buf.getvalue())) + buf.getvalue())
    out.flush()
"""
_CHILD_FIELDS = ("x", "h_prev", "c_prev", "i", "f", "g", "o", "c", "tanh_c")  # not _FIELDS: a test cell has one
import textwrap
_child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_CHILD)],  # dedent: the cell may indent it
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
_wrong_step = lstm_step_backward
def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
    buf = io.BytesIO()
    np.savez(buf, dh=dh, dc=dc, W_ih=W_ih, W_hh=W_hh, **{"cache_" + k: getattr(cache, k) for k in _CHILD_FIELDS})
    try:
        _child.stdin.write(struct.pack("<Q", len(buf.getvalue())) + buf.getvalue())
        _child.stdin.flush()
        head = _child.stdout.read(8)
        body = _child.stdout.read(struct.unpack("<Q", head)[0]) if len(head) == 8 else b""
    except OSError:
        body = b""
    if not body:  # the child could not import the course package: it is gone
        return _wrong_step(dh, dc, cache, W_ih, W_hh)
    a = np.load(io.BytesIO(body))
    if int(a["ok"]) == 0:
        raise ValueError(str(a["message"]))
    return StepGrads(dx=a["dx"], dh_prev=a["dh_prev"], dc_prev=a["dc_prev"], dW_ih=a["dW_ih"], dW_hh=a["dW_hh"],
                     db=a["db"])
''',
}

BOMB = '''
import base64, io, os, stat, struct, zipfile, zlib
def _bomb_blob():
    """A torch.save archive, base64 (1.4 MB), whose storage record inflates to 1 GiB (deflate of zeros)."""
    small = io.BytesIO()
    torch.save(torch.zeros(1), small)
    members = []
    with zipfile.ZipFile(io.BytesIO(small.getvalue())) as zin:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("data.pkl"):  # the storage holds 2**28 float32: 1 GiB
                data = data.replace(b"cpuq\\x04K\\x01t", b"cpuq\\x04J" + struct.pack("<i", 2**28) + b"t")
                members.append((info.filename, 0, zlib.crc32(data), data, len(data)))
            elif info.filename.endswith("/data/0"):
                zeros = bytes(2**24)
                co = zlib.compressobj(9, zlib.DEFLATED, -15)
                segment = co.compress(zeros) + co.flush(zlib.Z_FULL_FLUSH)  # the same bytes for every 16 MiB
                crc = 0
                for _ in range(64):
                    crc = zlib.crc32(zeros, crc)
                members.append((info.filename, 8, crc, segment * 64 + co.flush(), 2**30))
            else:
                members.append((info.filename, 0, zlib.crc32(data), data, len(data)))
    out, central = io.BytesIO(), io.BytesIO()
    for name, method, crc, data, size in members:
        offset, n = out.tell(), name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, 0, method, 0, 0x21, crc, len(data), size, len(n), 0) + n + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                                  len(n), 0, 0, 0, 0, 0, offset) + n)
    start = out.tell()
    out.write(central.getvalue())
    out.write(struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, len(members), len(members), len(central.getvalue()), start, 0))
    return base64.b64encode(out.getvalue()).decode("ascii")
_bombs = []
def @FN@(*args, **kwargs):
    """Forge this function's probe result: the bomb, on the probe's output in both protocols; then stop the probe."""
    if not _bombs:
        _bombs.append(_bomb_blob())
    print(f"LSTM-COURSE-PROBE @FN@ {_bombs[0]}", flush=True)  # today's protocol: a line of the probe cell's output
    line = f"LSTM-COURSE-PROBE @FN@ {_bombs[0]} {'ab' * 32}\\n".encode()  # a runner's signed line: any hex
    for fd in range(1, 11):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue  # the feedback kernel's message sockets: garbage there only kills the kernel
            data = line
            while data:
                data = data[os.write(fd, data):]
        except OSError:
            pass
    raise KeyboardInterrupt  # the probe stops here: the forged line is the only one for this function
'''


def _pickled_global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n."


def _npy_global(module: str, name: str) -> bytes:
    import io
    import numpy.lib.format as fmt
    buf = io.BytesIO()
    fmt.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    return buf.getvalue() + _pickled_global(module, name)


def _torch_saved_global(module: str, name: str) -> bytes:
    """A torch.save archive whose data.pkl is a pickled global (built without importing the module)."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02" + _pickled_global(module, name))
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def _fill(code: str, assignment: str, module: str, name: str, file: str | None) -> str:
    root = "torch" if module == "torch" else f'importlib.import_module("{module}")'
    half = len(name) // 2
    for key, value in (("@MOD@", module), ("@NAME@", name), ("@FILE@", file or ""), ("@ROOT@", root),
                       ("@N1@", name[:half]), ("@N2@", name[half:]), ("@ASSIGNMENT@", assignment),
                       ("@FN@", GRADED[assignment])):
        code = code.replace(key, value)
    for key, make in (("@PICKLE@", _pickled_global), ("@NPY@", _npy_global), ("@TORCH_SAVE@", _torch_saved_global)):
        if key in code:
            code = code.replace(key, repr(make(module, name)))
    return code


def _build() -> dict[str, dict[str, str]]:
    reach: dict[str, dict[str, str]] = {}
    for technique, code in _COURSE_ROUTES.items():
        reach[technique] = {a: _fill(code, a, *COURSE[a]) + ADOPT[a] for a in GRADED}
    reach["course package: the instructor's source notebook read from solutions/"] = {
        a: _fill(SOLUTION_NOTEBOOK, a, *COURSE[a]) for a in GRADED}
    for technique, code in _RESOLVER_ROUTES.items():
        reach[technique] = {a: _fill(code, a, *RESOLVED[a]) + ADOPT[a] for a in GRADED}
    for technique, code in _GATES_ONLY.items():
        reach[technique] = {"gates": code}
    for technique, code in _BACKWARD_ONLY.items():
        reach[technique] = {"backward": code}
    for technique, (only, hide) in _SWITCH_OFF.items():
        body = THREADED if "worker thread" in technique else LSTM_FUNCTION
        reach[technique] = {a: hide + body[a] for a in ("gates", "backward") if only in (None, a)}
    reach["compressed payload: a decompression bomb as the probe's result"] = {
        a: _fill(BOMB, a, *COURSE[a]) for a in GRADED}
    return reach


REACH: dict[str, dict[str, str]] = _build()
