"""The rule tables of the static scan: what each finding's kind, rule and ``why`` are.

Tamper rules (the ``why`` of each finding; ``RULES`` holds the same text):

- ``private``: a private attribute (``x._name``) of anything the student did not define: ``torch._C._autograd.
  _disable_profiler()`` (or any other internal) stops or rewires the operator recorder while the function runs.
- ``torch-internals``: ``torch.ops``, ``torch.library``, ``torch.overrides``, ``torch.classes``,
  ``__torch_function__``/``__torch_dispatch__``: a mode or a re-registered kernel renames PyTorch's LSTM or answers
  the runner's own calls with forged values.
- ``profiler``: ``torch.profiler``, ``torch.autograd.profiler``, ``record_function``, kineto: leaving a nested
  profiler switches the recorder off for the rest of the probe.
- ``rewrite``: ``torch.fx`` (``make_fx``), ``torch.export``, native extensions: PyTorch's LSTM traced into decomposed
  operators (or native code) before the probe, so the recorder never sees ``aten::lstm_cell``.
- ``reflection``: ``__globals__``, ``__code__``, ``__closure__``, ``__self__``, ``__subclasses__``, ``__mro__``,
  ``__bases__``, ``__getattribute__``, ``__reduce__``, ... (as attributes or strings): they reach the runner's
  functions, its stand-ins and their records of calls.
- ``frames``: ``tb_frame``, ``f_back``, ``f_locals``, ``f_globals``, ``gi_frame``, ``__traceback__``,
  ``sys.exc_info()[2]``, ``traceback.walk_stack``, ...: a frame's locals are the runner's own variables (the
  secret inputs, the recorder, the results before they are sent).
- ``sys-hooks``: ``sys.settrace``, ``sys.setprofile``, ``sys.monitoring``, ``sys.addaudithook``: a hook runs on
  every call of the runner, outside the recorded window, and sees its frames.
- ``module-table``: ``sys.modules``, ``sys.meta_path``, ``sys.path_hooks``, changes to ``sys.path``, ``site``:
  they decide what the runner's imports return, and let an import run a file the student wrote (code this scan
  never reads).
- ``introspection``: ``gc``, ``inspect``, ``ctypes``, ``cffi``, ``/proc`` paths: they walk the interpreter's
  objects or memory, where every object of the runner is reachable.
- ``concurrency``: ``threading``, ``multiprocessing``, ``concurrent``, ``asyncio``, ``torch.multiprocessing``,
  ``torch.distributed``, DataLoader workers: code on another thread or process runs where the recorder (which
  follows the probe's own thread) does not look.
- ``process``: ``subprocess`` (its use, even where a locked cell imports it), ``os.system``/``fork``/``popen``/
  ``exec*``/``spawn*``/``posix_spawn``, ``pty``: a child process computes the answer with PyTorch's LSTM unrecorded.
- ``signal``: ``signal.signal`` with a handler, ``signal.setitimer``, ``signal.alarm``: a handler runs at a moment
  of its choosing (e.g. while the runner packs the results) and replaces the runner's own time limit.
- ``finalizer``: ``atexit``, ``weakref.finalize``, weakref callbacks, defining ``__del__``: code runs between or
  after the probes, outside the recorded window.
- ``special-methods``: defining ``__getattribute__``/``__reduce__``/``__reduce_ex__``, classes built by
  ``type(name, bases, dict)``/``types.new_class``: code runs when the runner reads or stores a value.
- ``dynamic-code``: ``exec``, ``eval``, ``compile``, ``code``, ``codeop``, ``doctest``, ``cProfile``/``profile``,
  ``timeit`` with a string, ``types.CodeType``/``FunctionType``, ``typing.get_type_hints``, ``torch.utils.benchmark``,
  ``sympy``, ``jinja2``, IPython's shell, ``breakpoint``/``pdb`` (they run the ``.pdbrc`` a cell wrote): code built
  from strings, which this scan cannot read.
- ``name-resolver``: ``getattr``/``setattr``/``delattr`` with a computed name (a loop variable over a literal list of
  strings, a guarded prefix such as ``name.startswith("bias_")`` or a constant prefix that no listed name starts
  with is not computed), ``getattr``/``vars`` passed as values, ``importlib`` (its use, even where a locked cell
  imports it), ``__import__``, ``operator.attrgetter``/``methodcaller``, ``pkgutil``, ``pydoc``, ``runpy``,
  ``string.Formatter``, ``unittest.mock``, ``unittest`` test discovery, ``logging.config``, ``import_item``:
  ``getattr(torch, "_" + "C")`` reaches any object by a string built at run time.
- ``unpickling``: ``pickle``, ``dill``, ``marshal``, ``copyreg``, ``shelve``, ``torch.load`` without
  ``weights_only=True``, ``allow_pickle=True``, ``torch.package``, ``torch.hub``, ``add_safe_globals``, ``yaml.load``:
  unpickling imports and calls whatever global the data names.
- ``namespace``: ``globals()``, ``__builtins__``, ``builtins``, ``vars(module)``, ``module.__dict__``, a class's
  ``__dict__`` through ``type(x)``/``__class__``, writes through ``locals()``/``vars()``: names read or replaced by
  string key, in the runner's namespace or any module.
- ``module-attribute``: assigning or deleting an attribute of a module or of a class the student did not define
  (``torch.save = ...``, ``setattr(nn, ...)``, ``torch.Tensor.add = ...``, ``type(x).add = ...``, ``del torch.x``):
  the runner's own code calls them, so the results it sends can be forged.
- ``torch-environ``: writing an environment variable whose name is not a constant string, or is a constant starting
  with ``TORCH`` or ``PYTORCH`` (``os.environ["TORCHDYNAMO_DISABLE"] = "0"``, ``os.environ.update(...)``,
  ``setdefault``, ``pop``, ``clear``, ``del os.environ[...]``, ``os.environ |= {...}``, ``os.putenv``/``unsetenv``,
  assigning ``os.environ``; ``environ.py`` lists every form): the probe process runs with ``TORCHDYNAMO_DISABLE=1``
  and ``PYTORCH_JIT=0`` because a function compiled by ``torch.compile`` (or traced by TorchScript) runs PyTorch's
  LSTM without the operator ``aten::lstm_cell`` reaching PyTorch's profiler; ``torch.compile`` reads
  ``TORCHDYNAMO_DISABLE`` from ``os.environ`` at each call, so turning it back on hides the LSTM from the judge.
  Other constant names (``os.environ["OMP_NUM_THREADS"] = "1"``) stay "review".

Review rules (``REVIEW``): IPython magics and shell escapes (the runner replaces the line by ``pass``, as
``without_magics`` does here), ``get_ipython()``, writing files, ``global`` statements, environment writes of other
names, replacing ``sys.stdout``/``sys.stderr``, raw file descriptors (the runner's results are signed), ``import
lstm_course``, ``torch.compile``, a cell that does not parse.

The other tables say where each rule looks: ``PATHS`` (dotted module paths), ``DUNDERS`` (attributes and strings),
``DEFINED`` (special methods a class defines), ``FRAME_ATTRS``, ``BUILTINS``; ``DANGER`` is every name a computed
attribute name may not start as.
"""
from __future__ import annotations

