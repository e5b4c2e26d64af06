"""Static analysis of a submission's own cells, in nbgrader's process (``ast``; no student code runs).

Three kinds of findings, each with the cell, the line and why it matters:

- **tampering**: a construct that lets code running in the kernel change what the grader's code in the same
  kernel sees or does: IPython hooks, ``builtins``, ``sys.modules`` and other interpreter hooks, walking the
  garbage collector, frames and code objects, signal handlers that run code, threads and child processes,
  dynamic code (``exec``, ``eval``, ``compile``, ``__import__``, ``importlib``), raw memory (``ctypes``),
  torch internals (``torch._C``, ``_VF``, ``torch.ops``, dispatch modes), replacing or deleting an attribute
  of a module (``torch.allclose = ...``, ``setattr(nn, ...)``), and writing files. A correct answer to these
  notebooks needs none of them; the judge (``judge.py``) scores the whole notebook 0 when one is present.
- **PyTorch's own LSTM** in an answer that must write the LSTM by hand (``nn.LSTM``, ``nn.LSTMCell``,
  ``torch.lstm_cell``, ... reached by attribute, import or a constant ``getattr``): 0 for that function.
- **autograd** in an answer that must write the gradients by hand (``scan(..., autograd=True)``, for the notebooks
  whose checks list ``NO_AUTOGRAD``): ``torch.autograd``, ``torch.func``, ``.backward()``, ``.grad``,
  ``requires_grad``: 0 for that function. Elsewhere (``detaching`` trains with ``loss.backward()``) it is not looked for.
  Neither is looked for in cells after the judge's probes (``lstm_before``): the try-it cells invite comparisons.

Not searched: the locked cells (nbgrader restores them from the source before grading). Stopping, crashing or
hanging (``sys.exit``, ``os._exit``, ``signal.signal(SIGINT, SIG_IGN)``, an endless loop) is not tampering: it
can only lose the points of the tests it stops, which ``execute.py`` already handles.
This is a list of constructs, not a proof: code assembled at run time from data can hide a name from it, but
only through a construct on the list (``getattr`` on a module with a computed name, ``exec``, ...).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from nbformat import NotebookNode

# modules whose import (of the module or anything from it) is tampering
TAMPER_MODULES = {
    "builtins": "replacing builtins changes what the tests' own code means",
    "gc": "walking the garbage collector reaches the grader's objects",
    "importlib": "loads and replaces modules at run time",
    "ctypes": "raw memory and system calls",
    "threading": "a thread runs code while the grader's cells run", "_thread": "threads",
    "multiprocessing": "child processes", "concurrent": "threads and child processes",
    "subprocess": "child processes can outlive the kernel and rewrite its files", "pty": "child processes",
    "asyncio": "callbacks scheduled on the kernel's event loop run during later cells",
    "inspect": "frames and source of the grader's code", "types": "building functions and code objects",
    "marshal": "code objects from data", "pickle": "data that calls code", "dill": "data that calls code",
    "IPython": "IPython hooks run code before, during and after the grader's cells",
    "ipykernel": "the kernel's own machinery", "traitlets": "the kernel's configuration",
    "zmq": "the kernel's message sockets", "jupyter_client": "the kernel's messages", "tornado": "the event loop",
    "atexit": "code that runs when the kernel stops", "weakref": "finalizers run code later",
    "code": "an interpreter inside the kernel", "codeop": "compiling code", "runpy": "running modules",
    "pdb": "tracing the grader's code", "bdb": "tracing", "trace": "tracing", "faulthandler": "signal handlers",
    "socket": "network and the kernel's sockets", "mmap": "raw memory", "shutil": "writing and deleting files",
    "tempfile": "writing files", "sched": "code run later",
    "lstm_course": "the course package holds reference implementations and the grader's own probes",
}
TAMPER_NAMES = {
    "get_ipython": "IPython hooks (input transformers, events, showtraceback, run_cell) rewrite the grader's cells",
    "exec": "runs code built at run time", "eval": "runs code built at run time", "compile": "builds code objects",
    "__import__": "imports modules at run time", "__builtins__": "replaces builtins", "globals": "rewrites globals",
    "vars": "rewrites namespaces", "breakpoint": "tracing", "_VF": "PyTorch's internal kernels",
}
SYS_ATTRS = {"modules", "settrace", "setprofile", "_getframe", "stdout", "stderr", "__stdout__", "__stderr__",
             "displayhook", "excepthook", "meta_path", "path_hooks", "path_importer_cache", "addaudithook",
             "monitoring", "setswitchinterval", "builtin_module_names"}
OS_CALLS = {"fork", "forkpty", "system", "popen", "kill", "killpg", "posix_spawn", "posix_spawnp", "spawnl",
            "spawnv", "spawnve", "spawnvp", "execv", "execve", "execl", "execlp", "execvp", "register_at_fork",
            "open", "write", "dup2", "remove", "unlink", "rename", "replace", "symlink", "link", "mkdir",
            "makedirs", "rmdir", "truncate", "chmod", "putenv", "setsid", "pidfd_open"}
TORCH_ATTRS = {"_C": "torch's C internals", "_VF": "PyTorch's internal kernels", "ops": "torch's operator registry",
               "library": "redefines torch operators", "overrides": "torch function modes answer for the tests",
               "_dynamo": "torch internals", "_ops": "torch's operator registry", "jit": "compiled code",
               "fx": "graph rewriting", "save": "writes files that can imitate results"}
DUNDERS = {"__globals__", "__code__", "__closure__", "__builtins__", "__subclasses__", "__dict__",
           "__getattribute__", "__setattr__", "__delattr__", "__torch_function__", "__torch_dispatch__",
           "__func__", "__self__", "__wrapped__", "__defaults__", "__kwdefaults__", "__loader__", "__spec__",
           "__mro__", "__bases__", "__class__", "__reduce__", "__reduce_ex__", "__del__", "__init_subclass__",
           "__set_name__", "__instancecheck__", "__subclasscheck__", "__traceback__", "__frame__"}
WRITE_METHODS = {"write_text", "write_bytes", "touch", "symlink_to", "hardlink_to", "rename", "replace",
                 "unlink", "mkdir", "rmdir", "tofile"}
SIGNAL_HARMLESS = {"SIG_IGN", "SIG_DFL"}
# what computes gradients for the student: modules (by any part of their dotted name) and attributes/keywords
AUTOGRAD_MODULES = {"autograd", "func", "functorch"}
AUTOGRAD_ATTRS = {"autograd", "backward", "grad", "grad_fn", "requires_grad", "requires_grad_", "vjp", "jvp",
                  "jacrev", "jacfwd", "jacobian", "hessian"}


@dataclass(frozen=True)
class Finding:
    kind: str  # "tamper", "lstm" or "autograd"
    cell: str  # the answer cell's grade_id, or "cell <k>" for a cell the student added
    line: int
    construct: str
    why: str

    def __str__(self) -> str:
        return f"{self.construct!r} in {self.cell}, line {self.line} ({self.why})"


def _root(node: ast.AST) -> str:
    """The name an attribute chain starts from: ``torch.nn.LSTM`` -> "torch"; "" for anything else."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else ""


