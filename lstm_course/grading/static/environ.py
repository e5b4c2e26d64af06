"""The ``torch-environ`` rule: writes into the process environment, judged by the variable's name.

The probe process runs with ``TORCHDYNAMO_DISABLE=1`` and ``PYTORCH_JIT=0``: a function compiled by
``torch.compile`` (or traced by TorchScript) runs PyTorch's LSTM without the operator ``aten::lstm_cell`` reaching
PyTorch's profiler, and ``torch.compile`` reads ``TORCHDYNAMO_DISABLE`` from ``os.environ`` at each call. So a write
whose name PyTorch may read (a constant starting with ``TORCH`` or ``PYTORCH``), or whose name the scan cannot read
(computed, or every name at once: ``clear()``, ``update(d)``, ``os.environ = ...``), is "tamper"; a write of any other
constant name (``os.environ["OMP_NUM_THREADS"] = "1"``) stays "review".

The writes looked for, through every alias the flow follows (``e = os.environ``, ``import os as o``, ``from os import
environ``, ``f = os.environ.update``): ``X[k] = v``, ``del X[k]``, ``X[k] += v``, ``X |= {...}``, the methods
``__setitem__``, ``__delitem__``, ``setdefault``, ``pop``, ``update``, ``__ior__``, ``clear``, ``popitem`` (also as
unbound methods given ``X`` first: ``MutableMapping.update(X, ...)``), ``os.putenv``, ``os.unsetenv``, and assigning
``os.environ`` itself; ``X`` is ``os.environ`` or ``os.environb`` (which share one table). A mixin of
``checker.Checker``: it uses its ``hit``, ``paths`` and ``flow``.
"""
from __future__ import annotations

import ast

from .paths import canonical, kind_of
from .rules import R, T
from .syntax import snippet

MAPPINGS = ("os.environ", "os.environb")
PROTECTED = ("TORCH", "PYTORCH")  # names PyTorch reads (TORCHDYNAMO_DISABLE, PYTORCH_JIT, TORCH_COMPILE_DISABLE, ...)
BY_KEY = {"__setitem__", "__delitem__", "setdefault", "pop"}  # the first argument is the name
BY_MAPPING = {"update", "__ior__"}  # the names are the keys of the arguments
EVERY_NAME = {"clear", "popitem"}  # no name: any may go, TORCHDYNAMO_DISABLE included


def environ_of(paths) -> str | None:
    """``os.environ`` or ``os.environb`` where one of ``paths`` names it (through any module that holds ``os``)."""
    for p in paths:
        names = canonical(p)
        for mapping in MAPPINGS:
            if mapping in names:
                return mapping
    return None


class EnvironRules:
    """The ``torch-environ`` checks of ``checker.Checker`` (``environ`` where every name is another constant)."""

    def env_names(self, node) -> set[str] | None:
        """The names a key expression may take, when each is exact (a constant, a loop over literal strings, ...)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes):  # os.environb's keys
            return {node.value.decode("latin-1")}
        found = self.flow.strings(node)
        return found[0] if found and found[1] else None

    def mapping_names(self, node) -> set[str] | None:
        """The keys of a mapping given to ``update``: a dict literal, ``dict(...)``, a literal list of pairs."""
        if isinstance(node, ast.Dict):
            names = set()
            for k, v in zip(node.keys, node.values):
                found = self.mapping_names(v) if k is None else self.env_names(k)
                if found is None:
                    return None
                names |= found
            return names
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and \
                node.func.id not in self.flow.bound:
            return self.call_names(node.args, node.keywords)
        if isinstance(node, (ast.List, ast.Tuple)) and all(
                isinstance(e, (ast.Tuple, ast.List)) and len(e.elts) == 2 for e in node.elts):
            names = set()
            for e in node.elts:
                found = self.env_names(e.elts[0])
                if found is None:
                    return None
                names |= found
            return names
        return None

    def call_names(self, args, keywords) -> set[str] | None:
        """The names ``update(*args, **keywords)`` writes. An argument that is the environment itself writes back
        its own items, which changes nothing (and ``d.update(os.environ)`` makes the flow take ``d`` for it)."""
        names = set()
        for value in list(args) + [kw.value for kw in keywords if kw.arg is None]:
            if not isinstance(value, ast.Starred) and environ_of(self.paths(value)):
                continue
            found = None if isinstance(value, ast.Starred) else self.mapping_names(value)
            if found is None:
                return None
            names |= found
        return names | {kw.arg for kw in keywords if kw.arg}

    def env_write(self, node, target: str, names: set[str] | None) -> None:
        """Tamper where a name is unknown or one PyTorch may read; review where every name is another constant."""
        shown = snippet(node) if target in snippet(node) else f"{snippet(node)} (= {target})"
        if names is None or any(n.startswith(PROTECTED) for n in names):
            self.hit(T, node, shown, "torch-environ")
        elif names:
            self.hit(R, node, shown, "environ")

    def check_environ_key(self, node: ast.Subscript, target: str) -> None:
        """``X[k] = v``, ``del X[k]``, ``X[k] += v``."""
        self.env_write(node, target, self.env_names(node.slice))

    def check_environ_update(self, node: ast.AugAssign) -> None:
        """``X |= {...}`` updates the mapping in place (``os.environ.__ior__``)."""
        target = environ_of(self.paths(node.target))
        if target and isinstance(node.op, ast.BitOr):
            self.env_write(node, target, self.call_names([node.value], []))

    def check_environ_call(self, node: ast.Call, fnames: set[str]) -> None:
        """A method of ``X`` that writes (bound, or unbound with ``X`` first), ``os.putenv``, ``os.unsetenv``."""
        args = node.args
        for setter in ("os.putenv", "os.unsetenv"):
            if setter in fnames:
                key = args[0] if args and not isinstance(args[0], ast.Starred) else None
                self.env_write(node, setter, None if key is None else self.env_names(key))
                return
        target = method = None
        for name in sorted(fnames):
            head, _, tail = name.rpartition(".")
            if head in MAPPINGS:
                target, method = head, tail
                break
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        if target is None and receiver is not None and args and not isinstance(args[0], ast.Starred) and (
                self._class_of(receiver) or any(kind_of(p) == "class" for p in self.paths(receiver))):
            target = environ_of(self.paths(args[0]))  # MutableMapping.update(os.environ, ...), dict.pop(...)
            method, args = node.func.attr, args[1:]
        if target is None or method not in BY_KEY | BY_MAPPING | EVERY_NAME:
            return
        if method in BY_KEY:
            key = args[0] if args else next((k.value for k in node.keywords if k.arg == "key"), None)
            names = None if key is None or isinstance(key, ast.Starred) else self.env_names(key)
        else:
            names = self.call_names(args, node.keywords) if method in BY_MAPPING else None
        self.env_write(node, target, names)
