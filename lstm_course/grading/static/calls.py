"""Rules on what a call passes: ``getattr``/``setattr``/``delattr`` names, ``setattr`` on modules and classes,
``open`` modes and file descriptors, and the calls judged by their arguments (``torch.load`` without
``weights_only=True``, ``signal.signal`` with a handler, ``timeit`` with a string, ``sys.exc_info()[2]``, weakref
callbacks, DataLoader workers). A mixin of ``checker.Checker``: it uses its ``hit``, ``paths`` and ``flow``.
"""
from __future__ import annotations

import ast

from .paths import kind_of
from .rules import UNAMBIGUOUS, R, T
from .strings import safe_prefix
from .syntax import attr_chain, snippet


class CallRules:
    def check_name_arg(self, node, leaf: str, obj, name) -> None:
        """getattr/setattr/delattr/hasattr: an exact name is an attribute access; a computed one is a resolver."""
        found = self.flow.strings(name)
        base_paths = self.paths(obj)
        if found is None:
            self.hit(T, node, f"{leaf}({snippet(obj)}, <computed name>)", "name-resolver")
            return
        vals, exact = found
        if not exact:
            unsafe = sorted(p for p in vals if not safe_prefix(p))
            if unsafe:
                self.hit(T, node, f"{leaf}({snippet(obj)}, {unsafe[0]!r} + ...)", "name-resolver")
            return
        for v in vals:
            shown = f"{leaf}({snippet(obj)}, {v!r})"
            self.check_attr_name(v, node, bool(base_paths), shown)
            for p in base_paths:
                self.check_path(f"{p}.{v}", node, shown)

    def check_setattr(self, node, leaf: str, obj) -> None:
        paths = {p for p in self.paths(obj) if kind_of(p) != "other"}
        if paths or self._class_of(obj):
            self.hit(T, node, f"{leaf}({snippet(obj)}, ...)", "module-attribute")
        elif any(part in UNAMBIGUOUS for part in attr_chain(obj)[1:]):
            self.hit(T, node, f"{leaf}({snippet(obj)}, ...)", "module-attribute")

    def check_open(self, node, fpaths: set[str]) -> None:
        args, kw = node.args, {k.arg: k.value for k in node.keywords if k.arg}
        target = args[0] if args and not (isinstance(node.func, ast.Attribute) and not fpaths) else kw.get("file")
        if isinstance(target, ast.Constant) and isinstance(target.value, int) and not isinstance(target.value, bool):
            self.hit(R, node, f"{snippet(node.func)}({target.value}, ...)", "raw-fd")
        at = 0 if isinstance(node.func, ast.Attribute) and not fpaths else 1
        mode = args[at] if len(args) > at else kw.get("mode")
        if "os.open" in fpaths:
            mode = None if len(args) < 2 else args[1]
            if mode is not None:
                self.hit(R, node, "os.open(...)", "file-write")
            return
        if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
            if set(mode.value) & set("wax+"):
                self.hit(R, node, f"open(..., {mode.value!r})", "file-write")
        elif mode is not None:
            self.hit(R, node, "open(..., <computed mode>)", "file-write")

    def check_call_path(self, p: str, node, kw: dict) -> None:
        args = node.args
        if p in ("torch.load", "torch.serialization.load"):
            weights = kw.get("weights_only")
            if not (isinstance(weights, ast.Constant) and weights.value is True):
                self.hit(T, node, f"{p}(...) without weights_only=True", "unpickling")
        elif p == "signal.signal":
            handler = args[1] if len(args) > 1 else kw.get("handler")
            names = {h.rsplit(".", 1)[-1] for h in self.paths(handler)} if handler is not None else set()
            if handler is not None and not names & {"SIG_IGN", "SIG_DFL"} and not (
                    isinstance(handler, ast.Constant) and handler.value in (0, 1)):
                self.hit(T, node, "signal.signal(..., handler)", "signal")
        elif p.split(".")[0] == "timeit":
            code = list(args[:2]) + [kw[k] for k in ("stmt", "setup") if k in kw]
            for c in code:
                if not (isinstance(c, ast.Lambda) or isinstance(c, ast.Name) and c.id in self.flow.funcs):
                    self.hit(T, node, f"{p}(<code as a string>)", "dynamic-code")
                    break
        elif p == "sys.exc_info":
            parent = self.flow.parent.get(id(node))
            if not (isinstance(parent, ast.Subscript) and parent.value is node and isinstance(
                    parent.slice, ast.Constant) and parent.slice.value in (0, 1)):
                self.hit(T, node, "sys.exc_info() (its traceback)", "frames")
        elif p in ("weakref.ref", "weakref.proxy", "weakref.WeakMethod") and (len(args) > 1 or "callback" in kw):
            self.hit(T, node, f"{p}(..., callback)", "finalizer")
        elif p.rsplit(".", 1)[-1] == "DataLoader":
            workers = kw.get("num_workers")
            if workers is not None and not (isinstance(workers, ast.Constant) and workers.value in (0, None)):
                self.hit(T, node, "DataLoader(num_workers=...)", "concurrency")
