"""Static analysis of a submission's own cells, in nbgrader's process (``ast``; no student code runs).

The judge decides from behaviour: each graded function runs in a fresh probe process (``probe_runner.py``) while
PyTorch's profiler records the operators it dispatches. This scan only **advises**, except for the short list of
constructs below that can beat that judge. Every finding names its cell, line, construct and why:

- ``"tamper"``: the notebook scores 0 (``judge.py``). Only what can beat the judge; each rule with the technique
  that beats it without the rule.
- ``"review"``: unusual but possibly honest; a REVIEW line in the log and a note in the feedback, never points.
- ``"lstm"`` / ``"autograd"``: PyTorch's own LSTM (or, with ``autograd=True``, autograd) named in an answer; advice
  only (the recorded operators decide). Not looked for after the judge's probes (``lstm_before``).

The package, one module per concern:

===============  ==================================================================================================
``__init__.py``  ``scan`` (the public entry), ``Finding``, ``student_cells``, ``without_magics``; the tables again
``rules.py``     the rule tables: ``RULES`` (each tamper rule with the technique that beats the judge without it),
                 ``REVIEW``, ``PATHS``, ``DUNDERS``, ... (its docstring, appended below, lists every rule)
``values.py``    how the alias analysis writes what an expression may hold, and the caps on its fixpoint
``paths.py``     what a dotted path names in the judge's process (module, class, other), read statically
``syntax.py``    small ``ast`` helpers
``strings.py``   the strings an expression may take (computed names: ``getattr(obj, name)``)
``flow.py``      the alias analysis: which names may hold a module, to a fixpoint over every code cell
``checker.py``   the visitor that turns one cell into findings (``scan`` orders them, derived ones last)
``calls.py``     the rules on what a call passes (a mixin of the visitor)
``environ.py``   the rule on environment writes, judged by the variable's name (a mixin of the visitor)
===============  ==================================================================================================

Every module-keyed rule follows aliases, to a fixpoint over all code cells (locked ones included): ``t = torch``,
``m = torch.nn``, default arguments (``def f(m=torch)``), arguments of the student's own functions (``f(torch)``),
returns, loop/with/walrus targets, containers (``[torch, os][1]``), attributes (``self.m = os``), ``locals()`` and
star imports; and it applies anywhere inside a chain (``os.sys.modules``, ``F.torch._C``, ``np.os.system``). Call
results are not modules (``W = torch.zeros(3)`` is a tensor).

Not findings (honest Python): module-level state, printing to either stream, ``vars(obj)``/``obj.__dict__`` of the
student's own objects, dataclasses, ``types.SimpleNamespace``, ``argparse.Namespace``, ``collections.namedtuple``
(with ``_replace``/``_fields``/...), ``torch.jit.script``/``trace``, ``getattr(torch, name)`` for ``name`` over a
literal list, recursion, NumPy, ``functools``, ``math``, type hints.

This is a list of constructs, not a proof: code can hide a name from it only through a listed construct, or
through data flow this alias analysis does not follow (which the recorded operators still judge).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from nbformat import NotebookNode

from . import rules
from .checker import Checker
from .flow import Flow
from .rules import AUTOGRAD_WHY, BUILTINS, DEFINED, DUNDERS, FRAME_ATTRS, LSTM_WHY, PATHS, REVIEW, RULES, R

# help(static) and the tests read every rule in the package's docstring; rules.py keeps the list beside its tables.
__doc__ = __doc__ + "\n" + rules.__doc__

__all__ = [  # the tables are the package's API too: the tests read them
    "Finding", "scan", "student_cells", "without_magics", "RULES", "REVIEW", "PATHS", "DUNDERS", "BUILTINS",
    "DEFINED", "FRAME_ATTRS", "LSTM_WHY", "AUTOGRAD_WHY"]


@dataclass(frozen=True)
class Finding:
    kind: str  # "tamper", "review", "lstm" or "autograd"
    cell: str  # the answer cell's grade_id, or "cell <k>" for a cell the student added
    line: int
    construct: str
    why: str

    def __str__(self) -> str:
        return f"{self.construct!r} in {self.cell}, line {self.line} ({self.why})"


def without_magics(source: str) -> str:
    """Each IPython magic or shell-escape line (%, !) becomes ``pass`` (the probe runner does the same)."""
    return "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _own_names(trees: list[ast.AST]) -> set[str]:
    """Every name the student's own code defines: attributes it assigns, defs, classes, parameters, variables."""
    own = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.arg):
                own.add(node.arg)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" and len(
                    node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                own.add(node.args[1].value)
    return own


