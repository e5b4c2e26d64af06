"""The alias analysis: which names, attributes, returns and containers may hold a module (or an attribute of
one), to a fixpoint over every code cell the probe runs (the locked setup included).

It follows ``t = torch``, ``m = torch.nn``, default arguments, arguments of the student's own functions, returns
and yields, loop/with/walrus/match targets, containers and their mutating methods, attributes (``self.m = os``,
``setattr``, ``obj.__dict__``), raised and caught exceptions, ``locals()``/``vars()``/``globals()`` and star imports.
Call results are not modules (``W = torch.zeros(3)`` is a tensor). Values are written as in ``values.py``.
"""
from __future__ import annotations

import ast
from collections import defaultdict

from .rules import BUILTIN_TYPES
from .strings import Strings
from .syntax import const_strs, walk_scope
from .values import BUILD, MUTATORS, NS, PASS, UNWRAP, WIDTH, plain, unwrap, within_caps, wrap


class Flow:
    """Which names may hold a module (or an attribute of one), to a fixpoint over every code cell."""

    def __init__(self, trees: list[ast.AST], instructor: list[ast.AST], namespaces: bool = True):
        self.trees = trees
        # ``locals()`` read by a computed key may be any name: every value of every name. ``namespaces=False`` leaves
        # that out, so that scan can tell the findings that only this wildcard gives (derived) from direct ones.
        self.namespaces = namespaces
        self.parent: dict[int, ast.AST] = {}
        self.names: dict[str, set] = defaultdict(set)
        self.attrs: dict[str, set] = defaultdict(set)  # attribute name -> what any object's attribute may hold
        self.any_attr: set = set()
        self.returns: dict[str, set] = defaultdict(set)
        self.raised: set = set()
        self.stars: set = set()  # from X import *
        self.funcs: dict[str, list] = defaultdict(list)  # name -> [(arguments, is_method)]
        self.bound: set = set()  # every name any cell binds
        self.strong: set = set()  # names bound by def, class or import
        for tree in trees:
            for node in ast.walk(tree):
                for child in ast.iter_child_nodes(node):
                    self.parent[id(child)] = node
        self.strings = Strings(trees, self.parent).strings  # getattr(m, name) needs the strings name may hold
        for tree in trees:
            self._index(tree)
        for tree in instructor:  # the setup's classes and functions: module-level, not the student's
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    self.names[node.name].add("__main__." + node.name)
        self._solve()

    # ------------------------------------------------------------------ indexing
    def _index(self, tree):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.bound.add(node.name)
                self.strong.add(node.name)
                if isinstance(node, ast.ClassDef):
                    for stmt in node.body:
                        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "__init__":
                            self.funcs[node.name].append((stmt.args, "class"))
                else:
                    method = isinstance(self.parent.get(id(node)), ast.ClassDef) and not any(
                        isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
                    self.funcs[node.name].append((node.args, "method" if method else "function"))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    name = (a.asname or a.name).split(".")[0]
                    self.bound.add(name)
                    self.strong.add(name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                self.bound.add(node.id)
            elif isinstance(node, ast.arg):
                self.bound.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self.bound.add(node.name)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        self.funcs[t.id].append((node.value.args, "function"))

    def _size(self) -> int:
        return (sum(map(len, self.names.values())) + sum(map(len, self.attrs.values())) + len(self.any_attr)
                + sum(map(len, self.returns.values())) + len(self.raised) + len(self.stars))

    def _solve(self):
        for _ in range(40):
            before = self._size()
            for tree in self.trees:
                for node in ast.walk(tree):
                    self._step(node)
            if self._size() == before:
                return

    # ------------------------------------------------------------------ binding
    def _add(self, store: set, vals) -> None:
        for v in vals:
            if len(store) >= WIDTH:
                return
            if within_caps(v):
                store.add(v)

    def bind(self, target, vals) -> None:
        vals = {v for v in vals if within_caps(v)}
        if not vals:
            return
        if isinstance(target, ast.Name):
            self._add(self.names[target.id], vals)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for e in target.elts:
                if isinstance(e, ast.Starred):
                    self.bind(e.value, {v for v in vals if v.startswith("*")})
                else:
                    self.bind(e, unwrap(vals))
        elif isinstance(target, ast.Starred):
            self.bind(target.value, vals)
        elif isinstance(target, ast.Attribute):
            self._add(self.attrs[target.attr], vals)
        elif isinstance(target, ast.Subscript):
            if self._is_dict_of(target.value):
                key = const_strs(target.slice)
                for k in key or ():
                    self._add(self.attrs[k], vals)
                if key is None:
                    self._add(self.any_attr, vals)
            else:
                self.bind(target.value, wrap(vals))

    @staticmethod
    def _is_dict_of(node) -> bool:
        """``x.__dict__`` or ``vars(x)``: writing a key there sets an attribute."""
        return (isinstance(node, ast.Attribute) and node.attr == "__dict__") or (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "vars" and node.args)

    def _assign(self, target, value) -> None:
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) and len(
                target.elts) == len(value.elts) and not any(isinstance(e, ast.Starred)
                                                            for e in target.elts + value.elts):
            for t, v in zip(target.elts, value.elts):
                self._assign(t, v)
        else:
            self.bind(target, self.resolve(value))

    def _bind_args(self, arguments, skip: bool, args, keywords) -> None:
        params = [a.arg for a in arguments.posonlyargs + arguments.args][1 if skip else 0:]
        names = params + [a.arg for a in arguments.kwonlyargs]
        bind = lambda name, vals: self._add(self.names[name], {v for v in vals if within_caps(v)})  # noqa: E731
        for i, arg in enumerate(args):
            if isinstance(arg, ast.Starred):
                inner = self.resolve(arg.value)
                for p in params:
                    bind(p, unwrap(inner))
                if arguments.vararg:
                    bind(arguments.vararg.arg, inner)
            elif i < len(params):
                bind(params[i], self.resolve(arg))
            elif arguments.vararg:
                bind(arguments.vararg.arg, wrap(self.resolve(arg)))
        for kw in keywords:
            vals = self.resolve(kw.value)
            if kw.arg is None:
                for p in names:
                    bind(p, unwrap(vals))
                if arguments.kwarg:
                    bind(arguments.kwarg.arg, vals)
            elif kw.arg in names:
                bind(kw.arg, vals)
            elif arguments.kwarg:
                bind(arguments.kwarg.arg, wrap(vals))

    def _defaults(self, arguments) -> None:
        pos = arguments.posonlyargs + arguments.args
        for a, d in zip(pos[len(pos) - len(arguments.defaults):], arguments.defaults):
            self._add(self.names[a.arg], self.resolve(d))
        for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults):
            if d is not None:
                self._add(self.names[a.arg], self.resolve(d))

    def _step(self, node) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                root = a.name.split(".")[0]
                self._add(self.names[a.asname or root], {a.name if a.asname else root})
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                return
            for a in node.names:
                if a.name == "*":
                    self.stars.add(node.module)
                else:
                    self._add(self.names[a.asname or a.name], {f"{node.module}.{a.name}"})
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                self._assign(t, node.value)
                if isinstance(t, ast.Name) and isinstance(node.value, ast.Lambda):
                    self._add(self.returns[t.id], self.resolve(node.value.body))
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            self.bind(node.target, self.resolve(node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            self.bind(node.target, unwrap(self.resolve(node.iter)))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            self.bind(node.optional_vars, self.resolve(node.context_expr))
        elif isinstance(node, ast.NamedExpr):
            self.bind(node.target, self.resolve(node.value))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self._defaults(node.args)
            if not isinstance(node, ast.Lambda):
                for sub in walk_scope(node):
                    if isinstance(sub, ast.Return) and sub.value is not None:
                        self._add(self.returns[node.name], self.resolve(sub.value))
                    elif isinstance(sub, ast.Yield) and sub.value is not None:
                        self._add(self.returns[node.name], wrap(self.resolve(sub.value)))
                    elif isinstance(sub, ast.YieldFrom):
                        self._add(self.returns[node.name], self.resolve(sub.value))
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                    for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]):
                        if isinstance(t, ast.Name):
                            self._add(self.attrs[t.id], self.resolve(stmt.value))
        elif isinstance(node, ast.Call):
            self._call(node)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            vals = self.resolve(node.exc)
            if isinstance(node.exc, ast.Call):
                for a in node.exc.args:
                    vals |= wrap(self.resolve(a))
            self._add(self.raised, vals)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            self._add(self.names[node.name], self.raised | unwrap(self.raised))
        elif isinstance(node, ast.Match):
            subject = self.resolve(node.subject)
            vals = subject | unwrap(subject) | unwrap(unwrap(subject))
            for case in node.cases:
                for sub in ast.walk(case.pattern):
                    name = getattr(sub, "name", None) or getattr(sub, "rest", None)
                    if isinstance(name, str):
                        self._add(self.names[name], vals)

    def _call(self, node: ast.Call) -> None:
        func, args, kws = node.func, node.args, node.keywords
        leaf = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        # setattr(obj, "m", torch), obj.__setattr__("m", torch), object.__setattr__(obj, "m", torch)
        if leaf in ("setattr", "__setattr__"):
            key, value = (args[1], args[2]) if len(args) == 3 else (args[0], args[1]) if len(args) == 2 else [None] * 2
            if value is not None:
                keys = const_strs(key)
                for k in keys or ():
                    self._add(self.attrs[k], self.resolve(value))
                if keys is None:
                    self._add(self.any_attr, self.resolve(value))
        # containers filled by their methods: mods.append(torch), d.update(m=os), obj.__dict__.update(m=os)
        if isinstance(func, ast.Attribute) and leaf in MUTATORS | {"__setitem__"}:
            recv = func.value
            vals = set()
            if leaf in ("append", "add", "appendleft") and args:
                vals = wrap(self.resolve(args[0]))
            elif leaf in ("insert", "setdefault", "__setitem__") and len(args) > 1:
                vals = wrap(self.resolve(args[1]))
            elif leaf in ("extend", "extendleft", "update"):
                vals = set().union(*(self.resolve(a) for a in args)) if args else set()
                for kw in kws:
                    vals |= wrap(self.resolve(kw.value))
                    if self._is_dict_of(recv) and kw.arg:
                        self._add(self.attrs[kw.arg], self.resolve(kw.value))
            if vals:
                if self._is_dict_of(recv):
                    self._add(self.any_attr, unwrap(vals) | plain(vals))
                elif isinstance(recv, (ast.Name, ast.Attribute, ast.Subscript)):
                    self.bind(recv, vals)
        # the student's own functions: their parameters receive what the calls pass (also through partial and map)
        for arguments, kind in self.funcs.get(leaf, []):
            skip = kind == "class" or kind == "method" and isinstance(func, ast.Attribute)
            self._bind_args(arguments, skip, args, kws)
        if leaf in ("partial", "map") and args and isinstance(args[0], ast.Name):
            for arguments, kind in self.funcs.get(args[0].id, []):
                if leaf == "partial":
                    self._bind_args(arguments, kind == "class", args[1:], kws)
                else:
                    params = [a.arg for a in arguments.posonlyargs + arguments.args][1 if kind == "class" else 0:]
                    for p, it in zip(params, args[1:]):
                        self._add(self.names[p], unwrap(self.resolve(it)))

    # ------------------------------------------------------------------ values
    def resolve(self, node) -> set:
        """What an expression may hold: dotted paths of modules or their attributes; "*p" for a container of p."""
        if isinstance(node, ast.Name):
            out = set(self.names.get(node.id, ()))
            if node.id not in self.bound:
                out |= {f"{m}.{node.id}" for m in self.stars}
                if node.id in BUILTIN_TYPES:
                    out.add("__builtin__." + node.id)
            return out
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            out = {f"{p}.{node.attr}" for p in plain(base) if p != NS}
            out |= {p for p in base if p.startswith("*")} | unwrap(base)  # an object holding modules
            return out | self.attrs.get(node.attr, set()) | self.any_attr
        if isinstance(node, ast.Subscript):
            key = const_strs(node.slice) if isinstance(node.slice, ast.Constant) else None
            if key and self._namespace_call(node.value):
                return set().union(*(self.names.get(k, set()) for k in key))
            if key and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name) and \
                    node.value.func.id == "vars" and node.value.args:
                return set().union(*(self.attrs.get(k, set()) for k in key)) | self.any_attr
            return unwrap(self.resolve(node.value))
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            out = set()
            for e in node.elts:
                out |= self.resolve(e.value) if isinstance(e, ast.Starred) else wrap(self.resolve(e))
            return out
        if isinstance(node, ast.Dict):
            out = set()
            for k, v in zip(node.keys, node.values):
                out |= self.resolve(v) if k is None else wrap(self.resolve(v))
            return out
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return wrap(self.resolve(node.elt))
        if isinstance(node, ast.DictComp):
            return wrap(self.resolve(node.value))
        if isinstance(node, ast.IfExp):
            return self.resolve(node.body) | self.resolve(node.orelse)
        if isinstance(node, ast.BoolOp):
            return set().union(*(self.resolve(v) for v in node.values))
        if isinstance(node, (ast.NamedExpr, ast.Starred, ast.Await)):
            return self.resolve(node.value)
        if isinstance(node, ast.Call):
            return self._call_value(node)
        return set()

    def _namespace_call(self, node) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
            "locals", "vars", "globals") and node.func.id not in self.bound and not node.args

    def reads_namespace(self) -> bool:
        """Whether any cell calls ``locals()``, ``vars()`` or ``globals()`` (the builtins, without arguments)."""
        return any(self._namespace_call(n) for tree in self.trees for n in ast.walk(tree))

    def everything(self) -> set:
        return {v for vals in list(self.names.values()) + list(self.attrs.values()) for v in plain(vals)}

    def _call_value(self, node: ast.Call) -> set:
        func, args = node.func, node.args
        leaf = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        builtin = isinstance(func, ast.Name) and func.id not in self.bound
        out = set()
        if builtin and leaf == "getattr" and len(args) > 1:
            found = self.strings(args[1])
            if found and found[1]:
                base = self.resolve(args[0])
                for s in found[0]:
                    out |= {f"{p}.{s}" for p in plain(base) if p != NS} | self.attrs.get(s, set())
            return out | (self.resolve(args[2]) if len(args) > 2 else set())
        if builtin and leaf in ("locals", "vars", "globals") and not args:
            return {NS} | wrap(self.everything()) if self.namespaces else {NS}
        if builtin and leaf == "vars":  # an object's attributes as a dictionary
            return wrap(set().union(*self.attrs.values()) | self.any_attr) if self.attrs else wrap(self.any_attr)
        if builtin and leaf == "type" and len(args) == 3:
            return set()
        if leaf in PASS:
            for a in args:
                out |= self.resolve(a.value if isinstance(a, ast.Starred) else a)
            for kw in node.keywords:
                out |= wrap(self.resolve(kw.value)) if kw.arg else self.resolve(kw.value)
        elif leaf in UNWRAP and args:
            for a in args:
                vals = self.resolve(a)
                out |= unwrap(vals) | plain(vals)
            for kw in node.keywords:
                out |= self.resolve(kw.value)
        elif leaf in BUILD:
            for a in args:
                out |= wrap(self.resolve(a))
            for kw in node.keywords:
                out |= wrap(self.resolve(kw.value))
        if leaf in self.funcs:
            out |= self.returns.get(leaf, set())
        if isinstance(func, ast.Attribute):
            starred = {p for p in self.resolve(func.value) if p.startswith("*")}
            out |= starred | unwrap(starred) | wrap(starred)
        return out