def _chain(node: ast.AST) -> list[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


class _Visitor(ast.NodeVisitor):
    def __init__(self, modules: set[str], autograd: bool = False):
        self.modules = modules  # names bound to modules by an import in any cell (torch, nn, F, os, sys, ...)
        self.autograd = autograd  # look for autograd too (an answer that must compute the gradients by hand)
        self.hits: list[tuple[str, int, str, str]] = []

    def hit(self, kind: str, node: ast.AST, construct: str, why: str) -> None:
        self.hits.append((kind, getattr(node, "lineno", 0), construct, why))

    def _module(self, name: str, node: ast.AST) -> None:
        top = name.split(".")[0]
        if top in TAMPER_MODULES:
            self.hit("tamper", node, f"import {name}", TAMPER_MODULES[top])
        elif top == "torch" and any(p.startswith("_") or p in TORCH_ATTRS for p in name.split(".")[1:]):
            self.hit("tamper", node, f"import {name}", "torch internals")
        elif "lstm" in name.lower() or name.endswith(".rnn"):
            self.hit("lstm", node, f"import {name}", "PyTorch's own LSTM")
        elif self.autograd and (top in ("torch", "functorch") and set(name.split(".")) & AUTOGRAD_MODULES
                                or name.split(".")[-1] in AUTOGRAD_ATTRS and top == "torch"):
            self.hit("autograd", node, f"import {name}", "PyTorch's autograd computes the gradients")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(alias.name, node)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._module(node.module or "", node)
        for alias in node.names:
            self._module(f"{node.module}.{alias.name}", node)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in TAMPER_NAMES:
            self.hit("tamper", node, node.id, TAMPER_NAMES[node.id])
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        self.hit("tamper", node, "global " + ", ".join(node.names), "a function that rewrites globals when "
                 "the grader calls it")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in DUNDERS:
            self.hit("tamper", node, f"def {node.name}", "runs code when the grader touches an object")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain, root = _chain(node), _root(node)
        if node.attr in DUNDERS:
            self.hit("tamper", node, "." + node.attr, "reaches into functions, frames or classes")
        elif chain[:1] == ["sys"] and len(chain) > 1 and chain[1] in SYS_ATTRS:
            self.hit("tamper", node, "sys." + chain[1], "interpreter hooks and the module table")
        elif chain[:1] == ["os"] and len(chain) > 1 and chain[1] in OS_CALLS:
            self.hit("tamper", node, "os." + chain[1], "child processes, signals or files")
        elif root in self.modules and chain[:1] != ["os"] and node.attr.startswith("_") and node.attr != "__version__":
            self.hit("tamper", node, ".".join(chain) or node.attr, "module internals")
        elif root in self.modules and "lstm" in node.attr.lower():
            self.hit("lstm", node, ".".join(chain), "PyTorch's own LSTM")
        if self.autograd and (node.attr in AUTOGRAD_ATTRS or chain[:2] == ["torch", "func"]):
            self.hit("autograd", node, ".".join(chain) or "." + node.attr, "PyTorch's autograd computes the gradients")
        if chain[:1] == ["torch"] and len(chain) > 1 and chain[1] in TORCH_ATTRS:
            self.hit("tamper", node, "torch." + chain[1], TORCH_ATTRS[chain[1]])
        if chain[:1] == ["signal"] and len(chain) > 1 and chain[1] not in ("signal", "SIGINT", "SIGTERM", "SIGALRM",
                                                                          "SIG_IGN", "SIG_DFL", "Signals"):
            self.hit("tamper", node, "signal." + chain[1], "timers and signals that run code later")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        chain = _chain(func)
        if name in ("setattr", "delattr") and node.args and _root(node.args[0]) in self.modules:
            self.hit("tamper", node, f"{name}({_root(node.args[0])}, ...)", "replaces what the tests call")
        if name == "getattr" and node.args and _root(node.args[0]) in self.modules:
            key = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                self.hit("tamper", node, f"getattr({_root(node.args[0])}, <computed name>)", "hides what it reaches")
            elif "lstm" in key.value.lower() or key.value.startswith("_"):
                self.hit("lstm" if "lstm" in key.value.lower() else "tamper", node,
                         f"getattr({_root(node.args[0])}, {key.value!r})", "PyTorch's own LSTM or internals")
        if self.autograd and name in ("getattr", "setattr") and len(node.args) > 1 and isinstance(
                node.args[1], ast.Constant) and node.args[1].value in AUTOGRAD_ATTRS:
            self.hit("autograd", node, f"{name}(..., {node.args[1].value!r})", "PyTorch's autograd computes the gradients")
        if self.autograd and any(k.arg == "requires_grad" for k in node.keywords):
            self.hit("autograd", node, "requires_grad=...", "PyTorch's autograd computes the gradients")
        if chain == ["signal", "signal"] and len(node.args) > 1:
            handler = _chain(node.args[1])
            if not (handler and handler[-1] in SIGNAL_HARMLESS):
                self.hit("tamper", node, "signal.signal(..., handler)", "a handler runs code inside the grader's cells")
        if name == "open" and isinstance(func, ast.Name):
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wax+"):
                self.hit("tamper", node, f"open(..., {mode.value!r})", "writes files that can imitate results")
            elif mode is not None and not isinstance(mode, ast.Constant):
                self.hit("tamper", node, "open(..., <computed mode>)", "may write files")
        if isinstance(func, ast.Attribute) and func.attr in WRITE_METHODS and _root(func) not in ("", "self"):
            if func.attr != "replace" or _root(func) in self.modules:  # str.replace is fine
                self.hit("tamper", node, "." + func.attr + "()", "writes files that can imitate results")
        self.generic_visit(node)

    def _targets(self, targets: list[ast.AST], node: ast.AST, verb: str) -> None:
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, (ast.Attribute, ast.Subscript)) and _root(sub) in self.modules:
                    self.hit("tamper", node, f"{verb} {'.'.join(_chain(sub)) or _root(sub)}",
                             "replaces part of a module the tests use")
                    return

    def visit_Assign(self, node: ast.Assign) -> None:
        self._targets(node.targets, node, "assigns")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._targets([node.target], node, "assigns")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._targets([node.target], node, "assigns")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        self._targets(node.targets, node, "deletes")
        self.generic_visit(node)