import re

RULES = {  # tamper rule -> the technique that beats the judge without it (each finding's ``why``)
    "private": "private internals (torch._C._autograd._disable_profiler(), ...) stop or rewire the operator recorder",
    "torch-internals": "operator registries and torch function/dispatch modes rename PyTorch's LSTM or forge the "
                       "runner's own calls",
    "profiler": "leaving a nested profiler switches the operator recorder off for the rest of the probe",
    "rewrite": "tracing PyTorch's LSTM into decomposed operators (or native code) beforehand hides aten::lstm_cell "
               "from the recorder",
    "reflection": "reaches the runner's functions, its stand-ins and their records of calls",
    "frames": "a frame's locals are the runner's variables: the secret inputs, the recorder, the results",
    "sys-hooks": "a trace, profile or audit hook runs on every call of the runner, outside the recorded window",
    "module-table": "decides what the runner's imports return, or imports a file the student wrote (code the scan "
                    "never reads)",
    "introspection": "walks the interpreter's objects or memory, where every object of the runner is reachable",
    "concurrency": "code on another thread or process runs where the recorder does not look",
    "process": "a child process computes the answer with PyTorch's LSTM where nothing records it",
    "signal": "a handler runs at a moment of its choosing (e.g. while the runner packs the results)",
    "finalizer": "runs code between or after the probes, outside the recorded window",
    "special-methods": "runs code when the runner reads or stores a value, outside the recorded window",
    "dynamic-code": "runs code built from strings at run time, which the scan cannot read",
    "name-resolver": "reaches any object by a name built at run time (getattr(torch, '_' + 'C'))",
    "unpickling": "unpickling imports and calls whatever global the data names",
    "namespace": "reads or replaces names by string key, in the runner's namespace or any module",
    "module-attribute": "the runner's own code calls it: a replacement forges the results it sends",
    "torch-environ": "the probe runs with TORCHDYNAMO_DISABLE=1 and PYTORCH_JIT=0; torch.compile reads "
                     "TORCHDYNAMO_DISABLE at each call, and a compiled function runs PyTorch's LSTM without "
                     "aten::lstm_cell reaching the recorder",
}
REVIEW = {
    "magic": "IPython magic or shell escape: the grader runs the cell with this line replaced by `pass`",
    "ipython": "get_ipython(): there is no IPython where the grader calls your functions",
    "file-write": "writes files: the grader reads none of them",
    "global": "a global statement: fine, but the grader calls your functions in a fresh process",
    "environ": "sets or removes an environment variable: the grader judges the operators your functions run",
    "stream": "replaces sys.stdout/sys.stderr: the grader keeps its own streams",
    "raw-fd": "writes to a file descriptor: the grader's results are signed and cannot be written this way",
    "course-package": "imports the course package, which the grader's process cannot read",
    "compile": "torch.compile: the grader judges the operators the function runs, compiled or not",
    "parse": "the cell does not parse: it defines nothing when graded",
}
LSTM_WHY = "PyTorch's own LSTM: a graded function that runs it scores 0 (the grader records the operators it runs)"
AUTOGRAD_WHY = "PyTorch's autograd: a graded function that runs it scores 0 (the grader records the operators it runs)"

