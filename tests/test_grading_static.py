"""The static scan (``lstm_course/grading/static/``): each tamper rule caught on its own (deleting a rule fails a
test here), through every alias the analysis follows; honest Python never tampering; review, LSTM and autograd
advice. Tiny notebooks built in code, no nbgrader run: fast.
"""
from __future__ import annotations

import nbformat
import pytest
import torch  # noqa: F401 -- the judge's process has torch loaded: the scan reads module tables from it

from lstm_course.grading import static
from nbgrader_course import REPO

SOURCE = nbformat.read(REPO / "solutions" / "gates" / "gates.ipynb", as_version=4)
SETUP = next(c.source for c in SOURCE.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
BACKWARD_SETUP = next(c.source for c in nbformat.read(REPO / "solutions" / "backward" / "backward.ipynb",
                                                      as_version=4).cells
                      if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
TEST_CELL = "# Tests for lstm_cell\nassert lstm_cell is not None\n"
RULE = {why: rule for rule, why in static.RULES.items()}
REVIEW = {why: rule for rule, why in static.REVIEW.items()}


def notebook(answer: str, setup: str = SETUP, after: str | None = None) -> nbformat.NotebookNode:
    """A locked setup cell, the answer cell ``lstm_cell``, a graded test cell, optionally a cell after it."""
    nb = nbformat.v4.new_notebook()
    cells = [(setup, {"grade_id": "setup", "locked": True, "solution": False, "grade": False}),
             (answer, {"grade_id": "lstm_cell", "locked": False, "solution": True, "grade": False}),
             (TEST_CELL, {"grade_id": "test_lstm_cell", "locked": True, "solution": False, "grade": True,
                          "points": 1})]
    if after is not None:
        cells.append((after, {}))
    for source, meta in cells:
        cell = nbformat.v4.new_code_cell(source)
        if meta:
            cell.metadata["nbgrader"] = meta
        nb.cells.append(cell)
    return nb


def scan(answer: str, setup: str = SETUP, autograd: bool = False, after: str | None = None) -> list:
    return static.scan(notebook(answer, setup, after), {setup.strip(), TEST_CELL.strip()}, autograd=autograd)


def rules(found, kind: str = "tamper") -> set[str]:
    table = RULE if kind == "tamper" else REVIEW
    return {table.get(f.why, f.why) for f in found if f.kind == kind}


# -------------------------------------------------------------------------------------- tamper, one by one
TAMPER = [  # (rule, code): each must be found with that rule's `why`
    # private attributes of what the student did not define
    ("private", "torch._C"),
    ("private", "x = torch.zeros(1)\nprint(x._version)"),
    ("private", "_C = 1\ndef f(obj):\n    return obj._C"),  # an internal name stays internal where they define one
    ("private", "sys._getframe(0)"),
    ("private", "from torch import _VF"),
    ("private", "m = nn.Module()\nm._forward_hooks"),
    # torch internals
    ("torch-internals", "torch.ops.aten.sigmoid"),
    ("torch-internals", "lib = torch.library.Library('aten', 'IMPL')"),
    ("torch-internals", "class M(torch.overrides.TorchFunctionMode):\n    pass"),
    ("torch-internals", "class T:\n    def __torch_function__(self, func, types, args=(), kwargs=None):\n        pass"),
    ("torch-internals", "class T:\n    @classmethod\n    def __torch_dispatch__(cls, func, types, args=(), kw=None):\n"
                        "        pass"),
    ("torch-internals", "torch.Tensor.__torch_function__"),
    ("torch-internals", "torch.classes.load_library('x.so')"),
    # the profiler
    ("profiler", "with torch.profiler.profile():\n    pass"),
    ("profiler", "torch.autograd.profiler.profile().__exit__(None, None, None)"),
    ("profiler", "from torch.autograd import profiler"),
    ("profiler", "with torch.autograd.profiler.record_function('x'):\n    pass"),
    ("profiler", "def f(p):\n    return p.kineto_results"),
    ("profiler", "import cProfile"),
    ("profiler", "import torch.utils.bottleneck"),
    # rewriting PyTorch's LSTM into other operators beforehand
    ("rewrite", "g = torch.fx.symbolic_trace(f)"),
    ("rewrite", "from torch.fx.experimental.proxy_tensor import make_fx"),
    ("rewrite", "ep = torch.export.export(m, (x,))"),
    ("rewrite", "torch.utils.cpp_extension.load_inline('x', '')"),
    # reflection
    ("reflection", "def f():\n    pass\nf.__globals__"),
    ("reflection", "def f():\n    pass\nf.__code__"),
    ("reflection", "def f(g):\n    return g.__closure__"),
    ("reflection", "().__class__.__base__.__subclasses__()"),
    ("reflection", "object.__getattribute__(lstm_cell, 'x')"),
    ("reflection", "def f(x):\n    return type(x).__mro__"),
    ("reflection", "class C:\n    pass\nC.__bases__"),
    ("reflection", "def f(x):\n    return x.__reduce__()"),
    ("reflection", "b = print.__self__"),
    ("reflection", "def f(g):\n    return g.__defaults__"),
    ("reflection", "name = '__glob' + 'als__'"),
    ("reflection", "s = type.__dict__['__subclasses__']"),
    # frames and tracebacks
    ("frames", "try:\n    1 / 0\nexcept Exception as err:\n    tb = err.__traceback__"),
    ("frames", "def f(tb):\n    return tb.tb_frame"),
    ("frames", "def f(tb):\n    return tb.tb_next"),
    ("frames", "def f(fr):\n    return fr.f_back"),
    ("frames", "def f(fr):\n    return fr.f_locals"),
    ("frames", "def f(fr):\n    return fr.f_globals"),
    ("frames", "def f(fr):\n    return fr.f_builtins"),
    ("frames", "def f(g):\n    return g.gi_frame"),
    ("frames", "def f(c):\n    return c.cr_frame"),
    ("frames", "def f(a):\n    return a.ag_frame"),
    ("frames", "tb = sys.exc_info()[2]"),
    ("frames", "kind, value, tb = sys.exc_info()"),
    ("frames", "import traceback\nframes = traceback.walk_stack(None)"),
    ("frames", "tb = sys.last_traceback"),
    # interpreter hooks
    ("sys-hooks", "sys.settrace(lambda *a: None)"),
    ("sys-hooks", "sys.setprofile(lambda *a: None)"),
    ("sys-hooks", "sys.monitoring.use_tool_id(1, 'x')"),
    ("sys-hooks", "sys.addaudithook(lambda *a: None)"),
    # the module table and import paths
    ("module-table", "sys.modules['torch'] = None"),
    ("module-table", "m = sys.modules['torch']"),
    ("module-table", "sys.meta_path.insert(0, object())"),
    ("module-table", "sys.path_hooks.append(len)"),
    ("module-table", "sys.path.insert(0, '.')"),
    ("module-table", "sys.path.append('/tmp')"),
    ("module-table", "sys.path = ['.']"),
    ("module-table", "sys.path[0] = '.'"),
    ("module-table", "import site"),
    # introspection
    ("introspection", "import gc"),
    ("introspection", "import inspect"),
    ("introspection", "import ctypes"),
    ("introspection", "import cffi"),
    ("introspection", "f = open('/proc/self/mem', 'rb')"),
    ("introspection", "import numpy as np\nnp.ctypeslib"),
    # threads, processes, signals, finalizers
    ("concurrency", "import threading"),
    ("concurrency", "import multiprocessing"),
    ("concurrency", "from concurrent.futures import ThreadPoolExecutor"),
    ("concurrency", "import asyncio"),
    ("concurrency", "torch.multiprocessing.spawn(print)"),
    ("concurrency", "torch.utils.data.DataLoader([1, 2], num_workers=2)"),
    ("concurrency", "import logging.handlers\nlogging.handlers.QueueListener(None)"),
    ("process", "subprocess.run(['ls'])"),  # the setup imports it; using it is the finding
    ("process", "import subprocess"),
    ("process", "os.system('ls')"),
    ("process", "os.fork()"),
    ("process", "os.popen('ls')"),
    ("process", "os.execv('/bin/ls', ['ls'])"),
    ("process", "os.spawnl(os.P_WAIT, '/bin/ls', 'ls')"),
    ("process", "os.posix_spawn('/bin/ls', ['ls'], {})"),
    ("process", "import pty"),
    ("signal", "import signal\ndef h(*a):\n    pass\nsignal.signal(signal.SIGALRM, h)"),
    ("signal", "import signal\nsignal.setitimer(signal.ITIMER_REAL, 0.01)"),
    ("signal", "import signal\nsignal.alarm(1)"),
    ("finalizer", "import atexit"),
    ("finalizer", "import weakref\nweakref.finalize(lstm_cell, print)"),
    ("finalizer", "import weakref\nclass C:\n    pass\nc = C()\nr = weakref.ref(c, print)"),
    ("finalizer", "class C:\n    def __del__(self):\n        pass"),
    ("special-methods", "class C:\n    def __getattribute__(self, name):\n        return 1"),
    ("special-methods", "class C:\n    def __reduce__(self):\n        return (int, ())"),
    ("special-methods", "C = type('C', (), {})"),
    ("special-methods", "import types\nC = types.new_class('C')"),
    # code from strings
    ("dynamic-code", "exec('x = 1')"),
    ("dynamic-code", "eval('1')"),
    ("dynamic-code", "c = compile('1', 'f', 'eval')"),
    ("dynamic-code", "breakpoint()"),
    ("dynamic-code", "import code"),
    ("dynamic-code", "import codeop"),
    ("dynamic-code", "import doctest"),
    ("dynamic-code", "import pdb"),
    ("dynamic-code", "import timeit\ntimeit.timeit('1 + 1', number=1)"),
    ("dynamic-code", "import types\nf = types.FunctionType(lstm_cell.__code__, {})"),
    ("dynamic-code", "import typing\ntyping.get_type_hints(lstm_cell)"),
    ("dynamic-code", "torch.utils.benchmark.Timer('x')"),
    ("dynamic-code", "import sympy"),
    # names resolved from strings or data
    ("name-resolver", "def f(name):\n    return getattr(torch, name)"),
    ("name-resolver", "def f(suffix):\n    return getattr(torch, 'lstm' + suffix)"),
    ("name-resolver", "import functools\nfunctools.reduce(getattr, ['nn', 'LSTM'], torch)"),
    ("name-resolver", "g = getattr"),
    ("name-resolver", "xs = list(map(vars, [1]))"),
    ("name-resolver", "def f(obj, name, value):\n    setattr(obj, name, value)"),
    ("name-resolver", "def f(obj, name):\n    delattr(obj, name)"),
    ("name-resolver", "importlib.import_module('os')"),
    ("name-resolver", "importlib.util.find_spec('torch')"),  # the setup imports it; using it is the finding
    ("name-resolver", "__import__('os')"),
    ("name-resolver", "import operator\noperator.attrgetter('x')"),
    ("name-resolver", "import operator\noperator.methodcaller('x')"),
    ("name-resolver", "import pkgutil"),
    ("name-resolver", "import pydoc"),
    ("name-resolver", "import runpy"),
    ("name-resolver", "import string\nstring.Formatter()"),
    ("name-resolver", "from unittest import mock"),
    ("name-resolver", "import unittest\nunittest.TestLoader().discover('.')"),
    ("name-resolver", "import logging.config"),
    ("name-resolver", "s = __spec__"),
    # unpickling
    ("unpickling", "import pickle"),
    ("unpickling", "import marshal"),
    ("unpickling", "import copyreg"),
    ("unpickling", "import shelve"),
    ("unpickling", "import dill"),
    ("unpickling", "x = torch.load('f.pt')"),
    ("unpickling", "x = torch.load('f.pt', weights_only=False)"),
    ("unpickling", "import numpy as np\nx = np.load('f.npy', allow_pickle=True)"),
    ("unpickling", "torch.package.PackageImporter('f')"),
    ("unpickling", "torch.hub.load('a', 'b')"),
    ("unpickling", "torch.serialization.add_safe_globals([print])"),
    # namespaces
    ("namespace", "g = globals()"),
    ("namespace", "globals()['x'] = 1"),
    ("namespace", "b = __builtins__"),
    ("namespace", "__builtins__ = {}"),
    ("namespace", "import builtins"),
    ("namespace", "d = vars(torch)"),
    ("namespace", "d = torch.__dict__"),
    ("namespace", "d = F.__dict__"),
    ("namespace", "locals()['x'] = 1"),
    ("namespace", "vars().update(x=1)"),
    ("namespace", "def f(name):\n    return locals()[name]"),
    ("namespace", "def f(x):\n    return type(x).__dict__"),
    ("namespace", "def f(x):\n    return x.__class__.__dict__"),
    ("namespace", "d = type.__dict__"),
    # attributes of modules and of classes the student did not define
    ("module-attribute", "torch.allclose = lambda *a, **k: True"),
    ("module-attribute", "setattr(nn, 'LSTM', None)"),
    ("module-attribute", "torch.Tensor.add = None"),
    ("module-attribute", "del torch.allclose"),
    ("module-attribute", "delattr(torch, 'allclose')"),
    ("module-attribute", "def f(x):\n    type(x).add = None"),
    ("module-attribute", "def f(x):\n    x.__class__.add = None"),
    ("module-attribute", "object.__setattr__(torch, 'allclose', None)"),
    ("module-attribute", "torch.__setattr__('allclose', None)"),
    ("module-attribute", "F.relu = torch.tanh"),
    ("module-attribute", "torch.nn.functional.relu = torch.tanh"),
    ("module-attribute", "torch.save = print"),
    ("module-attribute", "sys.excepthook = print"),
    # environment variables PyTorch reads (TORCHDYNAMO_DISABLE turns torch.compile back on), or computed names
    ("torch-environ", "os.environ['TORCHDYNAMO_DISABLE'] = '0'"),
    ("torch-environ", "os.environ.update(TORCHDYNAMO_DISABLE='0')"),
    ("torch-environ", "os.putenv('PYTORCH_JIT', '1')"),
    ("torch-environ", "def f(name):\n    os.environ[name] = '0'"),
]


@pytest.mark.parametrize("rule,code", TAMPER, ids=[f"{r}:{c.splitlines()[-1][:40]}" for r, c in TAMPER])
def test_tamper_construct_is_found(rule, code):
    found = scan(code)
    assert rule in rules(found), f"{rule} not found in {code!r}: {[str(f) for f in found]}"
    assert all(f.cell == "lstm_cell" and f.line >= 1 for f in found if f.kind == "tamper"), found


def test_setup_classes_are_not_the_students():
    """A class the locked setup defines (StepGrads) is module-level: replacing its attributes is tampering."""
    for code in ("StepGrads.__init__ = None", "G = StepGrads\nG.x = 1", "setattr(StepCache, 'x', 1)"):
        assert "module-attribute" in rules(scan(code, setup=BACKWARD_SETUP)), code
    assert not rules(scan("g = StepGrads(1, 2, 3, 4, 5, 6)\ng.dx = 0\nprint(vars(g))", setup=BACKWARD_SETUP))


def test_every_tamper_rule_has_a_case_and_a_line_in_the_docstring():
    assert {rule for rule, _ in TAMPER} == set(static.RULES)
    for rule in static.RULES:
        assert f"- ``{rule}``:" in static.__doc__, f"the module docstring does not list {rule}"



# -------------------------------------------------------------------------------------- environment writes
ENVIRON_TAMPER = [  # a name PyTorch may read (TORCH*, PYTORCH*), or one the scan cannot read: each a "tamper"
    "os.environ['TORCHDYNAMO_DISABLE'] = '0'",
    "os.environ['PYTORCH_JIT'] = '1'",
    "os.environ.update(TORCHDYNAMO_DISABLE='0')",
    "os.environ.update({'TORCHDYNAMO_DISABLE': '0'})",
    "os.environ.update([('TORCHDYNAMO_DISABLE', '0')])",
    "os.environ.update(**{'OMP_NUM_THREADS': '1', 'TORCHDYNAMO_DISABLE': '0'})",
    "os.environ.setdefault('TORCHDYNAMO_DISABLE', '0')",
    "os.environ.pop('TORCHDYNAMO_DISABLE')",
    "os.environ.__setitem__('TORCHDYNAMO_DISABLE', '0')",
    "os.environ.__delitem__('TORCHDYNAMO_DISABLE')",
    "os.putenv('TORCHDYNAMO_DISABLE', '0')",
    "os.unsetenv('TORCHDYNAMO_DISABLE')",
    "del os.environ['TORCHDYNAMO_DISABLE']",
    "os.environ['TORCHDYNAMO_DISABLE'] += ''",
    "os.environ |= {'TORCHDYNAMO_DISABLE': '0'}",
    "os.environb[b'TORCHDYNAMO_DISABLE'] = b'0'",
    "os.environ.clear()",
    "os.environ = {}",
    "os.environ[input()] = '0'",
    "def f(name):\n    os.environ.setdefault(name, '0')",
    "os.environ.update(config)",
    "os.environ[f'TORCH{input()}'] = '0'",
    "k = 'TORCH' + 'DYNAMO_DISABLE'\nos.environ[k] = '0'",
    "for k in ('OMP_NUM_THREADS', 'TORCHDYNAMO_DISABLE'):\n    os.environ[k] = '1'",
    # aliases
    "e = os.environ\ne['TORCHDYNAMO_DISABLE'] = '0'",
    "e = os.environ\ne |= {'TORCHDYNAMO_DISABLE': '0'}",
    "import os as o\no.environ['TORCHDYNAMO_DISABLE'] = '0'",
    "from os import environ\nenviron.update(TORCHDYNAMO_DISABLE='0')",
    "from os import putenv as p\np('TORCHDYNAMO_DISABLE', '0')",
    "import posix\nposix.environ[b'TORCHDYNAMO_DISABLE'] = b'0'",
    "f = os.environ.update\nf(TORCHDYNAMO_DISABLE='0')",
    "set_it = os.environ.__setitem__\nset_it('TORCHDYNAMO_DISABLE', '0')",
    "def f(env=os.environ):\n    env['TORCHDYNAMO_DISABLE'] = '0'",
    "def f(env):\n    env['TORCHDYNAMO_DISABLE'] = '0'\nf(os.environ)",
    "class C:\n    def __init__(self):\n        self.env = os.environ\n    def go(self):\n"
    "        self.env.pop('TORCHDYNAMO_DISABLE')",
    "import numpy as np\nnp.os.environ['TORCHDYNAMO_DISABLE'] = '0'",
    "from collections.abc import MutableMapping\nMutableMapping.update(os.environ, TORCHDYNAMO_DISABLE='0')",
    "def f(x):\n    type(x).__setitem__(os.environ, 'TORCHDYNAMO_DISABLE', '0')",
]
ENVIRON_REVIEW = [  # other constant names: "review" only
    "os.environ['OMP_NUM_THREADS'] = '1'",
    "os.environ.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')",
    "os.environ.update({'CUDA_VISIBLE_DEVICES': ''})",
    "os.environ.setdefault('OMP_NUM_THREADS', '1')",
    "os.environ.pop('OMP_NUM_THREADS', None)",
    "del os.environ['OMP_NUM_THREADS']",
    "os.putenv('OMP_NUM_THREADS', '1')",
    "os.environ |= {'OMP_NUM_THREADS': '1'}",
    "e = os.environ\ne['OMP_NUM_THREADS'] = '1'",
    "import os as o\no.environ['OMP_NUM_THREADS'] = '1'",
    "for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):\n    os.environ[k] = '1'",
    "name = 'OMP_NUM_THREADS'\nos.environ[name] = '1'",
    "os.environb[b'OMP_NUM_THREADS'] = b'1'",
]


@pytest.mark.parametrize("code", ENVIRON_TAMPER)
def test_environment_writes_pytorch_reads_are_tampering(code):
    found = scan(code)
    assert "torch-environ" in rules(found), [str(f) for f in found]


@pytest.mark.parametrize("code", ENVIRON_REVIEW)
def test_other_environment_writes_are_review(code):
    found = scan(code)
    assert "environ" in rules(found, "review") and not rules(found), [str(f) for f in found]


@pytest.mark.parametrize("code", [
    "x = os.environ.get('TORCHDYNAMO_DISABLE', '')",
    "d = dict(os.environ)\nprint(d.get('PYTORCH_JIT'), 'TORCH_HOME' in os.environ, os.getenv('TORCHDYNAMO_DISABLE'))",
    "d = {}\nd.update(os.environ)",
    "for k, v in os.environ.items():\n    print(k, v)",
    "cfg = {}\ncfg['TORCHDYNAMO_DISABLE'] = '0'",  # a dict of their own
])
def test_environment_reads_are_no_finding(code):
    assert not scan(code), [str(f) for f in scan(code)]


# -------------------------------------------------------------------------------------- the listed names, each
T, R = "tamper", "review"
LISTED_PATHS = {  # static.PATHS written out again: removing a path there fails a test here
    (T, 'introspection'): "gc inspect ctypes cffi numpy.ctypeslib",
    (T, 'concurrency'): "threading multiprocessing concurrent asyncio socketserver interpreters "
                               "torch.multiprocessing torch.distributed torch.jit.fork logging.handlers.QueueListener",
    (T, 'process'): "subprocess pty os.system os.popen os.fork os.forkpty os.register_at_fork",
    (T, 'signal'): "signal.setitimer signal.alarm",
    (T, 'finalizer'): "atexit weakref.finalize",
    (T, 'special-methods'): "types.new_class",
    (T, 'dynamic-code'): "code codeop doctest pdb bdb trace types.CodeType types.FunctionType types.LambdaType "
                                "typing.get_type_hints typing.ForwardRef torch.utils.benchmark sympy jinja2 mako "
                                "numexpr pandas.eval IPython.core IPython.utils IPython.terminal IPython.lib "
                                "IPython.extensions IPython.embed IPython.start_ipython IPython.start_kernel "
                                "IPython.InteractiveShell",
    (T, 'profiler'): "cProfile profile torch.utils.bottleneck",
    (T, 'name-resolver'): "importlib pkgutil pydoc runpy zipimport operator.attrgetter operator.methodcaller "
                                 "string.Formatter unittest.mock unittest.main unittest.TestLoader "
                                 "unittest.defaultTestLoader unittest.TestProgram logging.config ipykernel "
                                 "jupyter_client zmq tornado traitlets",
    (T, 'unpickling'): "pickle dill cloudpickle marshal copyreg shelve joblib jsonpickle torch.package "
                              "torch.hub torch.serialization.add_safe_globals torch.serialization.safe_globals "
                              "yaml.load yaml.load_all yaml.unsafe_load yaml.unsafe_load_all yaml.full_load "
                              "yaml.full_load_all yaml.Loader yaml.UnsafeLoader yaml.FullLoader pandas.read_pickle",
    (T, 'namespace'): "builtins",
    (T, 'module-table'): "sys.modules sys.meta_path sys.path_hooks sys.path_importer_cache site",
    (T, 'sys-hooks'): "sys.settrace sys.setprofile sys.call_tracing sys.monitoring sys.addaudithook "
                             "sys.remote_exec",
    (T, 'frames'): "sys.last_traceback sys.last_exc traceback.walk_stack traceback.walk_tb",
    (T, 'torch-internals'): "torch.ops torch.library torch.overrides torch.classes",
    (T, 'rewrite'): "torch.fx torch.export torch.utils.cpp_extension torch.cuda.jiterator numpy.f2py pyximport "
                           "Cython",
    (R, 'compile'): "torch.compile",
    (R, 'course-package'): "lstm_course",
    (R, 'ipython'): "IPython.get_ipython",
    (R, 'file-write'): "shutil tempfile torch.save numpy.save numpy.savez numpy.savez_compressed numpy.savetxt "
                              "os.remove os.unlink os.rename os.replace os.mkdir os.makedirs os.rmdir os.removedirs "
                              "os.truncate os.symlink os.link os.chmod",
    (R, 'environ'): "os.putenv os.unsetenv",
    (R, 'raw-fd'): "socket os.write os.writev os.pwrite os.pwritev os.dup os.dup2 os.fdopen os.openpty "
                          "os.sendfile",
}
LISTED_DUNDERS = {
    'reflection': "__globals__ __code__ __closure__ __subclasses__ __getattribute__ __mro__ __bases__ __base__ "
                  "__reduce__ __reduce_ex__ __self__ __defaults__ __kwdefaults__ __wrapped__ __objclass__",
    'finalizer': "__del__",
    'frames': "__traceback__",
    'namespace': "__builtins__",
    'name-resolver': "__import__ __loader__ __spec__",
    'torch-internals': "__torch_function__ __torch_dispatch__",
}
LISTED_BUILTINS = {
    'dynamic-code': "exec eval compile breakpoint",
    'name-resolver': "__import__ __loader__ __spec__",
    'namespace': "globals __builtins__",
}
LISTED_DEFINED = {
    'finalizer': "__del__",
    'torch-internals': "__torch_function__ __torch_dispatch__",
    'special-methods': "__getattribute__ __reduce__ __reduce_ex__",
}
LISTED_FRAME_ATTRS = ("ag_await ag_code ag_frame cell_contents cr_await cr_code cr_frame f_back f_builtins f_code "
                      "f_globals f_locals f_trace gi_code gi_frame gi_yieldfrom tb_frame tb_next")


def _spelled(table: dict) -> dict:
    return {name: key for key, names in table.items() for name in names.split()}


def test_the_tables_are_the_listed_ones():
    """The scan's tables equal the lists written out here: removing (or moving) an entry there fails this test."""
    assert static.PATHS == _spelled(LISTED_PATHS)
    assert static.DUNDERS == _spelled(LISTED_DUNDERS)
    assert static.BUILTINS == _spelled(LISTED_BUILTINS)
    assert static.DEFINED == _spelled(LISTED_DEFINED)
    assert static.FRAME_ATTRS == set(LISTED_FRAME_ATTRS.split())


@pytest.mark.parametrize("path", sorted(_spelled(LISTED_PATHS)))
def test_every_listed_path_is_found(path):
    kind, rule = _spelled(LISTED_PATHS)[path]
    root = path.split(".")[0]
    assert rule in rules(scan(f"import {root}\nx = {path}\n"), kind), path
    # imported by a locked cell, reached through a default argument
    alias = f"def f(m={root}):\n    return m{path[len(root):]}\n"
    assert rule in rules(scan(alias, setup=f"{SETUP}\nimport {root}\n"), kind), alias


@pytest.mark.parametrize("name", sorted(_spelled(LISTED_DUNDERS)))
def test_every_listed_dunder_is_found(name):
    rule = _spelled(LISTED_DUNDERS)[name]
    assert rule in rules(scan(f"def f(obj):\n    return obj.{name}\n")), name
    assert rule in rules(scan(f"key = {name!r}\n")), f"{name} as a string"


@pytest.mark.parametrize("name", sorted(_spelled(LISTED_BUILTINS)))
def test_every_listed_builtin_is_found(name):
    assert _spelled(LISTED_BUILTINS)[name] in rules(scan(f"x = {name}\n")), name


@pytest.mark.parametrize("name", sorted(_spelled(LISTED_DEFINED)))
def test_every_listed_special_method_is_found_where_defined(name):
    assert _spelled(LISTED_DEFINED)[name] in rules(scan(f"class C:\n    def {name}(self, *a):\n        pass\n")), name


@pytest.mark.parametrize("name", LISTED_FRAME_ATTRS.split())
def test_every_listed_frame_attribute_is_found(name):
    assert "frames" in rules(scan(f"def f(obj):\n    return obj.{name}\n")), name
    assert "frames" in rules(scan(f"key = {name!r}\n")), f"{name} as a string"


@pytest.mark.parametrize("name", ["execv", "execve", "execlp", "spawnv", "spawnlpe", "posix_spawnp"])
def test_every_exec_and_spawn_is_a_process(name):
    assert "process" in rules(scan(f"os.{name}('x', [])")), name


# -------------------------------------------------------------------------------------- aliases
ALIASES = {  # how a module reaches the code: {mod} is the module's name, {use} the construct on the alias m
    "assignment": "m = {mod}\n{use}",
    "default argument": "def f(x, m={mod}):\n    {use}",
    "argument of a call": "def f(m):\n    {use}\nf({mod})",
    "keyword argument": "def f(x=None, m=None):\n    {use}\nf(m={mod})",
    "list of modules": "ms = [math, {mod}]\nm = ms[1]\n{use}",
    "loop over modules": "for m in (math, {mod}):\n    {use}",
    "dict value": "d = {{'a': {mod}}}\nm = d['a']\n{use}",
    "dict items": "d = dict(a={mod})\nfor k, m in d.items():\n    {use}",
    "class attribute": "class K:\n    mod = {mod}\nm = K.mod\n{use}",
    "instance attribute": "class K:\n    def __init__(self, mod):\n        self.mod = mod\nm = K({mod}).mod\n{use}",
    "setattr": "class K:\n    pass\nk = K()\nsetattr(k, 'mod', {mod})\nm = k.mod\n{use}",
    "namespace": "import types\nns = types.SimpleNamespace(mod={mod})\nm = ns.mod\n{use}",
    "returned": "def get():\n    return {mod}\nm = get()\n{use}",
    "lambda": "get = lambda: {mod}\nm = get()\n{use}",
    "walrus": "if (m := {mod}):\n    {use}",
    "with": "import contextlib\nwith contextlib.nullcontext({mod}) as m:\n    {use}",
    "appended": "ms = []\nms.append({mod})\nm = ms[0]\n{use}",
    "locals": "m = locals()['{mod}']\n{use}",
    "next(iter(...))": "m = next(iter([{mod}]))\n{use}",
}
MODULE_RULES = {  # rule -> (module, construct on m, what other module holds it)
    "module-table": ("sys", "m.modules", "os.sys"),
    "process": ("os", "m.system('ls')", "torch.os"),
    "torch-internals": ("torch", "m.ops.aten", "F.torch"),
    "private": ("torch", "m._C", "F.torch"),
    "name-resolver": ("importlib", "m.import_module('os')", "F.importlib"),
    "signal": ("signal", "m.setitimer(0, 1.0)", None),
    "module-attribute": ("torch", "m.allclose = None", "F.torch"),
    "namespace": ("torch", "vars(m)", "F.torch"),
    "profiler": ("torch", "m.profiler", "F.torch"),
}
ALIAS_CASES = [(rule, how) for rule in MODULE_RULES for how in ALIASES]


@pytest.mark.parametrize("rule,how", ALIAS_CASES, ids=[f"{r}-{h}" for r, h in ALIAS_CASES])
def test_module_rules_follow_aliases(rule, how):
    mod, use, _ = MODULE_RULES[rule]
    code = ("import signal\n" if mod == "signal" else "") + ALIASES[how].format(mod=mod, use=use)
    assert rule in rules(scan(code)), code


@pytest.mark.parametrize("rule", [r for r in MODULE_RULES if MODULE_RULES[r][2]])
def test_module_rules_apply_inside_a_chain(rule):
    """``os.sys.modules``, ``F.torch._C``: the module reached as an attribute of another one."""
    mod, use, via = MODULE_RULES[rule]
    assert rule in rules(scan(use.replace("m", via, 1).replace("(m)", f"({via})"))), via


@pytest.mark.parametrize("code,rule", [
    ("import numpy as np\nnp.os.system('ls')", "process"),  # unknown to this numpy: `os` is a module name
    ("class C:\n    def __init__(self):\n        self.os = os\n    def run(self):\n        self.os.system('ls')",
     "process"),
    ("def f(cfg):\n    cfg.subprocess.run(['ls'])", "process"),
    ("def f(cfg):\n    cfg.sys.modules", "module-table"),
    ("def f(cfg):\n    cfg.torch.allclose = None", "module-attribute"),
    ("from os import *\nsystem('ls')", "process"),
    ("from os import system as run\nrun('ls')", "process"),
    ("import posix\nposix.system('ls')", "process"),
    ("for k, m in dict(vars()).items():\n    if k == 'o' + 's':\n        m.system('ls')", "process"),
    ("os.sys.path.insert(0, '.')", "module-table"),
    ("os.sys.exc_info()[2]", "frames"),
    ("def f(m=torch):\n    return m.load('x')", "unpickling"),
    ("getattr(sys, 'modules')", "module-table"),
    ("for name in ('modules',):\n    getattr(sys, name)", "module-table"),
    ("import signal as s\nf = s.signal\nf(2, lambda *a: None)", "signal"),
])
def test_aliases_the_analysis_follows(code, rule):
    assert rule in rules(scan(code)), [str(f) for f in scan(code)]


def test_call_results_are_not_modules():
    code = ("W = torch.zeros(3)\nW.data = W.data * 2\nW.grad = None\nclass C:\n    pass\nc = C()\nsetattr(c, 'x', 1)\n"
            "c.y = torch.ones(2)\nc.y.data = c.y.data + 1\nacts = [torch.tanh, torch.sigmoid]\nx = acts[0](W)\n")
    assert not scan(code), [str(f) for f in scan(code)]


# -------------------------------------------------------------------------------------- computed names
@pytest.mark.parametrize("code,tamper", [
    ("for name in ('tanh', 'sigmoid', 'relu'):\n    f = getattr(torch, name)", False),
    ("fs = [getattr(torch, n) for n in ['tanh', 'sigmoid']]", False),
    ("def f(x):\n    for name in ['tanh', 'sigmoid']:\n        x = getattr(torch, name)(x)\n    return x", False),
    ("for name, k in (('tanh', 1), ('sigmoid', 2)):\n    getattr(torch, name)", False),
    ("act = 'tanh'\nf = getattr(torch, act)", False),
    ("def f(module, k):\n    return getattr(module, f'bias_ih_l{k}')", False),
    ("def f(module, name):\n    return getattr(module, 'bias_hh' + name[7:])", False),
    ("def f(module):\n    for name, _ in module.named_parameters():\n        if name.startswith('bias'):\n"
     "            getattr(module, name)", False),
    ("def f(module):\n    for name, _ in module.named_parameters():\n        if not name.startswith('bias'):\n"
     "            continue\n        getattr(module, name)", False),
    ("def f(module):\n    for name in [n for n, _ in module.named_parameters() if n.startswith('bias_')]:\n"
     "        getattr(module, name)", False),
    ("def f(x, name):\n    return hasattr(x, name)", False),
    ("def f(m, name):\n    if name in ('weight_ih', 'weight_hh'):\n        return getattr(m, name)", False),
    ("names = ('dx', 'db')\ndef f(g, ts):\n    return [getattr(g, n) for n, t in zip(names, ts)]", False),
    ("for i, name in enumerate(['tanh', 'relu']):\n    getattr(torch, name)", False),
    ("for name, f in {'tanh': 1, 'relu': 2}.items():\n    getattr(torch, name)", False),
    ("total = lambda field: getattr(s, field)\na = total('dW_ih')\nb = total(field='db')", False),
    ("def part(g, field='db'):\n    return getattr(g, field)\npart(1)\npart(1, 'dx')", False),
    ("for name, f in {'tanh': 1, '_C': 2}.items():\n    getattr(torch, name)", True),
    ("names = ('dx', input())\ndef f(g, ts):\n    return [getattr(g, n) for n, t in zip(names, ts)]", True),
    ("total = lambda field: getattr(s, field)\na = total('dW_ih')\nb = total(input())", True),
    ("total = lambda field: getattr(s, field)\nfs = list(map(total, ['a']))", True),  # passed on as a value
    ("def f(m):\n    for name, _ in m.named_parameters():\n        if name.startswith('bias'):\n"
     "            name = ''.join(['__glo', 'bals__'])\n            getattr(m, name)", True),  # bound again: no guard
    ("def f(m):\n    for name, _ in m.named_parameters():\n        if not name.startswith('bias'):\n"
     "            continue\n        name = input()\n        getattr(m, name)", True),
    ("for name in ('tanh', '_C'):\n    f = getattr(torch, name)", True),  # treated as constant getattrs
    ("for name in ('tanh', '__globals__'):\n    f = getattr(lstm_cell, name)", True),
    ("for name in ('tanh', 'sigmoid'):\n    f = getattr(torch, name)\nname = input()", True),  # rebound: computed
    ("def f(name):\n    return getattr(torch, name)", True),
    ("def f(module):\n    for name, _ in module.named_parameters():\n        getattr(module, name)", True),
    ("def f(x):\n    return getattr(torch, 'ops' if x else 'tanh')", True),
    ("def f(x):\n    return getattr(sys, 'set' + x)", True),  # settrace, setprofile start so
    ("def f(x):\n    return getattr(x, '_' + 'C')", True),
    ("def f(x, k):\n    return getattr(x, '__%s__' % k)", True),
])
def test_computed_attribute_names(code, tamper):
    found = rules(scan(code))
    assert bool(found) == tamper, (code, found)


# -------------------------------------------------------------------------------------- honest Python
HONEST = [
    ("module-level state", "_calls = 0\ndef lstm_cell(x, state, *w):\n    global _calls\n    _calls += 1\n"
                           "    return state"),
    ("debug printing", "import sys\ndef lstm_cell(x, state, *w):\n    print('x', x.shape)\n"
                       "    print('state', file=sys.stderr)\n    sys.stderr.write('debug\\n')\n    sys.stdout.flush()\n"
                       "    return state"),
    ("vars and __dict__ of own objects", "class Cfg:\n    def __init__(self):\n        self.a = 1\n"
                                         "cfg = Cfg()\nprint(vars(cfg), cfg.__dict__, vars(cfg)['a'])\n"
                                         "cfg.__dict__['b'] = 2\nd = dict(vars(cfg))"),
    ("dataclass", "from dataclasses import dataclass, field, replace\n@dataclass\nclass State:\n    h: torch.Tensor\n"
                  "    c: torch.Tensor = None\n    _n: int = 0\ns = replace(State(1, 2), c=3)\nprint(s._n)"),
    ("SimpleNamespace", "import types\nfrom types import SimpleNamespace\nns = types.SimpleNamespace(h=1, c=2)\n"
                        "ns.h = 3\nprint(vars(ns))"),
    ("argparse.Namespace", "import argparse\nargs = argparse.Namespace(hidden=4)\nargs.hidden += 1"),
    ("namedtuple", "import collections\nfrom typing import NamedTuple\nState = collections.namedtuple('State', 'h c')\n"
                   "s = State(1, 2)\ns = s._replace(h=3)\nprint(s._fields, s._asdict(), State._make([1, 2]))\n"
                   "class P(NamedTuple):\n    h: int\n    c: int"),
    ("torch.jit", "@torch.jit.script\ndef gates(x: torch.Tensor) -> torch.Tensor:\n    return torch.sigmoid(x)\n"
                  "traced = torch.jit.trace(torch.tanh, torch.zeros(2))\nprint(gates.code)"),
    ("getattr over a literal list", "ACT = {}\nfor name in ('sigmoid', 'tanh', 'sigmoid', 'sigmoid'):\n"
                                    "    ACT[name] = getattr(torch, name)"),
    ("recursion", "def detach_state(s):\n    if isinstance(s, torch.Tensor):\n        return s.detach()\n"
                  "    return type(s)(detach_state(t) for t in s)\ndef g(s):\n    return s.__class__(list(s))"),
    ("NumPy interop", "import numpy as np\ndef f(x):\n    a = np.asarray(x.detach().cpu().numpy())\n"
                      "    return torch.from_numpy(np.tanh(a)).to(x.device)\nnp.random.seed(0)"),
    ("functools", "import functools\n@functools.lru_cache(maxsize=None)\ndef k(n):\n    return n\n"
                  "sig = functools.partial(torch.clamp, min=0)\nfunctools.reduce(lambda a, b: a + b, [1, 2])"),
    ("math and itertools", "import math, itertools\nprint(math.exp(1), list(itertools.product([1], [2])))"),
    ("type hints", "from typing import Optional, Tuple\nState = Tuple[torch.Tensor, torch.Tensor]\n"
                   "def f(x: torch.Tensor, s: Optional[State] = None) -> State:\n    return s"),
    ("self-check helper beside the answer", "def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):\n    return state\n"
                                            "def _check(x, state, *w):\n    ref = nn.LSTMCell(3, 4)\n"
                                            "    return torch.allclose(lstm_cell(x, state, *w)[0], ref(x, state)[0])"),
    ("own private attributes", "class Cell:\n    def __init__(self):\n        self._cache = {}\n"
                               "        self.__seen = 0\n    def _helper(self):\n"
                               "        return self._cache, self.__seen\n"
                               "    @property\n    def _n(self):\n        return 1\nCell()._helper()"),
    ("nn.Module internals that hold parameters", "def f(module):\n    for name, p in module._parameters.items():\n"
                                                 "        print(name, module._flat_weights_names)"),
    ("torch functions that share a module's name", "def f(A):\n"
                                                   "    return torch.trace(A) + torch.signal.windows.hann(4).sum()"),
    ("os.path and environment reads", "import os\np = os.path.join(os.getcwd(), 'x')\nd = os.environ.get('HOME')"),
    ("exception type", "try:\n    pass\nexcept Exception:\n    kind = sys.exc_info()[0]\n    import traceback\n"
                       "    traceback.print_exc()"),
    ("signal left alone", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                          "signal.signal(signal.SIGINT, signal.default_int_handler if False else signal.SIG_DFL)"),
    ("copy", "import copy\ndef f(state):\n    return copy.deepcopy(state), copy.copy(state)"),
    ("safe loads", "import numpy as np\nx = torch.load('f.pt', weights_only=True)\ny = np.load('f.npy')\n"
                   "z = np.load('f.npy', allow_pickle=False)"),
    ("timeit on a function", "import timeit\ndef f():\n    pass\nt = timeit.timeit(f, number=3)\n"
                             "u = timeit.timeit(lambda: f(), number=3)\nv = timeit.default_timer()"),
    ("weak references without callbacks", "import weakref\ncache = weakref.WeakValueDictionary()"),
    ("a unittest self-check", "import unittest\nclass T(unittest.TestCase):\n    def test(self):\n"
                             "        self.assertEqual(1, 1)"),
    ("operator, string, typing, logging", "import operator, string, typing, logging\nk = operator.itemgetter(0)\n"
                                          "s = string.ascii_letters\nlogging.getLogger('x').info('y')"),
    ("DataLoader without workers", "from torch.utils.data import DataLoader\ndl = DataLoader([1, 2], num_workers=0)"),
    ("strings that merely mention names", "doc = 'the gates: sigmoid(x); see __init__ and f_x'"),
    ("contextlib redirect", "import contextlib, io\nbuf = io.StringIO()\nwith contextlib.redirect_stdout(buf):\n"
                            "    print('x')"),
    ("init_forget_bias through setattr of a parameter", "def init_forget_bias(module, value=1.0):\n"
                                                        "    for name, p in list(module.named_parameters()):\n"
                                                        "        if name.startswith('bias_'):\n"
                                                        "            setattr(module, name, nn.Parameter(p.detach()))"),
]


@pytest.mark.parametrize("name,code", HONEST, ids=[n for n, _ in HONEST])
def test_honest_python_is_not_tampering(name, code):
    found = scan(code)
    assert not rules(found), f"{name}: {[str(f) for f in found if f.kind == 'tamper']}"


def test_honest_findings_are_advice_only():
    assert rules(scan(HONEST[0][1]), "review") == {"global"}
    assert [f.kind for f in scan(dict(HONEST)["self-check helper beside the answer"])] == ["lstm"]
    for name in ("debug printing", "vars and __dict__ of own objects", "dataclass", "torch.jit", "recursion",
                 "getattr over a literal list", "NumPy interop", "namedtuple"):
        assert not scan(dict(HONEST)[name]), (name, [str(f) for f in scan(dict(HONEST)[name])])


@pytest.mark.parametrize("assignment", ["gates", "detaching", "temperature", "backward"])
def test_the_solutions_have_no_finding(assignment):
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    instructor = {c.source.strip() for c in nb.cells if c.metadata.get("nbgrader", {}).get("locked")}
    assert not static.scan(nb, instructor, autograd=assignment == "backward")


# -------------------------------------------------------------------------------------- review
@pytest.mark.parametrize("rule,code", [
    ("magic", "%timeit lstm_cell\nx = 1"),
    ("magic", "!pip install torch"),
    ("magic", "if True:\n    !ls\nx = 1"),
    ("ipython", "ip = get_ipython()"),
    ("file-write", "with open('out.txt', 'w') as f:\n    f.write('x')"),
    ("file-write", "open('out.txt', mode='a')"),
    ("file-write", "def f(mode):\n    return open('x', mode)"),
    ("file-write", "import pathlib\npathlib.Path('x').write_text('y')"),
    ("file-write", "torch.save({}, 'x.pt')"),
    ("file-write", "import shutil\nshutil.rmtree('x')"),
    ("global", "def f():\n    global y\n    y = 1"),
    ("environ", "os.environ['X'] = '1'"),
    ("environ", "os.environ.update(X='1')"),
    ("environ", "os.putenv('X', '1')"),
    ("stream", "import io\nsys.stdout = io.StringIO()"),
    ("stream", "sys.stderr = sys.stdout"),
    ("stream", "os.sys.stdout = None"),
    ("environ", "s = os\ns.environ['X'] = '1'"),
    ("raw-fd", "os.write(1, b'x')"),
    ("raw-fd", "f = open(1, 'w')"),
    ("raw-fd", "os.dup2(2, 1)"),
    ("raw-fd", "n = sys.stdout.fileno()"),
    ("raw-fd", "import socket"),
    ("course-package", "import lstm_course"),
    ("course-package", "from lstm_course.cell import lstm_cell"),
    ("compile", "f = torch.compile(lstm_cell)"),
    ("parse", "def f(:\n    pass"),
])
def test_review_findings(rule, code):
    found = scan(code)
    assert rule in rules(found, "review"), [str(f) for f in found]
    assert not rules(found), f"review only: {[str(f) for f in found]}"


def test_a_magic_line_hides_nothing():
    """The scan reads the cell as the probe runner runs it: each magic line becomes `pass`, the rest is read."""
    found = scan("if True:\n    %time x = 1\n    import gc\n")
    assert "introspection" in rules(found) and "magic" in rules(found, "review")
    source = "x = 1\n  %time y\n!ls\n%%bash\nimport gc"
    from lstm_course.grading import probe_runner
    assert static.without_magics(source) == probe_runner._cell_code(source)


# -------------------------------------------------------------------------------------- PyTorch's LSTM, autograd
@pytest.mark.parametrize("code", [
    "ref = nn.LSTMCell(3, 4)",
    "h, c = torch.lstm_cell(x, s, *w)",
    "L = nn.LSTM\nm = L(3, 4)",
    "from torch.nn import LSTM",
    "m = getattr(nn, 'LSTM')",
    "def f(x, cell=torch.lstm_cell):\n    return cell",
    "t = torch\nt.nn.modules.rnn.LSTMCell",
    "m = nn.RNNBase('LSTM', 3, 4)",
])
def test_pytorch_lstm_is_advice(code):
    found = scan(code)
    assert "lstm" in {f.kind for f in found} and not rules(found), [str(f) for f in found]
    assert not [f for f in scan("pass", after=code) if f.kind == "lstm"], "after the tests it is not looked for"


@pytest.mark.parametrize("code", [
    "g = torch.autograd.grad(y, x)",
    "y.backward()",
    "x = torch.zeros(2, requires_grad=True)",
    "x.requires_grad_()",
    "ag = torch.autograd\nag.grad(y, x)",
    "from torch.func import jacrev",
    "import torch.autograd.forward_ad as fwAD",
    "g = x.grad",
])
def test_autograd_is_advice_where_forbidden(code):
    found = scan(code, autograd=True)
    assert "autograd" in {f.kind for f in found} and not rules(found), [str(f) for f in found]
    assert not [f for f in scan(code) if f.kind == "autograd"], "not looked for where autograd is allowed"


def test_tampering_after_the_tests_still_counts():
    assert "introspection" in rules(scan("pass", after="import gc"))


def test_findings_name_cell_line_and_construct():
    [f] = [f for f in scan("x = 1\ny = torch._C\n") if f.kind == "tamper"]
    assert (f.kind, f.cell, f.line, f.construct) == ("tamper", "lstm_cell", 2, "torch._C")
    assert f.why == static.RULES["private"]
    assert "torch._C" in str(f) and "lstm_cell" in str(f)


@pytest.mark.parametrize("code", [
    "x = locals()[input()].system",
    "locals()[input()].system('ls')",
    "def run():\n    return m.system('ls')\nm = locals()[input()]",
    "def run():\n    return m.modules\nk = input()\nm = vars()[k]",
])
def test_the_first_finding_names_what_the_student_wrote(code):
    """Reading locals() by a computed key makes every module the cells import a possible value: the findings only
    that gives (os.system, importlib, ... on the same or an earlier line) come after the one the student wrote."""
    found = [f for f in scan(code) if f.kind == "tamper"]
    first = [f for f in found if RULE[f.why] == "namespace" and "()[" in f.construct]
    assert first and found[0] == first[0], [str(f) for f in found]
    assert len({RULE[f.why] for f in found}) > 1, "the derived findings stay, after it"


def test_derived_findings_come_after_every_direct_one():
    code = "def run():\n    return m.modules\nimport gc\nm = vars()[input()]\nimport ctypes"
    found = [(f.line, RULE[f.why]) for f in scan(code) if f.kind == "tamper"]
    assert found[:3] == [(3, "introspection"), (4, "namespace"), (5, "introspection")], found
    derived = found[3:]  # m.modules on line 2: m may be any value, sys (through os) among them
    assert derived and {line for line, _ in derived} == {2} and "module-table" in {r for _, r in derived}, found


def test_findings_follow_the_lines_of_a_cell():
    found = scan("import gc\n%time x = 1\nimport ctypes\n")
    assert [(f.line, f.kind) for f in found] == [(1, "tamper"), (2, "review"), (3, "tamper")], found


def test_student_cells_are_told_apart_by_the_instructors_sources():
    nb = notebook("x = 1", after="y = 2")
    names = [name for name, _ in static.student_cells(nb, {SETUP.strip(), TEST_CELL.strip()})]
    assert names == ["lstm_cell", "cell 3"]
    nb.cells[0].source += "\nimport gc  # a changed locked cell is the student's"
    assert "introspection" in rules(static.scan(nb, {SETUP.strip(), TEST_CELL.strip()}))


def test_os_exit_is_not_tampering():
    """os._exit only ends the probe process, which the judge starts again without that cell: no tamper finding."""
    found = static.scan(notebook("import os\nos._exit(1)\ndef lstm_cell(*args):\n    pass\n"))
    assert not [f for f in found if f.kind == "tamper"], found