def _imported(cells: list[NotebookNode]) -> set[str]:
    names = {"torch", "nn", "F", "math", "itertools", "os", "sys", "subprocess", "importlib", "np", "numpy"}
    for cell in cells:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names |= {a.asname or a.name for a in node.names if a.name[:1].islower()
                          and (node.module or "").split(".")[0] in ("torch", "numpy", "os", "sys")}
    return names


def student_cells(nb: NotebookNode, instructor: set[str] = frozenset()) -> list[tuple[str, NotebookNode]]:
    """(name, cell) for every code cell the student wrote: answer cells (by grade_id) and cells they added.

    ``instructor`` holds the sources of the source notebook's locked cells; without it, cells marked locked or
    graded are taken for the instructor's (metadata a student could forge: pass the sources when you can).
    """
    out = []
    for k, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or cell.metadata.get("lstm_course_probe"):
            continue
        if cell.source.strip() in instructor or (not instructor and (meta.get("locked") or meta.get("grade"))):
            continue
        out.append((meta.get("grade_id") or f"cell {k}", cell))
    return out


def scan(nb: NotebookNode, instructor: set[str] = frozenset(), lstm_before: int | None = None,
         autograd: bool = False) -> list[Finding]:
    """Every tampering construct and every use of PyTorch's LSTM in the student's cells; with ``autograd``, every
    use of autograd too.

    ``lstm_before``: PyTorch's LSTM (and autograd) count only in cells before this index; default: the cell after the last
    graded test cell, where the judge's probes run (what runs after them cannot change a result). Tampering
    counts everywhere.
    """
    if lstm_before is None:
        lstm_before = 1 + max((k for k, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get(
            "grade")), default=len(nb.cells))
    cells = student_cells(nb, instructor)
    index = {id(cell): k for k, cell in enumerate(nb.cells)}
    modules = _imported([c for c in nb.cells if c.cell_type == "code"])
    found = []
    for name, cell in cells:
        try:
            tree = ast.parse(_without_magics(cell.source))
        except SyntaxError:
            continue  # the kernel reports it; it defines nothing, so it earns nothing
        visitor = _Visitor(modules, autograd)
        visitor.visit(tree)
        late = index[id(cell)] >= lstm_before
        found += [Finding(kind, name, line, construct, why) for kind, line, construct, why in visitor.hits
                  if not (late and kind in ("lstm", "autograd"))]
        if any(line.lstrip().startswith(("%", "!")) for line in cell.source.splitlines()):
            found.append(Finding("tamper", name, 0, "IPython magic or shell escape (%, !)",
                                 "runs commands and code outside Python's syntax"))
    return list(dict.fromkeys(found))


def _without_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