T, R = "tamper", "review"
# dotted paths (and every path below them) -> (kind, rule); matched on every view of a resolved path
PATHS: dict[str, tuple[str, str]] = {}
for _rule, _kind, _names in [
    ("introspection", T, "gc inspect ctypes cffi numpy.ctypeslib"),
    ("concurrency", T, "threading multiprocessing concurrent asyncio socketserver interpreters torch.multiprocessing "
                       "torch.distributed torch.jit.fork logging.handlers.QueueListener"),
    ("process", T, "subprocess pty os.system os.popen os.fork os.forkpty os.register_at_fork"),
    ("signal", T, "signal.setitimer signal.alarm"),
    ("finalizer", T, "atexit weakref.finalize"),
    ("special-methods", T, "types.new_class"),
    ("dynamic-code", T, "code codeop doctest pdb bdb trace types.CodeType types.FunctionType types.LambdaType "
                        "typing.get_type_hints typing.ForwardRef torch.utils.benchmark sympy jinja2 mako numexpr "
                        "pandas.eval IPython.core IPython.utils IPython.terminal IPython.lib IPython.extensions "
                        "IPython.embed IPython.start_ipython IPython.start_kernel IPython.InteractiveShell"),
    ("profiler", T, "cProfile profile torch.utils.bottleneck"),
    ("name-resolver", T, "importlib pkgutil pydoc runpy zipimport operator.attrgetter operator.methodcaller "
                         "string.Formatter unittest.mock unittest.main unittest.TestLoader unittest.defaultTestLoader "
                         "unittest.TestProgram logging.config ipykernel jupyter_client zmq tornado traitlets"),
    ("unpickling", T, "pickle dill cloudpickle marshal copyreg shelve joblib jsonpickle torch.package torch.hub "
                      "torch.serialization.add_safe_globals torch.serialization.safe_globals yaml.load yaml.load_all "
                      "yaml.unsafe_load yaml.unsafe_load_all yaml.full_load yaml.full_load_all yaml.Loader "
                      "yaml.UnsafeLoader yaml.FullLoader pandas.read_pickle"),
    ("namespace", T, "builtins"),
    ("module-table", T, "sys.modules sys.meta_path sys.path_hooks sys.path_importer_cache site"),
    ("sys-hooks", T, "sys.settrace sys.setprofile sys.call_tracing sys.monitoring sys.addaudithook sys.remote_exec"),
    ("frames", T, "sys.last_traceback sys.last_exc traceback.walk_stack traceback.walk_tb"),
    ("torch-internals", T, "torch.ops torch.library torch.overrides torch.classes"),
    ("rewrite", T, "torch.fx torch.export torch.utils.cpp_extension torch.cuda.jiterator numpy.f2py pyximport Cython"),
    ("compile", R, "torch.compile"),
    ("course-package", R, "lstm_course"),
    ("ipython", R, "IPython.get_ipython"),
    ("file-write", R, "shutil tempfile torch.save numpy.save numpy.savez numpy.savez_compressed numpy.savetxt "
                      "os.remove os.unlink os.rename os.replace os.mkdir os.makedirs os.rmdir os.removedirs "
                      "os.truncate os.symlink os.link os.chmod"),
    ("environ", R, "os.putenv os.unsetenv"),
    ("raw-fd", R, "socket os.write os.writev os.pwrite os.pwritev os.dup os.dup2 os.fdopen os.openpty os.sendfile"),
]:
    PATHS.update({name: (_kind, _rule) for name in _names.split()})
