"""The AST visitor that turns one cell into findings: module paths (through ``flow``'s aliases), attribute names,
strings, builtins, special methods, and writes into modules, classes and namespaces. The rules on what a call passes
(``getattr`` names, ``open`` modes, ``torch.load``, ``signal.signal``, ...) live in ``calls.py``.
"""
from __future__ import annotations

import ast

from .calls import CallRules
from .environ import EnvironRules, environ_of
from .flow import Flow
from .paths import canonical, internal_private, is_private, kind_of, path_views
from .rules import (AUTOGRAD_ATTRS, AUTOGRAD_PARTS, AUTOGRAD_WHY, BUILTINS, DEFINED, DUNDERS, FRAME_ATTRS,
                    HONEST_MODULE_PRIVATE, HONEST_PRIVATE, LSTM_WHY, OS_PROCESS, PATHS, PROFILER_WORDS, RESOLVERS, REVIEW, RULES, UNAMBIGUOUS,
                    WRITE_METHODS, R, T)
from .syntax import attr_chain, snippet
from .values import MUTATORS, NS, plain


class Checker(CallRules, EnvironRules, ast.NodeVisitor):
    """Visits one cell and records each finding as ``(kind, line, construct, why)`` in ``hits``, in visiting order.

    ``flow`` is the alias analysis over every cell the probe runs; ``own`` the names the student's cells define
    (their private attributes are theirs); ``autograd`` whether autograd is looked for."""

    def __init__(self, flow: Flow, own: set[str], autograd: bool):
        self.flow, self.own, self.autograd = flow, own, autograd
        self.hits: list[tuple[str, int, str, str]] = []

    # ------------------------------------------------------------------ reporting
    def hit(self, kind: str, node, construct: str, rule: str | None = None) -> None:
        why = RULES[rule] if kind == T else REVIEW[rule] if kind == R else LSTM_WHY if kind == "lstm" else AUTOGRAD_WHY
        self.hits.append((kind, getattr(node, "lineno", 0), construct, why))

    def paths(self, node) -> set[str]:
        return {p for p in plain(self.flow.resolve(node)) if p != NS}

    def check_path(self, path: str, node, shown: str | None = None) -> None:
        """Every rule keyed on a module path, on each view of ``path``."""
        shown = shown or path
        label = lambda key: shown if shown == key else f"{shown} (= {key})"  # noqa: E731
        for view in path_views(path):
            for j in range(1, len(view) + 1):
                key = ".".join(view[:j])
                if key in PATHS:
                    kind, rule = PATHS[key]
                    self.hit(kind, node, label(key), rule)
            if view[0] == "os" and len(view) > 1 and OS_PROCESS.match(view[1]):
                self.hit(T, node, label("os." + view[1]), "process")
        parts = path.split(".")
        for i, part in enumerate(parts):
            if is_private(part) and ".".join(parts[:i + 1]) not in HONEST_MODULE_PRIVATE:
                self.hit(T, node, label(".".join(parts[:i + 1])), "private")
                break
        if "__dict__" in parts[1:] and kind_of(".".join(parts[:parts.index("__dict__", 1)])) != "other":
            self.hit(T, node, label(path), "namespace")
        low = path.lower()
        if any(w in low for w in PROFILER_WORDS):
            self.hit(T, node, label(path), "profiler")
        if not path.startswith(("__", "lstm_course")) and (
                "lstm" in low or "RNNBase" in parts or path.startswith("torch.nn.modules.rnn")):
            self.hit("lstm", node, label(path))
        if self.autograd:
            for view in path_views(path):
                if view[0] in ("torch", "functorch") and set(view) & AUTOGRAD_PARTS:
                    self.hit("autograd", node, label(path))

    def check_attr_name(self, name: str, node, base_is_module: bool, shown: str) -> None:
        """Rules on an attribute's name, whatever object it belongs to."""
        if name in DUNDERS:
            self.hit(T, node, shown, DUNDERS[name])
        if name in FRAME_ATTRS:
            self.hit(T, node, shown, "frames")
        if any(w in name.lower() for w in PROFILER_WORDS):
            self.hit(T, node, shown, "profiler")
        if is_private(name) and not base_is_module and name not in HONEST_PRIVATE and (
                name not in self.own or name in internal_private()):
            self.hit(T, node, shown, "private")
        if name == "fileno":
            self.hit(R, node, shown, "raw-fd")
        if self.autograd and name in AUTOGRAD_ATTRS:
            self.hit("autograd", node, shown)

    def check_syntactic(self, node) -> None:
        """A module-keyed rule anywhere inside an attribute chain whose root the alias analysis does not know
        (``self.os.system``)."""
        parts = attr_chain(node)
        for i in range(1, len(parts) - 1):
            if parts[i] in UNAMBIGUOUS:
                self.check_path(".".join(parts[i:]), node, snippet(node))
                return

    # ------------------------------------------------------------------ nodes
    def visit_Import(self, node):
        for a in node.names:
            self.check_path(a.name, node, f"import {a.name}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.module and not node.level:
            self.check_path(node.module, node, f"from {node.module} import ...")
            for a in node.names:
                if a.name != "*":
                    self.check_path(f"{node.module}.{a.name}", node, f"from {node.module} import {a.name}")
                    self.check_attr_name(a.name, node, True, f"from {node.module} import {a.name}")
        self.generic_visit(node)

    def visit_Name(self, node):
        flow, name = self.flow, node.id
        builtin = name not in flow.bound
        if isinstance(node.ctx, ast.Load):
            if name in BUILTINS and (builtin or name not in flow.strong):
                self.hit(T, node, name, BUILTINS[name])
            parent = flow.parent.get(id(node))
            called = isinstance(parent, ast.Call) and parent.func is node
            if name in RESOLVERS and builtin and not called:
                self.hit(T, node, f"{name} as a value", "name-resolver")
            if name == "get_ipython" and builtin:
                self.hit(R, node, "get_ipython()", "ipython")
            for p in self.paths(node):
                if not p.startswith("__builtin__."):
                    self.check_path(p, node, name if p == name else f"{name} (= {p})")
        else:
            if name in DEFINED:
                self.hit(T, node, name, DEFINED[name])
            if name in BUILTINS and (isinstance(node.ctx, ast.Del) or name.startswith("__")):
                self.hit(T, node, f"{'del' if isinstance(node.ctx, ast.Del) else 'assigns'} {name}", BUILTINS[name])
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self.check_environ_update(node)
        self.generic_visit(node)

    def visit_Global(self, node):
        self.hit(R, node, "global " + ", ".join(node.names), "global")

    def visit_FunctionDef(self, node):
        if node.name in DEFINED:
            self.hit(T, node, f"def {node.name}", DEFINED[node.name])
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            self.check_string(node.value, node)

    def check_string(self, value: str, node) -> None:
        if value in DUNDERS:
            self.hit(T, node, repr(value), DUNDERS[value])
        elif value in FRAME_ATTRS:
            self.hit(T, node, repr(value), "frames")
        if "/proc" in value or "/dev/mem" in value:
            self.hit(T, node, repr(value[:40]), "introspection")

    def visit_BinOp(self, node):
        found = self.flow.strings(node) if isinstance(node.op, ast.Add) and any(
            isinstance(n, ast.Constant) and isinstance(n.value, str) for n in ast.walk(node)) else None
        if found and found[1]:
            for v in found[0]:
                self.check_string(v, node)
        self.generic_visit(node)

    def visit_Attribute(self, node):
        paths = self.paths(node.value)
        shown = snippet(node)
        self.check_attr_name(node.attr, node, bool(paths), shown)
        for p in self.paths(node):
            self.check_path(p, node, shown)
        if not paths:
            self.check_syntactic(node)
        if node.attr == "__dict__" and self._class_of(node.value):
            self.hit(T, node, shown, "namespace")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.check_target(node, paths)
        self.generic_visit(node)

    @staticmethod
    def _class_of(node) -> bool:
        """``type(x)`` or ``x.__class__`` (x not ``self``/``cls``): a class the student may not have defined."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type" and len(
                node.args) == 1:
            inner = node.args[0]
        elif isinstance(node, ast.Attribute) and node.attr == "__class__":
            inner = node.value
        else:
            return False
        return not (isinstance(inner, ast.Name) and inner.id in ("self", "cls"))

    def check_target(self, node: ast.Attribute, paths: set[str]) -> None:
        verb = "deletes" if isinstance(node.ctx, ast.Del) else "assigns"
        for p in paths:
            if kind_of(p) == "other":  # a function or other object of a module: not the module's own table
                continue
            full = f"{p}.{node.attr}"
            names = canonical(full)
            if names & {"sys.stdout", "sys.stderr", "sys.stdin", "sys.__stdout__", "sys.__stderr__"}:
                self.hit(R, node, f"{verb} {full}", "stream")
            elif "sys.path" in names:
                self.hit(T, node, f"{verb} {full}", "module-table")
            elif "os.environ" in names:
                if isinstance(self.flow.parent.get(id(node)), ast.AugAssign):
                    pass  # os.environ |= {...}: judged by its names in check_environ_update
                elif verb == "assigns":  # torch.compile reads os.environ at each call: every name replaced
                    self.hit(T, node, f"assigns {full}", "torch-environ")
                else:
                    self.hit(R, node, f"deletes {full}", "environ")
            else:
                self.hit(T, node, f"{verb} {snippet(node)}" + ("" if snippet(node) == full else f" (= {full})"),
                         "module-attribute")
        if not paths and self._class_of(node.value):
            self.hit(T, node, f"{verb} {snippet(node)}", "module-attribute")
        if not paths:
            parts = attr_chain(node)
            if any(part in UNAMBIGUOUS for part in parts[1:-1]):
                self.hit(T, node, f"{verb} {snippet(node)}", "module-attribute")

    def visit_Subscript(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.check_container_write(node.value, node)
        elif NS in self.flow.resolve(node.value) and not isinstance(node.slice, ast.Constant):
            self.hit(T, node, snippet(node), "namespace")  # a name looked up by a computed key
            self.generic_visit(node)
            return
        for p in self.paths(node):
            self.check_path(p, node, snippet(node))
        self.generic_visit(node)

    def check_container_write(self, container, node) -> None:
        """A write into a module's data (``os.environ[...] = ``, ``sys.path.insert``) or into ``locals()``."""
        for p in plain(self.flow.resolve(container)):
            names = {p} if p == NS else canonical(p)
            if p == NS:
                self.hit(T, node, f"writes {snippet(container)}", "namespace")
            elif environ_of({p}):
                if isinstance(node, ast.Subscript):  # a method call is judged by check_environ_call
                    self.check_environ_key(node, environ_of({p}))
            elif any(n == "sys.path" or n.startswith("sys.path.") for n in names):
                self.hit(T, node, f"changes {p}", "module-table")

    def visit_Call(self, node):
        flow, func, args = self.flow, node.func, node.args
        leaf = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        builtin = isinstance(func, ast.Name) and func.id not in flow.bound
        fpaths = self.paths(func)
        fnames = set().union(*map(canonical, fpaths)) if fpaths else set()
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        if builtin and leaf in ("getattr", "setattr", "delattr") and len(args) > 1:
            self.check_name_arg(node, leaf, args[0], args[1])
        if builtin and leaf in ("setattr", "delattr") and args:
            self.check_setattr(node, leaf, args[0])
        if isinstance(func, ast.Attribute) and leaf in ("__setattr__", "__delattr__"):
            if self.paths(func.value):
                self.check_setattr(node, leaf, func.value)
            elif args:
                self.check_setattr(node, leaf, args[0])
        if builtin and leaf == "vars" and args and self.paths(args[0]):
            self.hit(T, node, snippet(node), "namespace")
        if builtin and leaf == "type" and len(args) == 3:
            self.hit(T, node, snippet(node), "special-methods")
        if isinstance(func, ast.Attribute) and leaf in MUTATORS:
            self.check_container_write(func.value, node)
        if (builtin and leaf == "open") or fnames & {"io.open", "codecs.open", "io.FileIO", "os.open"} or (
                isinstance(func, ast.Attribute) and leaf == "open" and not fpaths):
            self.check_open(node, fnames)
        if isinstance(func, ast.Attribute) and leaf in WRITE_METHODS and not fpaths:
            self.hit(R, node, f".{leaf}()", "file-write")
        for p in fnames:
            self.check_call_path(p, node, kw)
        self.check_environ_call(node, fnames)
        if "allow_pickle" in kw and not (isinstance(kw["allow_pickle"], ast.Constant) and not kw["allow_pickle"].value):
            self.hit(T, node, f"{snippet(func)}(..., allow_pickle=...)", "unpickling")
        if self.autograd and "requires_grad" in kw:
            self.hit("autograd", node, "requires_grad=...")
        self.generic_visit(node)
