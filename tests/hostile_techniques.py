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