OS_PROCESS = re.compile(r"(exec|spawn|posix_spawn)")  # os.execv, os.spawnl, os.posix_spawnp, ...
DUNDERS = {  # attribute (or string) -> rule
    **dict.fromkeys(["__globals__", "__code__", "__closure__", "__subclasses__", "__getattribute__", "__mro__",
                     "__bases__", "__base__", "__reduce__", "__reduce_ex__", "__self__", "__defaults__",
                     "__kwdefaults__", "__wrapped__", "__objclass__"], "reflection"),
    "__del__": "finalizer", "__traceback__": "frames", "__builtins__": "namespace",
    "__import__": "name-resolver", "__loader__": "name-resolver", "__spec__": "name-resolver",
    "__torch_function__": "torch-internals", "__torch_dispatch__": "torch-internals",
}
DEFINED = {"__del__": "finalizer", "__torch_function__": "torch-internals", "__torch_dispatch__": "torch-internals",
           "__getattribute__": "special-methods", "__reduce__": "special-methods", "__reduce_ex__": "special-methods"}
FRAME_ATTRS = {"tb_frame", "tb_next", "f_back", "f_locals", "f_globals", "f_builtins", "f_code", "f_trace",
               "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code",
               "ag_await", "cell_contents"}
PROFILER_WORDS = ("profiler", "kineto", "record_function", "recordfunction")
BUILTINS = {"exec": "dynamic-code", "eval": "dynamic-code", "compile": "dynamic-code", "breakpoint": "dynamic-code",
            "__import__": "name-resolver", "__loader__": "name-resolver", "__spec__": "name-resolver",
            "globals": "namespace", "__builtins__": "namespace"}
RESOLVERS = {"getattr", "setattr", "delattr", "vars"}  # tamper when passed as values
BUILTIN_TYPES = {"type", "object", "int", "float", "str", "bytes", "bool", "tuple", "list", "dict", "set",
                 "frozenset", "complex", "property", "staticmethod", "classmethod", "super", "BaseException",
                 "Exception"}  # module-like: their __dict__ and attributes are not the student's
UNAMBIGUOUS = {"sys", "os", "posix", "subprocess", "importlib", "builtins", "threading", "_thread", "multiprocessing",
               "ctypes", "gc", "inspect", "pickle", "marshal", "asyncio", "atexit", "torch", "signal"}
HONEST_PRIVATE = {"_fields", "_replace", "_asdict", "_make", "_field_defaults",  # namedtuple's public API
                  "_parameters", "_buffers", "_modules", "_flat_weights", "_flat_weights_names", "_all_weights"}
# os._exit ends the process: the judge starts its probe again without that cell (it costs only the points of what the
# cell defines), so it is no way past the judge
HONEST_MODULE_PRIVATE = {"os._exit", "posix._exit"}
INTERNAL_PRIVATE = {"_C", "_VF", "_ops", "_dynamo", "_inductor", "_functorch", "_prims", "_refs", "_decomp",
                    "_subclasses", "_library", "_jit_internal", "_python_dispatch", "_disable_profiler",
                    "_enable_profiler", "_getframe", "_current_frames", "_current_exceptions", "_thread",
                    "_record_function_enter", "_record_function_exit", "_disabled_torch_function_impl",
                    "_disabled_torch_dispatch_impl", "_DisableTorchDispatch", "_autograd", "_profiler", "_kineto"}
AUTOGRAD_PARTS = {"autograd", "func", "functorch", "forward_ad"}
AUTOGRAD_ATTRS = {"autograd", "backward", "grad", "grad_fn", "requires_grad", "requires_grad_", "vjp", "jvp",
                  "jacrev", "jacfwd", "jacobian", "hessian", "hvp", "vhp", "next_functions", "register_hook",
                  "retain_grad", "make_dual", "unpack_dual", "forward_ad"}
WRITE_METHODS = {"write_text", "write_bytes", "touch", "symlink_to", "hardlink_to", "tofile"}


def _danger() -> set[str]:
    names = set(DUNDERS) | FRAME_ATTRS | set(BUILTINS) | RESOLVERS | UNAMBIGUOUS | {"exec", "spawn", "posix_spawn"}
    for path in PATHS:
        names |= set(path.split("."))
    return names | set(PROFILER_WORDS) | {"lstm", "LSTM", "LSTMCell"}


DANGER = _danger()  # a computed attribute name that may start as one of these is a computed name