def student_cells(nb: NotebookNode, instructor: set[str] = frozenset()) -> list[tuple[str, NotebookNode]]:
    """(name, cell) for every code cell the student wrote: answer cells (by grade_id) and cells they added.

    ``instructor`` holds the sources of the source notebook's locked cells; without it, cells marked locked or
    graded are taken for the instructor's (metadata a student could forge: pass the sources when you can).
    """
    out = []
    for k, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if cell.source.strip() in instructor or (not instructor and (meta.get("locked") or meta.get("grade"))):
            continue
        out.append((meta.get("grade_id") or f"cell {k}", cell))
    return out


def scan(nb: NotebookNode, instructor: set[str] = frozenset(), lstm_before: int | None = None,
         autograd: bool = False) -> list[Finding]:
    """Every finding in the student's cells: tampering, review, PyTorch's LSTM and (with ``autograd``) autograd.

    ``lstm_before``: PyTorch's LSTM (and autograd) count only in cells before this index; default: the cell after
    the last graded test cell (what runs after it is not probed). The other kinds count everywhere.

    In notebook order, then line order; findings that only ``locals()``/``vars()``/``globals()`` read by a computed
    key give (any name may hold any module) come after all the others, so the first names what the student wrote.
    """
    if lstm_before is None:
        lstm_before = 1 + max((k for k, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get(
            "grade")), default=len(nb.cells))
    cells = student_cells(nb, instructor)
    mine = {id(cell) for _, cell in cells}
    index = {id(cell): k for k, cell in enumerate(nb.cells)}
    # The aliases: every cell the probe runner executes (the locked setup, the student's cells); not the test cells.
    trees, theirs, parsed = [], [], {}
    for k, cell in enumerate(nb.cells):
        graded = cell.get("metadata", {}).get("nbgrader", {}).get("grade")
        if cell.cell_type != "code" or id(cell) not in mine and (graded or k >= lstm_before):
            continue
        try:
            tree = ast.parse(without_magics(cell.source))
        except SyntaxError:
            continue
        trees.append(tree)
        (parsed.__setitem__(id(cell), tree) if id(cell) in mine else theirs.append(tree))
    flow = Flow(trees, theirs)
    # Reading locals()/vars()/globals() gives every value of every name, so each module the setup imports shows up
    # as a finding wherever that value is used. Those findings are derived from the namespace one: the flow without
    # the wildcard tells them apart, and they go after the findings that name what the student wrote (the judge shows
    # the first "tamper" finding to the student).
    narrow = Flow(trees, theirs, namespaces=False) if flow.reads_namespace() else None
    own = _own_names(list(parsed.values()))
    found = []  # (derived, cell position, line, finding)
    for k, (name, cell) in enumerate(cells):
        tree = parsed.get(id(cell))
        late = index[id(cell)] >= lstm_before
        if tree is None:
            found.append((False, k, 0, Finding(R, name, 0, "SyntaxError", REVIEW["parse"])))
            continue
        hits = _hits(tree, flow, own, autograd)
        direct = set(_hits(tree, narrow, own, autograd)) if narrow else set(hits)
        seen = set()
        for hit in sorted(hits, key=lambda h: h not in direct):  # stable: a direct hit wins the line's dedup
            kind, line, construct, why = hit
            if late and kind in ("lstm", "autograd") or (kind, line, why) in seen:
                continue
            seen.add((kind, line, why))
            found.append((hit not in direct, k, line, Finding(kind, name, line, construct, why)))
        for n, line in enumerate(cell.source.splitlines(), 1):
            if line.lstrip().startswith(("%", "!")):
                found.append((False, k, n, Finding(R, name, n, line.strip()[:60], REVIEW["magic"])))
    found.sort(key=lambda f: f[:3])  # stable: on one line, the checker's visiting order
    return list(dict.fromkeys(f[-1] for f in found))


def _hits(tree: ast.AST, flow: Flow, own: set[str], autograd: bool) -> list[tuple[str, int, str, str]]:
    checker = Checker(flow, own, autograd)
    checker.visit(tree)
    return checker.hits
